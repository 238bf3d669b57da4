//! The group APIs' answers encoded for the request's version (only fields that version has), shared by
//! the group handlers ([`group_api`](crate::group_api)) and the whole-request error answers
//! [`RequestInfo::error_response`](crate::RequestInfo::error_response) builds for fault injection.

use kafkaroo_wire::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
use kafkaroo_wire::messages::join_group_response::JoinGroupResponseMember;
use kafkaroo_wire::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafkaroo_wire::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafkaroo_wire::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupResponse,
};
use kafkaroo_wire::{ErrorCode, StrBytes};

use crate::coordinator::{JoinAnswer, SyncAnswer};
use crate::messages::{Request, Response};

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub(crate) fn join_response(a: JoinAnswer, version: i16) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default()
        .with_error_code(a.error.0)
        .with_generation_id(a.generation)
        .with_leader(sb(&a.leader))
        .with_member_id(sb(&a.member_id))
        .with_members(
            a.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let mut m = JoinGroupResponseMember::default()
                        .with_member_id(sb(&id))
                        .with_metadata(metadata);
                    if version >= 5 {
                        m.group_instance_id = instance.as_deref().map(sb);
                    }
                    m
                })
                .collect(),
        );
    if version >= 7 {
        r.protocol_type = a.protocol_type.as_deref().map(sb);
        r.protocol_name = a.protocol_name.as_deref().map(sb);
    } else {
        r.protocol_name = Some(sb(a.protocol_name.as_deref().unwrap_or("")));
    }
    if version >= 9 {
        r.skip_assignment = a.skip_assignment;
    }
    r
}

pub(crate) fn sync_response(a: SyncAnswer, version: i16) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default()
        .with_error_code(a.error.0)
        .with_assignment(a.assignment);
    if version >= 5 {
        r.protocol_type = a.protocol_type.as_deref().map(sb);
        r.protocol_name = a.protocol_name.as_deref().map(sb);
    }
    r
}

/// An OffsetCommit answer with `code` for every partition of the request.
pub(crate) fn commit_answer(r: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    OffsetCommitResponse::default().with_topics(
        r.topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code.0)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// `(group, topics or `None` for all)` of an OffsetFetch of any version.
pub(crate) type OffsetFetchQuery = (String, Option<Vec<(String, Vec<i32>)>>);

pub(crate) fn offset_fetch_queries(r: &OffsetFetchRequest, version: i16) -> Vec<OffsetFetchQuery> {
    if version >= 8 {
        r.groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                (g.group_id.0.to_string(), topics)
            })
            .collect()
    } else {
        let topics = r.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                .collect()
        });
        vec![(r.group_id.0.to_string(), topics)]
    }
}

/// FindCoordinator's answer at `version`: one entry per key asked for (v4+), else the top-level fields.
pub(crate) fn find_coordinator_response(
    r: &FindCoordinatorRequest,
    version: i16,
    code: ErrorCode,
    node_id: i32,
    host: &str,
    port: i32,
) -> FindCoordinatorResponse {
    let resp = FindCoordinatorResponse::default();
    if version < 4 {
        return resp
            .with_error_code(code.0)
            .with_node_id(BrokerId(node_id))
            .with_host(sb(host))
            .with_port(port);
    }
    let coordinators = r
        .coordinator_keys
        .iter()
        .map(|k| {
            CoordinatorEntry::default()
                .with_key(k.clone())
                .with_node_id(BrokerId(node_id))
                .with_host(sb(host))
                .with_port(port)
                .with_error_code(code.0)
        })
        .collect();
    resp.with_coordinators(coordinators)
}

/// The answer to a group request that failed as a whole with `code`; `None` for other APIs.
pub(crate) fn error_response(request: &Request, version: i16, code: ErrorCode) -> Option<Response> {
    Some(match request {
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(find_coordinator_response(r, version, code, -1, "", -1))
        }
        Request::JoinGroup(r) => Response::JoinGroup(join_response(
            JoinAnswer::error_for(code, r.member_id.as_str()),
            version,
        )),
        Request::SyncGroup(_) => Response::SyncGroup(sync_response(SyncAnswer::error_for(code), version)),
        Request::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse::default().with_error_code(code.0)),
        Request::LeaveGroup(_) => Response::LeaveGroup(LeaveGroupResponse::default().with_error_code(code.0)),
        Request::OffsetCommit(r) => Response::OffsetCommit(commit_answer(r, code)),
        Request::ConsumerGroupHeartbeat(_) => Response::ConsumerGroupHeartbeat(
            kafkaroo_wire::messages::ConsumerGroupHeartbeatResponse::default().with_error_code(code.0),
        ),
        Request::OffsetFetch(r) => {
            let mut resp = OffsetFetchResponse::default();
            if version >= 8 {
                resp.groups = offset_fetch_queries(r, version)
                    .into_iter()
                    .map(|(g, _)| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(GroupId(sb(&g)))
                            .with_error_code(code.0)
                    })
                    .collect();
            } else if version >= 2 {
                resp.error_code = code.0;
            } else {
                // v1 has no top-level error: every requested partition carries it.
                resp.topics = r
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(code.0)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
            }
            Response::OffsetFetch(resp)
        }
        _ => return None,
    })
}
