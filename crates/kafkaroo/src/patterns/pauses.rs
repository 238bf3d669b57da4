//! Pause-until and resume, shared by in-place backoff ([`FailureHandling`](super::FailureHandling))
//! and retry topics ([`RetryTopics`](super::RetryTopics)): a partition is sought back to the record
//! that must wait and paused until a given instant; [`Pauses::resume_due`] resumes it once the
//! instant has passed.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::consumer::Consumer;
use crate::error::Error;
use crate::record::TopicPartition;

/// Partitions paused until an instant.
#[derive(Debug, Default)]
pub(crate) struct Pauses {
    until: BTreeMap<TopicPartition, Instant>,
}

impl Pauses {
    /// Seeks `tp` back to `offset` (so that record comes again) and pauses it until `at`.
    pub(crate) fn pause_until(
        &mut self,
        consumer: &mut Consumer,
        tp: &TopicPartition,
        offset: i64,
        at: Instant,
    ) -> Result<(), Error> {
        consumer.seek(tp, offset)?;
        consumer.pause(std::slice::from_ref(tp))?;
        self.until.insert(tp.clone(), at);
        Ok(())
    }

    /// Resumes the partitions whose instant passed, and forgets partitions no longer assigned (a
    /// rebalance took them: their new owner starts from the committed offset).
    pub(crate) fn resume_due(&mut self, consumer: &mut Consumer) -> Result<(), Error> {
        let assigned = consumer.assignment();
        self.until.retain(|tp, _| assigned.contains(tp));
        let now = Instant::now();
        let due: Vec<TopicPartition> = self
            .until
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !due.is_empty() {
            consumer.resume(&due)?;
            for tp in &due {
                self.until.remove(tp);
            }
        }
        Ok(())
    }

    /// Whether `tp` is paused (its records in a batch come again later).
    pub(crate) fn contains(&self, tp: &TopicPartition) -> bool {
        self.until.contains_key(tp)
    }

    /// The earliest instant a paused partition is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.until.values().min().copied()
    }

    /// How many partitions are paused.
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}
