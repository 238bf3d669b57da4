//! Machinery of the consumer-group interop tests (`tests/group_interop.rs`,
//! `tests/group_interop_secured.rs`, `tests/group_interop_kip848.rs` with KIP-848's consumer protocol,
//! and `tests/group_interop_upgrade.rs` rolling a classic group to it): members of three clients (kafkaroo, Kafka's Java VerifiableConsumer,
//! kcat) as child processes with their reports parsed ([`members`]), the group as the broker sees it
//! ([`observer`]), the invariants checked over what the members reported ([`checks`]), and a run driven
//! step by step ([`script`]).

pub mod checks;
pub mod members;
pub mod observer;
pub mod script;
