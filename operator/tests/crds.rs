//! The CRDs: the committed file is exactly what crdgen prints, and the real API server of
//! `e2e/` (`KUBECONFIG` from `e2e/control-plane.sh env`), with that file installed, refuses
//! each spec a reconciler would only fail later, with the rule's message, and accepts a
//! valid one (server-side dry runs: nothing is stored, except the ScrapeCrawl whose fixed
//! fields a change is refused on, in a namespace of its own).

mod support;

use scraperx_operator::rules;
use serde_json::{Value, json};
use support::{dry_run_until, install_crds, ok, run};

#[test]
fn committed_crds_match_the_types() {
    let generated = scraperx_operator::crd_yaml().expect("yaml");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/scraperx.yaml"
    ))
    .expect("crds/scraperx.yaml");
    assert!(
        generated == committed,
        "crds/scraperx.yaml is stale: run `cargo run -p scraperx-operator --bin crdgen > crds/scraperx.yaml`"
    );
}

fn batch(spec: Value) -> String {
    json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
        "metadata": { "name": "b" }, "spec": spec,
    })
    .to_string()
}

fn pool(spec: Value) -> String {
    let mut full = json!({ "engine": "http", "minReplicas": 0, "maxReplicas": 3,
                           "targetJobsPerReplica": 2, "image": "scraperx/worker:test" });
    for (k, v) in spec.as_object().expect("fields") {
        full[k] = v.clone();
    }
    json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "WorkerPool",
        "metadata": { "name": "p" }, "spec": full,
    })
    .to_string()
}

/// A batch's spec with one URL and the organization, plus `extra` fields.
fn batch_with(extra: Value) -> String {
    let mut spec = json!({ "urls": ["https://a.test/"], "organizationRef": { "name": "k" } });
    for (k, v) in extra.as_object().expect("fields") {
        spec[k] = v.clone();
    }
    batch(spec)
}

/// Each manifest is refused, and the refusal says what the reconciler would.
fn assert_refused(cases: &[(String, &str)]) {
    for (manifest, message) in cases {
        let refusal =
            dry_run_until("default", manifest, false).expect_err(&format!("refused: {manifest}"));
        assert!(
            refusal.contains(message),
            "the refusal of {manifest} says {message:?}:\n{refusal}"
        );
    }
}

#[test]
fn the_api_server_refuses_a_scrape_batch_the_operator_would_fail() {
    install_crds();
    let valid = batch_with(json!({
        "urls": ["https://a.test/", "HTTP://user@b.test:8080/x?y#z"],
        "options": { "timeout": 5000, "waitTime": 4999, "waitFor": "#main",
                     "headers": { "Accept-Language": "en" },
                     "extract": { "title": { "selector": "h1" } } },
        "priority": 10, "maxAttempts": 1, "webhook": "https://hooks.test/done",
    }));
    dry_run_until("default", &valid, true).expect("a valid batch is accepted");
    let from_config_map = batch(json!({
        "urlsFrom": { "name": "urls", "key": "list" }, "organizationRef": { "name": "k" },
    }));
    dry_run_until("default", &from_config_map, true).expect("URLs from a ConfigMap suffice");

    let wait_time = rules::wait_time_message();
    let many_headers: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("X-{i}"), json!("v"))).collect();
    assert_refused(&[
        (
            batch(json!({ "organizationRef": { "name": "k" } })),
            rules::NO_URLS,
        ),
        (
            batch(json!({ "urls": [], "organizationRef": { "name": "k" } })),
            rules::NO_URLS,
        ),
        (
            batch_with(json!({ "urls": ["ftp://a.test/"] })),
            "spec.urls[0]",
        ),
        (
            batch_with(json!({ "urls": ["https:///no-host"] })),
            "spec.urls[0]",
        ),
        (
            batch_with(json!({ "urls": [format!("https://a.test/{}", "x".repeat(8192))] })),
            "spec.urls[0]",
        ),
        (
            batch_with(json!({ "options": { "timeout": 5000, "waitTime": 5000 } })),
            &wait_time,
        ),
        (
            batch_with(json!({ "options": { "waitTime": 40000 } })),
            &wait_time,
        ),
        (
            batch_with(json!({ "options": { "timeout": 999 } })),
            "spec.options.timeout",
        ),
        (
            batch_with(json!({ "options": { "waitFor": "  " } })),
            "spec.options.waitFor",
        ),
        (
            batch_with(json!({ "options": { "extract": { "": { "selector": "h1" } } } })),
            rules::EMPTY_RULE_NAME,
        ),
        (
            batch_with(json!({ "options": { "extract": { "t": { "selector": " " } } } })),
            "spec.options.extract.t.selector",
        ),
        (
            batch_with(json!({ "options": { "headers": { "X-Big": "v".repeat(8192) } } })),
            rules::HEADER_TOO_LARGE,
        ),
        (
            batch_with(json!({ "options": { "headers": many_headers } })),
            "spec.options.headers",
        ),
        (batch_with(json!({ "priority": 11 })), "spec.priority"),
        (batch_with(json!({ "maxAttempts": 0 })), "spec.maxAttempts"),
        (
            batch_with(json!({ "webhook": "ftp://hooks.test/" })),
            "spec.webhook",
        ),
        (batch_with(json!({ "engine": "warp" })), "spec.engine"),
    ]);
}

#[test]
fn the_api_server_refuses_a_worker_pool_the_operator_would_fail() {
    install_crds();
    let valid = pool(json!({
        "minReplicas": 3, "connectionSecret": "conn.example", "runAsUser": 20000,
        "env": [{ "name": "SCRX_REGION", "value": "eu" }],
    }));
    dry_run_until("default", &valid, true).expect("a valid pool is accepted");
    let twice = json!([{ "name": "A", "value": "1" }, { "name": "A", "value": "2" }]);
    assert_refused(&[
        (
            pool(json!({ "minReplicas": 4, "maxReplicas": 3 })),
            rules::REPLICAS_INVERTED,
        ),
        (pool(json!({ "env": twice })), "spec.env[1]"),
        (pool(json!({ "runAsUser": 0 })), "spec.runAsUser"),
        (
            pool(json!({ "connectionSecret": "Not_A_Name" })),
            "spec.connectionSecret",
        ),
        (pool(json!({ "engine": "auto" })), "spec.engine"),
        (pool(json!({ "maxReplicas": 1001 })), "spec.maxReplicas"),
    ]);
}

/// A ScrapeCrawl's manifest: a start URL and the organization, plus `extra` fields.
fn crawl_with(name: &str, extra: Value) -> String {
    let mut spec = json!({ "url": "https://a.test/", "organizationRef": { "name": "k" } });
    for (k, v) in extra.as_object().expect("fields") {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeCrawl",
        "metadata": { "name": name }, "spec": spec,
    })
    .to_string()
}

#[test]
fn the_api_server_refuses_a_scrape_crawl_the_operator_would_fail() {
    install_crds();
    let valid = crawl_with(
        "c",
        json!({
            "crawl": { "maxDepth": 100, "limit": 100000, "includePaths": ["^/blog/"],
                       "excludePaths": ["\\.pdf$"], "matchFullUrl": true, "allowSubdomains": true,
                       "sitemap": "only", "ignoreQuery": true, "maxConcurrency": 100,
                       "delayMs": 60000 },
            "engine": "http", "options": { "markdown": true, "timeout": 5000 },
            "priority": 10, "maxAttempts": 1, "webhook": "https://hooks.test/page",
            "suspend": true, "activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 0,
        }),
    );
    dry_run_until("default", &valid, true).expect("a valid crawl is accepted");
    let c = |extra: Value| crawl_with("c", extra);
    assert_refused(&[
        (c(json!({ "url": "ftp://a.test/" })), "spec.url"),
        (c(json!({ "url": "https:///no-host" })), "spec.url"),
        (
            c(json!({ "crawl": { "maxDepth": 101 } })),
            "spec.crawl.maxDepth",
        ),
        (c(json!({ "crawl": { "limit": 0 } })), "spec.crawl.limit"),
        (
            c(json!({ "crawl": { "limit": 100001 } })),
            "spec.crawl.limit",
        ),
        (
            c(json!({ "crawl": { "includePaths": [""] } })),
            "spec.crawl.includePaths[0]",
        ),
        (
            c(json!({ "crawl": { "excludePaths": ["x".repeat(1025)] } })),
            "spec.crawl.excludePaths[0]",
        ),
        (
            c(json!({ "crawl": { "sitemap": "sometimes" } })),
            "spec.crawl.sitemap",
        ),
        (
            c(json!({ "crawl": { "maxConcurrency": 0 } })),
            "spec.crawl.maxConcurrency",
        ),
        (
            c(json!({ "crawl": { "delayMs": 60001 } })),
            "spec.crawl.delayMs",
        ),
        (
            c(json!({ "options": { "waitTime": 40000 } })),
            &rules::wait_time_message(),
        ),
        (c(json!({ "priority": 0 })), "spec.priority"),
        (
            c(json!({ "activeDeadlineSeconds": 0 })),
            "spec.activeDeadlineSeconds",
        ),
        (
            crawl_with("c", json!({ "organizationRef": null })),
            "spec.organizationRef",
        ),
    ]);
}

#[test]
fn a_scrape_crawl_s_url_and_crawl_cannot_change_but_its_suspend_can() {
    install_crds();
    let ns = format!("crds-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    ok("kubectl", &["create", "namespace", &ns], None);
    let apply = |manifest: &str| {
        run(
            "kubectl",
            &["apply", "--server-side", "-n", &ns, "-f", "-"],
            Some(manifest.as_bytes()),
        )
    };
    let created = apply(&crawl_with("fixed", json!({})));
    assert!(created.status.success(), "{created:?}");
    let stderr = |extra: Value| {
        let out = apply(&crawl_with("fixed", extra));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for change in [
        json!({ "url": "https://b.test/" }),
        json!({ "crawl": { "limit": 5 } }),
    ] {
        let (accepted, refusal) = stderr(change.clone());
        assert!(
            !accepted && refusal.contains(rules::CRAWL_FIXED),
            "{change}: {refusal}"
        );
    }
    let (accepted, refusal) = stderr(json!({ "suspend": true, "ttlSecondsAfterFinished": 5 }));
    assert!(accepted, "{refusal}");
    let _ = run(
        "kubectl",
        &["delete", "namespace", &ns, "--wait=false"],
        None,
    );
}
