//! A per-job relay on loopback between an engine and the network: every request of a
//! browser context, and the http engine's proxied requests, go through it.
//!
//! - **To a proxy provider.** Chromium cannot take proxy credentials in its settings, and
//!   answering its challenge over CDP would hand the same credentials to any site that asks
//!   for a login. The relay adds `Proxy-Authorization` on the way out (the approach of
//!   Apify's proxy-chain), so the credentials never enter the browser. For both engines it
//!   counts the bytes on the wire, what a provider bills by.
//! - **Direct.** The relay resolves and connects to the targets itself, under the address
//!   rule. Chromium hands a proxy host names and never resolves them, so the address
//!   checked is the address connected to, and DNS rebinding fails.
//!
//! `CONNECT` tunnels (https and wss) are passed through; a plain-http request is sent with
//! `Connection: close` and its response marked the same, so every request gets its own
//! connection (and credentials). Bytes through the upstream are counted both ways: the
//! bandwidth logged for a provider is what actually went through it.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use base64::Engine as _;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

mod direct;
mod head;

use crate::{error::FetchError, proxy::ProxyRoute};
use direct::{connect_checked, direct_target};
use head::{RequestHead, ResponseHead, closing_response, read_head, rewrite_request};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes through the upstream proxy.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Received from the proxy.
    pub down: AtomicU64,
    /// Sent to the proxy.
    pub up: AtomicU64,
    /// The hosts of connections refused by the address rule (direct mode).
    refused_hosts: std::sync::Mutex<Vec<String>>,
    /// The provider failed as a proxy (no connection, or 407): not the target's doing.
    pub proxy_failures: AtomicU64,
}

/// A running relay; it stops (connections included) when dropped.
pub struct ProxyRelay {
    addr: SocketAddr,
    traffic: Arc<Traffic>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for ProxyRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[derive(Clone)]
enum Upstream {
    /// An HTTP proxy; the credentials go in `Proxy-Authorization`.
    Proxy {
        host: String,
        port: u16,
        /// The endpoint's address when the route resolved it: connections skip DNS.
        ip: Option<std::net::IpAddr>,
        authorization: Option<Arc<str>>,
    },
    /// The targets themselves: the relay resolves each one and connects only to addresses
    /// that pass the address rule, so what the browser reaches is what was checked.
    Direct { allow_private: bool },
}

impl ProxyRelay {
    /// Listens on a fresh loopback port and relays to `route`'s endpoint (`http://` only).
    pub async fn start(route: &ProxyRoute) -> Result<Self, FetchError> {
        let endpoint = url::Url::parse(&route.endpoint)
            .map_err(|e| FetchError::Invalid(format!("proxy endpoint: {e}")))?;
        if endpoint.scheme() != "http" {
            return Err(FetchError::Invalid(format!(
                "the browser engines relay to http:// proxies, not {}://",
                endpoint.scheme()
            )));
        }
        let host = endpoint
            .host_str()
            .map(|h| scraperx_core::net::bare_host(h).to_owned())
            .ok_or_else(|| FetchError::Invalid("proxy endpoint has no host".into()))?;
        let port = endpoint.port_or_known_default().unwrap_or(80);
        let authorization = route.username.as_ref().map(|user| {
            let pair = format!("{user}:{}", route.password.as_deref().unwrap_or_default());
            Arc::from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        });
        Self::listen(Upstream::Proxy {
            host,
            port,
            ip: route.ip,
            authorization,
        })
        .await
    }

    /// A relay that connects to the targets itself (no proxy), each connection under the
    /// address rule: Chromium sends it host names, never resolving them itself, so a name
    /// that re-resolves to a private address (DNS rebinding) is refused on the connection.
    pub async fn direct(allow_private: bool) -> Result<Self, FetchError> {
        Self::listen(Upstream::Direct { allow_private }).await
    }

    async fn listen(upstream: Upstream) -> Result<Self, FetchError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| FetchError::Browser(format!("proxy relay: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| FetchError::Browser(format!("proxy relay: {e}")))?;
        let traffic = Arc::new(Traffic::default());
        let counted = traffic.clone();
        let accept = tokio::spawn(async move {
            // Dropped with the accept loop: every connection ends with the relay.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else {
                            // Out of descriptors, say: do not spin.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        let (upstream, counted) = (upstream.clone(), counted.clone());
                        connections.spawn(async move {
                            if let Err(err) = relay(client, &upstream, &counted).await {
                                tracing::debug!(error = %err, "proxy relay connection ended");
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            traffic,
            accept,
        })
    }

    /// Where the browser context sends its requests.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections refused under the address rule so far.
    pub fn refused(&self) -> u64 {
        self.traffic
            .refused_hosts
            .lock()
            .map_or(0, |hosts| hosts.len() as u64)
    }

    /// Whether a connection to `host` was refused under the address rule.
    pub fn refused_host(&self, host: &str) -> bool {
        self.traffic
            .refused_hosts
            .lock()
            .is_ok_and(|h| h.iter().any(|r| r.eq_ignore_ascii_case(host)))
    }

    /// Times the provider failed as a proxy (unreachable, or refusing the credentials).
    pub fn proxy_failures(&self) -> u64 {
        self.traffic.proxy_failures.load(Ordering::Relaxed)
    }

    /// Bytes (received, sent) through the upstream so far.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.traffic.down.load(Ordering::Relaxed),
            self.traffic.up.load(Ordering::Relaxed),
        )
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: &Upstream,
    traffic: &Arc<Traffic>,
) -> io::Result<()> {
    let (head, early) = read_head::<RequestHead, _>(&mut client).await?;
    let proxied = matches!(upstream, Upstream::Proxy { .. });
    let (request, upstream) = match upstream {
        Upstream::Proxy {
            host,
            port,
            ip,
            authorization,
        } => {
            let request = rewrite_request(&head, authorization.as_deref());
            let connecting = async {
                match ip {
                    Some(ip) => TcpStream::connect(SocketAddr::new(*ip, *port)).await,
                    None => TcpStream::connect((host.as_str(), *port)).await,
                }
            };
            let proxy = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(Ok(proxy)) => proxy,
                failed => {
                    traffic.proxy_failures.fetch_add(1, Ordering::Relaxed);
                    return Err(match failed {
                        Ok(Err(e)) => e,
                        _ => io::Error::new(io::ErrorKind::TimedOut, "proxy connect timed out"),
                    });
                }
            };
            (request, proxy)
        }
        Upstream::Direct { allow_private } => {
            let target = direct_target(&head)?;
            match connect_checked(&target.host, target.port, *allow_private).await {
                Ok(stream) => {
                    if target.request.tunnel {
                        client
                            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                            .await?;
                    }
                    (target.request, stream)
                }
                Err(refusal) => {
                    if refusal.by_rule()
                        && let Ok(mut hosts) = traffic.refused_hosts.lock()
                    {
                        hosts.push(target.host.clone());
                    }
                    client.write_all(refusal.answer().as_bytes()).await?;
                    return Ok(());
                }
            }
        }
    };
    let _ = upstream.set_nodelay(true);
    let mut upstream = Counted {
        inner: upstream,
        traffic: traffic.clone(),
    };
    // Empty for a tunnel made here: the CONNECT was answered, not forwarded.
    upstream.write_all(&request.head).await?;
    upstream.write_all(&early).await?;
    if request.tunnel && proxied {
        // The provider's answer to CONNECT: a 407 is the provider's failure.
        let (head, early) = read_head::<ResponseHead, _>(&mut upstream).await?;
        if head.code == 407 {
            traffic.proxy_failures.fetch_add(1, Ordering::Relaxed);
        }
        client.write_all(&head.bytes(&[])).await?;
        client.write_all(&early).await?;
    }
    if request.tunnel {
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Plain http: the rest of the request body goes up while the response comes down.
    let (mut client_read, mut client_write) = client.split();
    let (mut up_read, mut up_write) = tokio::io::split(upstream);
    let upload = tokio::io::copy(&mut client_read, &mut up_write);
    let download = async {
        let (head, early) = read_head::<ResponseHead, _>(&mut up_read).await?;
        if proxied && head.code == 407 {
            traffic.proxy_failures.fetch_add(1, Ordering::Relaxed);
        }
        client_write.write_all(&closing_response(&head)).await?;
        client_write.write_all(&early).await?;
        tokio::io::copy(&mut up_read, &mut client_write).await?;
        Ok::<_, io::Error>(())
    };
    let (download, upload) = (std::pin::pin!(download), std::pin::pin!(upload));
    match futures::future::select(download, upload).await {
        futures::future::Either::Left((done, _)) => done,
        // The request is all sent; the response decides when this ends.
        futures::future::Either::Right((_, download)) => download.await,
    }
}

/// The upstream connection, counting what goes each way.
struct Counted {
    inner: TcpStream,
    traffic: Arc<Traffic>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.traffic.down.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.traffic.up.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
