//! Pure conversions between the member's typed requests and answers (`kafkaroo_group::member`) and
//! the wire messages, at a negotiated version: each function fills only the fields that version
//! has, so every version-gated branch is unit-tested without a broker (`tests.rs`).

use std::collections::BTreeMap;

use kafkaroo_group::member::{
    CommitParams, FetchedOffset, JoinAnswer, JoinParams, JoinedMember, Response, SyncParams,
};
use kafkaroo_wire::messages::join_group_request::JoinGroupRequestProtocol;
use kafkaroo_wire::messages::leave_group_request::MemberIdentity;
use kafkaroo_wire::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafkaroo_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafkaroo_wire::messages::sync_group_request::SyncGroupRequestAssignment;
use kafkaroo_wire::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes};

use crate::record::TopicPartition;

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// FindCoordinator for a group (v4+ batches keys; we send one).
pub(crate) fn find_coordinator(group_id: &str, v: i16) -> FindCoordinatorRequest {
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = vec![sb(group_id)];
    } else {
        req.key = sb(group_id);
    }
    req
}

pub(crate) fn find_coordinator_answer(resp: &FindCoordinatorResponse, v: i16) -> Response {
    let (error_code, node_id) = match resp.coordinators.first() {
        Some(c) if v >= 4 => (c.error_code, c.node_id.0),
        None if v >= 4 => (ErrorCode::COORDINATOR_NOT_AVAILABLE.0, -1),
        _ => (resp.error_code, resp.node_id.0),
    };
    Response::FindCoordinator { error_code, node_id }
}

pub(crate) fn join_group(j: &JoinParams, v: i16) -> JoinGroupRequest {
    let protocols = j
        .protocols
        .iter()
        .map(|(name, meta)| {
            JoinGroupRequestProtocol::default()
                .with_name(sb(name))
                .with_metadata(meta.clone())
        })
        .collect();
    let mut req = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(&j.group_id)))
        .with_session_timeout_ms(j.session_timeout_ms)
        .with_member_id(sb(&j.member_id))
        .with_protocol_type(sb(&j.protocol_type))
        .with_protocols(protocols);
    if v >= 1 {
        req.rebalance_timeout_ms = j.rebalance_timeout_ms;
    }
    if v >= 5 {
        req.group_instance_id = j.group_instance_id.as_deref().map(sb);
    }
    if v >= 8 {
        req.reason = Some(sb(&j.reason));
    }
    req
}

pub(crate) fn join_answer(r: JoinGroupResponse) -> Response {
    Response::JoinGroup(JoinAnswer {
        error_code: r.error_code,
        generation_id: r.generation_id,
        protocol_name: r.protocol_name.as_deref().map(str::to_owned),
        leader: r.leader.to_string(),
        member_id: r.member_id.to_string(),
        members: r
            .members
            .into_iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_deref().map(str::to_owned),
                metadata: m.metadata,
            })
            .collect(),
        skip_assignment: r.skip_assignment,
    })
}

pub(crate) fn sync_group(s: &SyncParams, v: i16) -> SyncGroupRequest {
    let assignments = s
        .assignments
        .iter()
        .map(|(m, a)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(sb(m))
                .with_assignment(a.clone())
        })
        .collect();
    let mut req = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(&s.group_id)))
        .with_generation_id(s.generation_id)
        .with_member_id(sb(&s.member_id))
        .with_assignments(assignments);
    if v >= 3 {
        req.group_instance_id = s.group_instance_id.as_deref().map(sb);
    }
    if v >= 5 {
        req.protocol_type = Some(sb(&s.protocol_type));
        req.protocol_name = Some(sb(&s.protocol_name));
    }
    req
}

pub(crate) fn sync_answer(r: SyncGroupResponse) -> Response {
    Response::SyncGroup {
        error_code: r.error_code,
        protocol_name: r.protocol_name.as_deref().map(str::to_owned),
        assignment: r.assignment,
    }
}

pub(crate) fn heartbeat(
    group_id: &str,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
    v: i16,
) -> HeartbeatRequest {
    let mut req = HeartbeatRequest::default()
        .with_group_id(GroupId(sb(group_id)))
        .with_generation_id(generation_id)
        .with_member_id(sb(member_id));
    if v >= 3 {
        req.group_instance_id = group_instance_id.map(sb);
    }
    req
}

/// LeaveGroup: v3+ names the member in `members` (with the KIP-800 reason from v5).
pub(crate) fn leave_group(
    group_id: &str,
    member_id: &str,
    group_instance_id: Option<&str>,
    reason: &str,
    v: i16,
) -> LeaveGroupRequest {
    let mut req = LeaveGroupRequest::default().with_group_id(GroupId(sb(group_id)));
    if v >= 3 {
        let mut m = MemberIdentity::default()
            .with_member_id(sb(member_id))
            .with_group_instance_id(group_instance_id.map(sb));
        if v >= 5 {
            m.reason = Some(sb(reason));
        }
        req.members = vec![m];
    } else {
        req.member_id = sb(member_id);
    }
    req
}

/// The group's error, else the member's (v3+).
pub(crate) fn leave_answer(r: &LeaveGroupResponse) -> Response {
    let error_code = if r.error_code != 0 {
        r.error_code
    } else {
        r.members.first().map_or(0, |m| m.error_code)
    };
    Response::LeaveGroup { error_code }
}

/// OffsetCommit, the offsets grouped by topic (the leader epoch from v6, `group.instance.id` from
/// v7). Generation -1 with an empty member id commits from outside the group.
pub(crate) fn offset_commit(c: &CommitParams, v: i16) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for o in &c.offsets {
        let mut p = OffsetCommitRequestPartition::default()
            .with_partition_index(o.partition.partition)
            .with_committed_offset(o.offset)
            .with_committed_metadata(Some(sb(o.metadata.as_deref().unwrap_or(""))));
        if v >= 6 {
            p.committed_leader_epoch = o.leader_epoch.unwrap_or(-1);
        }
        topics.entry(o.partition.topic.as_str()).or_default().push(p);
    }
    let topics = topics
        .into_iter()
        .map(|(t, ps)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb(t)))
                .with_partitions(ps)
        })
        .collect();
    let mut req = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(&c.group_id)))
        .with_generation_id_or_member_epoch(c.generation_id)
        .with_member_id(sb(&c.member_id))
        .with_topics(topics);
    if v >= 7 {
        req.group_instance_id = c.group_instance_id.as_deref().map(sb);
    }
    req
}

/// Per partition, its error code.
pub(crate) fn commit_answer(r: OffsetCommitResponse) -> Response {
    let mut partitions = Vec::new();
    for t in r.topics {
        for p in t.partitions {
            partitions.push((
                TopicPartition::new(t.name.0.to_string(), p.partition_index),
                p.error_code,
            ));
        }
    }
    Response::OffsetCommit { partitions }
}

/// OffsetFetch of `partitions`, or with `None` of every topic the group committed (v2+). v8+ moves
/// the fields into `groups`; `require_stable` is v7+.
pub(crate) fn offset_fetch(
    group_id: &str,
    partitions: Option<&[TopicPartition]>,
    require_stable: bool,
    v: i16,
) -> OffsetFetchRequest {
    let by_topic = partitions.map(|partitions| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        by_topic
    });
    let mut req = OffsetFetchRequest::default();
    if v >= 8 {
        let topics = by_topic.map(|by_topic| {
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(TopicName(sb(t)))
                        .with_partition_indexes(ps)
                })
                .collect()
        });
        req.groups = vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb(group_id)))
                .with_topics(topics),
        ];
    } else {
        req.group_id = GroupId(sb(group_id));
        req.topics = by_topic.map(|by_topic| {
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(sb(t)))
                        .with_partition_indexes(ps)
                })
                .collect()
        });
    }
    if v >= 7 {
        req.require_stable = require_stable;
    }
    req
}

/// OffsetFetch by a member of a KIP-848 group: from v9 it names the member and its epoch, so the
/// coordinator answers STALE_MEMBER_EPOCH or UNKNOWN_MEMBER_ID to a member it moved on from.
pub(crate) fn member_offset_fetch(
    group_id: &str,
    partitions: &[TopicPartition],
    member: (&str, i32),
    v: i16,
) -> OffsetFetchRequest {
    let mut req = offset_fetch(group_id, Some(partitions), true, v);
    if v >= 9
        && let Some(g) = req.groups.first_mut()
    {
        g.member_id = Some(sb(member.0));
        g.member_epoch = member.1;
    }
    req
}

/// The group's error code and its partitions' committed offsets, from either layout (v8+ nests the
/// same fields under a group, with their own types). `None` when a v8+ answer names no group.
pub(crate) fn offset_fetch_answer(r: OffsetFetchResponse, v: i16) -> Option<(i16, Vec<FetchedOffset>)> {
    let fetched = |topic: &str, index, offset, epoch, metadata: Option<&str>, error_code| FetchedOffset {
        partition: TopicPartition::new(topic, index),
        offset,
        leader_epoch: epoch,
        metadata: metadata.map(str::to_owned),
        error_code,
    };
    let mut out = Vec::new();
    if v >= 8 {
        let g = r.groups.into_iter().next()?;
        for t in &g.topics {
            out.extend(t.partitions.iter().map(|p| {
                let metadata = p.metadata.as_deref();
                let (index, offset, epoch) =
                    (p.partition_index, p.committed_offset, p.committed_leader_epoch);
                fetched(&t.name, index, offset, epoch, metadata, p.error_code)
            }));
        }
        return Some((g.error_code, out));
    }
    for t in &r.topics {
        out.extend(t.partitions.iter().map(|p| {
            let metadata = p.metadata.as_deref();
            let (index, offset, epoch) = (p.partition_index, p.committed_offset, p.committed_leader_epoch);
            fetched(&t.name, index, offset, epoch, metadata, p.error_code)
        }));
    }
    Some((r.error_code, out))
}
