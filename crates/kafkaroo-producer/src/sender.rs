//! The sender task: drains ready batches into one Produce request per leader, sends them through the
//! broker's lane (crates/kafkaroo-producer/src/lane.rs; in drain order, at most
//! `max.in.flight.requests.per.connection` per broker), and settles each batch from the answer:
//! acknowledged, retried in its place after the one backoff, or failed. It also refreshes metadata when
//! leaders move, expires batches past `delivery.timeout.ms`, and bumps the epoch when sequences are
//! unresolved (crates/kafkaroo-producer/src/idempotence.rs has the rules).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafkaroo_net::Metadata;
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::{InitProducerIdRequest, ProduceResponse};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::accumulator::{Accumulator, Batch};
use crate::error::{Error, is_fatal_code};
use crate::idempotence::{self, Action, ProducerId};
use crate::lane::{Completed, Sending};
use crate::producer::Shared;
use crate::record::Acked;

/// Runs until the producer is closed and every batch completed.
pub(crate) async fn run(shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Completed>();
    let mut lanes: HashMap<i32, mpsc::UnboundedSender<Vec<Sending>>> = HashMap::new();
    let mut metadata_backoff = kafkaroo_net::Backoff::new(shared.config.retry_backoff_config());
    let mut metadata_at = Instant::now();
    let mut metadata_refreshed = Instant::now();
    loop {
        while let Ok(done) = rx.try_recv() {
            settle(&shared, done);
        }
        let now = Instant::now();
        let (need_pid, need_metadata, stop) = {
            let mut acc = shared.lock();
            if acc.closing && acc.incomplete == 0 {
                break;
            }
            if acc.fatal.is_some() && acc.in_flight == 0 {
                fail_all(&shared, &mut acc);
                if acc.closing {
                    break;
                }
            }
            bump_if_due(&mut acc);
            (
                shared.config.enable_idempotence && acc.producer_id.is_none() && acc.in_flight == 0,
                acc.metadata_stale || now >= metadata_refreshed + shared.config.metadata_max_age,
                acc.fatal.is_some(),
            )
        };
        if need_pid && !stop {
            match init_producer_id(&shared).await {
                Ok(pid) => shared.lock().producer_id = Some(pid),
                Err(e) if e.is_fatal() => shared.lock().fatal = Some(e),
                Err(e) => {
                    warn!(error = %e, "InitProducerId failed; retrying");
                    tokio::time::sleep(shared.config.retry_backoff).await;
                }
            }
            continue;
        }
        if need_metadata && now >= metadata_at {
            let topics = shared.lock().topic_names();
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            match shared.client.refresh_metadata(Some(&names)).await {
                Ok(_) => {
                    metadata_backoff.reset();
                    metadata_refreshed = Instant::now();
                    // A leader may still be missing (an election): not again before a backoff.
                    metadata_at = metadata_refreshed + shared.config.retry_backoff;
                    shared.lock().metadata_stale = false;
                }
                Err(e) => {
                    let delay = metadata_backoff.next_delay(fastrand::f64());
                    debug!(error = %e, ?delay, "metadata refresh failed");
                    metadata_at = Instant::now() + delay;
                }
            }
        }
        let metadata = shared.client.metadata();
        let (requests, wake_at) = {
            let mut acc = shared.lock();
            let (expired, expiry) = acc.expire(now, shared.config.delivery_timeout);
            for (topic, partition, batch) in expired {
                let sent = batch.base_sequence >= 0 || batch.attempts > 0;
                acc.bump_epoch |= sent && shared.config.enable_idempotence;
                let error = Error::DeliveryTimeout {
                    topic: topic.to_string(),
                    partition,
                    after: shared.config.delivery_timeout,
                    last: batch.last_error.clone().map(Box::new),
                };
                finish(&shared, &mut acc, batch, Err(error));
            }
            let (requests, drain_wake) = drain(&shared, &mut acc, &metadata, now);
            let retry_metadata = acc.metadata_stale.then_some(metadata_at);
            let wake = [expiry, drain_wake, retry_metadata].into_iter().flatten().min();
            (requests, wake)
        };
        for (node, batches) in requests {
            let lane_tx = lanes.entry(node).or_insert_with(|| {
                let (lane_tx, lane_rx) = mpsc::unbounded_channel();
                tokio::spawn(crate::lane::lane(shared.clone(), node, lane_rx, tx.clone()));
                lane_tx
            });
            if let Err(mpsc::error::SendError(batches)) = lane_tx.send(batches) {
                // The lane is gone (its task ended: the runtime shuts down): a new one is started for
                // the next request, and these batches are retried like after a lost connection.
                lanes.remove(&node);
                let result = Err(kafkaroo_net::Error::LocallyClosed {
                    addr: format!("broker {node}"),
                });
                settle(
                    &shared,
                    Completed {
                        node,
                        batches,
                        result,
                    },
                );
            }
        }
        let wake_at = wake_at
            .unwrap_or(now + Duration::from_secs(1))
            .min(metadata_refreshed + shared.config.metadata_max_age)
            .max(now + Duration::from_millis(1));
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(wake_at) => {}
            Some(done) = rx.recv() => settle(&shared, done),
        }
    }
    debug!("producer sender stopped");
}

/// Bumps the epoch once nothing is in flight (responses under the old epoch settle first).
fn bump_if_due(acc: &mut Accumulator) {
    if !acc.bump_epoch || acc.in_flight > 0 {
        return;
    }
    acc.bump_epoch = false;
    acc.producer_id = acc.producer_id.and_then(ProducerId::bumped);
    debug!(producer = ?acc.producer_id, "epoch bumped; sequences start again at 0");
    acc.reset_sequences();
}

/// Takes the ready batches, one per partition per request, grouped by leader.
fn drain(
    shared: &Shared,
    acc: &mut Accumulator,
    metadata: &Metadata,
    now: Instant,
) -> (Vec<(i32, Vec<Sending>)>, Option<Instant>) {
    let config = &shared.config;
    let idempotent = config.enable_idempotence;
    let pid = acc.producer_id;
    let mut wake: Option<Instant> = None;
    let mut requests: Vec<(i32, Vec<Sending>, usize)> = Vec::new();
    if (idempotent && (pid.is_none() || acc.bump_epoch)) || acc.fatal.is_some() {
        return (Vec::new(), None);
    }
    let hurry = acc.flushing > 0 || acc.closing;
    let mut needs_metadata = false;
    let Accumulator {
        topics,
        node_in_flight,
        in_flight,
        ..
    } = acc;
    for t in topics.values_mut() {
        for (index, p) in t.partitions.iter_mut().enumerate() {
            let Some(front) = p.queue.front() else {
                continue;
            };
            let leader = metadata.partition(&t.name, index as i32).map_or(-1, |m| m.leader);
            if leader < 0 {
                needs_metadata = true;
                continue;
            }
            let retry = front.attempts > 0;
            if p.in_flight >= config.max_in_flight || (retry && p.in_flight > 0) {
                continue;
            }
            if let Some(at) = front.retry_at.filter(|at| *at > now) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
                continue;
            }
            let linger_end = front.created + config.linger;
            let ready = front.closed || p.queue.len() > 1 || hurry || retry || linger_end <= now;
            if !ready {
                wake = Some(wake.map_or(linger_end, |w| w.min(linger_end)));
                continue;
            }
            let size = front
                .encoded
                .as_ref()
                .map_or_else(|| front.builder.uncompressed_size(), Bytes::len);
            let slot = requests
                .iter()
                .position(|(n, _, bytes)| *n == leader && *bytes + size <= config.max_request_size);
            let slot = match slot {
                Some(s) => s,
                None => {
                    let busy = node_in_flight.get(&leader).copied().unwrap_or(0)
                        + requests.iter().filter(|(n, ..)| *n == leader).count();
                    if busy >= config.max_in_flight {
                        continue;
                    }
                    requests.push((leader, Vec::new(), 0));
                    requests.len() - 1
                }
            };
            let Some(mut batch) = p.queue.pop_front() else {
                continue;
            };
            batch.closed = true;
            if idempotent && batch.base_sequence < 0 {
                batch.base_sequence = p.sequences.assign(batch.records);
            }
            p.in_flight += 1;
            *in_flight += 1;
            let r = &mut requests[slot];
            r.2 += size;
            r.1.push(Sending {
                topic: t.name.clone(),
                topic_id: t.id,
                partition: index as i32,
                batch,
            });
        }
    }
    if needs_metadata {
        acc.metadata_stale = true;
    }
    for (node, ..) in &requests {
        *acc.node_in_flight.entry(*node).or_default() += 1;
    }
    let requests = requests.into_iter().map(|(n, b, _)| (n, b)).collect();
    (requests, wake)
}

/// Settles every batch of a completed request.
fn settle(shared: &Shared, done: Completed) {
    let mut acc = shared.lock();
    if let Some(n) = acc.node_in_flight.get_mut(&done.node) {
        *n = n.saturating_sub(1);
    }
    let now = Instant::now();
    for s in done.batches {
        acc.in_flight = acc.in_flight.saturating_sub(1);
        if let Some(p) = acc
            .topics
            .get_mut(&*s.topic)
            .and_then(|t| t.partitions.get_mut(s.partition as usize))
        {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        let (code, message, base_offset, log_append_time, log_start) = match &done.result {
            Ok(response) => match find(response, &s) {
                Some(r) => (
                    Some(ErrorCode(r.error_code)),
                    r.error_message.as_ref().map(|m| m.to_string()),
                    r.base_offset,
                    r.log_append_time_ms,
                    r.log_start_offset,
                ),
                None => (
                    Some(ErrorCode::UNKNOWN_SERVER_ERROR),
                    Some("partition missing from the Produce response".into()),
                    -1,
                    -1,
                    -1,
                ),
            },
            Err(_) => (None, None, -1, -1, -1),
        };
        settle_batch(
            shared,
            &mut acc,
            s,
            now,
            (code, message, base_offset, log_append_time, log_start),
            &done.result,
        );
    }
}

type Answer = (Option<ErrorCode>, Option<String>, i64, i64, i64);

fn settle_batch(
    shared: &Shared,
    acc: &mut Accumulator,
    s: Sending,
    now: Instant,
    (code, message, base_offset, log_append_time, log_start): Answer,
    result: &Result<ProduceResponse, kafkaroo_net::Error>,
) {
    let config = &shared.config;
    let mut batch = s.batch;
    let sequences = acc
        .topics
        .get(&*s.topic)
        .and_then(|t| t.partitions.get(s.partition as usize))
        .map(|p| p.sequences)
        .unwrap_or_default();
    let backoff = config
        .retry_backoff_config()
        .delay(batch.attempts + 1, fastrand::f64());
    let out_of_time = now + backoff >= batch.created + config.delivery_timeout;
    let can_retry = batch.attempts < config.retries && !out_of_time && !acc.closing_hard();
    let decision = idempotence::decide(
        code,
        &idempotence::Context {
            idempotent: config.enable_idempotence,
            can_retry,
            base_sequence: batch.base_sequence,
            sequences,
            log_start_offset: log_start,
        },
    );
    acc.metadata_stale |= decision.refresh_metadata;
    acc.bump_epoch |= decision.bump_epoch;
    let error = || match (code, result) {
        (None, Err(e)) => Error::Net(e.clone()),
        _ => Error::Broker {
            topic: s.topic.to_string(),
            partition: s.partition,
            code: code.unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
            message: message.clone(),
        },
    };
    match decision.action {
        Action::Success => {
            if config.enable_idempotence
                && let Some(p) = acc
                    .topics
                    .get_mut(&*s.topic)
                    .and_then(|t| t.partitions.get_mut(s.partition as usize))
            {
                p.sequences.acked(batch.base_sequence, batch.records, base_offset);
            }
            let acked = Acked {
                base_offset,
                log_append_time: (log_append_time >= 0).then_some(log_append_time),
            };
            finish(shared, acc, batch, Ok(acked));
        }
        Action::Retry => {
            let e = error();
            debug!(topic = %s.topic, partition = s.partition, attempt = batch.attempts + 1, error = %e, "retrying batch");
            batch.attempts += 1;
            batch.retry_at = Some(now + backoff);
            batch.last_error = Some(e);
            acc.requeue(&s.topic, s.partition, batch);
        }
        Action::Fail => {
            let mut e = error();
            let retriable = code.is_none_or(|c| c.is_retriable());
            if retriable && out_of_time {
                // What ended it is the delivery timeout; the broker's answer is the last cause.
                e = Error::DeliveryTimeout {
                    topic: s.topic.to_string(),
                    partition: s.partition,
                    after: config.delivery_timeout,
                    last: Some(Box::new(e)),
                };
            }
            if code.is_some_and(is_fatal_code) {
                acc.fatal.get_or_insert_with(|| e.clone());
            }
            warn!(topic = %s.topic, partition = s.partition, error = %e, "batch failed");
            finish(shared, acc, batch, Err(e));
        }
    }
}

fn find<'a>(
    response: &'a ProduceResponse,
    s: &Sending,
) -> Option<&'a kafkaroo_wire::messages::produce_response::PartitionProduceResponse> {
    response
        .responses
        .iter()
        .filter(|t| *t.name.0 == *s.topic || (!t.topic_id.is_nil() && t.topic_id == s.topic_id))
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == s.partition)
}

/// Completes a batch and gives its memory back.
pub(crate) fn finish(shared: &Shared, acc: &mut Accumulator, batch: Batch, result: Result<Acked, Error>) {
    batch.outcome.complete(result);
    shared.memory.add_permits(batch.reserved);
    acc.incomplete = acc.incomplete.saturating_sub(1);
    if acc.incomplete == 0 {
        shared.idle.notify_waiters();
    }
    drop(batch);
}

/// Fails every queued batch with the fatal error.
fn fail_all(shared: &Shared, acc: &mut Accumulator) {
    let Some(fatal) = acc.fatal.clone() else {
        return;
    };
    let mut batches = Vec::new();
    for t in acc.topics.values_mut() {
        for p in &mut t.partitions {
            batches.extend(p.queue.drain(..));
        }
    }
    for b in batches {
        finish(shared, acc, b, Err(Error::Fatal(Box::new(fatal.clone()))));
    }
}

/// InitProducerId for idempotence (no transactional id): any broker answers.
async fn init_producer_id(shared: &Shared) -> Result<ProducerId, Error> {
    let conn = shared.client.any_connection().await?;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response = conn.send(&request).await?;
    let code = ErrorCode(response.error_code);
    if !code.is_ok() {
        let hint = if code == ErrorCode::CLUSTER_AUTHORIZATION_FAILED {
            "grant IdempotentWrite on the cluster, or set enable.idempotence=false"
        } else {
            "retried"
        };
        return Err(Error::ProducerId { code, hint });
    }
    debug!(
        producer_id = response.producer_id.0,
        epoch = response.producer_epoch,
        "producer id"
    );
    Ok(ProducerId {
        id: response.producer_id.0,
        epoch: response.producer_epoch,
    })
}

/// Gets the producer id at start, so `Producer::new` reports what keeps idempotence from working.
pub(crate) async fn first_producer_id(shared: &Shared) -> Result<ProducerId, Error> {
    let deadline = Instant::now() + shared.config.max_block;
    let mut backoff = kafkaroo_net::Backoff::new(shared.config.retry_backoff_config());
    loop {
        match init_producer_id(shared).await {
            Ok(pid) => return Ok(pid),
            Err(e) if e.is_fatal() || Instant::now() >= deadline => return Err(e),
            Err(e) => {
                debug!(error = %e, "InitProducerId failed; retrying");
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
            }
        }
    }
}
