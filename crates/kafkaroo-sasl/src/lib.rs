//! Sans-IO SASL client mechanisms for Kafka: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER, plus
//! the configuration users copy from other clients (Java's `sasl.jaas.config`, librdkafka's
//! `sasl.oauthbearer.config`).
//!
//! No sockets, no runtime, no clock: the connection code (`kafkaroo-net`) names
//! [`ClientSession::mechanism`] in SaslHandshake, sends [`ClientSession::initial_response`] in the first
//! SaslAuthenticate request and feeds each answer to [`ClientSession::step`]. The only clock read is in
//! [`UnsecuredTokenProvider`]'s [`TokenProvider::token`], documented there.
//!
//! - [`Secret`]: passwords and tokens print as `[redacted]`; no error message contains one.
//! - SCRAM verifies the broker's server signature, refuses fewer than 4096 iterations (Kafka's minimum,
//!   so a peer cannot downgrade the proof's cost) and unknown mandatory extensions.
//! - GSSAPI (Kerberos) is not supported: it needs the Kerberos C libraries, and this crate builds with no
//!   C compiler.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod jaas;
mod mechanism;
mod oauthbearer;
mod plain;
mod scram;
mod secret;
mod session;
mod unsecured;

pub use config::{Credentials, SaslConfig};
pub use error::SaslError;
pub use jaas::{ControlFlag, JaasConfig, LoginModule, parse_jaas_config};
pub use mechanism::Mechanism;
pub use oauthbearer::{OAuthToken, TokenProvider};
pub use scram::{SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS};
pub use secret::Secret;
pub use session::{ClientSession, Step};
pub use unsecured::UnsecuredTokenProvider;
