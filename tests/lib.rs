//! Shared helpers for the integration tests, the protocol conformance suite ([`conformance`]), the
//! consumer-group interop test's machinery ([`interop`]) and the driver of the pure KIP-848 member
//! ([`kip848`]).

pub mod conformance;
pub mod interop;
pub mod kip848;
