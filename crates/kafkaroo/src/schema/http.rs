//! The smallest HTTP/1.1 client the registry needs: one request per connection (`Connection: close`),
//! over plain TCP or the consumer's rustls setup ([`kafkaroo_net::open_stream`]), answers framed by
//! `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection. Schema lookups are
//! cached forever by id, so a connection per request costs little and needs no pool.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The longest status line or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// The largest answer accepted (schemas are kilobytes; this only bounds a broken peer).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Where a registry is: `http://host:port/prefix` or `https://...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL as configured (for messages).
    pub(crate) url: String,
    pub(crate) tls: bool,
    /// `host:port` to connect to (IPv6 in brackets).
    pub(crate) addr: String,
    /// The `Host` header.
    pub(crate) host_header: String,
    /// The path before `/schemas/...`, without a trailing slash.
    pub(crate) prefix: String,
}

impl Endpoint {
    /// Parses one URL of `schema.registry.url`.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(format!(
                "{url:?} is not an http:// or https:// URL; write it as http://host:8081"
            ));
        };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.contains('@') {
            return Err(format!(
                "{url:?} carries credentials; put them in basic.auth.user.info instead"
            ));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close..].contains(':'),
            None => authority.contains(':'),
        };
        if authority.is_empty() || authority.starts_with(':') {
            return Err(format!("{url:?} names no host"));
        }
        let addr = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if tls { 443 } else { 80 })
        };
        let prefix = path.trim_end_matches('/');
        Ok(Self {
            url: url.to_owned(),
            tls,
            addr,
            host_header: authority.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
        })
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// Connecting, TLS or I/O failed, or the answer was cut off: another try may work.
    Unreachable(String),
    /// Not a TLS setup that works (a certificate not trusted...): only configuration helps.
    Tls(String),
    /// Something answered, but not HTTP/1.x as expected.
    Malformed(String),
}

/// One request: `method` `path` (after the endpoint's prefix) with an optional JSON body.
pub(crate) async fn request(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    authorization: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let tls = if endpoint.tls { tls } else { None };
    let exchange = async {
        let (read, mut write) = kafkaroo_net::open_stream(&endpoint.addr, tls, timeout)
            .await
            .map_err(|e| {
                if e.is_retriable() {
                    HttpError::Unreachable(e.to_string())
                } else {
                    HttpError::Tls(e.to_string())
                }
            })?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nConnection: close\r\nUser-Agent: kafkaroo\r\n",
            endpoint.prefix, endpoint.host_header
        );
        if let Some(authorization) = authorization {
            head.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| HttpError::Unreachable(e.to_string());
        write.write_all(head.as_bytes()).await.map_err(io)?;
        if let Some(body) = body {
            write.write_all(body).await.map_err(io)?;
        }
        write.flush().await.map_err(io)?;
        read_response(BufReader::new(read)).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(HttpError::Unreachable(format!("no answer within {timeout:?}"))))
}

/// Reads one answer (skipping `100 Continue`s).
async fn read_response<R: tokio::io::AsyncRead + Unpin>(mut r: BufReader<R>) -> Result<Response, HttpError> {
    loop {
        let status_line = read_line(&mut r).await?;
        let status = parse_status(&status_line)?;
        let mut content_length = None;
        let mut chunked = false;
        loop {
            let line = read_line(&mut r).await?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(HttpError::Malformed(format!("header line {line:?} has no colon")));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n: usize = value
                    .parse()
                    .map_err(|_| HttpError::Malformed(format!("Content-Length {value:?}")))?;
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        if (100..200).contains(&status) {
            continue;
        }
        let body = if chunked {
            read_chunked(&mut r).await?
        } else if let Some(n) = content_length {
            if n > MAX_BODY {
                return Err(HttpError::Malformed(format!("an answer of {n} bytes")));
            }
            let mut body = vec![0; n];
            r.read_exact(&mut body).await.map_err(cut_off)?;
            body
        } else {
            let mut body = Vec::new();
            (&mut r)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)
                .await
                .map_err(cut_off)?;
            if body.len() > MAX_BODY {
                return Err(HttpError::Malformed("an answer over 16 MiB".into()));
            }
            body
        };
        return Ok(Response { status, body });
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status(line: &str) -> Result<u16, HttpError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!(
            "the answer starts {line:?}, not HTTP/1.x: is schema.registry.url the registry's (and http vs https right)?"
        )));
    }
    code.parse()
        .map_err(|_| HttpError::Malformed(format!("status line {line:?}")))
}

/// One CRLF- (or LF-) terminated line without its terminator.
async fn read_line<R: tokio::io::AsyncRead + Unpin>(r: &mut BufReader<R>) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let n = r
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(cut_off)?;
    if n as u64 == MAX_LINE && line.last() != Some(&b'\n') {
        return Err(HttpError::Malformed(format!(
            "a header line over {MAX_LINE} bytes"
        )));
    }
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(HttpError::Unreachable(
            "the connection closed in the middle of the answer".into(),
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::Malformed("a header line that is not UTF-8".into()))
}

/// A `Transfer-Encoding: chunked` body (chunk extensions and trailers skipped).
async fn read_chunked<R: tokio::io::AsyncRead + Unpin>(r: &mut BufReader<R>) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r).await?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        if size == 0 {
            while !read_line(r).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(HttpError::Malformed("an answer over 16 MiB".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await.map_err(cut_off)?;
        if !read_line(r).await?.is_empty() {
            return Err(HttpError::Malformed("a chunk longer than its size".into()));
        }
    }
}

fn cut_off(e: std::io::Error) -> HttpError {
    HttpError::Unreachable(format!("reading the answer failed: {e}"))
}

/// `user:password` as an `Authorization: Basic` value (RFC 7617).
pub(crate) fn basic_authorization(user_info: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = user_info.as_bytes();
    let mut out = String::with_capacity(6 + bytes.len().div_ceil(3) * 4);
    out.push_str("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_address_host_and_prefix() {
        let e = Endpoint::parse("http://registry:8081").unwrap();
        assert_eq!(
            (e.addr.as_str(), e.prefix.as_str(), e.tls),
            ("registry:8081", "", false)
        );
        let e = Endpoint::parse("https://sr.example.com/api/ccompat/").unwrap();
        assert_eq!(
            (e.addr.as_str(), e.host_header.as_str(), e.prefix.as_str(), e.tls),
            ("sr.example.com:443", "sr.example.com", "/api/ccompat", true)
        );
        assert_eq!(Endpoint::parse("http://[::1]:8081").unwrap().addr, "[::1]:8081");
        assert_eq!(Endpoint::parse("http://[::1]").unwrap().addr, "[::1]:80");
        assert!(Endpoint::parse("registry:8081").unwrap_err().contains("http://"));
        assert!(
            Endpoint::parse("http://u:p@h:1")
                .unwrap_err()
                .contains("basic.auth.user.info")
        );
    }

    #[test]
    fn basic_authorization_is_rfc_7617_base64() {
        assert_eq!(
            basic_authorization("Aladdin:open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_authorization("a:b"), "Basic YTpi");
        assert_eq!(basic_authorization("ab:c"), "Basic YWI6Yw==");
    }

    async fn parse(text: &[u8]) -> Result<Response, HttpError> {
        read_response(BufReader::new(text)).await
    }

    #[tokio::test]
    async fn answers_by_length_chunks_and_close() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = parse(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        let r = parse(b"HTTP/1.0 200 OK\nServer: x\n\nto the end").await.unwrap();
        assert_eq!(r.body, b"to the end");
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(r.status, 204);
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n").await,
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").await,
            Err(HttpError::Unreachable(_))
        ));
    }
}
