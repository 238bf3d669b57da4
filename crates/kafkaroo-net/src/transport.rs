//! The byte stream under a connection: plain TCP, or TLS over TCP (rustls) when `security.protocol` is
//! SSL or SASL_SSL. The connection's reader and writer tasks see only [`ReadHalf`] and [`WriteHalf`].

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::security::tls::explain_tls_io_error;

/// Bytes read from the socket at once under TLS.
const TLS_READ_BUFFER: usize = 256 * 1024;

/// What the reader task reads from.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// What the writer task writes to.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Splits an established TCP stream.
pub(crate) fn split_tcp(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    let (read, write) = stream.into_split();
    (Box::new(read), Box::new(write))
}

/// Opens TCP to `addr` and, with a TLS configuration, completes the TLS handshake (SNI and the hostname
/// check use the host part of `addr`), all within `timeout`. Public for other TCP clients that share the
/// consumer's TLS setup (the schema-registry client of the `kafkaroo` crate).
pub async fn open(
    addr: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<(ReadHalf, WriteHalf)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Connect {
            addr: addr.to_owned(),
            source: Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no TCP connection within {timeout:?}"),
            )),
        })?
        .map_err(|e| Error::Connect {
            addr: addr.to_owned(),
            source: Arc::new(e),
        })?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(split_tcp(stream));
    };
    let host = host_of(addr);
    let server_name = ServerName::try_from(host.to_owned()).map_err(|_| Error::Tls {
        addr: addr.to_owned(),
        reason: format!("{host:?} is neither a DNS name nor an IP address, so it cannot be verified"),
    })?;
    // rustls reads the socket 4 KiB at a time; a buffer under it turns that into one system call per
    // 256 KiB of fetched data (writes pass straight through).
    let stream = tokio::io::BufReader::with_capacity(TLS_READ_BUFFER, stream);
    let connector = tokio_rustls::TlsConnector::from(tls.clone());
    let stream = tokio::time::timeout_at(deadline, connector.connect(server_name, stream))
        .await
        .map_err(|_| Error::Timeout {
            addr: addr.to_owned(),
            api: "TLS handshake",
            after: timeout,
        })?
        .map_err(|e| handshake_error(addr, host, e))?;
    let (read, write) = tokio::io::split(stream);
    Ok((Box::new(read), Box::new(write)))
}

/// The host part of `host:port` (`[::1]:9092` gives `::1`).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A failed handshake: rustls's reason when there is one, else what the transport saw. A peer that
/// closes the connection before answering our ClientHello is almost always a listener without TLS
/// (Kafka reads the ClientHello as an oversized request and hangs up).
fn handshake_error(addr: &str, host: &str, error: std::io::Error) -> Error {
    let is_tls = error.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
    let closed = matches!(
        error.kind(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
    );
    if !is_tls && !closed {
        return Error::Io {
            addr: addr.to_owned(),
            source: Arc::new(error),
        };
    }
    Error::Tls {
        addr: addr.to_owned(),
        reason: explain_tls_io_error(&error, host),
    }
}

/// An I/O error on an established connection. TLS 1.3 reports a refused client certificate only
/// after the handshake, as an alert on the first read: that is a TLS failure (fatal, with its
/// explanation), not a broken connection to retry.
pub(crate) fn stream_error(addr: &str, error: std::io::Error) -> Error {
    if error.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return Error::Tls {
            addr: addr.to_owned(),
            reason: explain_tls_io_error(&error, host_of(addr)),
        };
    }
    Error::Io {
        addr: addr.to_owned(),
        source: Arc::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_part() {
        assert_eq!(host_of("broker-1.example:9093"), "broker-1.example");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
    }
}
