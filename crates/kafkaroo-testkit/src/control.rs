//! Fault injection, in the spirit of franz-go's kfake `ControlKey`: a control sees every request before the
//! broker answers it and decides what happens: nothing special, an edited or replaced response, a delay,
//! silence, a broken connection or bytes that are not a valid frame.
//!
//! Controls are tried in the order they were added; the first that does not [`Action::pass`] wins. A
//! one-shot control ([`Cluster::control_once`](crate::Cluster::control_once)) is removed after it fired.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafkaroo_wire::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafkaroo_wire::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafkaroo_wire::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListGroupsRequest, ListGroupsResponse, ProduceRequest,
    ProduceResponse,
};
use kafkaroo_wire::{ErrorCode, Uuid};

/// A decoded request of one of the APIs the fake broker serves.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// ApiVersions.
    ApiVersions(ApiVersionsRequest),
    /// Metadata.
    Metadata(MetadataRequest),
    /// ListOffsets.
    ListOffsets(ListOffsetsRequest),
    /// Fetch.
    Fetch(FetchRequest),
    /// OffsetForLeaderEpoch.
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorRequest),
    /// JoinGroup.
    JoinGroup(JoinGroupRequest),
    /// SyncGroup.
    SyncGroup(SyncGroupRequest),
    /// Heartbeat.
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupRequest),
    /// OffsetCommit.
    OffsetCommit(OffsetCommitRequest),
    /// OffsetFetch.
    OffsetFetch(OffsetFetchRequest),
    /// Produce.
    Produce(ProduceRequest),
    /// InitProducerId.
    InitProducerId(InitProducerIdRequest),
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// ConsumerGroupHeartbeat (KIP-848).
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsRequest),
    /// ListGroups.
    ListGroups(ListGroupsRequest),
    /// DescribeGroups.
    DescribeGroups(DescribeGroupsRequest),
}

impl Request {
    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::ApiVersions(_) => ApiKey::ApiVersions,
            Self::Metadata(_) => ApiKey::Metadata,
            Self::ListOffsets(_) => ApiKey::ListOffsets,
            Self::Fetch(_) => ApiKey::Fetch,
            Self::OffsetForLeaderEpoch(_) => ApiKey::OffsetForLeaderEpoch,
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
            Self::OffsetCommit(_) => ApiKey::OffsetCommit,
            Self::OffsetFetch(_) => ApiKey::OffsetFetch,
            Self::Produce(_) => ApiKey::Produce,
            Self::InitProducerId(_) => ApiKey::InitProducerId,
            Self::CreateTopics(_) => ApiKey::CreateTopics,
            Self::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
            Self::DeleteTopics(_) => ApiKey::DeleteTopics,
            Self::ListGroups(_) => ApiKey::ListGroups,
            Self::DescribeGroups(_) => ApiKey::DescribeGroups,
        }
    }

    /// The OffsetCommit request, if it is one.
    pub fn as_offset_commit(&self) -> Option<&OffsetCommitRequest> {
        match self {
            Self::OffsetCommit(c) => Some(c),
            _ => None,
        }
    }

    /// `(topic, partition, offset)` of every partition an OffsetCommit commits (empty for other APIs).
    pub fn committed_offsets(&self) -> Vec<(String, i32, i64)> {
        self.as_offset_commit()
            .into_iter()
            .flat_map(|c| &c.topics)
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.partition_index, p.committed_offset))
            })
            .collect()
    }

    /// The Fetch request, if it is one.
    pub fn as_fetch(&self) -> Option<&FetchRequest> {
        match self {
            Self::Fetch(f) => Some(f),
            _ => None,
        }
    }
}

/// A response before it is encoded; what [`Action::edit`] closures change.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// ApiVersions.
    ApiVersions(ApiVersionsResponse),
    /// Metadata.
    Metadata(MetadataResponse),
    /// ListOffsets.
    ListOffsets(ListOffsetsResponse),
    /// Fetch.
    Fetch(FetchResponse),
    /// OffsetForLeaderEpoch.
    OffsetForLeaderEpoch(OffsetForLeaderEpochResponse),
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorResponse),
    /// JoinGroup.
    JoinGroup(JoinGroupResponse),
    /// SyncGroup.
    SyncGroup(SyncGroupResponse),
    /// Heartbeat.
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupResponse),
    /// OffsetCommit.
    OffsetCommit(OffsetCommitResponse),
    /// OffsetFetch.
    OffsetFetch(OffsetFetchResponse),
    /// Produce.
    Produce(ProduceResponse),
    /// InitProducerId.
    InitProducerId(InitProducerIdResponse),
    /// CreateTopics.
    CreateTopics(CreateTopicsResponse),
    /// ConsumerGroupHeartbeat (KIP-848).
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsResponse),
    /// ListGroups.
    ListGroups(ListGroupsResponse),
    /// DescribeGroups.
    DescribeGroups(DescribeGroupsResponse),
}

impl Response {
    /// The response's KIP-219 `throttle_time_ms`.
    pub fn throttle_time_ms(&self) -> i32 {
        match self {
            Self::ApiVersions(r) => r.throttle_time_ms,
            Self::Metadata(r) => r.throttle_time_ms,
            Self::ListOffsets(r) => r.throttle_time_ms,
            Self::Fetch(r) => r.throttle_time_ms,
            Self::OffsetForLeaderEpoch(r) => r.throttle_time_ms,
            Self::FindCoordinator(r) => r.throttle_time_ms,
            Self::JoinGroup(r) => r.throttle_time_ms,
            Self::SyncGroup(r) => r.throttle_time_ms,
            Self::Heartbeat(r) => r.throttle_time_ms,
            Self::LeaveGroup(r) => r.throttle_time_ms,
            Self::OffsetCommit(r) => r.throttle_time_ms,
            Self::OffsetFetch(r) => r.throttle_time_ms,
            Self::Produce(r) => r.throttle_time_ms,
            Self::InitProducerId(r) => r.throttle_time_ms,
            Self::CreateTopics(r) => r.throttle_time_ms,
            Self::ConsumerGroupHeartbeat(r) => r.throttle_time_ms,
            Self::DeleteTopics(r) => r.throttle_time_ms,
            Self::ListGroups(r) => r.throttle_time_ms,
            Self::DescribeGroups(r) => r.throttle_time_ms,
        }
    }

    /// Sets the response's `throttle_time_ms`. The fake broker then also holds back the connection's next
    /// request for that long, as a broker mutes a throttled client's channel (KIP-219).
    pub fn set_throttle_time_ms(&mut self, ms: i32) {
        match self {
            Self::ApiVersions(r) => r.throttle_time_ms = ms,
            Self::Metadata(r) => r.throttle_time_ms = ms,
            Self::ListOffsets(r) => r.throttle_time_ms = ms,
            Self::Fetch(r) => r.throttle_time_ms = ms,
            Self::OffsetForLeaderEpoch(r) => r.throttle_time_ms = ms,
            Self::FindCoordinator(r) => r.throttle_time_ms = ms,
            Self::JoinGroup(r) => r.throttle_time_ms = ms,
            Self::SyncGroup(r) => r.throttle_time_ms = ms,
            Self::Heartbeat(r) => r.throttle_time_ms = ms,
            Self::LeaveGroup(r) => r.throttle_time_ms = ms,
            Self::OffsetCommit(r) => r.throttle_time_ms = ms,
            Self::OffsetFetch(r) => r.throttle_time_ms = ms,
            Self::Produce(r) => r.throttle_time_ms = ms,
            Self::InitProducerId(r) => r.throttle_time_ms = ms,
            Self::CreateTopics(r) => r.throttle_time_ms = ms,
            Self::ConsumerGroupHeartbeat(r) => r.throttle_time_ms = ms,
            Self::DeleteTopics(r) => r.throttle_time_ms = ms,
            Self::ListGroups(r) => r.throttle_time_ms = ms,
            Self::DescribeGroups(r) => r.throttle_time_ms = ms,
        }
    }

    /// The Fetch response, if it is one.
    pub fn as_fetch_mut(&mut self) -> Option<&mut FetchResponse> {
        match self {
            Self::Fetch(f) => Some(f),
            _ => None,
        }
    }

    /// The Fetch response's entry for a partition, added (empty, no error) if the response does not
    /// carry it (an incremental fetch omits unchanged partitions). `None` for other APIs.
    pub fn fetch_partition_mut(&mut self, topic: &TopicRef, partition: i32) -> Option<&mut PartitionData> {
        let fetch = self.as_fetch_mut()?;
        let t = match fetch.responses.iter().position(|t| {
            t.topic.0.as_str() == topic.name || (t.topic_id == topic.id && !t.topic_id.is_nil())
        }) {
            Some(i) => &mut fetch.responses[i],
            None => {
                fetch.responses.push(
                    FetchableTopicResponse::default()
                        .with_topic(kafkaroo_wire::messages::TopicName(
                            kafkaroo_wire::StrBytes::from_string(topic.name.clone()),
                        ))
                        .with_topic_id(topic.id),
                );
                fetch.responses.last_mut().expect("just pushed")
            }
        };
        let i = match t.partitions.iter().position(|p| p.partition_index == partition) {
            Some(i) => i,
            None => {
                t.partitions.push(
                    PartitionData::default()
                        .with_partition_index(partition)
                        .with_records(Some(Bytes::new())),
                );
                t.partitions.len() - 1
            }
        };
        Some(&mut t.partitions[i])
    }

    /// Removes `partition` of `topic` from an OffsetFetch answer (any version): a broker answer that
    /// misses a requested partition. Returns whether it was there.
    pub fn remove_offset_fetch_partition(&mut self, topic: &str, partition: i32) -> bool {
        let Self::OffsetFetch(r) = self else {
            return false;
        };
        let mut removed = false;
        for t in r.topics.iter_mut().filter(|t| t.name.0.as_str() == topic) {
            let before = t.partitions.len();
            t.partitions.retain(|p| p.partition_index != partition);
            removed |= t.partitions.len() != before;
        }
        for t in r
            .groups
            .iter_mut()
            .flat_map(|g| g.topics.iter_mut())
            .filter(|t| t.name.0.as_str() == topic)
        {
            let before = t.partitions.len();
            t.partitions.retain(|p| p.partition_index != partition);
            removed |= t.partitions.len() != before;
        }
        removed
    }

    /// Replaces a Fetch partition's answer with `code` and no records (the watermarks stay).
    pub fn set_fetch_error(&mut self, topic: &TopicRef, partition: i32, code: ErrorCode) {
        if let Some(p) = self.fetch_partition_mut(topic, partition) {
            p.error_code = code.0;
            p.records = Some(Bytes::new());
        }
    }
}

/// A topic as both fetch-by-name (Fetch < 13) and fetch-by-id (Fetch 13+) requests name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicRef {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub id: Uuid,
}

/// What a control sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The node id of the broker that received it.
    pub broker: i32,
    /// Which connection (numbered from 1 per cluster, in accept order).
    pub connection: u64,
    /// The API version.
    pub version: i16,
    /// The correlation id from the header.
    pub correlation_id: i32,
    /// The decoded request.
    pub request: &'a Request,
}

impl RequestInfo<'_> {
    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        self.request.api_key()
    }

    /// The Fetch request, if it is one.
    pub fn fetch(&self) -> Option<&FetchRequest> {
        self.request.as_fetch()
    }

    /// The answer a broker gives this request when it fails as a whole with `code` (e.g.
    /// COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, REQUEST_TIMED_OUT), in the request's version:
    /// the top-level error field, or every requested partition's. `None` for APIs other than the group
    /// APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch).
    pub fn error_response(&self, code: ErrorCode) -> Option<Response> {
        crate::group_api::error_response(self.request, self.version, code)
    }

    /// Whether this is a Fetch whose partitions (the ones listed in it) include `partition` of `topic`.
    pub fn fetches(&self, topic: &TopicRef, partition: i32) -> bool {
        self.fetch().is_some_and(|f| {
            f.topics.iter().any(|t| {
                (t.topic.0.as_str() == topic.name || (t.topic_id == topic.id && !t.topic_id.is_nil()))
                    && t.partitions.iter().any(|p| p.partition == partition)
            })
        })
    }

    /// The fetch offset a Fetch asks for `partition` of `topic`, if it lists it.
    pub fn fetch_offset(&self, topic: &TopicRef, partition: i32) -> Option<i64> {
        self.fetch()?
            .topics
            .iter()
            .filter(|t| t.topic.0.as_str() == topic.name || (t.topic_id == topic.id && !t.topic_id.is_nil()))
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition == partition)
            .map(|p| p.fetch_offset)
    }
}

pub(crate) type EditFn = Box<dyn FnOnce(&mut Response) + Send>;

pub(crate) enum Kind {
    Pass,
    Handle,
    Edit(EditFn),
    Respond(Response),
    BlackHole,
    Close,
    CloseMidResponse,
    Raw(Bytes),
    CorrelationId(i32),
}

/// What a control decides for one request. Build one with the constructors; [`Action::after`] delays
/// whatever it does.
pub struct Action {
    pub(crate) kind: Kind,
    pub(crate) delay: Option<Duration>,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Pass => "pass",
            Kind::Handle => "handle",
            Kind::Edit(_) => "edit",
            Kind::Respond(_) => "respond",
            Kind::BlackHole => "black_hole",
            Kind::Close => "close",
            Kind::CloseMidResponse => "close_mid_response",
            Kind::Raw(_) => "raw",
            Kind::CorrelationId(_) => "correlation_id",
        };
        f.debug_struct("Action")
            .field("kind", &kind)
            .field("delay", &self.delay)
            .finish()
    }
}

impl Action {
    fn of(kind: Kind) -> Self {
        Self { kind, delay: None }
    }

    /// Not for this control: the next control decides (or the broker answers normally). A one-shot
    /// control that passes stays armed.
    pub fn pass() -> Self {
        Self::of(Kind::Pass)
    }

    /// Matched, answered normally (with [`Action::after`]: a slow broker). Counts as fired.
    pub fn handle() -> Self {
        Self::of(Kind::Handle)
    }

    /// The broker answers, then `edit` changes the response before it is encoded and sent.
    pub fn edit(edit: impl FnOnce(&mut Response) + Send + 'static) -> Self {
        Self::of(Kind::Edit(Box::new(edit)))
    }

    /// Sends `response` instead of the broker's answer (the broker's state is not touched).
    pub fn respond(response: Response) -> Self {
        Self::of(Kind::Respond(response))
    }

    /// Never answers. The connection stays open and answers nothing more either (requests are answered
    /// in order, so nothing can overtake the lost one): a stalled or partitioned broker.
    pub fn black_hole() -> Self {
        Self::of(Kind::BlackHole)
    }

    /// Closes the connection without answering.
    pub fn close() -> Self {
        Self::of(Kind::Close)
    }

    /// Writes the first half of the response frame, then closes the connection.
    pub fn close_mid_response() -> Self {
        Self::of(Kind::CloseMidResponse)
    }

    /// Writes `bytes` instead of the response frame (a bogus size, HTTP, garbage), then keeps serving.
    pub fn raw(bytes: impl Into<Bytes>) -> Self {
        Self::of(Kind::Raw(bytes.into()))
    }

    /// Answers normally but with this correlation id in the response header.
    pub fn correlation_id(id: i32) -> Self {
        Self::of(Kind::CorrelationId(id))
    }

    /// Waits `delay` before doing what the action says.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub(crate) fn is_pass(&self) -> bool {
        matches!(self.kind, Kind::Pass)
    }
}

/// Identifies a control, to remove it or ask how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControlId(pub(crate) u64);

type ControlFn = Box<dyn FnMut(&RequestInfo<'_>) -> Action + Send>;

pub(crate) struct Control {
    pub(crate) id: ControlId,
    /// How many more times it may fire (`None`: forever).
    remaining: Mutex<Option<u64>>,
    f: Mutex<ControlFn>,
    pub(crate) fired: AtomicU64,
}

impl Control {
    pub(crate) fn new(id: ControlId, times: Option<u64>, f: ControlFn) -> Self {
        Self {
            id,
            remaining: Mutex::new(times),
            f: Mutex::new(f),
            fired: AtomicU64::new(0),
        }
    }

    /// Runs the control; `None` when it passed or is used up. The second value says it is now used up.
    pub(crate) fn run(&self, info: &RequestInfo<'_>) -> (Option<Action>, bool) {
        let mut remaining = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        if *remaining == Some(0) {
            return (None, true);
        }
        let action = (self.f.lock().unwrap_or_else(|e| e.into_inner()))(info);
        if action.is_pass() {
            return (None, false);
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
        (Some(action), *remaining == Some(0))
    }
}
