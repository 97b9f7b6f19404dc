//! Browser actions, location and mobile through our own API: accepted, stored as core's
//! options, priced, refused with the field named, and their outputs shown in the result.

mod common;

use axum::http::StatusCode;
use common::{app, key, org, page, refuses_naming_fields};
use scraperx_core::{
    domain::{Action, ActionOutputs, ActionScreenshot, JavascriptReturn, JobId},
    pg::NewJobResult,
};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn actions_location_and_mobile_are_accepted_stored_and_priced(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let body = json!({
        "url": page(1),
        "actions": [
            { "type": "click", "selector": "#more" },
            { "type": "wait", "milliseconds": 500 },
            { "type": "press", "key": "Enter" },
            { "type": "screenshot", "full_page": true },
            { "type": "execute_javascript", "script": "return 1" },
            { "type": "scrape" }
        ],
        "location": { "country": "de" },
        "mobile": true
    });
    let r = t.post(&k, "/v1/jobs", body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    // An auto job with actions starts in the browser: 5, and 2 for the action's screenshot.
    assert_eq!(r.body["credits_estimated"], 7);
    let id: JobId = r.body["id"].as_str().expect("id").parse().expect("uuid");
    let job = t.db.get_job(o.id, id).await.expect("job");
    let options = &job.options.0;
    assert_eq!(options.actions.len(), 6);
    assert_eq!(options.actions[3], Action::Screenshot { full_page: true });
    assert_eq!(
        options.location.as_ref().map(|l| l.country.as_str()),
        Some("DE")
    );
    assert!(options.mobile);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn bad_actions_and_locations_get_422_naming_the_field(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let scrape = json!([{ "type": "scrape" }]);
    let cases = [
        (
            json!({ "url": page(1), "engine": "http", "actions": scrape }),
            "actions",
        ),
        (
            json!({ "url": page(1), "engine": "http", "mobile": true }),
            "mobile",
        ),
        (
            json!({ "url": page(1), "actions": [{ "type": "scrape" }, { "type": "press", "key": "Hyper" }] }),
            "actions[1].key",
        ),
        (
            json!({ "url": page(1), "actions": [{ "type": "wait", "milliseconds": 20000 }, { "type": "wait", "milliseconds": 20000 }] }),
            "actions",
        ),
        (
            json!({ "url": page(1), "location": { "country": "Germany" } }),
            "location.country",
        ),
        (
            json!({ "url": page(1), "country": "FR", "location": { "country": "DE" } }),
            "location.country",
        ),
    ];
    refuses_naming_fields(&t, &k, &cases).await;
    let unknown = json!({ "url": page(1), "actions": [{ "type": "hover", "selector": "a" }] });
    let r = t.post(&k, "/v1/jobs", unknown).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_result_shows_action_outputs_with_screenshot_links(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let r = t
        .post(
            &k,
            "/v1/jobs",
            json!({ "url": page(1), "actions": [{ "type": "scrape" }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id: JobId = r.body["id"].as_str().expect("id").parse().expect("uuid");
    let outputs = ActionOutputs {
        screenshots: vec![ActionScreenshot {
            step: 0,
            key: format!("{}/2026/01/01/{id}/action_0_screenshot.png", o.id),
            bytes: 10,
            thumbnail_key: Some(format!(
                "{}/2026/01/01/{id}/action_0_screenshot_thumb.png",
                o.id
            )),
        }],
        scrapes: vec![],
        javascript_returns: vec![JavascriptReturn {
            step: 1,
            kind: "string".into(),
            value: json!("hi"),
        }],
    };
    let result = NewJobResult {
        status_code: Some(200),
        action_outputs: Some(outputs),
        ..Default::default()
    };
    t.db.record_result(id, &result).await.expect("result");
    let view = t.get(&k, &format!("/v1/jobs/{id}/result")).await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    let actions = &view.body["actions"];
    let link = actions["screenshots"][0].as_str().expect("link");
    assert!(link.contains("action_0_screenshot.png"), "{link}");
    let thumb = actions["thumbnails"][0].as_str().expect("thumbnail link");
    assert!(thumb.contains("action_0_screenshot_thumb.png"), "{thumb}");
    assert!(link.contains("X-Amz-Signature"), "presigned: {link}");
    assert_eq!(actions["javascript_returns"][0]["type"], "string");
    assert_eq!(actions["javascript_returns"][0]["value"], "hi");
    let plain = t
        .post(&k, "/v1/jobs", json!({ "url": page(2), "engine": "http" }))
        .await;
    let plain_id: JobId = plain.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    t.db.record_result(plain_id, &NewJobResult::default())
        .await
        .expect("result");
    let view = t.get(&k, &format!("/v1/jobs/{plain_id}/result")).await;
    assert!(view.body.get("actions").is_none(), "{:?}", view.body);
}
