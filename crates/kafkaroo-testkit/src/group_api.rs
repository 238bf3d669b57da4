//! The group APIs on the wire: requests of every supported version turned into the coordinator's
//! inputs (the classic [`coordinator`](crate::coordinator), or [`consumer_group`](crate::consumer_group)
//! for ConsumerGroupHeartbeat), its answers encoded back for the request's version with the encoders
//! of [`group_wire`](crate::group_wire).

use std::sync::Arc;
use std::time::Duration;

use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::leave_group_response::MemberResponse;
use kafkaroo_wire::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafkaroo_wire::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatResponse, JoinGroupRequest, LeaveGroupRequest,
    LeaveGroupResponse, OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    TopicName,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::coordinator::{Committed, FetchedOffset, JoinAnswer, JoinInput, Reply, SyncAnswer, SyncInput};
use crate::group_wire::{
    commit_answer, error_response, find_coordinator_response, join_response, offset_fetch_queries, sb,
    sync_response,
};
use crate::messages::{Request, Response};
use crate::state::{Inner, State};

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// The coordinator's answer to a group request received by `broker`. JoinGroup and SyncGroup may wait
/// for the other members (the connection answers nothing else meanwhile, as on a real broker).
pub(crate) async fn handle(
    inner: &Arc<Inner>,
    broker: i32,
    request: &Request,
    version: i16,
    client_id: &str,
) -> Response {
    let waiting = match answer_now(inner, broker, request, version, client_id) {
        Ok(response) => return response,
        Err(waiting) => waiting,
    };
    match waiting {
        Waiting::Join(rx, member_id) => {
            let answer = rx
                .await
                .unwrap_or_else(|_| JoinAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID, &member_id));
            Response::JoinGroup(join_response(answer, version))
        }
        Waiting::Sync(rx) => {
            let answer = rx
                .await
                .unwrap_or_else(|_| SyncAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID));
            Response::SyncGroup(sync_response(answer, version))
        }
    }
}

/// A JoinGroup or SyncGroup whose answer comes when the rebalance step completes.
enum Waiting {
    Join(oneshot::Receiver<JoinAnswer>, String),
    Sync(oneshot::Receiver<SyncAnswer>),
}

/// The answer, if the coordinator has it at once (the state lock is held only here).
fn answer_now(
    inner: &Inner,
    broker: i32,
    request: &Request,
    version: i16,
    client_id: &str,
) -> Result<Response, Waiting> {
    let now = Instant::now();
    let mut st = inner.lock();
    if let Request::FindCoordinator(r) = request {
        return Ok(find_coordinator(&st, r, version));
    }
    if st.coordinator.node != Some(broker) {
        return Ok(error_response(request, version, ErrorCode::NOT_COORDINATOR).expect("a group request"));
    }
    Ok(match request {
        Request::JoinGroup(r) => match st.coordinator.join(join_input(r, version, client_id), now) {
            Reply::Now(a) => Response::JoinGroup(join_response(a, version)),
            Reply::Wait(rx) => return Err(Waiting::Join(rx, r.member_id.to_string())),
        },
        Request::SyncGroup(r) => match st.coordinator.sync(sync_input(r, version), now) {
            Reply::Now(a) => Response::SyncGroup(sync_response(a, version)),
            Reply::Wait(rx) => return Err(Waiting::Sync(rx)),
        },
        Request::Heartbeat(r) => {
            let instance = (version >= 3).then_some(r.group_instance_id.as_deref()).flatten();
            let code = st.coordinator.heartbeat(
                r.group_id.0.as_str(),
                r.generation_id,
                r.member_id.as_str(),
                instance,
                now,
            );
            Response::Heartbeat(HeartbeatResponse::default().with_error_code(code.0))
        }
        Request::LeaveGroup(r) => leave_group(&mut st, r, version, now),
        Request::OffsetCommit(r) => offset_commit(&mut st, r, version, now),
        Request::OffsetFetch(r) => offset_fetch(&st, r, version),
        Request::ConsumerGroupHeartbeat(r) => {
            let topics = st.topic_table();
            Response::ConsumerGroupHeartbeat(crate::consumer_group::heartbeat(
                &mut st.consumer_groups,
                &topics,
                r,
                version,
                now,
            ))
        }
        _ => unreachable!("only group requests are routed here"),
    })
}

fn find_coordinator(st: &State, r: &FindCoordinatorRequest, version: i16) -> Response {
    let node = st
        .coordinator
        .node
        .and_then(|n| st.brokers.get(&n).map(|addr| (n, *addr)));
    let (code, node_id, host, port) = match node {
        Some((n, addr)) => (ErrorCode::NONE, n, addr.ip().to_string(), i32::from(addr.port())),
        None => (ErrorCode::COORDINATOR_NOT_AVAILABLE, -1, String::new(), -1),
    };
    Response::FindCoordinator(find_coordinator_response(r, version, code, node_id, &host, port))
}

fn join_input(r: &JoinGroupRequest, version: i16, client_id: &str) -> JoinInput {
    JoinInput {
        group: r.group_id.0.to_string(),
        client_id: client_id.to_owned(),
        member_id: r.member_id.to_string(),
        instance_id: (version >= 5)
            .then(|| r.group_instance_id.as_deref().map(str::to_owned))
            .flatten(),
        session_timeout: ms(r.session_timeout_ms),
        rebalance_timeout: ms(if version >= 1 {
            r.rebalance_timeout_ms
        } else {
            r.session_timeout_ms
        }),
        protocol_type: r.protocol_type.to_string(),
        protocols: r
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    }
}

fn sync_input(r: &SyncGroupRequest, version: i16) -> SyncInput {
    SyncInput {
        group: r.group_id.0.to_string(),
        generation: r.generation_id,
        member_id: r.member_id.to_string(),
        instance_id: (version >= 3)
            .then(|| r.group_instance_id.as_deref().map(str::to_owned))
            .flatten(),
        protocol_type: (version >= 5)
            .then(|| r.protocol_type.as_deref().map(str::to_owned))
            .flatten(),
        protocol_name: (version >= 5)
            .then(|| r.protocol_name.as_deref().map(str::to_owned))
            .flatten(),
        assignments: r
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    }
}

fn leave_group(st: &mut State, r: &LeaveGroupRequest, version: i16, now: Instant) -> Response {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        r.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_deref().map(str::to_owned),
                )
            })
            .collect()
    } else {
        vec![(r.member_id.to_string(), None)]
    };
    let codes = st.coordinator.leave(r.group_id.0.as_str(), &members, now);
    let mut resp = LeaveGroupResponse::default();
    if version >= 3 {
        resp.members = members
            .iter()
            .zip(&codes)
            .map(|((id, instance), code)| {
                MemberResponse::default()
                    .with_member_id(sb(id))
                    .with_group_instance_id(instance.as_deref().map(sb))
                    .with_error_code(code.0)
            })
            .collect();
    } else {
        resp.error_code = codes.first().map_or(0, |c| c.0);
    }
    Response::LeaveGroup(resp)
}

fn offset_commit(st: &mut State, r: &OffsetCommitRequest, version: i16, now: Instant) -> Response {
    let instance = (version >= 7).then_some(r.group_instance_id.as_deref()).flatten();
    let offsets = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    (t.name.0.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_deref().map(str::to_owned),
                    },
                )
            })
        })
        .collect();
    let group = r.group_id.0.as_str();
    let epoch = r.generation_id_or_member_epoch;
    let code = match st
        .consumer_groups
        .validate_commit(group, r.member_id.as_str(), epoch, version)
    {
        // A consumer group's member passed its checks: stored as a simple commit.
        Some(ErrorCode::NONE) => st.coordinator.commit(group, -1, "", None, offsets, now),
        Some(code) => code,
        None => st
            .coordinator
            .commit(group, epoch, r.member_id.as_str(), instance, offsets, now),
    };
    Response::OffsetCommit(commit_answer(r, code))
}

/// One group's answer of an OffsetFetch: per topic, its partitions' offsets.
type TopicOffsets = Vec<(String, Vec<FetchedOffset>)>;

fn offset_fetch(st: &State, r: &OffsetFetchRequest, version: i16) -> Response {
    let require_stable = version >= 7 && r.require_stable;
    let answers: Vec<(String, TopicOffsets)> = offset_fetch_queries(r, version)
        .into_iter()
        .map(|(group, topics)| {
            let got = st.coordinator.fetch_offsets(&group, topics, require_stable);
            (group, got)
        })
        .collect();
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        resp.groups = answers
            .into_iter()
            .map(|(group, topics)| {
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(sb(&group)))
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(t, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(sb(&t)))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|p| {
                                                let c = p.committed.unwrap_or_else(Committed::none);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p.partition)
                                                    .with_committed_offset(c.offset)
                                                    .with_committed_leader_epoch(c.leader_epoch)
                                                    .with_metadata(c.metadata.as_deref().map(sb))
                                                    .with_error_code(p.error.0)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        // v9+: a KIP-848 member's fetch is checked like its commits (Kafka's validateOffsetFetch).
        for (asked, answer) in r.groups.iter().zip(resp.groups.iter_mut()) {
            let member = asked.member_id.as_deref().unwrap_or_default();
            let check = (version >= 9)
                .then(|| {
                    st.consumer_groups
                        .validate_commit(&asked.group_id.0, member, asked.member_epoch, version)
                })
                .flatten();
            if let Some(code) = check.filter(|c| !c.is_ok()) {
                answer.error_code = code.0;
                answer.topics.clear();
            }
        }
    } else {
        let (_, topics) = answers.into_iter().next().unwrap_or_default();
        resp.topics = topics
            .into_iter()
            .map(|(t, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(sb(&t)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|p| {
                                let c = p.committed.unwrap_or_else(Committed::none);
                                let mut out = OffsetFetchResponsePartition::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(c.offset)
                                    .with_metadata(c.metadata.as_deref().map(sb))
                                    .with_error_code(p.error.0);
                                if version >= 5 {
                                    out.committed_leader_epoch = c.leader_epoch;
                                }
                                out
                            })
                            .collect(),
                    )
            })
            .collect();
    }
    Response::OffsetFetch(resp)
}
