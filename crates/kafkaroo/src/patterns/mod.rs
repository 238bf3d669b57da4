//! Failure handling as the seed articles do it: a record whose processing fails is tried again while
//! the failure looks transient, and written to a dead-letter topic when it is poison or out of
//! attempts. The application decides which is which ([`Classify`]). Two ways to try again:
//!
//! - [`FailureHandling`]: in place, after a backoff. Simple, and a key's records stay in order, but
//!   the failing record's partition waits meanwhile.
//! - [`RetryTopics`]: through retry topics (`<topic>.retry.1`, `.retry.2`, ...), each with its own
//!   delay. The main partition goes on at once; a retried record may be processed after later records
//!   of its key. Its rules are on [`RetryTopics`].
//!
//! The rules both keep:
//! - An offset is stored (for [`Consumer::commit_stored`]) only once its record is dealt with:
//!   processed, or written to a retry topic or the dead-letter topic **and acknowledged** by the
//!   broker. A crash consumes the record again; nothing is skipped.
//! - A partition's records are dealt with in order. A record that must wait (a backoff, or a retry
//!   record not due yet) is sought back to and its partition paused until then; the records after it
//!   in the batch are left for later, and other partitions go on meanwhile. Both share one
//!   pause-until/resume.
//! - A dead letter or retry record that cannot be written is an error ([`PatternError::DeadLetter`],
//!   [`PatternError::RetryTopic`]) and its record is sought back to, so the next poll returns it again.
//!
//! Call `resume_due` before every poll (it resumes partitions whose wait is over) and commit with
//! [`Consumer::commit_stored`] (with `enable.auto.commit=false`).
//!
//! Records in the Confluent schema-registry wire format: `kafkaroo::schema` (feature `schema-registry`),
//! whose errors classify themselves with `SchemaError::verdict`.
//!
//! Not here yet: in-place retries before a retry topic.

mod dead_letter;
mod pauses;
mod retry_topics;

use std::collections::HashMap;
use std::fmt::Display;
use std::time::{Duration, Instant};

pub use dead_letter::{DeadLetters, headers};
pub use retry_topics::{RetryTopics, retry_headers, retry_topic};

use dead_letter::Origin;
use pauses::Pauses;

use crate::consumer::Consumer;
use crate::error::Error;
use crate::record::{ConsumerRecord, PollBatch, TopicPartition};

/// What to do with a record whose processing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transient: try the record again after the backoff, while attempts remain.
    Retry,
    /// Poison: write it to the dead-letter topic now.
    DeadLetter,
}

/// The application's rule for failures of type `E`.
pub trait Classify<E> {
    /// Whether `error` is worth another attempt.
    fn classify(&self, error: &E) -> Verdict;
}

impl<E, F: Fn(&E) -> Verdict> Classify<E> for F {
    fn classify(&self, error: &E) -> Verdict {
        self(error)
    }
}

/// How often and how patiently a transient failure is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last the record is dead-lettered.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each further one.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    fn wait_after(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        doubled.min(self.max_backoff)
    }
}

/// What [`FailureHandling::handle`] did with one polled batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// Records processed.
    pub processed: usize,
    /// Records written to the dead-letter topic (and acknowledged).
    pub dead_lettered: usize,
    /// Records that failed and wait for another attempt (with [`RetryTopics`]: written to a retry
    /// topic and acknowledged).
    pub retrying: usize,
    /// With [`RetryTopics`]: how often a retry partition was paused because its next record was not
    /// due yet.
    pub delayed: usize,
}

/// A failure of the pattern itself (not of the application's processing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Seeking, pausing or storing an offset failed.
    #[error(transparent)]
    Consumer(#[from] Error),
    /// A dead letter could not be written; its record was sought back to and comes again.
    #[error("writing the dead letter of {partition} offset {offset} failed: {source}")]
    DeadLetter {
        /// The record's partition.
        partition: TopicPartition,
        /// The record's offset.
        offset: i64,
        /// The producer's error.
        source: kafkaroo_producer::Error,
    },
    /// A retry record could not be written; its record was sought back to and comes again.
    #[error("writing {partition} offset {offset} to the retry topic {topic} failed: {source}")]
    RetryTopic {
        /// The record's partition.
        partition: TopicPartition,
        /// The record's offset.
        offset: i64,
        /// The retry topic.
        topic: String,
        /// The producer's error.
        source: kafkaroo_producer::Error,
    },
}

/// In-place retries with backoff, then dead letters. See the [module docs](self).
#[derive(Debug)]
pub struct FailureHandling<C> {
    dead_letters: DeadLetters,
    classify: C,
    policy: RetryPolicy,
    /// The record of each partition that failed last, and its failed attempts so far.
    attempts: HashMap<TopicPartition, (i64, u32)>,
    /// Partitions paused for a backoff, and when they are due.
    waiting: Pauses,
}

impl<C> FailureHandling<C> {
    /// Failures classified by `classify`, retried by `policy`, dead letters through `dead_letters`.
    pub fn new(dead_letters: DeadLetters, classify: C, policy: RetryPolicy) -> Self {
        Self {
            dead_letters,
            classify,
            policy,
            attempts: HashMap::new(),
            waiting: Pauses::default(),
        }
    }

    /// The dead-letter writer.
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Resumes the partitions whose backoff passed, and forgets partitions no longer assigned (a
    /// rebalance took them: their new owner starts from the committed offset). Call before each poll.
    pub fn resume_due(&mut self, consumer: &mut Consumer) -> Result<(), Error> {
        let assigned = consumer.assignment();
        self.attempts.retain(|tp, _| assigned.contains(tp));
        self.waiting.resume_due(consumer)
    }

    /// When the next paused partition is due (poll no longer than until then).
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.next_due()
    }

    /// Partitions waiting for a retry.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Runs `process` on each record of `batch`, partition by partition in order, and deals with its
    /// failures (see the [module docs](self)).
    pub async fn handle<E, F>(
        &mut self,
        consumer: &mut Consumer,
        batch: &PollBatch,
        mut process: F,
    ) -> Result<Handled, PatternError>
    where
        E: Display,
        C: Classify<E>,
        F: AsyncFnMut(&ConsumerRecord) -> Result<(), E>,
    {
        let mut handled = Handled::default();
        for (tp, records) in batch.partitions() {
            if self.waiting.contains(tp) {
                continue; // sought back: these records come again
            }
            for record in records {
                let error = match process(record).await {
                    Ok(()) => {
                        consumer.store_offset(record)?;
                        self.attempts.remove(tp);
                        handled.processed += 1;
                        continue;
                    }
                    Err(error) => error,
                };
                let attempt = match self.attempts.get(tp) {
                    Some((offset, n)) if *offset == record.offset() => n + 1,
                    _ => 1,
                };
                let verdict = self.classify.classify(&error);
                if verdict == Verdict::Retry && attempt < self.policy.max_attempts {
                    tracing::debug!(partition = %tp, offset = record.offset(), attempt, %error, "processing failed; retrying after the backoff");
                    self.attempts.insert(tp.clone(), (record.offset(), attempt));
                    let at = Instant::now() + self.policy.wait_after(attempt);
                    self.waiting.pause_until(consumer, tp, record.offset(), at)?;
                    handled.retrying += 1;
                    break;
                }
                let origin = Origin::of(record);
                dead_letter(&self.dead_letters, consumer, record, &origin, &error, attempt).await?;
                consumer.store_offset(record)?;
                self.attempts.remove(tp);
                handled.dead_lettered += 1;
            }
        }
        Ok(handled)
    }
}

/// Writes `record`'s dead letter (the record first consumed at `origin`) and waits for the broker's
/// acknowledgement; if that fails, seeks back to the record so the next poll returns it.
async fn dead_letter<E: Display>(
    dead_letters: &DeadLetters,
    consumer: &mut Consumer,
    record: &ConsumerRecord,
    origin: &Origin,
    error: &E,
    attempt: u32,
) -> Result<(), PatternError> {
    let class = std::any::type_name::<E>();
    let partition = TopicPartition::new(record.topic(), record.partition());
    if let Err(source) = dead_letters
        .send_from(record, origin, error, class, attempt)
        .await
    {
        consumer.seek(&partition, record.offset())?;
        return Err(PatternError::DeadLetter {
            partition,
            offset: record.offset(),
            source,
        });
    }
    tracing::warn!(%partition, offset = record.offset(), attempt, %error, topic = dead_letters.topic(), "record dead-lettered");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|a| p.wait_after(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(p.wait_after(40), Duration::from_millis(500), "no overflow");
    }
}
