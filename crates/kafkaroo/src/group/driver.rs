//! The group task: sends each request the member asks for in its own tokio task (so a heartbeat
//! never waits behind a JoinGroup), feeds the answers back, and keeps the member's view of the
//! subscribed topics' partition counts fresh.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkaroo_group::member::{RequestId, Response, TransportFailure};
use kafkaroo_net::Client;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, warn};

use super::GroupShared;
use super::membership::{AnyRequest, AnyResponse, TopicsInfo, replica_racks};
use crate::coordinator::{execute, execute_consumer, execute_member_offset_fetch};

enum Done {
    Response(RequestId, AnyResponse),
    /// The topics' info, and the metadata it came from (for the replica racks).
    Metadata(Option<(TopicsInfo, Arc<kafkaroo_net::Metadata>)>),
}

/// The group driver: owns nothing but the shared state; runs until the member closed.
pub(crate) async fn run(group: Arc<GroupShared>, client: Client) {
    let mut tasks: JoinSet<Done> = JoinSet::new();
    // Which request each task answers, so that a task that dies (a panic) still answers it: the
    // member waits for every request it sent.
    let mut requests: HashMap<tokio::task::Id, RequestId> = HashMap::new();
    let mut metadata_at = Instant::now();
    let mut metadata_topics: Vec<String> = Vec::new();
    // Topic ids of an assignment a refresh was already started for (refreshed again only on change).
    let mut asked_unresolved: Vec<kafkaroo_wire::Uuid> = Vec::new();
    let mut metadata_busy = false;
    let mut refresh_pending = false;
    // The member's first requests wait for the first metadata refresh (or its failure): a leader that
    // assigned before knowing the subscribed topics' partition counts would leave them out and
    // rebalance again as soon as they arrive.
    let mut awaiting_first_metadata = true;
    // Broker racks seen so far, so an offline broker's replicas keep their rack (KIP-881).
    let mut broker_racks = BTreeMap::new();
    let max_age = group
        .engine()
        .config
        .metadata_max_age
        .min(Duration::from_secs(30));
    loop {
        let wake = group.wake.notified();
        let (transmits, deadline, closed, topics, pattern, all_topics, refresh_now) = {
            let mut inner = group.lock();
            let now = Instant::now();
            if inner.member.poll_timeout().is_some_and(|t| t <= now) {
                inner.member.handle_timeout(now);
            }
            let mut transmits = Vec::new();
            loop {
                group.apply_events(&mut inner);
                if awaiting_first_metadata {
                    break;
                }
                match inner.member.poll_transmit() {
                    Some(t) => {
                        let (api, partitions) = t.request.describe();
                        transmits.push((inner.spans.request(api, partitions), api, t));
                    }
                    None => break,
                }
            }
            group.apply_events(&mut inner);
            let unresolved = inner.member.unresolved_topics();
            let new_ids = !unresolved.is_empty() && unresolved != asked_unresolved;
            if new_ids {
                asked_unresolved = unresolved;
            }
            (
                transmits,
                inner.member.poll_timeout(),
                inner.closed,
                inner.member.metadata_topics(),
                inner.pattern.clone(),
                // A client-side pattern, the coordinator's regex and unnamed assigned topic ids all
                // need every topic's metadata.
                inner.pattern.is_some() || inner.member.subscription_regex().is_some() || new_ids,
                std::mem::take(&mut inner.refresh_metadata) || new_ids,
            )
        };
        if closed {
            break;
        }
        for (span, api, t) in transmits {
            let client = client.clone();
            let id = t.id;
            let group = group.clone();
            let request = async move {
                let sent = Instant::now();
                let response = match &t.request {
                    AnyRequest::Classic(r) => {
                        AnyResponse::Classic(execute(&client, t.target, r, t.timeout).await)
                    }
                    AnyRequest::Consumer(r) => {
                        AnyResponse::Consumer(execute_consumer(&client, t.target, r, t.timeout).await)
                    }
                    AnyRequest::MemberOffsetFetch {
                        group_id,
                        partitions,
                        member_id,
                        member_epoch,
                    } => {
                        let member = (member_id.as_str(), *member_epoch);
                        let fetch = execute_member_offset_fetch(
                            &client, t.target, group_id, partitions, member, t.timeout,
                        );
                        AnyResponse::Classic(fetch.await)
                    }
                };
                if api == "OffsetCommit" {
                    group.engine().telemetry.commit_answered(sent.elapsed());
                }
                Done::Response(t.id, response)
            };
            let task = tasks.spawn(request.instrument(span));
            requests.insert(task.id(), id);
        }
        let now = Instant::now();
        let wanted = !topics.is_empty() || all_topics;
        if !wanted && awaiting_first_metadata {
            // Nothing to look up (the member leaves or was never subscribed): nothing to wait for.
            awaiting_first_metadata = false;
            group.wake.notify_one();
        }
        // A refresh asked for while one is under way (a new pattern) follows it.
        refresh_pending |= refresh_now;
        if !metadata_busy && wanted && (now >= metadata_at || topics != metadata_topics || refresh_pending) {
            metadata_busy = true;
            refresh_pending = false;
            metadata_topics = topics.clone();
            let client = client.clone();
            tasks.spawn(async move {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                let refresh = client.refresh_metadata(if all_topics { None } else { Some(&names) });
                match refresh.await {
                    Ok(m) => Done::Metadata(Some((
                        TopicsInfo {
                            matched: pattern.map(|p| (p.as_str().to_owned(), p.matching(&m))),
                            counts: m
                                .topics
                                .iter()
                                .filter(|(_, t)| !t.partitions.is_empty())
                                .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
                                .collect(),
                            names: m
                                .topics
                                .iter()
                                .filter(|(_, t)| t.id != kafkaroo_wire::Uuid::nil())
                                .map(|(n, t)| (t.id, n.clone()))
                                .collect(),
                            ..TopicsInfo::default()
                        },
                        m,
                    ))),
                    Err(e) => {
                        debug!(error = %e, "group metadata refresh failed");
                        Done::Metadata(None)
                    }
                }
            });
        }
        // The next metadata refresh (its completion wakes the loop while one is under way).
        let refresh = if metadata_busy {
            now + max_age
        } else {
            metadata_at.max(now + Duration::from_millis(50))
        };
        let deadline = deadline.map_or(refresh, |d| d.min(refresh));
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let done = match done {
                    Ok((task, done)) => {
                        requests.remove(&task);
                        done
                    }
                    Err(e) => match requests.remove(&e.id()) {
                        Some(id) => {
                            warn!(error = %e, "a group request task failed");
                            // Either member reads an answer of the other protocol as a lost one.
                            let failed = Response::Failed(TransportFailure::Disconnected);
                            Done::Response(id, AnyResponse::Classic(failed))
                        }
                        None => {
                            warn!(error = %e, "the group metadata task failed");
                            Done::Metadata(None)
                        }
                    },
                };
                let mut inner = group.lock();
                match done {
                    Done::Response(id, response) => inner.member.handle_response(Instant::now(), id, response),
                    Done::Metadata(info) => {
                        metadata_busy = false;
                        awaiting_first_metadata = false;
                        metadata_at = Instant::now() + if info.is_some() { max_age } else { Duration::from_millis(500) };
                        if let Some((mut info, metadata)) = info {
                            info.racks = replica_racks(&metadata, &mut broker_racks);
                            if let Some((pattern, matched)) = info.matched.take() {
                                inner.pattern_matched(&pattern, matched, Instant::now());
                            }
                            inner.member.metadata_changed(&info, Instant::now());
                        }
                    }
                }
            }
            () = wake => {}
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    debug!("group driver stopped");
}
