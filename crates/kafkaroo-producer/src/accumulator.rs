//! Where records wait for the sender: per partition, a queue of batches in creation order. `send`
//! appends to the newest batch of the partition (or starts one); the sender drains the oldest ready
//! batch of each partition, and puts a batch back in its place when it must be retried, so a partition's
//! batches always go out in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafkaroo_records::{BatchBuilder, Compression};
use kafkaroo_wire::Uuid;
use tokio::time::Instant;

use crate::error::Error;
use crate::idempotence::{ProducerId, Sequences};
use crate::partitioner::Sticky;
use crate::record::{BatchOutcome, DeliveryFuture, ProducerRecord};

/// One batch of one partition.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Records as appended; emptied once encoded.
    pub(crate) builder: BatchBuilder,
    /// The batch as sent (kept for retries, which send the same bytes).
    pub(crate) encoded: Option<Bytes>,
    /// The producer id, epoch and base sequence `encoded` carries.
    pub(crate) encoded_as: Option<(ProducerId, i32)>,
    pub(crate) outcome: Arc<BatchOutcome>,
    pub(crate) records: i32,
    /// `buffer.memory` bytes held until the batch completes.
    pub(crate) reserved: usize,
    pub(crate) created: Instant,
    /// Creation order within the partition: retries go back to their place.
    pub(crate) order: u64,
    pub(crate) attempts: u32,
    pub(crate) retry_at: Option<Instant>,
    /// -1 until the sender assigns one.
    pub(crate) base_sequence: i32,
    /// No more appends: full, or drained once.
    pub(crate) closed: bool,
    pub(crate) last_error: Option<Error>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // A batch dropped before completing (the producer went away) fails its records rather than
        // leaving their futures pending forever; a completed outcome ignores this.
        self.outcome.complete(Err(Error::Closed));
    }
}

/// One partition's queue and sequence state.
#[derive(Debug, Default)]
pub(crate) struct PartitionState {
    pub(crate) queue: VecDeque<Batch>,
    pub(crate) in_flight: usize,
    pub(crate) sequences: Sequences,
    next_order: u64,
}

/// One topic.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub(crate) name: Arc<str>,
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<PartitionState>,
    pub(crate) sticky: Sticky,
}

/// Everything waiting to be sent or acknowledged, under the producer's lock.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pub(crate) topics: HashMap<Arc<str>, TopicState>,
    /// Batches not yet completed (queued or in flight).
    pub(crate) incomplete: usize,
    /// Batches in flight.
    pub(crate) in_flight: usize,
    /// Requests in flight per broker.
    pub(crate) node_in_flight: HashMap<i32, usize>,
    /// `flush` calls waiting: every batch is ready at once.
    pub(crate) flushing: usize,
    pub(crate) closing: bool,
    /// `close` timed out: stop without waiting for anything.
    pub(crate) abort: bool,
    /// Set once the producer cannot continue.
    pub(crate) fatal: Option<Error>,
    pub(crate) producer_id: Option<ProducerId>,
    pub(crate) bump_epoch: bool,
    pub(crate) metadata_stale: bool,
}

/// A batch whose delivery timeout passed, with its topic and partition.
pub(crate) type Expired = (Arc<str>, i32, Batch);

/// Limits `append` works within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendLimits {
    pub(crate) batch_size: usize,
    pub(crate) compression: Compression,
}

/// What `append` did.
pub(crate) enum Appended {
    /// In an existing batch; `wake` when that batch just became full.
    Done { future: DeliveryFuture, wake: bool },
    /// No batch has room: reserve this many bytes and call [`Accumulator::append_new`].
    NeedBatch(usize),
}

impl Accumulator {
    /// Whether `close` gave up waiting: nothing is retried any more.
    pub(crate) fn closing_hard(&self) -> bool {
        self.abort
    }

    /// The topic's state, created (or grown to `partitions`) as needed.
    pub(crate) fn topic(&mut self, name: &str, id: Uuid, partitions: usize) -> &mut TopicState {
        if !self.topics.contains_key(name) {
            let name: Arc<str> = Arc::from(name);
            self.topics.insert(
                name.clone(),
                TopicState {
                    name,
                    id,
                    partitions: Vec::new(),
                    sticky: Sticky::default(),
                },
            );
        }
        let t = self.topics.get_mut(name).expect("inserted above");
        t.id = id;
        if t.partitions.len() < partitions {
            t.partitions.resize_with(partitions, PartitionState::default);
        }
        t
    }

    /// Appends to the partition's newest open batch if it has room for `size` more bytes.
    pub(crate) fn append(
        topic: &mut TopicState,
        partition: i32,
        record: &ProducerRecord<'_>,
        timestamp: i64,
        size: usize,
        limits: AppendLimits,
    ) -> Result<Appended, Error> {
        let p = &mut topic.partitions[partition as usize];
        if let Some(b) = p.queue.back_mut().filter(|b| !b.closed)
            && b.builder.uncompressed_size() + size <= limits.batch_size.max(b.reserved)
        {
            let index = b.records as u32;
            b.builder
                .append(timestamp, record.key, record.value, record.header_iter())?;
            b.records += 1;
            b.closed = b.builder.uncompressed_size() >= limits.batch_size;
            let future = DeliveryFuture::new(b.outcome.clone(), index, timestamp);
            return Ok(Appended::Done {
                future,
                wake: b.closed,
            });
        }
        Ok(Appended::NeedBatch(
            limits.batch_size.max(size + kafkaroo_records::BATCH_HEADER_LEN),
        ))
    }

    /// Starts a new batch holding `reserved` bytes of `buffer.memory`, with the record in it.
    pub(crate) fn append_new(
        &mut self,
        topic_name: &str,
        partition: i32,
        record: &ProducerRecord<'_>,
        timestamp: i64,
        reserved: usize,
        limits: AppendLimits,
    ) -> Result<(DeliveryFuture, bool), Error> {
        let topic = self.topics.get_mut(topic_name).ok_or(Error::Closed)?;
        let name = topic.name.clone();
        let p = &mut topic.partitions[partition as usize];
        if let Some(b) = p.queue.back_mut() {
            b.closed = true;
        }
        let mut builder = BatchBuilder::with_capacity(limits.compression, reserved);
        builder.append(timestamp, record.key, record.value, record.header_iter())?;
        let outcome = BatchOutcome::new(name, partition);
        let future = DeliveryFuture::new(outcome.clone(), 0, timestamp);
        let closed = builder.uncompressed_size() >= limits.batch_size;
        p.queue.push_back(Batch {
            builder,
            encoded: None,
            encoded_as: None,
            outcome,
            records: 1,
            reserved,
            created: Instant::now(),
            order: p.next_order,
            attempts: 0,
            retry_at: None,
            base_sequence: -1,
            closed,
            last_error: None,
        });
        p.next_order += 1;
        self.incomplete += 1;
        Ok((future, closed))
    }

    /// Puts a batch to retry back in its place (by creation order) in its partition's queue.
    pub(crate) fn requeue(&mut self, topic: &str, partition: i32, batch: Batch) {
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return;
        };
        let at = p
            .queue
            .iter()
            .position(|b| b.order > batch.order)
            .unwrap_or(p.queue.len());
        p.queue.insert(at, batch);
    }

    /// After an epoch bump: every partition starts again at sequence 0, and batches that had a
    /// sequence get a new one when next drained.
    pub(crate) fn reset_sequences(&mut self) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                p.sequences = Sequences::default();
                for b in &mut p.queue {
                    b.base_sequence = -1;
                }
            }
        }
    }

    /// Removes the queued batches whose delivery timeout passed and returns them with their topic and
    /// partition; also returns the earliest deadline still pending.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        delivery_timeout: Duration,
    ) -> (Vec<Expired>, Option<Instant>) {
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        for t in self.topics.values_mut() {
            for (i, p) in t.partitions.iter_mut().enumerate() {
                let mut k = 0;
                while k < p.queue.len() {
                    let deadline = p.queue[k].created + delivery_timeout;
                    if deadline <= now {
                        if let Some(b) = p.queue.remove(k) {
                            expired.push((t.name.clone(), i as i32, b));
                        }
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                        k += 1;
                    }
                }
            }
        }
        (expired, next)
    }

    /// Topics with queued batches, for metadata refreshes.
    pub(crate) fn topic_names(&self) -> Vec<String> {
        self.topics
            .values()
            .filter(|t| {
                t.partitions
                    .iter()
                    .any(|p| !p.queue.is_empty() || p.in_flight > 0)
            })
            .map(|t| t.name.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AppendLimits {
        AppendLimits {
            batch_size: 200,
            compression: Compression::None,
        }
    }

    #[tokio::test]
    async fn batches_fill_up_to_batch_size_and_retries_keep_their_place() {
        let mut acc = Accumulator::default();
        acc.topic("t", Uuid::nil(), 2);
        let value = [7u8; 50];
        let record = ProducerRecord::new("t").value(&value);
        let size = BatchBuilder::record_size(None, Some(&value), []);
        let mut futures = Vec::new();
        for _ in 0..5 {
            let t = acc.topics.get_mut("t").unwrap();
            match Accumulator::append(t, 1, &record, 1, size, limits()).unwrap() {
                Appended::Done { future, .. } => futures.push(future),
                Appended::NeedBatch(n) => {
                    assert_eq!(n, 200);
                    futures.push(acc.append_new("t", 1, &record, 1, n, limits()).unwrap().0);
                }
            }
        }
        let p = &mut acc.topics.get_mut("t").unwrap().partitions[1];
        // 61 + 2 x ~56 fits 200, a third does not: batches of 2, 2, 1.
        let counts: Vec<i32> = p.queue.iter().map(|b| b.records).collect();
        assert_eq!(counts, [2, 2, 1]);
        assert_eq!(acc.incomplete, 3);
        let first = p.queue.pop_front().unwrap();
        acc.requeue("t", 1, first);
        let orders: Vec<u64> = acc.topics["t"].partitions[1]
            .queue
            .iter()
            .map(|b| b.order)
            .collect();
        assert_eq!(orders, [0, 1, 2]);
        // Dropped batches fail their records instead of leaving them pending.
        acc.topics.clear();
        for f in futures {
            assert!(matches!(f.await, Err(Error::Closed)));
        }
    }
}
