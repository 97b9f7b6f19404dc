//! The benchmark site, served on loopback to ScraperX and its peers alike in one run:
//! `/page/{n}` a static article of about 10 KB with 20 links to other pages, and `/js/{n}`
//! a page whose content its script writes after load (`#ready` marks it done), for the
//! browser engines. Prints its address on the first line, then serves until killed.
//!
//!     bench-site [--addr 127.0.0.1:0] [--pages 10000]

use axum::{
    Router,
    extract::{Path, State},
    http::header,
    routing::get,
};
use scraperx_bench::arg;

const HTML: (header::HeaderName, &str) = (header::CONTENT_TYPE, "text/html; charset=utf-8");

fn article(n: usize, pages: usize) -> String {
    let mut html = format!(
        "<!doctype html><html><head><title>Article {n}</title></head><body><h1>Article {n}</h1><ul>"
    );
    for k in 1..=20 {
        let to = (n * 31 + k * 997) % pages;
        html.push_str(&format!(
            "<li><a href=\"/page/{to}\">Related article {to}</a></li>"
        ));
    }
    html.push_str("</ul>");
    for p in 0..20 {
        html.push_str(&format!(
            "<p>Paragraph {p} of article {n}. The quick brown fox jumps over the lazy dog; \
             this sentence is here to give the page the weight of real prose, roughly \
             four hundred bytes of it per paragraph, which is typical of a news article or \
             a product page once the markup is gone.</p>"
        ));
    }
    html.push_str("</body></html>");
    html
}

fn scripted(n: usize) -> String {
    format!(
        "<!doctype html><html><head><title>Rendered {n}</title></head><body><div id=\"app\">loading</div>\
         <script>window.addEventListener('load', () => setTimeout(() => {{\
           const app = document.getElementById('app'); app.textContent = '';\
           for (let i = 0; i < 50; i++) {{ const p = document.createElement('p');\
             p.textContent = 'Rendered paragraph ' + i + ' of page {n}'; app.appendChild(p); }}\
           const done = document.createElement('div'); done.id = 'ready'; done.textContent = 'ready'; app.appendChild(done);\
         }}, 10));</script></body></html>"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pages: usize = arg("pages", "10000").parse()?;
    let addr = arg("addr", "127.0.0.1:0");
    let app = Router::new()
        .route(
            "/page/{n}",
            get(
                |State(pages): State<usize>, Path(n): Path<usize>| async move {
                    ([HTML], article(n, pages))
                },
            ),
        )
        .route(
            "/js/{n}",
            get(|Path(n): Path<usize>| async move { ([HTML], scripted(n)) }),
        )
        .with_state(pages);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
