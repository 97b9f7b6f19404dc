//! The direct relay's side of a request: where it goes (a `CONNECT` tunnel, or a plain-http
//! request in absolute form rewritten to the origin form), and the connection to it, made
//! only to addresses that pass the address rule, as resolved here (so DNS rebinding fails).

use std::io;

use tokio::net::TcpStream;

use scraperx_core::net::{Unreachable, bare_host, resolve_public};

use super::{
    CONNECT_TIMEOUT,
    head::{RequestHead, Rewritten, assemble},
};

/// Where a direct request goes, and what to send there first.
pub struct DirectTarget {
    pub host: String,
    pub port: u16,
    pub request: Rewritten,
}

/// The target of a browser's request to the direct relay: `CONNECT host:port` (https, wss;
/// nothing to forward), or an absolute-form `GET http://host/path` rewritten to the origin
/// form with `Connection: close`.
pub fn direct_target(req: &RequestHead) -> io::Result<DirectTarget> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    if req.is_connect() {
        let (host, port) = req
            .target
            .rsplit_once(':')
            .ok_or_else(|| invalid("CONNECT without a port"))?;
        return Ok(DirectTarget {
            host: bare_host(host).to_owned(),
            port: port.parse().map_err(|_| invalid("CONNECT port"))?,
            request: Rewritten {
                head: Vec::new(),
                tunnel: true,
            },
        });
    }
    let url = url::Url::parse(&req.target).map_err(|_| invalid("not an absolute-form target"))?;
    if url.scheme() != "http" {
        return Err(invalid("only http is relayed without a tunnel"));
    }
    let host = bare_host(url.host_str().ok_or_else(|| invalid("no host"))?).to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let line = req.line_with(&url[url::Position::BeforePath..]);
    Ok(DirectTarget {
        host,
        port,
        request: Rewritten {
            head: assemble(&line, &req.headers, &["Connection: close"]),
            tunnel: false,
        },
    })
}

/// Why the direct relay did not connect, as the HTTP answer the browser gets.
pub struct Refusal {
    pub status: &'static str,
    pub reason: String,
}

impl Refusal {
    /// The whole answer, closing the connection.
    pub fn answer(&self) -> String {
        format!(
            "HTTP/1.1 {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.reason.len(),
            self.reason
        )
    }

    /// Refused by the address rule (not merely unreachable).
    pub fn by_rule(&self) -> bool {
        self.status.starts_with("403")
    }
}

/// Resolves `host` and connects to the first address that answers, when every address
/// passes the address rule.
pub async fn connect_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<TcpStream, Refusal> {
    let unreachable = |reason: String| Refusal {
        status: "502 Bad Gateway",
        reason,
    };
    let addrs = match resolve_public(host, port, allow_private).await {
        Ok(addrs) => addrs,
        Err(Unreachable::NotPublic { .. }) => {
            return Err(Refusal {
                status: "403 Forbidden",
                // The page may show this: no internal address in it.
                reason: format!("{host} is refused by the address rule"),
            });
        }
        Err(e) => return Err(unreachable(e.to_string())),
    };
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: timed out"),
        }
    }
    Err(unreachable(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::head::Head;

    fn target(head: &[u8]) -> io::Result<DirectTarget> {
        let (req, _) = RequestHead::parse(head)?.expect("complete");
        direct_target(&req)
    }

    #[test]
    fn a_connect_names_its_host_without_brackets_and_an_http_request_goes_origin_form() {
        let t = target(b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n").expect("target");
        assert_eq!(
            (t.host.as_str(), t.port, t.request.tunnel),
            ("::1", 8443, true)
        );
        let t = target(b"GET http://example.com:8080/a?b HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n\r\n")
            .expect("target");
        assert_eq!((t.host.as_str(), t.port), ("example.com", 8080));
        assert_eq!(
            String::from_utf8(t.request.head).expect("utf8"),
            "GET /a?b HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        );
        assert!(target(b"GET https://example.com/ HTTP/1.1\r\n\r\n").is_err());
        assert!(target(b"CONNECT example.com HTTP/1.1\r\n\r\n").is_err());
    }
}
