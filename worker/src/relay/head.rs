//! HTTP/1 heads as the relay handles them, parsed by `httparse`: read up to the end of a
//! head (at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers, anything else refused), the
//! request's method, target and version, the response's status, and the headers without
//! the hop-by-hop ones, each value passed on as its bytes (they need not be UTF-8: Latin-1
//! file names exist). Heads are written again from those parts.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// A request or response head larger than this is refused.
pub const MAX_HEAD: usize = 64 * 1024;
/// A head with more headers than this is refused.
pub const MAX_HEADERS: usize = 128;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// A header line as it is passed on: its name and its value's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

/// Hop-by-hop headers between the browser and the relay; never forwarded.
fn hop_by_hop(name: &str) -> bool {
    [
        "proxy-authorization",
        "proxy-connection",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn kept(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers
        .iter()
        .filter(|h| !hop_by_hop(h.name))
        .map(|h| Header {
            name: h.name.to_owned(),
            value: h.value.to_vec(),
        })
        .collect()
}

/// A request head: its line in parts, and its headers without the hop-by-hop ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// The minor version: 0 or 1.
    pub version: u8,
    pub headers: Vec<Header>,
}

/// A response head: its status, and its headers without the hop-by-hop ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub version: u8,
    pub code: u16,
    pub reason: String,
    pub headers: Vec<Header>,
}

/// A head `buf` starts with, and its length; None while it is incomplete.
pub trait Head: Sized {
    fn parse(buf: &[u8]) -> io::Result<Option<(Self, usize)>>;
}

impl Head for RequestHead {
    fn parse(buf: &[u8]) -> io::Result<Option<(Self, usize)>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(invalid(format!("request head: {e}"))),
        };
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return Err(invalid("request head: incomplete request line"));
        };
        let head = Self {
            method: method.to_owned(),
            target: target.to_owned(),
            version,
            headers: kept(req.headers),
        };
        Ok(Some((head, len)))
    }
}

impl Head for ResponseHead {
    fn parse(buf: &[u8]) -> io::Result<Option<(Self, usize)>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(invalid(format!("response head: {e}"))),
        };
        let (Some(version), Some(code)) = (resp.version, resp.code) else {
            return Err(invalid("response head: incomplete status line"));
        };
        let head = Self {
            version,
            code,
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: kept(resp.headers),
        };
        Ok(Some((head, len)))
    }
}

/// Reads a head; returns it and any bytes read past it.
pub async fn read_head<H: Head, S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<(H, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the end of the head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((head, len)) = H::parse(&buf)? {
            return Ok((head, buf.split_off(len)));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("head too large"));
        }
    }
}

/// A head: its first line, the headers, then `added` header lines.
pub fn assemble(first: &str, headers: &[Header], added: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    for line in added {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl RequestHead {
    pub fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT")
    }

    /// Its request line with another target.
    pub fn line_with(&self, target: &str) -> String {
        format!("{} {target} HTTP/1.{}", self.method, self.version)
    }
}

/// A request head ready for the upstream.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    pub head: Vec<u8>,
    /// A `CONNECT`: after the head, bytes pass through untouched.
    pub tunnel: bool,
}

/// The browser's request with the provider's credentials, and for plain http a
/// `Connection: close` so the next request comes on a new connection (with credentials).
pub fn rewrite_request(req: &RequestHead, authorization: Option<&str>) -> Rewritten {
    let tunnel = req.is_connect();
    let credentials = authorization.map(|auth| format!("Proxy-Authorization: {auth}"));
    let mut added: Vec<&str> = credentials.as_deref().into_iter().collect();
    if !tunnel {
        added.push("Connection: close");
    }
    Rewritten {
        head: assemble(&req.line_with(&req.target), &req.headers, &added),
        tunnel,
    }
}

impl ResponseHead {
    /// The head written again, with `added` header lines.
    pub fn bytes(&self, added: &[&str]) -> Vec<u8> {
        let line = format!("HTTP/1.{} {} {}", self.version, self.code, self.reason);
        assemble(&line, &self.headers, added)
    }
}

/// The upstream's response head, marked so the browser does not reuse the connection.
pub fn closing_response(resp: &ResponseHead) -> Vec<u8> {
    resp.bytes(&["Connection: close", "Proxy-Connection: close"])
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn request(head: &[u8]) -> io::Result<RequestHead> {
        RequestHead::parse(head)?
            .map(|(h, _)| h)
            .ok_or_else(|| invalid("partial"))
    }

    fn response(head: &[u8]) -> ResponseHead {
        ResponseHead::parse(head)
            .ok()
            .flatten()
            .map(|(h, _)| h)
            .expect("a response")
    }

    #[test]
    fn plain_requests_get_credentials_and_close() {
        let head = b"GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nAccept: */*\r\n\r\n";
        let out = rewrite_request(&request(head).expect("parsed"), Some("Basic dTpw"));
        assert!(!out.tunnel);
        assert_eq!(
            String::from_utf8(out.head).expect("utf8"),
            "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nProxy-Authorization: Basic dTpw\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn connect_requests_become_tunnels_with_credentials() {
        let head = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n";
        let req = request(head).expect("parsed");
        let out = rewrite_request(&req, Some("Basic dTpw"));
        assert!(out.tunnel);
        assert_eq!(
            String::from_utf8(out.head).expect("utf8"),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        let bare = rewrite_request(&req, None);
        assert!(!String::from_utf8_lossy(&bare.head).contains("Proxy-Authorization"));
    }

    #[test]
    fn malformed_heads_are_refused_and_responses_marked_closing() {
        assert!(request(b"GARBAGE\r\n\r\n").is_err());
        assert!(request(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']).is_err());
        assert!(request(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n").is_err());
        let resp =
            response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            String::from_utf8(closing_response(&resp)).expect("utf8"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn header_bytes_that_are_not_utf8_pass_through_untouched() {
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"caf\xe9.txt\"\r\n\r\n";
        let resp = response(head);
        assert_eq!(resp.code, 200);
        assert!(
            closing_response(&resp)
                .windows(9)
                .any(|w| w == b"caf\xe9.txt\"")
        );
    }

    #[test]
    fn a_head_with_too_many_headers_is_refused() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            head.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(request(&head).is_err());
    }

    #[tokio::test]
    async fn heads_are_split_from_what_follows_across_reads() {
        let (mut a, mut b) = tokio::io::duplex(8);
        tokio::spawn(async move {
            let _ = a
                .write_all(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
                .await;
        });
        let (head, mut rest) = read_head::<RequestHead, _>(&mut b).await.expect("head");
        assert_eq!((head.method.as_str(), head.target.as_str()), ("POST", "/"));
        b.read_to_end(&mut rest).await.expect("the body");
        assert_eq!(
            rest, b"abc",
            "the body is what follows the head, nothing of it lost"
        );
    }
}
