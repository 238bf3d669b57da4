//! The one home of the group coordinator on the client side: sending the member's typed requests
//! (`codec.rs` converts them to and from the wire at the negotiated version), finding the
//! coordinator, and retrying there with the one retry loop (`crate::retry`) for every coordinator
//! caller (the group member's committed-offset lookups, assign-mode commits, `GroupAdmin`).

pub(crate) mod codec;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafkaroo_group::consumer_protocol as cp;
use kafkaroo_group::member::{
    CommitParams, FetchedOffset, OffsetToCommit, Request, Response, Target, TransportFailure,
};
use kafkaroo_net::{BackoffConfig, Client, Connection, Purpose};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use tracing::debug;

use crate::commit::OffsetAndMetadata;
use crate::error::Error;
use crate::record::TopicPartition;
use crate::retry::{Attempt, Budget, GaveUp, retrying};

/// The errors that mean "find the coordinator again and resend" (scenarios 1 and 2 of
/// docs/faults-and-invariants.md).
pub(crate) fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            | ErrorCode::COORDINATOR_NOT_AVAILABLE
            | ErrorCode::NOT_COORDINATOR
    )
}

/// Sends one typed request and translates the answer back (or the failure).
pub(crate) async fn execute(
    client: &Client,
    target: Target,
    request: &Request,
    timeout: Duration,
) -> Response {
    let Some(conn) = connect(client, target, request.api_name()).await else {
        return Response::Failed(TransportFailure::Disconnected);
    };
    match send(&conn, request, timeout).await {
        Ok(r) => r,
        Err(e) => Response::Failed(failure(&conn, &e, request.api_name())),
    }
}

/// Sends one request of the consumer group protocol (KIP-848). A broker without
/// ConsumerGroupHeartbeat answers as one with the protocol disabled (UNSUPPORTED_VERSION): a fatal
/// error that names `group.protocol=classic`, never a retry loop.
pub(crate) async fn execute_consumer(
    client: &Client,
    target: Target,
    request: &cp::Request,
    timeout: Duration,
) -> cp::Response {
    if let cp::Request::FindCoordinator { group_id } = request {
        let find = Request::FindCoordinator {
            group_id: group_id.clone(),
        };
        return match execute(client, target, &find, timeout).await {
            Response::FindCoordinator { error_code, node_id } => {
                cp::Response::FindCoordinator { error_code, node_id }
            }
            Response::Failed(f) => cp::Response::Failed(f),
            _ => cp::Response::Failed(TransportFailure::Disconnected),
        };
    }
    let cp::Request::Heartbeat(hb) = request else {
        return cp::Response::Failed(TransportFailure::Disconnected);
    };
    let Some(conn) = connect(client, target, request.api_name()).await else {
        return cp::Response::Failed(TransportFailure::Disconnected);
    };
    let v = match conn.negotiated_version::<ConsumerGroupHeartbeatRequest>() {
        Ok(v) => v,
        // Not listed by the broker (older versions), or capped by kafkaroo.api.version.max.
        Err(e) => {
            return cp::Response::Heartbeat(cp::HeartbeatResponse {
                error_code: ErrorCode::UNSUPPORTED_VERSION.0,
                error_message: Some(e.to_string()),
                member_id: None,
                member_epoch: -1,
                heartbeat_interval_ms: 0,
                assignment: None,
            });
        }
    };
    if v < 1 && hb.subscribed_topic_regex.is_some() {
        // ConsumerGroupHeartbeat v0 (Kafka 3.7-3.9's early access) has no field for it.
        return cp::Response::Heartbeat(cp::HeartbeatResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION.0,
            error_message: Some(
                "subscribe_broker_regex needs ConsumerGroupHeartbeat v1 (Kafka 4.0+) and this broker \
                 offers v0; subscribe_pattern matches topic names on the client instead"
                    .into(),
            ),
            member_id: None,
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        });
    }
    let req = cp::wire::heartbeat_request(hb);
    match conn.send_version(&req, v, timeout).await {
        Ok(r) => cp::Response::Heartbeat(cp::wire::heartbeat_response(&r)),
        Err(e) => cp::Response::Failed(failure(&conn, &e, request.api_name())),
    }
}

/// OffsetFetch of `partitions` by the KIP-848 member `member` (id, epoch): see
/// [`codec::member_offset_fetch`].
pub(crate) async fn execute_member_offset_fetch(
    client: &Client,
    target: Target,
    group_id: &str,
    partitions: &[TopicPartition],
    member: (&str, i32),
    timeout: Duration,
) -> Response {
    let Some(conn) = connect(client, target, "OffsetFetch").await else {
        return Response::Failed(TransportFailure::Disconnected);
    };
    let sent = async {
        let v = conn.negotiated_version::<OffsetFetchRequest>()?;
        let req = codec::member_offset_fetch(group_id, partitions, member, v);
        let answer = conn.send_version(&req, v, timeout).await?;
        Ok::<_, kafkaroo_net::Error>(codec::offset_fetch_answer(answer, v))
    };
    match sent.await {
        Ok(Some((error_code, partitions))) => Response::OffsetFetch {
            error_code,
            partitions,
        },
        Ok(None) => Response::Failed(TransportFailure::Disconnected),
        Err(e) => Response::Failed(failure(&conn, &e, "OffsetFetch")),
    }
}

/// What a failed request counts as; a timed-out request's connection is closed.
fn failure(conn: &Connection, e: &kafkaroo_net::Error, api: &str) -> TransportFailure {
    debug!(error = %e, api, "group request failed");
    if matches!(e, kafkaroo_net::Error::Timeout { .. }) {
        // A timed-out request must not land after its retry.
        conn.close();
        TransportFailure::TimedOut
    } else {
        TransportFailure::Disconnected
    }
}

/// The connection for `target`, learning a coordinator unknown to the metadata first.
async fn connect(client: &Client, target: Target, api: &str) -> Option<Connection> {
    let conn = match target {
        Target::AnyBroker => client.any_connection().await,
        Target::Coordinator(node) => match client.connection(node, Purpose::Group).await {
            Err(kafkaroo_net::Error::UnknownBroker { .. }) => {
                let _ = client.refresh_metadata(Some(&[])).await;
                client.connection(node, Purpose::Group).await
            }
            other => other,
        },
    };
    conn.map_err(|e| debug!(error = %e, api, "no connection for a group request"))
        .ok()
}

async fn send(
    conn: &Connection,
    request: &Request,
    timeout: Duration,
) -> Result<Response, kafkaroo_net::Error> {
    Ok(match request {
        Request::FindCoordinator { group_id } => {
            let v = conn.negotiated_version::<FindCoordinatorRequest>()?;
            let r = conn
                .send_version(&codec::find_coordinator(group_id, v), v, timeout)
                .await?;
            codec::find_coordinator_answer(&r, v)
        }
        Request::JoinGroup(j) => {
            let v = conn.negotiated_version::<JoinGroupRequest>()?;
            codec::join_answer(conn.send_version(&codec::join_group(j, v), v, timeout).await?)
        }
        Request::SyncGroup(s) => {
            let v = conn.negotiated_version::<SyncGroupRequest>()?;
            codec::sync_answer(conn.send_version(&codec::sync_group(s, v), v, timeout).await?)
        }
        Request::Heartbeat {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        } => {
            let v = conn.negotiated_version::<HeartbeatRequest>()?;
            let req = codec::heartbeat(
                group_id,
                *generation_id,
                member_id,
                group_instance_id.as_deref(),
                v,
            );
            let r = conn.send_version(&req, v, timeout).await?;
            Response::Heartbeat {
                error_code: r.error_code,
            }
        }
        Request::LeaveGroup {
            group_id,
            member_id,
            group_instance_id,
            reason,
        } => {
            let v = conn.negotiated_version::<LeaveGroupRequest>()?;
            let req = codec::leave_group(group_id, member_id, group_instance_id.as_deref(), reason, v);
            codec::leave_answer(&conn.send_version(&req, v, timeout).await?)
        }
        Request::OffsetCommit(c) => {
            let v = conn.negotiated_version::<OffsetCommitRequest>()?;
            codec::commit_answer(conn.send_version(&codec::offset_commit(c, v), v, timeout).await?)
        }
        Request::OffsetFetch {
            group_id,
            partitions,
            require_stable,
        } => {
            let v = conn.negotiated_version::<OffsetFetchRequest>()?;
            let req = codec::offset_fetch(group_id, Some(partitions), *require_stable, v);
            match codec::offset_fetch_answer(conn.send_version(&req, v, timeout).await?, v) {
                Some((error_code, partitions)) => Response::OffsetFetch {
                    error_code,
                    partitions,
                },
                None => Response::Failed(TransportFailure::Disconnected),
            }
        }
    })
}

/// FindCoordinator for `group_id`: the node, or a refusal to give up on (`Fail` with the code), or a
/// reason to look again.
pub(crate) async fn find(
    client: &Client,
    group_id: &str,
    timeout: Duration,
) -> Attempt<i32, String, ErrorCode> {
    let find = Request::FindCoordinator {
        group_id: group_id.to_owned(),
    };
    match execute(client, Target::AnyBroker, &find, timeout).await {
        Response::FindCoordinator {
            error_code: 0,
            node_id,
        } => Attempt::Done(node_id),
        Response::FindCoordinator { error_code, .. } if !ErrorCode(error_code).is_retriable() => {
            Attempt::Fail(ErrorCode(error_code))
        }
        other => Attempt::Retry(format!("FindCoordinator: {other:?}")),
    }
}

/// The committed offsets in an OffsetFetch answer: `None` where nothing is committed (offset -1),
/// empty metadata as none. Partitions with an error are the caller's to look at first.
pub(crate) fn committed_offsets(
    fetched: Vec<FetchedOffset>,
) -> impl Iterator<Item = (TopicPartition, Option<OffsetAndMetadata>)> {
    fetched.into_iter().map(|p| {
        let committed = (p.offset >= 0).then(|| OffsetAndMetadata {
            offset: p.offset,
            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
            metadata: p.metadata.filter(|m| !m.is_empty()),
        });
        (p.partition, committed)
    })
}

/// OffsetFetch for `partitions` of `group_id` (finding the coordinator first), retried until
/// `timeout`. A partition missing from the answer is unknown, not "nothing committed": retried
/// (scenario 17).
pub(crate) async fn fetch_committed(
    client: &Client,
    group_id: &str,
    partitions: &[TopicPartition],
    timeout: Duration,
    backoff: BackoffConfig,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, Error> {
    let refused = |partitions: &[TopicPartition], api: &str, code: ErrorCode| Error::Commit {
        failed: partitions.to_vec(),
        reason: format!("could not fetch committed offsets: {api}: {code}"),
    };
    let wanted: &BTreeSet<&TopicPartition> = &partitions.iter().collect();
    let refused = &refused;
    let deadline = Instant::now() + timeout;
    let result = retrying(backoff, Budget::Until(deadline), || async move {
        let node = match find(client, group_id, timeout).await {
            Attempt::Done(node) => node,
            Attempt::Fail(code) => return Attempt::Fail(refused(partitions, "FindCoordinator", code)),
            Attempt::Retry(why) => return Attempt::Retry(why),
        };
        let req = Request::OffsetFetch {
            group_id: group_id.to_owned(),
            partitions: partitions.to_vec(),
            require_stable: true,
        };
        let got = match execute(client, Target::Coordinator(node), &req, timeout).await {
            Response::OffsetFetch {
                error_code: 0,
                partitions: got,
            } if got.iter().all(|p| p.error_code == 0) => got,
            Response::OffsetFetch { error_code, .. }
                if error_code != 0 && !ErrorCode(error_code).is_retriable() =>
            {
                return Attempt::Fail(refused(partitions, "OffsetFetch", ErrorCode(error_code)));
            }
            Response::OffsetFetch {
                partitions: ref got, ..
            } if let Some(p) = got
                .iter()
                .find(|p| p.error_code != 0 && !ErrorCode(p.error_code).is_retriable()) =>
            {
                let code = ErrorCode(p.error_code);
                return Attempt::Fail(refused(std::slice::from_ref(&p.partition), "OffsetFetch", code));
            }
            other => return Attempt::Retry(format!("OffsetFetch: {other:?}")),
        };
        let out: BTreeMap<_, _> = committed_offsets(got)
            .filter(|(tp, _)| wanted.contains(tp))
            .collect();
        if out.len() == wanted.len() {
            return Attempt::Done(out);
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|tp| !out.contains_key(**tp))
            .map(ToString::to_string)
            .collect();
        Attempt::Retry(format!("OffsetFetch answer without {}", missing.join(", ")))
    })
    .await;
    result.map_err(|gave_up| match gave_up {
        GaveUp::Failed(e) => e,
        GaveUp::Exhausted { last, .. } => Error::Commit {
            failed: partitions.to_vec(),
            reason: format!("could not fetch committed offsets: {}", last.unwrap_or_default()),
        },
    })
}

/// OffsetCommit from outside the group (generation -1, no member id: an `assign`ed consumer),
/// retried with a fresh coordinator lookup until `timeout` for retriable errors. A failure comes with
/// its `error.type` for the metric.
pub(crate) async fn commit_outside_group(
    client: &Client,
    group_id: &str,
    offsets: Vec<OffsetToCommit>,
    timeout: Duration,
    backoff: BackoffConfig,
) -> Result<(), (Error, &'static str)> {
    if offsets.is_empty() {
        return Ok(());
    }
    let all: Vec<TopicPartition> = offsets.iter().map(|o| o.partition.clone()).collect();
    let request = Request::OffsetCommit(CommitParams {
        group_id: group_id.to_owned(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets,
    });
    let (all, request) = (&all, &request);
    let deadline = Instant::now() + timeout;
    let result = retrying(backoff, Budget::Until(deadline), || async move {
        let node = match find(client, group_id, timeout).await {
            Attempt::Done(node) => node,
            Attempt::Fail(code) => {
                let error = Error::Commit {
                    failed: all.clone(),
                    reason: format!("FindCoordinator: {code}"),
                };
                return Attempt::Fail((error, code.name()));
            }
            Attempt::Retry(why) => return Attempt::Retry(why),
        };
        let partitions = match execute(client, Target::Coordinator(node), request, timeout).await {
            Response::OffsetCommit { partitions } => partitions,
            other => return Attempt::Retry(format!("OffsetCommit: {other:?}")),
        };
        let errors: Vec<(TopicPartition, ErrorCode)> = partitions
            .into_iter()
            .map(|(tp, code)| (tp, ErrorCode(code)))
            .filter(|(_, code)| !code.is_ok())
            .collect();
        if errors.is_empty() {
            return Attempt::Done(());
        }
        let reason = errors
            .iter()
            .map(|(tp, code)| format!("{tp}: {code}"))
            .collect::<Vec<_>>()
            .join("; ");
        match errors.iter().find(|(_, code)| !code.is_retriable()) {
            Some(&(_, code)) => {
                let failed = errors.into_iter().map(|(tp, _)| tp).collect();
                Attempt::Fail((Error::Commit { failed, reason }, code.name()))
            }
            None => Attempt::Retry(reason),
        }
    })
    .await;
    result.map_err(|gave_up| match gave_up {
        GaveUp::Failed(f) => f,
        GaveUp::Exhausted { last, .. } => {
            let last = last.unwrap_or_else(|| "no attempt".to_owned());
            let error = Error::Commit {
                failed: all.clone(),
                reason: format!("gave up after {timeout:?}: {last}"),
            };
            (error, "timeout")
        }
    })
}
