//! The producer handle: `send` partitions a record and appends it to its batch, waiting for
//! `buffer.memory` room; a background task (crates/kafkaroo-producer/src/sender.rs) does the rest.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkaroo_net::{Client, Metadata};
use kafkaroo_records::{BATCH_HEADER_LEN, BatchBuilder};
use kafkaroo_wire::ErrorCode;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tracing::debug;

use crate::accumulator::{AppendLimits, Appended};
use crate::config::ProducerConfig;
use crate::error::Error;
use crate::partitioner::partition_for_key;
use crate::record::{DeliveryFuture, ProducerRecord};
use crate::{accumulator::Accumulator, sender};

/// State shared by the handle and the sender task.
pub(crate) struct Shared {
    pub(crate) config: ProducerConfig,
    pub(crate) client: Client,
    /// `buffer.memory`, in bytes: a batch holds its reservation until it completes.
    pub(crate) memory: Semaphore,
    state: Mutex<Accumulator>,
    /// Wakes the sender: a batch is full, a request completed, flush or close.
    pub(crate) wake: Notify,
    /// Notified when no batch is incomplete.
    pub(crate) idle: Notify,
    /// Test hook: answers to drop as if the connection broke after the broker wrote the batch.
    pub(crate) drop_responses: AtomicU32,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Accumulator> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A Kafka producer. Dropping it without [`Producer::close`] still delivers what was sent, in the
/// background, until `delivery.timeout.ms`.
pub struct Producer {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("bootstrap", &self.shared.config.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to the cluster and, with idempotence, gets a producer id (so a missing ACL or a
    /// bad setting is reported here). Must run inside a tokio runtime.
    pub async fn new(config: ProducerConfig) -> Result<Self, Error> {
        let client = Client::connect(config.client_config()).await?;
        let permits = config.buffer_memory.min(Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            memory: Semaphore::new(permits),
            client,
            state: Mutex::new(Accumulator::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            drop_responses: AtomicU32::new(0),
            config,
        });
        if shared.config.enable_idempotence {
            let pid = sender::first_producer_id(&shared).await?;
            shared.lock().producer_id = Some(pid);
        }
        let task = tokio::spawn(sender::run(shared.clone()));
        Ok(Self {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// Appends the record to its partition's batch and returns a future for its acknowledgement.
    ///
    /// Waits (up to `max.block.ms`) for the topic's metadata and for `buffer.memory` room. Errors
    /// returned here mean the record was not queued: unknown topic or partition, too large, buffer full,
    /// producer closed or stopped by a fatal error.
    pub async fn send(&self, record: ProducerRecord<'_>) -> Result<DeliveryFuture, Error> {
        let shared = &self.shared;
        let config = &shared.config;
        let deadline = Instant::now() + config.max_block;
        self.check_open()?;
        let (metadata, count, id) = self.partitions(record.topic, deadline).await?;
        let size = BatchBuilder::record_size(record.key, record.value, record.header_iter());
        let whole = size + BATCH_HEADER_LEN;
        if whole > config.max_request_size {
            return Err(too_large(whole, config.max_request_size, "max.request.size"));
        }
        if whole > config.buffer_memory {
            return Err(too_large(whole, config.buffer_memory, "buffer.memory"));
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let limits = AppendLimits {
            batch_size: config.batch_size,
            compression: config.compression,
        };
        let mut reserved = 0;
        loop {
            let need = {
                let mut acc = shared.lock();
                if acc.closing {
                    shared.memory.add_permits(reserved);
                    return Err(Error::Closed);
                }
                let topic = acc.topic(record.topic, id, count);
                let partition = match (record.partition, record.key) {
                    (Some(p), _) if p >= 0 && (p as usize) < count => p,
                    (Some(p), _) => {
                        shared.memory.add_permits(reserved);
                        return Err(Error::UnknownPartition {
                            topic: record.topic.to_owned(),
                            partition: p,
                            count,
                        });
                    }
                    (None, Some(key)) => partition_for_key(key, count),
                    (None, None) => match topic.sticky.current(count) {
                        Some(p) => p,
                        None => {
                            let available = with_leader(&metadata, record.topic);
                            topic.sticky.choose(&available, count, fastrand::f64())
                        }
                    },
                };
                let sticky = record.partition.is_none() && record.key.is_none();
                if reserved == 0 {
                    match Accumulator::append(topic, partition, &record, timestamp, size, limits)? {
                        Appended::Done { future, wake } => {
                            if sticky {
                                topic.sticky.appended(partition, size, config.batch_size);
                            }
                            drop(acc);
                            if wake {
                                shared.wake.notify_one();
                            }
                            return Ok(future);
                        }
                        Appended::NeedBatch(n) => n,
                    }
                } else {
                    let (future, _) =
                        acc.append_new(record.topic, partition, &record, timestamp, reserved, limits)?;
                    if sticky && let Some(t) = acc.topics.get_mut(record.topic) {
                        t.sticky.appended(partition, size, config.batch_size);
                    }
                    drop(acc);
                    shared.wake.notify_one();
                    return Ok(future);
                }
            };
            reserved = self.reserve(need, deadline).await?;
        }
    }

    /// Takes `bytes` of `buffer.memory`, waiting until `deadline`.
    async fn reserve(&self, bytes: usize, deadline: Instant) -> Result<usize, Error> {
        let bytes = bytes.min(self.shared.config.buffer_memory);
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        match tokio::time::timeout_at(deadline, self.shared.memory.acquire_many(n)).await {
            Ok(Ok(permit)) => {
                permit.forget();
                Ok(n as usize)
            }
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::BufferFull {
                after: self.shared.config.max_block,
            }),
        }
    }

    /// The metadata snapshot with the topic's partition count and id, refreshing metadata until
    /// `deadline` when the topic is not known yet.
    async fn partitions(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<(Arc<Metadata>, usize, kafkaroo_wire::Uuid), Error> {
        let mut backoff = kafkaroo_net::Backoff::new(self.shared.config.retry_backoff_config());
        loop {
            let metadata = self.shared.client.metadata();
            if let Some((count, id)) = known(&metadata, topic)? {
                return Ok((metadata, count, id));
            }
            if Instant::now() >= deadline {
                return Err(Error::UnknownTopic {
                    topic: topic.to_owned(),
                    after: self.shared.config.max_block,
                });
            }
            match self.shared.client.refresh_metadata(Some(&[topic])).await {
                Ok(m) if known(&m, topic)?.is_some() => continue,
                Ok(_) => {}
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => debug!(error = %e, topic, "metadata refresh failed"),
            }
            let delay = backoff.next_delay(fastrand::f64());
            tokio::time::sleep_until((Instant::now() + delay).min(deadline)).await;
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        let acc = self.shared.lock();
        if let Some(e) = &acc.fatal {
            return Err(Error::Fatal(Box::new(e.clone())));
        }
        if acc.closing {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Sends every queued record now (ignoring `linger.ms`) and waits until all records sent before
    /// are acknowledged or failed.
    pub async fn flush(&self) {
        self.shared.lock().flushing += 1;
        self.shared.wake.notify_one();
        self.wait_idle().await;
        self.shared.lock().flushing -= 1;
    }

    async fn wait_idle(&self) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.shared.lock().incomplete == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Refuses new records, delivers the queued ones for at most `timeout`, then fails what is left
    /// with [`Error::Closed`] and stops the background task.
    pub async fn close(&self, timeout: Duration) {
        {
            let mut acc = self.shared.lock();
            acc.closing = true;
            acc.flushing += 1;
        }
        self.shared.wake.notify_one();
        let _ = tokio::time::timeout(timeout, self.wait_idle()).await;
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let mut acc = self.shared.lock();
        acc.abort = true;
        acc.topics.clear(); // dropped batches fail their records with Error::Closed
        self.shared.memory.close();
    }

    /// Test hook: the next `n` Produce answers are dropped and their connection closed, as if the
    /// connection broke after the broker wrote the batches; the batches are retried.
    #[doc(hidden)]
    pub fn drop_next_responses(&self, n: u32) {
        self.shared
            .drop_responses
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // The sender finishes what is queued, then stops (it exits once closing and idle).
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
    }
}

/// The topic's partition count and id from a metadata snapshot, or `None` if it is not there (yet).
fn known(metadata: &Metadata, topic: &str) -> Result<Option<(usize, kafkaroo_wire::Uuid)>, Error> {
    let Some(t) = metadata.topics.get(topic) else {
        return Ok(None);
    };
    if t.error.is_fatal() {
        return Err(Error::Broker {
            topic: topic.to_owned(),
            partition: -1,
            code: t.error,
            message: None,
        });
    }
    if t.error != ErrorCode::NONE || t.partitions.is_empty() {
        return Ok(None);
    }
    let count = t.partitions.last_key_value().map_or(0, |(p, _)| *p as usize + 1);
    Ok(Some((count, t.id)))
}

/// The topic's partitions that have a leader (for a new sticky partition: not per record).
fn with_leader(metadata: &Metadata, topic: &str) -> Vec<i32> {
    metadata.topics.get(topic).map_or_else(Vec::new, |t| {
        t.partitions
            .values()
            .filter(|p| p.leader >= 0)
            .map(|p| p.partition)
            .collect()
    })
}

fn too_large(size: usize, max: usize, setting: &'static str) -> Error {
    Error::RecordTooLarge { size, max, setting }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
