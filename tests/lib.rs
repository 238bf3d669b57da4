//! Shared helpers for the integration tests, the protocol conformance suite ([`conformance`]) and the
//! consumer-group interop test's machinery ([`interop`]).

pub mod conformance;
pub mod interop;
