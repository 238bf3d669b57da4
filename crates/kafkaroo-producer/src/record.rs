//! What the application sends and what it gets back. A record is borrowed: `send` copies it into its
//! batch, so nothing of it is kept and nothing is allocated for it. Delivery futures of one batch share
//! one outcome, so waiting for a record allocates nothing either.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::Error;

/// A header: key and value (`None` = null). Keys may repeat; order is kept.
pub type Header<'a> = (&'a str, Option<&'a [u8]>);

/// A record to send. Build with [`ProducerRecord::new`] and the setters.
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition; `None` lets the partitioner choose (murmur2 of the key, or sticky).
    pub partition: Option<i32>,
    /// The key (`None` = null).
    pub key: Option<&'a [u8]>,
    /// The value (`None` = null, a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header<'a>],
    /// Milliseconds since the epoch; `None` = the time of `send` (CreateTime).
    pub timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// An empty record for `topic`: null key and value, no headers.
    pub fn new(topic: &'a str) -> Self {
        Self {
            topic,
            partition: None,
            key: None,
            value: None,
            headers: &[],
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: &'a [u8]) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [Header<'a>]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    pub(crate) fn header_iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + Clone + 'a {
        self.headers.iter().map(|(k, v)| (k.as_bytes(), *v))
    }
}

/// Where an acknowledged record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's time under LogAppendTime.
    pub timestamp: i64,
}

/// What the broker answered for a whole batch.
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    pub(crate) base_offset: i64,
    /// Set when the topic uses LogAppendTime.
    pub(crate) log_append_time: Option<i64>,
}

#[derive(Debug, Default)]
struct OutcomeState {
    result: Option<Result<Acked, Error>>,
    /// One slot per record of the batch, by index.
    wakers: Vec<Option<Waker>>,
}

/// The shared outcome of one batch, completed once.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    state: Mutex<OutcomeState>,
}

impl BatchOutcome {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<Self> {
        Arc::new(Self {
            topic,
            partition,
            state: Mutex::new(OutcomeState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutcomeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes the batch; later calls are ignored.
    pub(crate) fn complete(&self, result: Result<Acked, Error>) {
        let wakers = {
            let mut state = self.lock();
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            std::mem::take(&mut state.wakers)
        };
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }
}

/// Resolves when the record is acknowledged (its partition, offset and timestamp) or has failed.
/// Dropping it does not cancel the record.
#[derive(Debug)]
#[must_use = "a DeliveryFuture does nothing unless awaited; drop it to ignore the outcome"]
pub struct DeliveryFuture {
    outcome: Arc<BatchOutcome>,
    index: u32,
    timestamp: i64,
}

impl DeliveryFuture {
    pub(crate) fn new(outcome: Arc<BatchOutcome>, index: u32, timestamp: i64) -> Self {
        Self {
            outcome,
            index,
            timestamp,
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.outcome.lock();
        match &state.result {
            Some(Ok(acked)) => Poll::Ready(Ok(RecordMetadata {
                topic: this.outcome.topic.clone(),
                partition: this.outcome.partition,
                // A duplicate the broker did not place (base offset -1) has no offset to report.
                offset: if acked.base_offset < 0 {
                    -1
                } else {
                    acked.base_offset.saturating_add(i64::from(this.index))
                },
                timestamp: acked.log_append_time.unwrap_or(this.timestamp),
            })),
            Some(Err(e)) => Poll::Ready(Err(e.clone())),
            None => {
                let i = this.index as usize;
                if state.wakers.len() <= i {
                    state.wakers.resize(i + 1, None);
                }
                match &mut state.wakers[i] {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}
