//! Sans-IO Kafka wire codec for kafkaroo.
//!
//! This crate turns bytes into Kafka messages and back, and nothing else: no sockets, no clock, no tokio.
//! The I/O crate (`kafkaroo-net`) reads bytes from a socket into a buffer, asks [`FrameDecoder`] for
//! complete frames, routes them by [`peek_correlation_id`] and decodes them with [`decode_response`].
//!
//! - [`frame`]: the 4-byte size prefix, with a cap and a clear error for HTTP or TLS peers.
//! - [`header`]: request headers v0–v2, response headers v0–v1, typed encode/decode of whole frames.
//! - [`versions`]: ApiVersions negotiation (highest common version per API).
//! - [`error_code`]: every Kafka error code with its name, retriability and whether it is fatal.
//! - [`backoff`]: the exponential backoff with jitter of every retry and reconnect (KIP-580).
//!
//! Message structs are re-exported from `kafka-protocol` as [`messages`] and [`protocol`], built without
//! its compression features so no C code is pulled in.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod error_code;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod versions;

pub use backoff::{Backoff, BackoffConfig};
pub use error_code::ErrorCode;
pub use frame::{DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FrameError, PeerHint};
pub use header::{
    DecodeError, EncodeError, RequestHeader, api_name, decode_api_versions, decode_response,
    decode_response_header, encode_request, encode_response, peek_correlation_id,
};
pub use kafka_protocol::messages;
pub use kafka_protocol::protocol;
pub use kafka_protocol::protocol::StrBytes;
pub use uuid::Uuid;
pub use versions::{BrokerVersions, VersionError, VersionRange};

/// The KIP-511 client software name sent in ApiVersions v3+.
pub const CLIENT_SOFTWARE_NAME: &str = "kafkaroo";
/// The KIP-511 client software version sent in ApiVersions v3+.
pub const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
