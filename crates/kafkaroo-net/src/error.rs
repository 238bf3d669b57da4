//! One error type for everything that can go wrong talking to brokers. `Clone`, because one broken
//! connection fails every request in flight on it with the same error.

use std::sync::Arc;
use std::time::Duration;

use kafkaroo_wire::{DecodeError, EncodeError, ErrorCode, FrameError, VersionError};

/// An error from the connection layer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection could not be established.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The broker address.
        addr: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// Reading or writing an established connection failed.
    #[error("I/O error on the connection to {addr}: {source}")]
    Io {
        /// The broker address.
        addr: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The broker closed the connection (cleanly, or in the middle of a frame).
    #[error("connection to {addr} closed by the broker{}", if *.mid_frame { " in the middle of a frame" } else { "" })]
    Closed {
        /// The broker address.
        addr: String,
        /// Whether part of a frame had been received.
        mid_frame: bool,
    },
    /// The broker sent a frame whose size cannot be accepted.
    #[error("bad frame from {addr}: {source}")]
    Frame {
        /// The broker address.
        addr: String,
        /// What was wrong with it.
        source: FrameError,
    },
    /// A response arrived for a request that is not in flight.
    #[error("response from {addr} carries correlation id {correlation_id}, which no request in flight has")]
    UnknownCorrelationId {
        /// The broker address.
        addr: String,
        /// The id the broker sent.
        correlation_id: i32,
    },
    /// A request could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A response could not be decoded; the connection was closed.
    #[error("bad response from {addr}: {source}")]
    Decode {
        /// The broker address.
        addr: String,
        /// What the decoder reported.
        source: DecodeError,
    },
    /// No response within the request timeout; the connection was closed, as the Java client does.
    #[error("{api} request to {addr} got no response within {after:?}")]
    Timeout {
        /// The broker address.
        addr: String,
        /// The API name.
        api: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// No usable version of an API.
    #[error("{addr}: {source}")]
    Version {
        /// The broker address.
        addr: String,
        /// Which API and ranges.
        source: VersionError,
    },
    /// The broker answered with an error code.
    #[error("{api} failed: {code}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// The API name.
        api: &'static str,
        /// The Kafka error code.
        code: ErrorCode,
        /// The broker's error message, when the API carries one.
        message: Option<String>,
    },
    /// The connection was closed by this client.
    #[error("connection to {addr} was closed by this client")]
    LocallyClosed {
        /// The broker address.
        addr: String,
    },
    /// Metadata names no such broker.
    #[error("broker {broker_id} is not in the cluster metadata")]
    UnknownBroker {
        /// The node id.
        broker_id: i32,
    },
    /// None of the bootstrap or known brokers could be reached.
    #[error("no broker reachable (tried {tried}); last error: {last}")]
    NoBrokerReachable {
        /// The addresses tried.
        tried: String,
        /// The last error seen.
        last: Box<Self>,
    },
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The TLS handshake failed: an untrusted or expired certificate, a hostname mismatch, a refused
    /// client certificate, or a peer that does not speak TLS. `reason` names the cause and what to change.
    #[error("TLS handshake with {addr} failed: {reason}")]
    Tls {
        /// The broker address.
        addr: String,
        /// The cause, and what to change.
        reason: String,
    },
    /// The broker does not enable the SASL mechanism we asked for.
    #[error(
        "{addr} does not enable SASL mechanism {mechanism}; it enables {}: set sasl.mechanism to one of them",
        if .enabled.is_empty() { "none".to_owned() } else { .enabled.join(", ") }
    )]
    SaslMechanism {
        /// The broker address.
        addr: String,
        /// What we asked for.
        mechanism: &'static str,
        /// What the broker enables on this listener.
        enabled: Vec<String>,
    },
    /// The broker refused our credentials (SASL_AUTHENTICATION_FAILED): wrong user name, password or
    /// token. `message` is the broker's.
    #[error(
        "SASL {mechanism} authentication with {addr} failed{}: check sasl.username and sasl.password (or the token)",
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    Authentication {
        /// The broker address.
        addr: String,
        /// The mechanism used.
        mechanism: &'static str,
        /// The broker's (or the token endpoint's) message.
        message: Option<String>,
    },
    /// The SASL exchange itself went wrong on our side: a malformed or forged server message (a SCRAM
    /// server signature that does not match), or a token provider that failed.
    #[error("SASL {mechanism} with {addr}: {source}")]
    Sasl {
        /// The broker address.
        addr: String,
        /// The mechanism used.
        mechanism: &'static str,
        /// What the mechanism reported.
        source: kafkaroo_sasl::SaslError,
    },
}

impl Error {
    /// The Kafka error code, when the broker answered with one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Broker { code, .. } => Some(*code),
            Self::SaslMechanism { .. } => Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM),
            Self::Authentication { .. } => Some(ErrorCode::SASL_AUTHENTICATION_FAILED),
            _ => None,
        }
    }

    /// Whether trying again (after reconnecting or refreshing metadata) may succeed. Transport failures
    /// are retriable; a broker error is retriable when Kafka says its code is.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Io { .. }
            | Self::Closed { .. }
            | Self::Timeout { .. }
            | Self::UnknownCorrelationId { .. }
            | Self::Decode { .. }
            | Self::UnknownBroker { .. }
            | Self::NoBrokerReachable { .. }
            | Self::LocallyClosed { .. } => true,
            Self::Frame { source, .. } => source.hint().is_none(),
            Self::Broker { code, .. } => code.is_retriable(),
            Self::Encode(_) | Self::Version { .. } | Self::Config(_) => false,
            Self::Tls { .. }
            | Self::SaslMechanism { .. }
            | Self::Authentication { .. }
            | Self::Sasl { .. } => false,
        }
    }

    /// Whether the application must be told: retrying cannot help (no common protocol version, an
    /// authorization failure, a port that speaks HTTP or TLS, a bad configuration, a failed TLS handshake
    /// or authentication).
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Encode(_) | Self::Version { .. } | Self::Config(_) => true,
            _ if self.is_security_failure() => true,
            Self::Frame { source, .. } => source.hint().is_some(),
            Self::Broker { code, .. } => code.is_fatal(),
            _ => false,
        }
    }

    /// A failed TLS handshake or authentication: the same attempt cannot succeed until a setting, a
    /// certificate or a credential changes.
    pub fn is_security_failure(&self) -> bool {
        matches!(
            self,
            Self::Tls { .. } | Self::SaslMechanism { .. } | Self::Authentication { .. } | Self::Sasl { .. }
        )
    }

    /// Whether this error means the connection it came from is gone (every request on it failed).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::Io { .. }
                | Self::Closed { .. }
                | Self::Frame { .. }
                | Self::UnknownCorrelationId { .. }
                | Self::Decode { .. }
                | Self::Timeout { .. }
                | Self::LocallyClosed { .. }
        )
    }

    /// Turns a response's error code into a result.
    pub fn check(api: &'static str, code: i16, message: Option<&str>) -> Result<(), Self> {
        if code == 0 {
            return Ok(());
        }
        Err(Self::Broker {
            api,
            code: ErrorCode(code),
            message: message.map(str::to_owned),
        })
    }
}

/// Results of the connection layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let closed = Error::Closed {
            addr: "a:1".into(),
            mid_frame: true,
        };
        assert!(closed.is_retriable() && !closed.is_fatal() && closed.is_connection_error());
        assert!(closed.to_string().contains("middle of a frame"));
        let auth = Error::check("Fetch", 29, None).unwrap_err();
        assert!(auth.is_fatal() && !auth.is_retriable());
        assert_eq!(auth.error_code(), Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED));
        let not_coord = Error::check("Heartbeat", 16, Some("moved")).unwrap_err();
        assert!(not_coord.is_retriable());
        assert_eq!(
            not_coord.to_string(),
            format!("Heartbeat failed: {} (moved)", ErrorCode::NOT_COORDINATOR)
        );
        let tls = Error::Frame {
            addr: "a:1".into(),
            source: FrameError::TooLarge {
                size: 1,
                max: 0,
                hint: Some(kafkaroo_wire::PeerHint::Tls),
            },
        };
        assert!(tls.is_fatal() && !tls.is_retriable());
    }
}
