//! Browser actions, location and mobile inside the job lifecycle, against Debian's Chromium
//! and pages served here: what the actions do to the page, what they give back (stored with
//! the result, screenshots in MinIO), the stable code of a failing step, and what a location
//! or a phone makes the page see.

mod common;

use std::time::Duration;

use axum::{
    Router,
    http::{HeaderMap, header},
    routing::get,
};
use common::{Harness, serve};
use scraperx_core::{
    config::S3Config,
    content::{Bucket, ContentStore},
    domain::{Action, Engine, JobStatus, Location, ScrollDirection},
    pg::NewJob,
};
use sqlx::PgPool;

/// A page that changes only through what a person does: a button reveals a panel, a search
/// box answers Enter, and more items load when the list is scrolled to its end.
const INTERACTIVE: &str = r#"<html><head><title>Interactive</title></head><body>
<button id="more" onclick="document.getElementById('panel').innerHTML = '<p id=revealed>revealed by click</p>'">More</button>
<div id="panel"></div>
<input id="q" autocomplete="off">
<div id="result"></div>
<div id="feed" style="height: 3000px"><p class="item">item 1</p><p class="item">item 2</p></div>
<script>
document.getElementById('q').addEventListener('keydown', e => {
  if (e.key === 'Enter' && e.keyCode === 13) {
    document.getElementById('result').innerHTML = '<p id=answer>searched: ' + e.target.value + '</p>';
  }
});
let loaded = false;
window.addEventListener('scroll', () => {
  if (!loaded && window.scrollY > 0) {
    loaded = true;
    const p = document.createElement('p'); p.className = 'item late'; p.textContent = 'item loaded on scroll';
    document.getElementById('feed').appendChild(p);
  }
});
</script></body></html>"#;

/// What the page sees of its visitor, and the Accept-Language it was sent.
fn probe(headers: HeaderMap) -> String {
    let sent = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    format!(
        r#"<html><head><title>Probe</title><meta name="viewport" content="width=device-width"></head><body><pre id="sent">{sent}</pre><pre id="seen"></pre><script>
document.getElementById('seen').textContent = JSON.stringify({{
  language: navigator.language, languages: navigator.languages,
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  locale: Intl.DateTimeFormat().resolvedOptions().locale,
  width: window.innerWidth, screen: screen.width, ua: navigator.userAgent, touch: navigator.maxTouchPoints }});
</script></body></html>"#
    )
}

async fn site() -> String {
    let addr = serve(
        Router::new()
            .route(
                "/interactive",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], INTERACTIVE) }),
            )
            .route(
                "/probe",
                get(|headers: HeaderMap| async move {
                    ([(header::CONTENT_TYPE, "text/html")], probe(headers))
                }),
            ),
    )
    .await;
    format!("http://{addr}")
}

fn config(h: &Harness) -> scraperx_worker::WorkerConfig {
    let mut c = h.browser_config(&[Engine::Http, Engine::Browser, Engine::Stealth]);
    c.browser_contexts = 2;
    c
}

fn wait_for(selector: &str) -> Action {
    Action::Wait {
        milliseconds: None,
        selector: Some(selector.into()),
    }
}

fn script(body: &str) -> Action {
    Action::ExecuteJavascript {
        script: body.into(),
    }
}

/// The JSON the probe page wrote of what it saw.
fn seen(content: &str) -> serde_json::Value {
    let start = content.find("<pre id=\"seen\">").expect("seen") + "<pre id=\"seen\">".len();
    let end = start + content[start..].find("</pre>").expect("seen end");
    serde_json::from_str(&content[start..end].replace("&quot;", "\"")).expect("json")
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn actions_click_type_press_and_scroll_and_their_outputs_are_stored(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/interactive"));
    job.options.actions = vec![
        Action::Click {
            selector: "#more".into(),
            all: false,
        },
        wait_for("#revealed"),
        Action::Click {
            selector: "#q".into(),
            all: false,
        },
        Action::Write {
            text: "rust".into(),
        },
        Action::Press {
            key: "Enter".into(),
        },
        wait_for("#answer"),
        Action::Scroll {
            direction: ScrollDirection::Down,
            selector: None,
        },
        wait_for(".late"),
        script("return document.querySelectorAll('.item').length"),
        script("await new Promise(r => setTimeout(r, 10)); return { title: document.title }"),
        Action::Screenshot { full_page: false },
        Action::Scrape,
    ];
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(config(&h));
    let done = h.completed(id, Duration::from_secs(60)).await;
    assert_eq!(done.engine, Engine::Auto, "auto, started in the browser");
    let r = h.db.get_result(org.id, id).await.expect("result");
    let content = r.content_inline.clone().unwrap_or_default();
    for text in [
        "revealed by click",
        "searched: rust",
        "item loaded on scroll",
    ] {
        assert!(content.contains(text), "{text} missing from {content}");
    }
    let outputs = r.action_outputs.expect("action outputs").0;
    let returns: Vec<_> = outputs
        .javascript_returns
        .iter()
        .map(|j| (j.step, j.kind.as_str(), j.value.clone()))
        .collect();
    assert_eq!(
        returns,
        [
            (8, "number", serde_json::json!(3)),
            (9, "object", serde_json::json!({"title": "Interactive"})),
        ]
    );
    assert_eq!(outputs.scrapes.len(), 1);
    assert_eq!(outputs.scrapes[0].step, 11);
    assert!(outputs.scrapes[0].html.contains("searched: rust"));
    assert!(outputs.scrapes[0].url.ends_with("/interactive"));
    assert_eq!(outputs.screenshots.len(), 1);
    let shot = &outputs.screenshots[0];
    assert!(
        shot.key.ends_with("action_10_screenshot.png"),
        "{}",
        shot.key
    );
    let store = ContentStore::new(&S3Config::from_env_for_role("API").expect("s3"));
    let png = store
        .get(Bucket::Screenshots, &shot.key)
        .await
        .expect("png");
    assert!(png.bytes.starts_with(b"\x89PNG"));
    let thumb_key = shot.thumbnail_key.as_deref().expect("a thumbnail");
    assert!(
        thumb_key.ends_with("action_10_screenshot_thumb.png"),
        "{thumb_key}"
    );
    let thumb = store
        .get(Bucket::Screenshots, thumb_key)
        .await
        .expect("thumbnail");
    assert!(thumb.bytes.starts_with(b"\x89PNG") && thumb.bytes.len() < png.bytes.len());
    // The browser's 5, and 2 for the action's screenshot.
    assert_eq!(done.credits_charged, 7);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_click_on_a_missing_element_fails_the_job_with_action_failed_naming_the_step(
    pool: PgPool,
) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/interactive"));
    job.engine = Engine::Stealth;
    job.max_attempts = 1;
    job.options.actions = vec![
        script("return 1"),
        Action::Click {
            selector: "#nowhere".into(),
            all: false,
        },
        Action::Scrape,
    ];
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(config(&h));
    let done = h.finished(id, Duration::from_secs(60)).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error_code.as_deref(), Some("action_failed"));
    let message = done.error_message.unwrap_or_default();
    assert!(message.contains("action 1 (click)"), "{message}");
    assert!(message.contains("#nowhere"), "{message}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_location_sets_the_languages_locale_and_timezone_on_every_engine(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(100).await;
    let (_stop, _w) = h.start(config(&h));
    let location = Location {
        country: "DE".into(),
        languages: vec![],
    };
    for engine in [Engine::Browser, Engine::Stealth, Engine::Http] {
        let mut job = NewJob::get(&format!("{base}/probe"));
        job.engine = engine;
        job.options.location = Some(location.clone());
        let id = h.submit(&org, job).await;
        let content = h.completed_content(&org, id, Duration::from_secs(60)).await;
        assert!(
            content.contains("<pre id=\"sent\">de-DE,de;q=0.9,en;q=0.8</pre>"),
            "{engine}: {content}"
        );
        if engine == Engine::Http {
            continue;
        }
        let seen = seen(&content);
        assert_eq!(seen["language"], "de-DE", "{engine}: {seen}");
        assert_eq!(seen["tz"], "Europe/Berlin", "{engine}: {seen}");
        assert_eq!(seen["locale"], "de-DE", "{engine}: {seen}");
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn mobile_sets_a_phone_viewport_touch_and_user_agent_from_the_fingerprints(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(100).await;
    let (_stop, _w) = h.start(config(&h));
    for engine in [Engine::Browser, Engine::Stealth] {
        let mut job = NewJob::get(&format!("{base}/probe"));
        job.engine = engine;
        job.options.mobile = true;
        let id = h.submit(&org, job).await;
        let content = h.completed_content(&org, id, Duration::from_secs(60)).await;
        let seen = seen(&content);
        // A page made for phones is laid out at the phone's width (the table's are 360 and 412).
        let width = seen["width"].as_u64().expect("width");
        assert!((320..=440).contains(&width), "{engine}: {seen}");
        assert_eq!(seen["screen"], seen["width"], "{engine}: {seen}");
        let ua = seen["ua"].as_str().expect("ua");
        assert!(
            ua.contains("Android") && ua.contains("Mobile"),
            "{engine}: {ua}"
        );
        assert!(
            seen["touch"].as_u64().is_some_and(|t| t > 0),
            "{engine}: {seen}"
        );
    }
}
