//! The group task: sends each request the member asks for in its own tokio task (so a heartbeat
//! never waits behind a JoinGroup), feeds the answers back, and keeps the member's view of the
//! subscribed topics' partition counts fresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkaroo_group::PartitionCounts;
use kafkaroo_group::member::{RequestId, Response, TransportFailure};
use kafkaroo_net::Client;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::GroupShared;
use crate::coordinator::execute;

enum Done {
    Response(RequestId, Response),
    Metadata(Option<PartitionCounts>),
}

/// The group driver: owns nothing but the shared state; runs until the member closed.
pub(crate) async fn run(group: Arc<GroupShared>, client: Client) {
    let mut tasks: JoinSet<Done> = JoinSet::new();
    // Which request each task answers, so that a task that dies (a panic) still answers it: the
    // member waits for every request it sent.
    let mut requests: HashMap<tokio::task::Id, RequestId> = HashMap::new();
    let mut metadata_at = Instant::now();
    let mut metadata_topics: Vec<String> = Vec::new();
    let mut metadata_busy = false;
    let max_age = group
        .engine()
        .config
        .metadata_max_age
        .min(Duration::from_secs(30));
    loop {
        let wake = group.wake.notified();
        let (transmits, deadline, closed, topics) = {
            let mut inner = group.lock();
            let now = Instant::now();
            if inner.member.poll_timeout().is_some_and(|t| t <= now) {
                inner.member.handle_timeout(now);
            }
            let mut transmits = Vec::new();
            loop {
                group.apply_events(&mut inner);
                match inner.member.poll_transmit() {
                    Some(t) => transmits.push(t),
                    None => break,
                }
            }
            group.apply_events(&mut inner);
            (
                transmits,
                inner.member.poll_timeout(),
                inner.closed,
                inner.member.group_subscription(),
            )
        };
        if closed {
            break;
        }
        for t in transmits {
            let client = client.clone();
            let id = t.id;
            let task = tasks.spawn(async move {
                let response = execute(&client, t.target, &t.request, t.timeout).await;
                Done::Response(t.id, response)
            });
            requests.insert(task.id(), id);
        }
        let now = Instant::now();
        if !metadata_busy && !topics.is_empty() && (now >= metadata_at || topics != metadata_topics) {
            metadata_busy = true;
            metadata_topics = topics.clone();
            let client = client.clone();
            tasks.spawn(async move {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                match client.refresh_metadata(Some(&names)).await {
                    Ok(m) => Done::Metadata(Some(
                        m.topics
                            .iter()
                            .filter(|(_, t)| !t.partitions.is_empty())
                            .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
                            .collect(),
                    )),
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
                            Done::Response(id, Response::Failed(TransportFailure::Disconnected))
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
                    Done::Metadata(counts) => {
                        metadata_busy = false;
                        metadata_at = Instant::now() + if counts.is_some() { max_age } else { Duration::from_millis(500) };
                        if let Some(counts) = counts {
                            inner.member.metadata_changed(&counts, Instant::now());
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
