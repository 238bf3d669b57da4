//! Tokio I/O for kafkaroo: connections to brokers, cluster metadata and a connection pool.
//!
//! This is the only crate of the client that touches sockets. It knows nothing about consumer groups or
//! record batches: it sends typed requests ([`kafkaroo_wire::messages`]) and returns typed responses.
//!
//! - [`Connection`]: one TCP connection, pipelined, with the ApiVersions handshake, per-request timeouts,
//!   KIP-219 throttling, and fail-all-in-flight on any transport error.
//! - [`security`]: TLS (rustls, with a crypto provider that needs no C compiler) and SASL (PLAIN, SCRAM,
//!   OAUTHBEARER, re-authentication per KIP-368) for every connection.
//! - [`Client`]: bootstrap, metadata cache and refresh, and connections per broker *per purpose*
//!   ([`Purpose`]) so a long-poll fetch never delays a heartbeat; reconnects with exponential backoff and
//!   jitter.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
mod connection;
mod error;
mod instruments;
pub mod metadata;
pub mod properties;
pub mod security;
mod throttle;
mod transport;

pub use client::{Client, ClientConfig, Purpose};
pub use connection::{Connection, ConnectionConfig, PendingResponse};
pub use error::{Error, Result};
pub use kafkaroo_sasl as sasl;
pub use kafkaroo_wire::backoff;
pub use kafkaroo_wire::backoff::{Backoff, BackoffConfig};
pub use metadata::{BrokerInfo, Metadata, PartitionMetadata, TopicMetadata};
pub use security::{SecurityConfig, SecurityOptions, SecurityProtocol};
pub use throttle::Throttled;
pub use transport::{ReadHalf, WriteHalf, open as open_stream};
