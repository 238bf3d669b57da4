//! Shared helpers for the integration tests, and the protocol conformance suite ([`conformance`]).

pub mod conformance;
