//! Chromium kept apart from the machine it runs on: its sandbox on (as an unprivileged user
//! when the worker is root), its launch flags in effect, and WebRTC sending no UDP outside
//! the proxy nor showing the machine's addresses to the page.

mod common;

use std::{os::unix::fs::MetadataExt, time::Duration};

use axum::{Router, extract::Path, http::header, routing::get};
use common::{chromium, render_request, serve};
use scraperx_worker::{
    browser::{BrowserPool, BrowserSettings, launch::UNPRIVILEGED},
    relay::ProxyRelay,
};
use serde_json::Value;
use tokio::net::UdpSocket;

fn pool() -> BrowserPool {
    BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: 1,
        pages_per_browser: 50,
        allow_private: true,
        max_bytes: 2 << 20,
    })
}

/// Gathers ICE candidates against a STUN server on `port` and writes what the page saw
/// (candidates, the local description) into `#out`, then adds `#done`.
fn webrtc_page(port: u16) -> String {
    format!(
        r#"<html><body><pre id="out"></pre><script>
const seen = {{ api: typeof RTCPeerConnection, candidates: [], sdp: '', error: null,
  webgl: !!document.createElement('canvas').getContext('webgl') }};
let finished = false;
function finish() {{
  if (finished) return; finished = true;
  document.getElementById('out').textContent = JSON.stringify(seen);
  const d = document.createElement('div'); d.id = 'done'; document.body.appendChild(d);
}}
try {{
  const pc = new RTCPeerConnection({{ iceServers: [{{ urls: 'stun:127.0.0.1:{port}' }}] }});
  pc.createDataChannel('probe');
  pc.onicecandidate = (e) => {{
    if (e.candidate) seen.candidates.push(e.candidate.candidate);
    else {{ seen.sdp = pc.localDescription ? pc.localDescription.sdp : ''; finish(); }}
  }};
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(() => {{ seen.sdp = pc.localDescription ? pc.localDescription.sdp : ''; finish(); }}, 4000);
}} catch (e) {{ seen.error = String(e); finish(); }}
</script></body></html>"#
    )
}

/// This machine's own addresses, as the kernel lists them (IPv4 from /proc/net/fib_trie's
/// local routes), loopback included.
fn machine_addresses() -> Vec<String> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let lines: Vec<&str> = trie.lines().collect();
    let mut out: Vec<String> = lines
        .windows(2)
        .filter(|w| w[1].contains("/32 host LOCAL"))
        .filter_map(|w| w[0].split_whitespace().last().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn render_webrtc(pool: &BrowserPool, base: &str, port: u16, proxy: Option<String>) -> Value {
    let mut req = render_request(format!("{base}/webrtc/{port}"), Duration::from_secs(20));
    req.wait_for = Some("#done".into());
    req.proxy_server = proxy;
    let rendered = pool.render(&req).await.expect("render");
    let html = String::from_utf8_lossy(&rendered.page.body).to_string();
    let json = html
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the page wrote what it saw")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json).expect("json")
}

#[tokio::test]
async fn webrtc_sends_no_udp_around_the_proxy_and_shows_the_page_no_machine_address() {
    let stun = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let port = stun.local_addr().expect("addr").port();
    let site = Router::new().route(
        "/webrtc/{port}",
        get(|Path(port): Path<u16>| async move {
            ([(header::CONTENT_TYPE, "text/html")], webrtc_page(port))
        }),
    );
    let base = format!("http://{}", serve(site).await);
    let browsers = pool();
    let relay = ProxyRelay::direct(true).await.expect("relay");
    let addresses = machine_addresses();
    assert!(addresses.iter().any(|a| a == "127.0.0.1"), "{addresses:?}");
    for proxy in [None, Some(relay.endpoint())] {
        let seen = render_webrtc(&browsers, &base, port, proxy.clone()).await;
        // The API is there, as in any browser; it just finds no route outside the proxy.
        assert_eq!(seen["api"], "function", "{seen}");
        // WebGL too (a fingerprint without it stands out).
        assert_eq!(seen["webgl"], true, "{seen}");
        assert!(seen["error"].is_null(), "{seen}");
        let candidates = seen["candidates"].as_array().cloned().unwrap_or_default();
        let shown = format!("{candidates:?} {}", seen["sdp"]);
        for c in &candidates {
            let c = c.as_str().unwrap_or_default();
            assert!(
                !c.contains(" udp "),
                "a UDP candidate (proxy {proxy:?}): {c}"
            );
            assert!(
                !c.contains("typ host"),
                "a host candidate (proxy {proxy:?}): {c}"
            );
        }
        for address in addresses.iter().filter(|a| *a != "127.0.0.1") {
            assert!(
                !shown.contains(address.as_str()),
                "{address} shown to the page: {shown}"
            );
        }
        let mut buf = [0u8; 1500];
        let got = tokio::time::timeout(Duration::from_millis(500), stun.recv_from(&mut buf)).await;
        assert!(
            got.is_err(),
            "a UDP packet reached the STUN port (proxy {proxy:?}): {got:?}"
        );
    }
}

/// The command line of `pid`, as words: Chromium's children rewrite theirs as one string
/// (setproctitle), so it is split at NULs and spaces alike.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split(['\0', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn status_field(pid: u32, name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
}

#[tokio::test]
async fn chromium_runs_with_its_sandbox_and_its_renderers_are_confined() {
    let site = Router::new().route(
        "/",
        get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<p>hi</p>") }),
    );
    let base = format!("http://{}", serve(site).await);
    let browsers = std::sync::Arc::new(pool());
    // A page held open for 3 s, so its renderer is there to look at.
    let mut held = render_request(format!("{base}/"), Duration::from_secs(20));
    held.wait_time = Duration::from_secs(3);
    let rendering = tokio::spawn({
        let browsers = browsers.clone();
        async move { browsers.render(&held).await.map(|_| ()) }
    });
    let mut pid = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pid = browsers.browser_pid().await;
        if pid.is_some() {
            break;
        }
    }
    let pid = pid.expect("a browser runs");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let args = cmdline(pid);
    assert!(
        !args.iter().any(|a| a.contains("no-sandbox")),
        "launched without its sandbox: {args:?}"
    );
    // The flags arrive as Chromium's switches, with two dashes.
    assert!(args.iter().any(|a| a == "--disable-gpu"), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("---")), "{args:?}");
    let profile = args
        .iter()
        .find(|a| a.starts_with("--user-data-dir="))
        .cloned()
        .expect("a profile");
    let worker_is_root = std::fs::metadata("/proc/self").expect("self").uid() == 0;
    let browser_uid = std::fs::metadata(format!("/proc/{pid}"))
        .expect("browser")
        .uid();
    if worker_is_root {
        assert_eq!(browser_uid, UNPRIVILEGED.0, "Chromium runs as root");
    }
    // This browser's renderers: the processes of its profile with `--type=renderer`.
    let renderers: Vec<u32> = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let a = cmdline(*p);
            a.contains(&profile) && a.iter().any(|x| x == "--type=renderer")
        })
        .collect();
    assert!(!renderers.is_empty(), "no renderer of {profile} found");
    for r in renderers {
        // Seccomp mode 2: the renderer runs under Chromium's seccomp-bpf filter.
        assert_eq!(
            status_field(r, "Seccomp").as_deref(),
            Some("2"),
            "renderer {r} not under seccomp-bpf"
        );
        // In its own user and PID namespaces (the namespace sandbox), as no one privileged.
        let ns = |p: u32, kind: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).ok();
        assert_ne!(
            ns(r, "pid"),
            ns(pid, "pid"),
            "renderer {r} shares the PID namespace"
        );
        let uid = std::fs::metadata(format!("/proc/{r}"))
            .expect("renderer")
            .uid();
        assert_ne!(uid, 0, "renderer {r} runs as root");
    }
    rendering.await.expect("join").expect("render");
}
