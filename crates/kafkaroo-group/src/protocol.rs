//! The embedded consumer protocol: the bytes a consumer puts in JoinGroup `protocols[].metadata`
//! ([`Subscription`]) and the bytes the leader puts in SyncGroup `assignments[].assignment`
//! ([`Assignment`]), plus the sticky assignors' user data formats ([`StickyUserData`]).
//!
//! Both messages use the classic (non-flexible) encoding: an `i16` version, then the body.
//!
//! | version | Subscription adds | Assignment |
//! |---|---|---|
//! | 0 | `topics`, `user_data` | `partitions`, `user_data` |
//! | 1 | `owned_partitions` (KIP-429) | unchanged |
//! | 2 | `generation_id` (KIP-792, default -1) | unchanged |
//! | 3 | `rack_id` (KIP-881) | unchanged |
//!
//! # Parsing is forward-compatible
//!
//! - A version above 3 is parsed as version 3 and any trailing bytes are ignored: the protocol promises that
//!   future versions only append fields.
//! - Fields after `user_data` that are missing entirely (the buffer ends exactly where a field would start)
//!   take their defaults. This covers members that claim v1+ but omit the owned partitions (franz-go#493)
//!   and is a superset of "retry as v0". [`Subscription::version`] then reports the layout actually read.
//! - A field that starts but is cut short, a negative length, or invalid UTF-8 is a [`ProtocolError`].
//!   [`decode_member_subscription`] wraps it with the member id ([`MemberMetadataError`]); see there for
//!   what the leader does with such a member.
//!
//! # Encoding is canonical
//!
//! Topics and partitions are written sorted and de-duplicated (KAFKA-12898), so the same logical
//! subscription always has the same bytes. The golden tests check the bytes against Java's
//! `ConsumerProtocol`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// The highest consumer protocol version this crate reads and writes (KIP-881).
pub const HIGHEST_VERSION: i16 = 3;

/// Generation id meaning "unknown / not a member yet" (`ConsumerProtocolSubscription.GenerationId` default).
pub const DEFAULT_GENERATION: i32 = -1;

/// A topic name and a partition index. Orders by topic, then partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Why consumer protocol bytes could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The buffer ended inside a field.
    #[error("truncated {field}: needs {needed} more bytes, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the buffer.
        remaining: usize,
    },
    /// A length prefix is negative (where null is not allowed) or larger than the rest of the buffer.
    #[error("invalid length {len} for {field}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        len: i64,
    },
    /// A string is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A negative version, or encoding at a version this crate does not know.
    #[error("unsupported consumer protocol version {0}")]
    UnsupportedVersion(i16),
    /// A string or array is too long for its length prefix.
    #[error("{0} is too long to encode")]
    TooLong(&'static str),
}

/// A member's JoinGroup metadata could not be decoded.
///
/// The leader must not fail the whole rebalance because of one member: [`decode_member_subscription`]
/// returns this error, and [`decode_group_subscriptions`] turns the member into one that subscribes to
/// nothing (so it stays in the group and receives an empty assignment) and hands the error back for logging.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("member {member_id}: invalid consumer protocol subscription ({len} bytes): {source}")]
pub struct MemberMetadataError {
    /// The member whose metadata is bad.
    pub member_id: String,
    /// Length of the metadata.
    pub len: usize,
    /// What was wrong.
    #[source]
    pub source: ProtocolError,
}

// ---------------------------------------------------------------------------------------------------------
// Subscription
// ---------------------------------------------------------------------------------------------------------

/// `ConsumerProtocolSubscription`: what a member sends in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The layout: on decode, the version whose fields were actually read (≤ [`HIGHEST_VERSION`], and lower
    /// than the claimed version when the member omitted trailing fields); on encode, the version written.
    pub version: i16,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data (`None` = null).
    pub user_data: Option<Bytes>,
    /// Partitions the member owns right now (v1+, KIP-429).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions belong to (v2+, KIP-792), [`DEFAULT_GENERATION`] if unknown.
    pub generation_id: i32,
    /// The member's rack (v3+, KIP-881).
    pub rack_id: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            version: HIGHEST_VERSION,
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: DEFAULT_GENERATION,
            rack_id: None,
        }
    }
}

impl Subscription {
    /// A v3 subscription to `topics` with nothing else set.
    pub fn new<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            topics: topics.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Encodes as `self.version` (0..=3): version prefix, then the body. Topics and partitions are sorted
    /// and de-duplicated; fields the version does not have are left out.
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        let version = self.version;
        if !(0..=HIGHEST_VERSION).contains(&version) {
            return Err(ProtocolError::UnsupportedVersion(version));
        }
        let mut out = BytesMut::with_capacity(64);
        out.put_i16(version);
        let topics: BTreeSet<&str> = self.topics.iter().map(String::as_str).collect();
        put_len(&mut out, topics.len(), "topics")?;
        for topic in topics {
            put_string(&mut out, topic, "topic")?;
        }
        put_nullable_bytes(&mut out, self.user_data.as_ref(), "user_data")?;
        if version >= 1 {
            put_topic_partitions(&mut out, &self.owned_partitions, "owned_partitions")?;
        }
        if version >= 2 {
            out.put_i32(self.generation_id);
        }
        if version >= 3 {
            put_nullable_string(&mut out, self.rack_id.as_deref(), "rack_id")?;
        }
        Ok(out.freeze())
    }

    /// Decodes forward-compatibly (see the [module docs](self)). User data is a zero-copy slice of `buf`.
    pub fn decode(buf: Bytes) -> Result<Self, ProtocolError> {
        let mut buf = buf;
        let claimed = get_i16(&mut buf, "version")?;
        if claimed < 0 {
            return Err(ProtocolError::UnsupportedVersion(claimed));
        }
        let claimed = claimed.min(HIGHEST_VERSION);
        let mut sub = Self {
            version: 0,
            ..Self::default()
        };
        let n = get_array_len(&mut buf, "topics", 2)?;
        sub.topics.reserve(n);
        for _ in 0..n {
            sub.topics.push(get_string(&mut buf, "topic")?);
        }
        sub.user_data = get_nullable_bytes(&mut buf, "user_data")?;
        // Trailing fields: stop at the first one that is absent altogether (franz-go#493).
        if claimed >= 1 && buf.has_remaining() {
            sub.owned_partitions = get_topic_partitions(&mut buf, "owned_partitions")?;
            sub.version = 1;
            if claimed >= 2 && buf.has_remaining() {
                sub.generation_id = get_i32(&mut buf, "generation_id")?;
                sub.version = 2;
                if claimed >= 3 && buf.has_remaining() {
                    sub.rack_id = get_nullable_string(&mut buf, "rack_id")?;
                    sub.version = 3;
                }
            }
        }
        Ok(sub)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Assignment
// ---------------------------------------------------------------------------------------------------------

/// `ConsumerProtocolAssignment`: what the leader sends each member in SyncGroup. There is no "revoked"
/// field: revocation is implied by owned minus assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The layout version (all of 0..=3 have the same fields). Decode reports the claimed version capped
    /// at [`HIGHEST_VERSION`].
    pub version: i16,
    /// Assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data (`None` = null).
    pub user_data: Option<Bytes>,
}

impl Default for Assignment {
    fn default() -> Self {
        Self {
            version: HIGHEST_VERSION,
            partitions: Vec::new(),
            user_data: None,
        }
    }
}

impl Assignment {
    /// A v3 assignment of `partitions` with no user data.
    pub fn new(partitions: Vec<TopicPartition>) -> Self {
        Self {
            partitions,
            ..Self::default()
        }
    }

    /// Encodes as `self.version` (0..=3), partitions grouped by topic and sorted.
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        if !(0..=HIGHEST_VERSION).contains(&self.version) {
            return Err(ProtocolError::UnsupportedVersion(self.version));
        }
        let mut out = BytesMut::with_capacity(32);
        out.put_i16(self.version);
        put_topic_partitions(&mut out, &self.partitions, "assigned_partitions")?;
        put_nullable_bytes(&mut out, self.user_data.as_ref(), "user_data")?;
        Ok(out.freeze())
    }

    /// Decodes forward-compatibly: versions above 3 are read as 3, trailing bytes are ignored. An empty
    /// buffer is an empty assignment (the broker sends one to members the leader left out).
    pub fn decode(buf: Bytes) -> Result<Self, ProtocolError> {
        let mut buf = buf;
        if buf.is_empty() {
            return Ok(Self::default());
        }
        let claimed = get_i16(&mut buf, "version")?;
        if claimed < 0 {
            return Err(ProtocolError::UnsupportedVersion(claimed));
        }
        let partitions = get_topic_partitions(&mut buf, "assigned_partitions")?;
        // Some clients end the buffer before the user data; treat that as null.
        let user_data = if buf.has_remaining() {
            get_nullable_bytes(&mut buf, "user_data")?
        } else {
            None
        };
        Ok(Self {
            version: claimed.min(HIGHEST_VERSION),
            partitions,
            user_data,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sticky user data
// ---------------------------------------------------------------------------------------------------------

/// `StickyAssignorUserData`, written by Java's `StickyAssignor` and by franz-go's sticky balancers into
/// [`Subscription::user_data`]. It has no version prefix: v0 is an array of (topic, partitions), v1 appends
/// an `i32` generation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The member's previous assignment.
    pub partitions: Vec<TopicPartition>,
    /// The generation of that assignment (v1), `None` for v0.
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes as v1 (with the generation) when `generation` is set, else v0.
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        let mut out = BytesMut::new();
        put_topic_partitions(&mut out, &self.partitions, "previous_assignment")?;
        if let Some(generation) = self.generation {
            out.put_i32(generation);
        }
        Ok(out.freeze())
    }

    /// Decodes v1, or v0 when the generation is missing. Like Java, bytes after the generation are ignored.
    pub fn decode(buf: &[u8]) -> Result<Self, ProtocolError> {
        let mut buf = buf;
        let partitions = get_topic_partitions(&mut buf, "previous_assignment")?;
        let generation = if buf.remaining() >= 4 {
            Some(buf.get_i32())
        } else {
            None
        };
        Ok(Self {
            partitions,
            generation,
        })
    }
}

/// The user data Java's `CooperativeStickyAssignor` writes: a bare `i32` generation. Returns `None` for
/// anything shorter than 4 bytes (Java reads the first 4 bytes and ignores the rest).
pub fn decode_cooperative_generation(buf: &[u8]) -> Option<i32> {
    let mut buf = buf;
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

/// Where a member's previous ownership was read from (see [`Subscription::ownership`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnershipSource {
    /// `owned_partitions` (subscription v1+).
    OwnedPartitions,
    /// [`StickyUserData`] in the user data (v0 subscriptions, and eager sticky members whose owned
    /// partitions are empty because they revoked everything before joining).
    StickyUserData,
    /// Nothing claimed.
    None,
}

/// A member's claim on its previous partitions, as the sticky assignors read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// Claimed partitions, sorted and de-duplicated.
    pub partitions: Vec<TopicPartition>,
    /// The generation of the claim, [`DEFAULT_GENERATION`] if unknown.
    pub generation: i32,
    /// Where the claim came from.
    pub source: OwnershipSource,
}

impl Subscription {
    /// The member's previous ownership, preferring the protocol fields over user data (KAFKA-13715):
    ///
    /// 1. Non-empty `owned_partitions` are the claim. The generation is `generation_id` if the subscription
    ///    is v2+, else the generation in the user data (a [`StickyUserData`] v1, or Java cooperative-sticky's
    ///    bare `i32`), else -1.
    /// 2. Otherwise, if the user data is a [`StickyUserData`] with at least one partition, that is the claim,
    ///    with its own generation, else `generation_id` (v2+), else -1. This is how eager sticky members
    ///    (Java `StickyAssignor`, franz-go) and v0 members carry their previous assignment.
    /// 3. Otherwise nothing is claimed.
    pub fn ownership(&self) -> Ownership {
        let subscription_generation = if self.version >= 2 {
            Some(self.generation_id)
        } else {
            None
        };
        let sticky = self
            .user_data
            .as_deref()
            .and_then(|data| StickyUserData::decode(data).ok());
        if !self.owned_partitions.is_empty() {
            let generation = subscription_generation
                .or_else(|| sticky.as_ref().and_then(|s| s.generation))
                .or_else(|| self.user_data.as_deref().and_then(decode_cooperative_generation))
                .unwrap_or(DEFAULT_GENERATION);
            return Ownership {
                partitions: sorted_unique(self.owned_partitions.clone()),
                generation,
                source: OwnershipSource::OwnedPartitions,
            };
        }
        match sticky {
            Some(data) if !data.partitions.is_empty() => Ownership {
                partitions: sorted_unique(data.partitions),
                generation: data
                    .generation
                    .or(subscription_generation)
                    .unwrap_or(DEFAULT_GENERATION),
                source: OwnershipSource::StickyUserData,
            },
            _ => Ownership {
                partitions: Vec::new(),
                generation: subscription_generation.unwrap_or(DEFAULT_GENERATION),
                source: OwnershipSource::None,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Group members as the leader sees them
// ---------------------------------------------------------------------------------------------------------

/// One member of the group as the leader sees it after JoinGroup: ids plus its decoded subscription.
/// This is the input of [`crate::assignor::Assignor::assign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The broker-assigned member id.
    pub member_id: String,
    /// The static member id (KIP-345), if any.
    pub group_instance_id: Option<String>,
    /// The decoded subscription.
    pub subscription: Subscription,
}

impl MemberSubscription {
    /// A member with a subscription.
    pub fn new(member_id: impl Into<String>, subscription: Subscription) -> Self {
        Self {
            member_id: member_id.into(),
            group_instance_id: None,
            subscription,
        }
    }

    /// Sets the static member id.
    #[must_use]
    pub fn with_instance_id(mut self, group_instance_id: impl Into<String>) -> Self {
        self.group_instance_id = Some(group_instance_id.into());
        self
    }
}

/// Decodes one member's JoinGroup metadata, naming the member in the error.
pub fn decode_member_subscription(
    member_id: &str,
    group_instance_id: Option<&str>,
    metadata: Bytes,
) -> Result<MemberSubscription, MemberMetadataError> {
    let len = metadata.len();
    match Subscription::decode(metadata) {
        Ok(subscription) => Ok(MemberSubscription {
            member_id: member_id.to_owned(),
            group_instance_id: group_instance_id.map(str::to_owned),
            subscription,
        }),
        Err(source) => Err(MemberMetadataError {
            member_id: member_id.to_owned(),
            len,
            source,
        }),
    }
}

/// Decodes every member's JoinGroup metadata for the leader.
///
/// **Policy for bad metadata:** a member whose metadata does not decode is kept in the group as a member
/// that subscribes to nothing and owns nothing. It receives an empty assignment (so the rebalance completes
/// and the other members are served), and its error is returned so the caller can log it. Failing the
/// whole rebalance would let one broken client stall the group forever.
pub fn decode_group_subscriptions<'a, I>(members: I) -> (Vec<MemberSubscription>, Vec<MemberMetadataError>)
where
    I: IntoIterator<Item = (&'a str, Option<&'a str>, Bytes)>,
{
    let mut decoded = Vec::new();
    let mut errors = Vec::new();
    for (member_id, instance_id, metadata) in members {
        match decode_member_subscription(member_id, instance_id, metadata) {
            Ok(member) => decoded.push(member),
            Err(error) => {
                errors.push(error);
                decoded.push(MemberSubscription {
                    member_id: member_id.to_owned(),
                    group_instance_id: instance_id.map(str::to_owned),
                    subscription: Subscription {
                        version: 0,
                        ..Subscription::default()
                    },
                });
            }
        }
    }
    (decoded, errors)
}

// ---------------------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------------------

fn sorted_unique(mut partitions: Vec<TopicPartition>) -> Vec<TopicPartition> {
    partitions.sort();
    partitions.dedup();
    partitions
}

fn need(buf: &impl Buf, n: usize, field: &'static str) -> Result<(), ProtocolError> {
    if buf.remaining() < n {
        return Err(ProtocolError::Truncated {
            field,
            needed: n,
            remaining: buf.remaining(),
        });
    }
    Ok(())
}

fn get_i16(buf: &mut impl Buf, field: &'static str) -> Result<i16, ProtocolError> {
    need(buf, 2, field)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut impl Buf, field: &'static str) -> Result<i32, ProtocolError> {
    need(buf, 4, field)?;
    Ok(buf.get_i32())
}

/// An array length; -1 (null) reads as empty. `min_element` bounds the count by the bytes left, so a
/// hostile length cannot make us allocate.
fn get_array_len(
    buf: &mut impl Buf,
    field: &'static str,
    min_element: usize,
) -> Result<usize, ProtocolError> {
    let n = get_i32(buf, field)?;
    if n == -1 {
        return Ok(0);
    }
    let len = usize::try_from(n).map_err(|_| ProtocolError::InvalidLength { field, len: n.into() })?;
    if len.saturating_mul(min_element) > buf.remaining() {
        return Err(ProtocolError::InvalidLength { field, len: n.into() });
    }
    Ok(len)
}

fn get_str_body(buf: &mut impl Buf, len: usize, field: &'static str) -> Result<String, ProtocolError> {
    need(buf, len, field)?;
    let mut bytes = vec![0; len];
    buf.copy_to_slice(&mut bytes);
    String::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8 { field })
}

fn get_nullable_string(buf: &mut impl Buf, field: &'static str) -> Result<Option<String>, ProtocolError> {
    let len = get_i16(buf, field)?;
    match len {
        -1 => Ok(None),
        len if len < 0 => Err(ProtocolError::InvalidLength {
            field,
            len: len.into(),
        }),
        len => get_str_body(buf, len as usize, field).map(Some),
    }
}

fn get_string(buf: &mut impl Buf, field: &'static str) -> Result<String, ProtocolError> {
    match get_nullable_string(buf, field)? {
        Some(s) => Ok(s),
        None => Err(ProtocolError::InvalidLength { field, len: -1 }),
    }
}

fn get_nullable_bytes(buf: &mut impl Buf, field: &'static str) -> Result<Option<Bytes>, ProtocolError> {
    let len = get_i32(buf, field)?;
    match len {
        -1 => Ok(None),
        len if len < 0 => Err(ProtocolError::InvalidLength {
            field,
            len: len.into(),
        }),
        len => {
            need(buf, len as usize, field)?;
            Ok(Some(buf.copy_to_bytes(len as usize)))
        }
    }
}

fn get_topic_partitions(
    buf: &mut impl Buf,
    field: &'static str,
) -> Result<Vec<TopicPartition>, ProtocolError> {
    // Each entry is at least a 2-byte topic length and a 4-byte partition count.
    let topics = get_array_len(buf, field, 6)?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let topic = get_string(buf, field)?;
        let n = get_array_len(buf, field, 4)?;
        out.reserve(n);
        for _ in 0..n {
            out.push(TopicPartition {
                topic: topic.clone(),
                partition: buf.get_i32(),
            });
        }
    }
    Ok(out)
}

fn put_len(out: &mut BytesMut, len: usize, field: &'static str) -> Result<(), ProtocolError> {
    out.put_i32(i32::try_from(len).map_err(|_| ProtocolError::TooLong(field))?);
    Ok(())
}

fn put_string(out: &mut BytesMut, s: &str, field: &'static str) -> Result<(), ProtocolError> {
    out.put_i16(i16::try_from(s.len()).map_err(|_| ProtocolError::TooLong(field))?);
    out.put_slice(s.as_bytes());
    Ok(())
}

fn put_nullable_string(
    out: &mut BytesMut,
    s: Option<&str>,
    field: &'static str,
) -> Result<(), ProtocolError> {
    match s {
        Some(s) => put_string(out, s, field),
        None => {
            out.put_i16(-1);
            Ok(())
        }
    }
}

fn put_nullable_bytes(
    out: &mut BytesMut,
    b: Option<&Bytes>,
    field: &'static str,
) -> Result<(), ProtocolError> {
    match b {
        Some(b) => {
            put_len(out, b.len(), field)?;
            out.put_slice(b);
        }
        None => out.put_i32(-1),
    }
    Ok(())
}

fn put_topic_partitions(
    out: &mut BytesMut,
    partitions: &[TopicPartition],
    field: &'static str,
) -> Result<(), ProtocolError> {
    let mut by_topic: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().insert(tp.partition);
    }
    put_len(out, by_topic.len(), field)?;
    for (topic, parts) in by_topic {
        put_string(out, topic, field)?;
        put_len(out, parts.len(), field)?;
        for p in parts {
            out.put_i32(p);
        }
    }
    Ok(())
}
