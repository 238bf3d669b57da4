//! Pure, deterministic consumer-group logic for kafkaroo.
//!
//! No I/O, no clock, no randomness, no tokio: every function here maps its input to its output, so the
//! group leader's decisions can be unit-tested, property-tested and compared against other clients.
//!
//! - [`protocol`]: the embedded consumer protocol — [`Subscription`] (JoinGroup metadata, v0–v3) and
//!   [`Assignment`] (SyncGroup assignment, v0–v3), forward-compatible parsing, canonical encoding, and the
//!   sticky assignors' user data formats.
//! - [`assignor`]: the [`Assignor`] trait and the `range`, `roundrobin`, `sticky` and `cooperative-sticky`
//!   assignors, ownership resolution by generation, the KIP-429 golden rule ([`withhold_transfers`]) and
//!   [`explain`].
//!
//! The membership state machine (JoinGroup/SyncGroup/Heartbeat driven sans-IO) will live here too.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assignor;
pub mod protocol;

pub use assignor::{
    AssignError, Assignments, Assignor, CooperativeStickyAssignor, PartitionCounts, RangeAssignor,
    RebalanceProtocol, RoundRobinAssignor, StickyAssignor, explain, withhold_transfers,
};
pub use protocol::{Assignment, MemberSubscription, ProtocolError, Subscription, TopicPartition};
