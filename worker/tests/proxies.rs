//! Proxies: a local forward proxy with basic auth stands between the worker and the pages.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, routing::get};
use base64::Engine as _;
use common::{Harness, serve};
use scraperx_core::{
    domain::{JobStatus, ProxyTier},
    pg::{NewJob, NewProxyProvider},
    secrets::SecretBox,
};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP forward proxy: checks `Proxy-Authorization` against `password`, records the
/// usernames it sees, and relays one request per connection or opens a `CONNECT` tunnel.
async fn forward_proxy(password: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let mut lines = text.split("\r\n");
                let request_line = lines.next().unwrap_or_default().to_owned();
                let mut parts = request_line.split(' ');
                let (method, target) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
                let auth = lines
                    .clone()
                    .find_map(|l| {
                        l.strip_prefix("proxy-authorization: Basic ")
                            .or_else(|| l.strip_prefix("Proxy-Authorization: Basic "))
                    })
                    .and_then(|b| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .ok()
                    })
                    .map(|b| String::from_utf8_lossy(&b).to_string())
                    .unwrap_or_default();
                let (user, pass) = auth.split_once(':').unwrap_or(("", ""));
                if !password.is_empty() && pass != password {
                    let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"scraperx-test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    return;
                }
                log.lock().expect("lock").push(user.to_owned());
                if method == "CONNECT" {
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    if client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                    return;
                }
                let url = url::Url::parse(target).expect("absolute-form target");
                let origin = format!(
                    "{}:{}",
                    url.host_str().unwrap_or_default(),
                    url.port_or_known_default().unwrap_or(80)
                );
                let Ok(mut upstream) = tokio::net::TcpStream::connect(origin).await else {
                    return;
                };
                let mut forwarded = format!(
                    "{method} {} HTTP/1.1\r\n",
                    &url[url::Position::BeforePath..]
                );
                for line in lines.filter(|l| !l.is_empty()) {
                    let lower = line.to_ascii_lowercase();
                    if !lower.starts_with("proxy-") && !lower.starts_with("connection:") {
                        forwarded.push_str(line);
                        forwarded.push_str("\r\n");
                    }
                }
                forwarded.push_str("Connection: close\r\n\r\n");
                if upstream.write_all(forwarded.as_bytes()).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy(&mut upstream, &mut client).await;
            });
        }
    });
    (addr, seen)
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn jobs_go_through_a_healthy_provider_with_sticky_sessions_and_bandwidth_is_logged(
    pool: PgPool,
) {
    let h = Harness::new(pool.clone()).await;
    let site =
        serve(Router::new().route("/page", get(|| async { "<title>via proxy</title>" }))).await;
    let (proxy, seen) = forward_proxy("s3cret-pass").await;
    let key = SecretBox::new(&[9u8; 32]);
    let provider =
        h.db.create_proxy_provider(
            &NewProxyProvider {
                name: "local",
                tier: ProxyTier::Datacenter,
                endpoint: &format!("http://{proxy}"),
                countries: vec![],
                username: Some("user"),
                password: Some("s3cret-pass"),
                priority: 5,
                username_template: None,
            },
            &key,
        )
        .await
        .expect("provider");
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT auth_credentials_encrypted FROM proxy_providers WHERE id = $1")
            .bind(provider)
            .fetch_one(&pool)
            .await
            .expect("sealed");
    assert!(
        !sealed.windows(11).any(|w| w == b"s3cret-pass"),
        "stored sealed"
    );

    let org = h.org(10).await;
    let mut job = NewJob::get(&format!("http://{site}/page"));
    job.engine = scraperx_core::domain::Engine::Http;
    job.proxy_session_id = Some("cart-42".into());
    let id = h.submit(&org, job).await;
    let mut config = h.config();
    config.secrets = Some(key);
    let (_stop, _w) = h.start(config);
    h.completed(id, Duration::from_secs(10)).await;
    assert_eq!(
        seen.lock().expect("lock").as_slice(),
        ["user-session-cart-42"]
    );
    let (bytes_in, bytes_out, success): (i64, i64, bool) = sqlx::query_as(
        "SELECT bytes_in, bytes_out, success FROM proxy_usage_logs WHERE provider_id = $1 AND job_id = $2",
    )
    .bind(provider)
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("usage");
    // Counted on the wire by the job's relay: the request line and headers went out, the
    // status line, headers and body came back.
    assert!(success);
    assert!(
        bytes_out > 60 && bytes_in > "<title>via proxy</title>".len() as i64 + 40,
        "{bytes_in} in, {bytes_out} out"
    );
    assert!(
        h.event_types(&org, id)
            .await
            .iter()
            .any(|e| e == "job.proxy_assigned")
    );

    // An unhealthy provider is skipped: the next job connects directly.
    sqlx::query("UPDATE proxy_providers SET is_healthy = FALSE WHERE id = $1")
        .bind(provider)
        .execute(&pool)
        .await
        .expect("unhealthy");
    let direct = h
        .submit(&org, NewJob::get(&format!("http://{site}/page")))
        .await;
    assert_eq!(
        h.finished(direct, Duration::from_secs(10)).await.status,
        JobStatus::Completed
    );
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "the proxy saw nothing new"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn browser_jobs_go_through_a_proxy_that_wants_credentials(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let site = serve(Router::new().route(
        "/page",
        get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<title>rendered via proxy</title><p>hi</p>",
            )
        }),
    ))
    .await;
    // The provider wants a username and password; Chromium never sees them (the relay
    // adds them), and a request without them is refused with 407.
    let (proxy, seen) = forward_proxy("browser-pass").await;
    let key = SecretBox::new(&[3u8; 32]);
    let provider =
        h.db.create_proxy_provider(
            &NewProxyProvider {
                name: "local-browser",
                tier: ProxyTier::Residential,
                endpoint: &format!("http://{proxy}"),
                countries: vec!["DE".into()],
                username: Some("buser"),
                password: Some("browser-pass"),
                priority: 5,
                username_template: None,
            },
            &key,
        )
        .await
        .expect("provider");
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("http://{site}/page"));
    job.engine = scraperx_core::domain::Engine::Browser;
    job.proxy_tier = ProxyTier::Residential;
    job.proxy_country = Some("DE".into());
    job.proxy_session_id = Some("tab-7".into());
    let id = h.submit(&org, job).await;
    let mut config = h.browser_config(&[scraperx_core::domain::Engine::Browser]);
    config.secrets = Some(key);
    let (_stop, _w) = h.start(config);
    h.completed(id, Duration::from_secs(30)).await;
    let content = h.content(&org, id).await;
    assert!(content.contains("rendered via proxy"), "{content}");
    let users = seen.lock().expect("lock").clone();
    assert!(!users.is_empty(), "the page came through the proxy");
    assert!(
        users
            .iter()
            .all(|u| u.starts_with("buser") && u.contains("session-tab-7")),
        "every request carried the job's credentials: {users:?}"
    );
    let (provider_name, proxy_country, proxy_ip): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT proxy_provider, proxy_country, host(proxy_ip) FROM job_results WHERE job_id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("proxy columns");
    assert_eq!(
        (
            provider_name.as_deref(),
            proxy_country.as_deref(),
            proxy_ip.as_deref()
        ),
        (Some("local-browser"), Some("DE"), Some("127.0.0.1"))
    );
    let (bytes_in, bytes_out, success): (i64, i64, bool) = sqlx::query_as(
        "SELECT bytes_in, bytes_out, success FROM proxy_usage_logs WHERE provider_id = $1 AND job_id = $2",
    )
    .bind(provider)
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("usage");
    assert!(success);
    assert!(
        bytes_in > 40 && bytes_out > 40,
        "the bytes through the proxy were counted: {bytes_in} in, {bytes_out} out"
    );
    assert!(
        !h.event_types(&org, id)
            .await
            .iter()
            .any(|e| e == "job.failed"),
    );
}

#[tokio::test]
async fn the_browser_relay_tunnels_with_credentials_and_counts_bytes() {
    use scraperx_worker::{proxy::ProxyRoute, relay::ProxyRelay};
    let site = serve(Router::new().route("/t", get(|| async { "through the tunnel" }))).await;
    let (proxy, seen) = forward_proxy("tunnel-pass").await;
    let route = |password: &str| ProxyRoute {
        provider: uuid::Uuid::new_v4(),
        name: "tunnel".into(),
        ip: None,
        endpoint: format!("http://{proxy}"),
        username: Some("tuser".into()),
        password: Some(password.into()),
    };
    let relay = ProxyRelay::start(&route("tunnel-pass"))
        .await
        .expect("relay");

    // What Chromium does for https: CONNECT, then its own bytes through the tunnel.
    let response = through_tunnel(&relay.endpoint(), site).await;
    assert!(response.contains("through the tunnel"), "{response}");
    assert_eq!(seen.lock().expect("lock").as_slice(), ["tuser"]);
    let (down, up) = relay.traffic();
    assert!(
        down as usize > response.len() && up > 0,
        "counted {down} down, {up} up"
    );

    // Wrong credentials: the proxy's 407 reaches the browser, and nothing goes through.
    let refused = ProxyRelay::start(&route("wrong")).await.expect("relay");
    let addr = refused.endpoint().trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("relay");
    conn.write_all(format!("GET http://{site}/t HTTP/1.1\r\nHost: {site}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 407"), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn the_direct_relay_connects_only_to_addresses_that_pass_the_rule() {
    use scraperx_worker::relay::ProxyRelay;
    let site = serve(Router::new().route("/t", get(|| async { "private page" }))).await;
    let ask = |relay: String, request: String| async move {
        let mut conn = tokio::net::TcpStream::connect(relay.trim_start_matches("http://"))
            .await
            .expect("relay");
        conn.write_all(request.as_bytes()).await.expect("request");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.expect("answer");
        answer
    };
    let plain = format!(
        "GET http://localhost:{}/t HTTP/1.1\r\nHost: localhost:{}\r\nProxy-Connection: keep-alive\r\n\r\n",
        site.port(),
        site.port()
    );
    let tunnel = format!("CONNECT {site} HTTP/1.1\r\nHost: {site}\r\n\r\n");

    // Under the rule, a name resolving to loopback is refused on the connection itself.
    let strict = ProxyRelay::direct(false).await.expect("relay");
    let refused = ask(strict.endpoint(), plain.clone()).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("address rule"), "{refused}");
    assert!(
        !refused.contains("127.0.0.1"),
        "no internal address shown: {refused}"
    );
    assert!(strict.refused_host("localhost"));
    let refused = ask(strict.endpoint(), tunnel.clone()).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");

    // Where private targets are allowed, the same requests go through.
    let open = ProxyRelay::direct(true).await.expect("relay");
    let answer = ask(open.endpoint(), plain).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("Connection: close") && answer.ends_with("private page"),
        "{answer}"
    );
    let response = through_tunnel(&open.endpoint(), site).await;
    assert!(response.ends_with("private page"), "{response}");
}

/// Opens a tunnel to `site` through the relay at `relay`, asks for `/t` inside it, and
/// returns the response.
async fn through_tunnel(relay: &str, site: SocketAddr) -> String {
    let mut conn = tokio::net::TcpStream::connect(relay.trim_start_matches("http://"))
        .await
        .expect("relay");
    conn.write_all(format!("CONNECT {site} HTTP/1.1\r\nHost: {site}\r\n\r\n").as_bytes())
        .await
        .expect("connect");
    let mut established = [0u8; 39];
    conn.read_exact(&mut established)
        .await
        .expect("established");
    assert!(established.starts_with(b"HTTP/1.1 200"));
    conn.write_all(
        format!("GET /t HTTP/1.1\r\nHost: {site}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response).await.expect("response");
    response
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_residential_job_without_a_provider_fails_instead_of_going_direct(pool: PgPool) {
    let h = Harness::new(pool).await;
    let site = serve(Router::new().route("/page", get(|| async { "<title>direct</title>" }))).await;
    let org = h.org(20).await;
    let mut job = NewJob::get(&format!("http://{site}/page"));
    job.engine = scraperx_core::domain::Engine::Http;
    job.proxy_tier = ProxyTier::Residential;
    job.proxy_country = Some("FR".into());
    job.max_attempts = 1;
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error_code.as_deref(), Some("proxy_unavailable"));
    assert!(
        done.error_message
            .as_deref()
            .is_some_and(|m| m.contains("residential") && m.contains("FR")),
        "{:?}",
        done.error_message
    );
    assert_eq!(h.balance(&org).await, 20, "refunded");
}

#[tokio::test]
async fn a_request_body_larger_than_one_read_goes_through_the_relay_whole() {
    use axum::routing::post;
    use scraperx_worker::relay::ProxyRelay;
    let site = serve(Router::new().route(
        "/echo",
        post(|body: axum::body::Bytes| async move { format!("got {} bytes", body.len()) }),
    ))
    .await;
    let relay = ProxyRelay::direct(true).await.expect("relay");
    let mut conn = tokio::net::TcpStream::connect(relay.endpoint().trim_start_matches("http://"))
        .await
        .expect("relay");
    let body = vec![b'x'; 200_000];
    conn.write_all(
        format!(
            "POST http://{site}/echo HTTP/1.1\r\nHost: {site}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("head");
    for chunk in body.chunks(16 * 1024) {
        conn.write_all(chunk).await.expect("body");
    }
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_string(&mut response))
        .await
        .expect("answered, not stuck")
        .expect("response");
    assert!(response.ends_with("got 200000 bytes"), "{response}");
}
