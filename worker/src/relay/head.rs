//! Request and response heads as the relay handles them: read up to the end of a head (at
//! most `MAX_HEAD` bytes), split into the first line and the headers without the hop-by-hop
//! ones, and written again with the headers the relay adds. Header values are passed on as
//! bytes: they need not be UTF-8 (Latin-1 file names exist).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::MAX_HEAD;

/// The status code of a response head.
pub(super) fn status_of(head: &[u8]) -> Option<u16> {
    let (line, _) = split_head(head);
    line_text(line).ok()?.split(' ').nth(1)?.parse().ok()
}

/// Reads up to the end of a head (`\r\n\r\n`); returns the head and any bytes read past it.
pub(super) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
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
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + at + 4;
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
}

/// A request head ready for the upstream proxy.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rewritten {
    pub(super) head: Vec<u8>,
    /// A `CONNECT`: after the head, bytes pass through untouched.
    pub(super) tunnel: bool,
}

/// Hop-by-hop headers between the browser and the relay; never forwarded.
pub(super) fn hop_by_hop(name: &[u8]) -> bool {
    [
        "proxy-authorization",
        "proxy-connection",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// A head's first line and its headers without the hop-by-hop ones, as bytes: header
/// values need not be UTF-8 (Latin-1 file names exist), and they pass through untouched.
pub(super) fn split_head(head: &[u8]) -> (&[u8], Vec<&[u8]>) {
    let head = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let headers = lines
        .filter(|l| {
            let name = l
                .split(|b| *b == b':')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            !l.is_empty() && !hop_by_hop(name)
        })
        .collect();
    (first, headers)
}

/// A request head: its line in parts, and its headers without the hop-by-hop ones.
pub(super) struct RequestHead<'a> {
    pub(super) first: &'a [u8],
    pub(super) method: &'a str,
    pub(super) target: &'a str,
    pub(super) version: &'a str,
    pub(super) headers: Vec<&'a [u8]>,
}

impl<'a> RequestHead<'a> {
    pub(super) fn parse(head: &'a [u8]) -> io::Result<Self> {
        let (first, headers) = split_head(head);
        let parts: Vec<&str> = line_text(first)?.split(' ').collect();
        let [method, target, version] = parts.as_slice() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed request line",
            ));
        };
        if method.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no method"));
        }
        Ok(Self {
            first,
            method,
            target,
            version,
            headers,
        })
    }
}

/// The first line as text (request and status lines are ASCII).
pub(super) fn line_text(line: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the first line is not text"))
}

/// A head: its first line, the kept headers, then `added` header lines.
pub(super) fn assemble(first: &[u8], headers: &[&[u8]], added: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for line in std::iter::once(first)
        .chain(headers.iter().copied())
        .chain(added.iter().map(String::as_bytes))
    {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The browser's request with the provider's credentials, and for plain http a
/// `Connection: close` so the next request comes on a new connection (with credentials).
pub(super) fn rewrite_request(head: &[u8], authorization: Option<&str>) -> io::Result<Rewritten> {
    let RequestHead {
        first,
        method,
        headers,
        ..
    } = RequestHead::parse(head)?;
    let tunnel = method.eq_ignore_ascii_case("CONNECT");
    let mut added: Vec<String> = authorization
        .map(|auth| format!("Proxy-Authorization: {auth}"))
        .into_iter()
        .collect();
    if !tunnel {
        added.push("Connection: close".into());
    }
    Ok(Rewritten {
        head: assemble(first, &headers, &added),
        tunnel,
    })
}

/// The proxy's response head, marked so the browser does not reuse the connection.
pub(super) fn closing_response(head: &[u8]) -> io::Result<Vec<u8>> {
    let (status_line, headers) = split_head(head);
    let added = ["Connection: close".into(), "Proxy-Connection: close".into()];
    Ok(assemble(status_line, &headers, &added))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn plain_requests_get_credentials_and_close() {
        let head = b"GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nAccept: */*\r\n\r\n";
        let out = rewrite_request(head, Some("Basic dTpw")).expect("rewritten");
        let text = String::from_utf8(out.head).expect("utf8");
        assert!(!out.tunnel);
        assert_eq!(
            text,
            "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nProxy-Authorization: Basic dTpw\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn connect_requests_become_tunnels_with_credentials() {
        let head = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n";
        let out = rewrite_request(head, Some("Basic dTpw")).expect("rewritten");
        assert!(out.tunnel);
        assert_eq!(
            String::from_utf8(out.head).expect("utf8"),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        let bare = rewrite_request(head, None).expect("rewritten");
        assert!(!String::from_utf8_lossy(&bare.head).contains("Proxy-Authorization"));
    }

    #[test]
    fn malformed_heads_are_refused_and_responses_marked_closing() {
        assert!(rewrite_request(b"GARBAGE\r\n\r\n", None).is_err());
        assert!(rewrite_request(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'], None).is_err());
        let response = closing_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
        )
        .expect("response");
        assert_eq!(
            String::from_utf8(response).expect("utf8"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn header_bytes_that_are_not_utf8_pass_through_untouched() {
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"caf\xe9.txt\"\r\n\r\n";
        let out = closing_response(head).expect("response");
        assert!(out.windows(9).any(|w| w == b"caf\xe9.txt\""));
        assert_eq!(status_of(head), Some(200));
    }

    #[tokio::test]
    async fn heads_are_split_from_what_follows() {
        let (mut a, mut b) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = a
                .write_all(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
                .await;
        });
        let (head, rest) = read_head(&mut b).await.expect("head");
        assert!(head.ends_with(b"\r\n\r\n"));
        assert_eq!(rest, b"abc");
    }
}
