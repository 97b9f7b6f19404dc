//! Content codings, undone here rather than inside the HTTP client: the response keeps its
//! real `Content-Encoding` (recorded in the result), and the decoded size is capped as it
//! is produced, so a small compressed body cannot expand past the limit (a decompression
//! bomb fails as too large).

use std::io::Read;

use bytes::Bytes;

use crate::error::FetchError;

/// What the http engine asks for.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Decodes `raw` per `encoding` (a `Content-Encoding` value: codings in the order they were
/// applied), producing at most `max` bytes. An unknown coding leaves the body as it came.
pub fn decode(encoding: &str, raw: Bytes, max: usize) -> Result<Bytes, FetchError> {
    let codings: Vec<String> = encoding
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if codings
        .iter()
        .any(|c| !matches!(c.as_str(), "gzip" | "x-gzip" | "deflate" | "br"))
    {
        return Ok(raw);
    }
    let mut body = raw;
    // The last coding applied is undone first.
    for coding in codings.iter().rev() {
        body = undo(coding, &body, max)?;
    }
    Ok(body)
}

fn undo(coding: &str, input: &[u8], max: usize) -> Result<Bytes, FetchError> {
    let reader: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(input)),
        // "deflate" is zlib-wrapped by the standard; some servers send it raw.
        "deflate" if looks_like_zlib(input) => Box::new(flate2::read::ZlibDecoder::new(input)),
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(input)),
        _ => Box::new(brotli_decompressor::Decompressor::new(input, 8192)),
    };
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(max));
    let read = reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FetchError::Network(format!("{coding} body does not decode: {e}")))?;
    if read > max {
        return Err(FetchError::TooLarge(max));
    }
    Ok(Bytes::from(out))
}

/// A zlib header: deflate method, a window size, and a check value divisible by 31.
fn looks_like_zlib(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).expect("write");
        Bytes::from(enc.finish().expect("finish"))
    }

    #[test]
    fn codings_are_undone_in_reverse_order_and_unknown_ones_left() {
        let page = b"<html>hello</html>".repeat(50);
        assert_eq!(decode("gzip", gzip(&page), 1 << 20).expect("gzip"), page);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&page).expect("write");
        let zlib = zlib.finish().expect("finish");
        let twice = gzip(&zlib);
        assert_eq!(decode("deflate, gzip", twice, 1 << 20).expect("both"), page);
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&page).expect("write");
        let raw = Bytes::from(raw.finish().expect("finish"));
        assert_eq!(decode("deflate", raw, 1 << 20).expect("raw"), page);
        let odd = Bytes::from_static(b"\x00\x01zstd?");
        assert_eq!(decode("zstd", odd.clone(), 10).expect("left"), odd);
        assert_eq!(decode("identity", odd.clone(), 10).expect("id"), odd);
    }

    #[test]
    fn a_decompression_bomb_fails_as_too_large() {
        let bomb = gzip(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 10_000, "{} bytes", bomb.len());
        assert!(matches!(
            decode("gzip", bomb, 1 << 20),
            Err(FetchError::TooLarge(_))
        ));
        assert!(decode("gzip", Bytes::from_static(b"not gzip"), 100).is_err());
    }
}
