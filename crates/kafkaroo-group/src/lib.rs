//! Pure, deterministic consumer-group logic for kafkaroo.
//!
//! No I/O, no clock, no tokio, no unseeded randomness: every function here maps its input to its output,
//! so the group leader's decisions and the membership state machine can be unit-tested, property-tested
//! and compared against other clients.
//!
//! - [`protocol`]: the embedded consumer protocol — [`Subscription`] (JoinGroup metadata, v0–v3) and
//!   [`Assignment`] (SyncGroup assignment, v0–v3), forward-compatible parsing, canonical encoding, and the
//!   sticky assignors' user data formats.
//! - [`assignor`]: the [`Assignor`] trait and the `range`, `roundrobin`, `sticky` and `cooperative-sticky`
//!   assignors (rack-aware, KIP-881: [`assignor::rack`]), ownership resolution by generation, the KIP-429
//!   golden rule ([`withhold_transfers`]) and [`explain`].
//! - [`member`]: the classic-protocol membership state machine ([`GroupMember`]): JoinGroup, SyncGroup,
//!   Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch, sans-IO (the caller passes `now`).
//! - [`consumer_protocol`]: the KIP-848 consumer group protocol's member ([`ConsumerGroupMember`]):
//!   ConsumerGroupHeartbeat, member epochs, reconciliation of the broker's assignment, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assignor;
pub mod consumer_protocol;
pub mod member;
pub mod protocol;
mod sans_io;

pub use assignor::{
    AssignError, Assignments, Assignor, CooperativeStickyAssignor, PartitionCounts, RangeAssignor,
    RebalanceProtocol, ReplicaRacks, RoundRobinAssignor, StickyAssignor, explain, withhold_transfers,
};
pub use consumer_protocol::{ConsumerGroupMember, ConsumerMemberConfig};
pub use member::{GroupError, GroupEvent, GroupMember, MemberConfig, MemberState, RebalanceCause};
pub use protocol::{Assignment, MemberSubscription, ProtocolError, Subscription, TopicPartition};
