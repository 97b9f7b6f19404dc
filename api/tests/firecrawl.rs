//! Firecrawl's API on ScraperX: the official SDKs (firecrawl-py and @mendable/firecrawl-js,
//! pinned, installed by `scripts/lib/firecrawl-sdks.sh`) run unchanged against the real
//! router served on loopback, a real worker (http and browser engines) and a test site; and
//! what the SDKs do not reach: json through CSS rules and through an OpenAI-compatible
//! server (a small one here, speaking the protocol), `next` links behind a trusted proxy,
//! and refusals in Firecrawl's shape.

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use axum::{
    Json, Router,
    extract::Path,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use common::{TestApp, app_with, key, org, serve};
use scraperx_api::config::LlmConfig;
use scraperx_core::domain::Engine;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The test site: `/` links to five pages and to `/private.html`, which robots.txt
/// disallows; each page has a title, meta tags (description, Open Graph, twitter, an icon),
/// a style, a comment, a script, a heading, an image and links to its neighbours.
fn site() -> Router {
    let page = |n: usize| {
        let words = ["One", "Two", "Three", "Four", "Five"];
        format!(
            "<html lang=\"en\"><head><title>Page {n}</title>\
             <meta name=\"description\" content=\"Widget {n} page\">\
             <meta property=\"og:title\" content=\"Widget {w}\">\
             <meta name=\"twitter:card\" content=\"summary\">\
             <link rel=\"icon\" href=\"/favicon.ico\"><style>p {{ color: red }}</style></head>\
             <body><nav><a href=\"/\">Home</a></nav><!-- a comment -->\
             <main><h1>Widget {w}</h1><p>The widget number {n} costs ${n}0.</p>\
             <script>var tracked = {n};</script>\
             <img src=\"/img/{n}.png\"><a href=\"/p{next}.html\">next</a></main></body></html>",
            w = words[n - 1],
            next = n % 5 + 1,
        )
    };
    let index = "<html><head><title>Home</title></head><body><h1>Shop</h1>\
        <a href=\"/p1.html\">1</a><a href=\"/p2.html\">2</a><a href=\"/p3.html\">3</a>\
        <a href=\"/p4.html\">4</a><a href=\"/p5.html\">5</a>\
        <a href=\"/private.html\">private</a></body></html>";
    Router::new()
        .route("/", get(move || async move { html(index.to_owned()) }))
        .route(
            "/{page}",
            get(move |Path(p): Path<String>| async move {
                let n = p
                    .strip_prefix('p')
                    .and_then(|r| r.strip_suffix(".html"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=5).contains(n));
                match (p.as_str(), n) {
                    ("robots.txt", _) => "User-agent: *\nDisallow: /private.html\n".into_response(),
                    (_, Some(n)) => html(page(n)),
                    _ => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
}

fn html(body: String) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// A worker with the http and browser engines (screenshots need the browser).
fn start_worker(t: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let chromium = std::env::var("SCRX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    common::start_worker_with(t, |c| {
        c.engines = vec![Engine::Http, Engine::Browser];
        c.chromium = Some(chromium.into());
    })
}

/// The SDKs, installed when missing: the venv's python and the npm folder.
fn sdks() -> (String, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(root.join("scripts/lib/firecrawl-sdks.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/lib/firecrawl-sdks.sh runs");
    assert!(out.status.success(), "the SDKs could not be installed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines().map(str::to_owned);
    let python = lines.next().expect("python");
    let js = lines.next().expect("js folder");
    (python, js)
}

/// Everything an SDK run needs: the API served with a worker, a key, the site.
struct Stage {
    _worker: tokio::sync::watch::Sender<bool>,
    api: String,
    key: String,
    site: String,
}

async fn stage(pool: PgPool) -> Stage {
    let t = app_with(pool, |c| {
        c.allow_private_targets = true;
        // Small status pages, so the SDKs follow next links.
        c.firecrawl_page_size = 2;
    })
    .await;
    let o = org(&t.db, 100_000).await;
    let key = key(&t.db, &o).await;
    let worker = start_worker(&t);
    Stage {
        _worker: worker,
        api: serve(t.router.clone()).await,
        key,
        site: serve(site()).await,
    }
}

/// Runs `program script` with the stage's environment; its last line of output.
async fn run_sdk(stage: &Stage, program: &str, script: &str, js: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/firecrawl")
        .join(script);
    let mut cmd = std::process::Command::new(program);
    cmd.arg(script)
        .env("FC_API_URL", &stage.api)
        .env("FC_API_KEY", &stage.key)
        .env("SITE", &stage.site)
        .env("FC_JS_MODULES", js);
    let out = tokio::time::timeout(
        Duration::from_secs(900),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("the SDK run finished within 15 minutes")
    .expect("joined")
    .expect("the SDK run started");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK run failed:\n{stdout}\n{stderr}"
    );
    stdout.lines().last().unwrap_or_default().to_owned()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_official_python_sdk_scrapes_batches_crawls_cancels_and_maps_unchanged(pool: PgPool) {
    let (python, js) = tokio::task::spawn_blocking(sdks).await.expect("sdks");
    let stage = stage(pool).await;
    let summary: Value =
        serde_json::from_str(&run_sdk(&stage, &python, "sdk_test.py", &js).await).expect("json");
    assert_eq!(summary["batch"], 3);
    assert_eq!(summary["crawl"], 6);
    assert_eq!(summary["cancel"], "cancelled");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_official_js_sdk_scrapes_batches_crawls_cancels_and_maps_unchanged(pool: PgPool) {
    let (_, js) = tokio::task::spawn_blocking(sdks).await.expect("sdks");
    let stage = stage(pool).await;
    let summary: Value =
        serde_json::from_str(&run_sdk(&stage, "node", "sdk_test.mjs", &js).await).expect("json");
    assert_eq!(summary["batch"], 2);
    assert_eq!(summary["crawl"], 6);
}

/// An OpenAI-compatible server: answers each chat completion with the first markdown
/// heading of the page it was sent, and the schema's first property name as the key.
async fn model_server() -> String {
    let complete = |Json(req): Json<Value>| async move {
        let page = req["messages"][1]["content"].as_str().unwrap_or_default();
        let heading = page
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .unwrap_or_default();
        let schema = &req["response_format"]["json_schema"]["schema"]["properties"];
        let field = schema
            .as_object()
            .and_then(|p| p.keys().next().cloned())
            .unwrap_or_else(|| "answer".into());
        let content = json!({ field: heading }).to_string();
        Json(json!({"choices": [{"message": {"role": "assistant", "content": content}}]}))
    };
    serve(Router::new().route("/v1/chat/completions", post(complete))).await
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn json_comes_from_css_rules_or_from_the_configured_language_model(pool: PgPool) {
    let model = model_server().await;
    let t = app_with(pool.clone(), |c| {
        c.allow_private_targets = true;
        c.llm = Some(LlmConfig {
            base_url: format!("{model}/v1"),
            model: "test".into(),
            api_key: None,
        });
    })
    .await;
    let o = org(&t.db, 1_000).await;
    let k = key(&t.db, &o).await;
    let _worker = start_worker(&t);
    let site = serve(site()).await;
    let rules = json!({"url": format!("{site}/p3.html"), "formats": [{"type": "json",
        "rules": {"heading": {"selector": "h1"}, "image": {"selector": "img", "attribute": "src"}}}]});
    let r = t.post(&k, "/v2/scrape", rules).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["data"]["json"]["heading"], "Widget Three");
    assert_eq!(r.body["data"]["json"]["image"], "/img/3.png");
    assert!(
        r.body["data"].get("markdown").is_none(),
        "only json was asked for"
    );

    let schema = json!({"type": "object", "properties": {"product": {"type": "string"}}});
    let llm = json!({"url": format!("{site}/p4.html"),
        "formats": [{"type": "json", "schema": schema, "prompt": "the product's name"}]});
    let r = t.post(&k, "/v2/scrape", llm).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"]["json"], json!({"product": "Widget Four"}));
    assert!(
        r.body["data"].get("markdown").is_none(),
        "markdown was only the model's input"
    );

    // In a batch too: the model asked once per page, its answer kept with the result.
    let urls = [format!("{site}/p4.html"), format!("{site}/p5.html")];
    let batch = json!({"urls": urls, "formats": [{"type": "json", "schema": schema}]});
    let started = t.post(&k, "/v2/batch/scrape", batch).await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let path = format!(
        "/v2/batch/scrape/{}",
        started.body["id"].as_str().expect("id")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        let r = t.get(&k, &path).await;
        if r.body["status"] == "completed" || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let data = status.body["data"].as_array().cloned().unwrap_or_default();
    let mut products: Vec<&str> = data
        .iter()
        .filter_map(|d| d["json"]["product"].as_str())
        .collect();
    products.sort_unstable();
    assert_eq!(
        products,
        ["Widget Five", "Widget Four"],
        "{:?}",
        status.body
    );
    assert!(data.iter().all(|d| d.get("markdown").is_none()));
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_results WHERE llm_json IS NOT NULL")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(kept, 2, "each page's answer kept");
    assert_eq!(t.get(&k, &path).await.body["data"], status.body["data"]);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn refusals_are_in_firecrawls_shape_and_name_the_option(pool: PgPool) {
    let t = app_with(pool, |c| c.allow_private_targets = true).await;
    let o = org(&t.db, 10).await;
    let k = key(&t.db, &o).await;
    let url = "http://127.0.0.1:9/";
    let cases = [
        (json!({"url": url, "formats": ["summary"]}), "summary"),
        (json!({"url": url, "parsers": ["pdf"]}), "parsers"),
        (json!({"url": url, "bogus": true}), "bogus"),
        (
            json!({"url": url, "formats": [{"type": "screenshot", "quality": 0}]}),
            "quality",
        ),
        (
            json!({"url": url, "formats": [{"type": "screenshot",
                "viewport": {"width": 10, "height": 10}}]}),
            "viewport",
        ),
        (
            json!({"url": url, "formats": [{"type": "json", "prompt": "x"}]}),
            "SCRX_LLM_BASE_URL",
        ),
        (json!({"url": "ftp://x"}), "url"),
    ];
    for (body, named) in cases {
        let r = t.post(&k, "/v2/scrape", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.body["success"], false);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(named), "{body}: {error}");
    }
    let r = t.post("sk_wrong", "/v2/scrape", json!({"url": url})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["success"], false);
    assert!(r.body["error"].is_string(), "{:?}", r.body);
    let r = t
        .get(&k, "/v2/crawl/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["success"], false);
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        10,
        "nothing charged"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn next_links_carry_the_public_host_behind_a_trusted_proxy(pool: PgPool) {
    let t = app_with(pool, |c| {
        c.allow_private_targets = true;
        c.trusted_proxy_hops = 1;
        c.firecrawl_page_size = 1;
    })
    .await;
    let o = org(&t.db, 1_000).await;
    let k = key(&t.db, &o).await;
    let _worker = start_worker(&t);
    let site = serve(site()).await;
    let proxy = [
        ("x-forwarded-host", "api.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let urls: Vec<String> = (1..=2).map(|n| format!("{site}/p{n}.html")).collect();
    let started = t
        .post_with(&k, "/v2/batch/scrape", json!({"urls": urls}), &proxy)
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let id = started.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        started.body["url"],
        format!("https://api.example.com/v2/batch/scrape/{id}")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        let req = axum::http::Request::get(format!("/v2/batch/scrape/{id}"))
            .header("authorization", format!("Bearer {k}"))
            .header(proxy[0].0, proxy[0].1)
            .header(proxy[1].0, proxy[1].1)
            .body(axum::body::Body::empty())
            .expect("request");
        let r = t.call(req).await;
        if r.body["status"] == "completed" || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status.body["status"], "completed", "{:?}", status.body);
    assert_eq!(status.body["data"].as_array().map(Vec::len), Some(1));
    let next = status.body["next"].as_str().expect("a next link");
    assert!(
        next.starts_with(&format!(
            "https://api.example.com/v2/batch/scrape/{id}?cursor="
        )),
        "{next}"
    );
    let rest = t
        .get(&k, next.trim_start_matches("https://api.example.com"))
        .await;
    assert_eq!(
        rest.body["data"].as_array().map(Vec::len),
        Some(1),
        "{:?}",
        rest.body
    );
    assert!(rest.body["next"].is_null(), "the last page has no next");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn max_age_answers_from_a_recent_scrape_of_the_same_url_and_options_free_of_charge(
    pool: PgPool,
) {
    let t = app_with(pool, |c| c.allow_private_targets = true).await;
    let o = org(&t.db, 1_000).await;
    let k = key(&t.db, &o).await;
    let _worker = start_worker(&t);
    let site = serve(site()).await;
    let url = format!("{site}/p2.html");
    let scrape = |body: Value| {
        let (t, k) = (&t, &k);
        async move {
            let r = t.post(k, "/v2/scrape", body).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body["data"]["metadata"].clone()
        }
    };
    let first = scrape(json!({"url": url, "maxAge": 600_000})).await;
    assert_eq!(first["cacheState"], "miss", "nothing to reuse yet");
    let balance = t.db.credit_balance(o.id).await.expect("balance");

    let hit = scrape(json!({"url": url, "maxAge": 600_000})).await;
    assert_eq!(hit["cacheState"], "hit", "{hit}");
    assert_eq!(hit["scrapeId"], first["scrapeId"], "the same scrape");
    assert_eq!(hit["creditsUsed"], 0);
    assert!(hit["cachedAt"].is_string(), "{hit}");
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), balance);

    for fresh in [
        json!({"url": url, "maxAge": 0}),
        json!({"url": url}),
        json!({"url": url, "maxAge": 600_000, "formats": ["markdown", "html"]}),
    ] {
        let m = scrape(fresh.clone()).await;
        assert_eq!(m["cacheState"], "miss", "{fresh}");
        assert_ne!(m["scrapeId"], first["scrapeId"], "{fresh}");
    }
    assert!(t.db.credit_balance(o.id).await.expect("balance") < balance);
}
