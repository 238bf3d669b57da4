//! Failure handling as the seed articles do it, without a second client: a record whose processing
//! fails is tried again in place after a backoff while it looks transient, and written to a
//! dead-letter topic when it is poison or out of attempts. The application decides which is which
//! ([`Classify`]).
//!
//! The rules [`FailureHandling::handle`] keeps:
//! - An offset is stored (for [`Consumer::commit_stored`]) only once its record is dealt with:
//!   processed, or dead-lettered **and acknowledged** by the broker. A crash consumes the record again;
//!   nothing is skipped.
//! - A partition's records are dealt with in order. A record to retry is sought back to and its
//!   partition paused for the backoff (doubling per attempt); the records after it in the batch are
//!   left for later, and other partitions go on meanwhile.
//! - A dead letter that cannot be written is an error ([`PatternError::DeadLetter`]) and its record is
//!   sought back to, so the next poll returns it again.
//!
//! Call [`FailureHandling::resume_due`] before every poll (it resumes partitions whose backoff passed)
//! and commit with [`Consumer::commit_stored`] (with `enable.auto.commit=false`).
//!
//! Not here yet: retry topics with delays (`topic.retry.N`), schema-registry deserialisers.

mod dead_letter;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::time::{Duration, Instant};

pub use dead_letter::{DeadLetters, headers};

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
    /// Records that failed and wait for another attempt.
    pub retrying: usize,
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
    waiting: BTreeMap<TopicPartition, Instant>,
}

impl<C> FailureHandling<C> {
    /// Failures classified by `classify`, retried by `policy`, dead letters through `dead_letters`.
    pub fn new(dead_letters: DeadLetters, classify: C, policy: RetryPolicy) -> Self {
        Self {
            dead_letters,
            classify,
            policy,
            attempts: HashMap::new(),
            waiting: BTreeMap::new(),
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
        self.waiting.retain(|tp, _| assigned.contains(tp));
        self.attempts.retain(|tp, _| assigned.contains(tp));
        let now = Instant::now();
        let due: Vec<TopicPartition> = self
            .waiting
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !due.is_empty() {
            consumer.resume(&due)?;
            for tp in &due {
                self.waiting.remove(tp);
            }
        }
        Ok(())
    }

    /// When the next paused partition is due (poll no longer than until then).
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.values().min().copied()
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
            if self.waiting.contains_key(tp) {
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
                    consumer.seek(tp, record.offset())?;
                    consumer.pause(std::slice::from_ref(tp))?;
                    self.waiting
                        .insert(tp.clone(), Instant::now() + self.policy.wait_after(attempt));
                    handled.retrying += 1;
                    break;
                }
                let class = std::any::type_name::<E>();
                if let Err(source) = self.dead_letters.send(record, &error, class, attempt).await {
                    consumer.seek(tp, record.offset())?;
                    return Err(PatternError::DeadLetter {
                        partition: tp.clone(),
                        offset: record.offset(),
                        source,
                    });
                }
                tracing::warn!(partition = %tp, offset = record.offset(), attempt, %error, topic = self.dead_letters.topic(), "record dead-lettered");
                consumer.store_offset(record)?;
                self.attempts.remove(tp);
                handled.dead_lettered += 1;
            }
        }
        Ok(handled)
    }
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
