//! Machinery of the consumer-group interop test (`tests/group_interop.rs`): members of three clients
//! (kafkaroo, Kafka's Java VerifiableConsumer, kcat) as child processes with their reports parsed
//! ([`members`]), the group as the broker sees it ([`observer`]), and the invariants checked over what the
//! members reported ([`checks`]).

pub mod checks;
pub mod members;
pub mod observer;
