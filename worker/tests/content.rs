//! What a job's content outputs hold, through a real worker and an article page served on
//! loopback: markdown of the main content only, absolute links, no scripts, no inlined
//! images, and the customer's excluded elements left out.

mod common;

use std::time::Duration;

use axum::{Router, http::header, routing::get};
use common::{Harness, serve};
use scraperx_core::pg::NewJob;
use sqlx::PgPool;

const PARAGRAPH: &str = "The council approved the new riverside library on Tuesday, after \
    two years of consultation with residents, and building work will start in the spring. ";

fn article() -> String {
    format!(
        r#"<html><head><title>Library approved</title><base href="/news/2026/"></head><body>
<nav class="top-nav"><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<div id="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>
<article>
<h1>Riverside library approved</h1>
<p>{p}{p}<a href="library.html">The plans</a> are <b>public</b>.</p>
<p>{p}{p}</p>
<h2>What happens next</h2>
<ul><li>Consultation ends in March and the designs are published.</li>
<li>Work starts in the spring and lasts eighteen months.</li></ul>
<p>{p}<img src="data:image/png;base64,iVBORw0KGgo=" alt="pixel"></p>
<p class="promo-box">Subscribe to our newsletter for the weekly digest today.</p>
<script>document.body.insertAdjacentHTML('beforeend', '<p>injected</p>');</script>
</article>
<footer>Copyright 2026 Example News. All rights reserved. Privacy policy. Terms.</footer>
</body></html>"#,
        p = PARAGRAPH
    )
}

fn job(url: String, main_only: bool) -> NewJob {
    let mut j = NewJob::get(&url);
    j.engine = scraperx_core::domain::Engine::Http;
    j.options.markdown = true;
    j.options.only_main_content = main_only;
    j.options.remove_base64_images = true;
    j.options.exclude_tags = vec![".promo-box".into()];
    j
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_main_content_job_returns_the_article_as_markdown_without_boilerplate(pool: PgPool) {
    let h = Harness::new(pool).await;
    let page = article();
    let router = Router::new().route(
        "/news/2026/story.html",
        get(move || {
            let page = page.clone();
            async move { ([(header::CONTENT_TYPE, "text/html")], page) }
        }),
    );
    let addr = serve(router).await;
    let org = h.org(10).await;
    let url = format!("http://{addr}/news/2026/story.html");
    let main = h.submit(&org, job(url.clone(), true)).await;
    let whole = h.submit(&org, job(url, false)).await;
    let (stop, handle) = h.start(h.config());
    h.completed(main, Duration::from_secs(60)).await;
    h.completed(whole, Duration::from_secs(60)).await;
    stop.send(true).expect("stop");
    handle.await.expect("worker");

    let result = h.db.get_result(org.id, main).await.expect("result");
    let md = result.extracted_markdown.unwrap_or_default();
    assert!(md.contains("Riverside library approved"), "{md}");
    assert!(md.contains("## What happens next"), "{md}");
    assert!(md.contains("*   Consultation ends in March"), "{md}");
    assert!(
        md.contains(&format!(
            "[The plans](http://{addr}/news/2026/library.html)"
        )),
        "{md}"
    );
    assert!(md.contains("**public**"), "{md}");
    for left_out in [
        "Sport",
        "cookies",
        "Copyright",
        "insertAdjacentHTML",
        "injected",
        "base64",
        "newsletter",
    ] {
        assert!(!md.contains(left_out), "{left_out} in {md}");
    }
    let text = result.extracted_text.unwrap_or_default();
    assert!(
        text.contains("riverside library") && !text.contains("Sport"),
        "{text}"
    );

    let result = h.db.get_result(org.id, whole).await.expect("result");
    let md = result.extracted_markdown.unwrap_or_default();
    assert!(
        md.contains("[Sport](http://") && md.contains("Copyright"),
        "{md}"
    );
    assert!(!md.contains("newsletter") && !md.contains("base64"), "{md}");
}
