//! The requests and responses of the APIs the fake broker serves, as controls and handlers see them:
//! [`Request`] decoded from the wire, [`Response`] before it is encoded (what
//! [`Action::edit`](crate::Action::edit) closures change), and [`TopicRef`], a topic named both ways.

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

/// A response before it is encoded; what [`Action::edit`](crate::Action::edit) closures change.
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
