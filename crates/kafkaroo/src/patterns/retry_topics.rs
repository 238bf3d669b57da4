//! Non-blocking retries through retry topics (`<topic>.retry.1`, `.retry.2`, ...), each with its own
//! delay, then the dead-letter topic. See [`RetryTopics`].

use std::fmt::Display;
use std::time::{Duration, Instant};

use super::dead_letter::{Origin, send_copy};
use super::{Classify, DeadLetters, Handled, PatternError, Pauses, Verdict, dead_letter};
use crate::consumer::Consumer;
use crate::error::Error;
use crate::record::{ConsumerRecord, PollBatch, TopicPartition};
use crate::telemetry::unix_millis;

/// The headers a retry record carries after the original record's own (values are UTF-8 text, numbers
/// decimal). A record moving on to the next retry topic or the dead-letter topic drops the ones it
/// came with and gets fresh ones; the `original` ones carry through unchanged.
pub mod retry_headers {
    /// What every retry header name starts with.
    pub const PREFIX: &str = "kafkaroo.retry.";
    /// When the record is due, milliseconds since the epoch.
    pub const DUE: &str = "kafkaroo.retry.due";
    /// The attempt it is due for (the first consumption from the main topic is attempt 1).
    pub const ATTEMPT: &str = "kafkaroo.retry.attempt";
    /// The topic it was consumed from first.
    pub const ORIGINAL_TOPIC: &str = "kafkaroo.retry.original.topic";
    /// Its partition there.
    pub const ORIGINAL_PARTITION: &str = "kafkaroo.retry.original.partition";
    /// Its offset there.
    pub const ORIGINAL_OFFSET: &str = "kafkaroo.retry.original.offset";
    /// Its timestamp there, milliseconds since the epoch.
    pub const ORIGINAL_TIMESTAMP: &str = "kafkaroo.retry.original.timestamp";
    /// The message (`Display`) of the failure that sent it here.
    pub const ERROR_MESSAGE: &str = "kafkaroo.retry.error.message";
}

/// The name of retry topic `stage` (1-based) of `topic`.
pub fn retry_topic(topic: &str, stage: usize) -> String {
    format!("{topic}.retry.{stage}")
}

/// The main topic and the stage of `topic`: `("orders", 2)` for `orders.retry.2` when there are at
/// least 2 retry topics, `(topic, 0)` for a main topic.
fn stage_of(topic: &str, stages: usize) -> (&str, usize) {
    let parsed = topic.rsplit_once(".retry.").and_then(|(main, n)| {
        let n: usize = n.parse().ok()?;
        // Digits only, as `retry_topic` writes them ("+1" and "01" parse too).
        (n.to_string() == topic[main.len() + 7..] && (1..=stages).contains(&n) && !main.is_empty())
            .then_some((main, n))
    });
    parsed.unwrap_or((topic, 0))
}

/// Where a record of stage `stage` goes after a failure judged `verdict`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// To retry topic `stage` (1-based).
    Retry(usize),
    DeadLetter,
}

fn next(stage: usize, stages: usize, verdict: Verdict) -> Next {
    match verdict {
        Verdict::Retry if stage < stages => Next::Retry(stage + 1),
        _ => Next::DeadLetter,
    }
}

/// The headers of a retry record due at `due` for attempt `attempt`.
fn encode(origin: &Origin, attempt: u32, due: i64, error: &str) -> Vec<(&'static str, String)> {
    vec![
        (retry_headers::DUE, due.to_string()),
        (retry_headers::ATTEMPT, attempt.to_string()),
        (retry_headers::ORIGINAL_TOPIC, origin.topic.clone()),
        (retry_headers::ORIGINAL_PARTITION, origin.partition.to_string()),
        (retry_headers::ORIGINAL_OFFSET, origin.offset.to_string()),
        (retry_headers::ORIGINAL_TIMESTAMP, origin.timestamp.to_string()),
        (retry_headers::ERROR_MESSAGE, error.to_owned()),
    ]
}

/// What a retry record's headers say; the last header of a name counts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoded {
    /// When it is due, or why that is unknown.
    due: Result<i64, String>,
    /// Where it was consumed first, if all four headers are there and well-formed.
    origin: Option<Origin>,
}

fn decode<'a>(headers: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> Decoded {
    let headers: Vec<_> = headers.into_iter().collect();
    let text = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v.and_then(|v| std::str::from_utf8(v).ok()))
    };
    let number = |name: &str| -> Result<i64, String> {
        match text(name) {
            None => Err(format!("no {name} header")),
            Some(None) => Err(format!("{name} is null or not UTF-8")),
            Some(Some(t)) => t
                .trim()
                .parse()
                .map_err(|_| format!("{name} is not a number: {t:?}")),
        }
    };
    let origin = (|| {
        Some(Origin {
            topic: text(retry_headers::ORIGINAL_TOPIC)??.to_owned(),
            partition: i32::try_from(number(retry_headers::ORIGINAL_PARTITION).ok()?).ok()?,
            offset: number(retry_headers::ORIGINAL_OFFSET).ok()?,
            timestamp: number(retry_headers::ORIGINAL_TIMESTAMP).ok()?,
        })
    })();
    Decoded {
        due: number(retry_headers::DUE),
        origin,
    }
}

/// Non-blocking retries: a record whose processing failed transiently is written to the next retry
/// topic with a due time, and its partition goes on. The rules [`RetryTopics::handle`] keeps:
///
/// - A main topic's record that fails with [`Verdict::Retry`] goes to `<topic>.retry.1`; one from
///   `<topic>.retry.N` to `.retry.N+1`, and from the last retry topic, or with
///   [`Verdict::DeadLetter`] from anywhere, to the dead-letter topic. The copy keeps the key (so a
///   key's retries keep their order), the value and the application's headers in order, and gets the
///   [`retry_headers`]: due time, attempt, and where it was consumed first. A dead letter names that
///   first place too, not the retry topic.
/// - The source offset is stored (for [`Consumer::commit_stored`]) only once its record is processed,
///   or its retry record or dead letter is **acknowledged**. A write that fails is an error
///   ([`PatternError::RetryTopic`], [`PatternError::DeadLetter`]) and its record is sought back to.
/// - A retry topic's record that is not due yet is sought back to and its partition paused until it
///   is (at most that topic's delay from now, against a clock ahead of ours). A retry topic's records
///   are in due order (written in failure order with one delay), so the ones after it wait as well,
///   and no record is processed before its due time.
/// - A retry record whose due header is missing or garbled is processed at once, with a warning: its
///   topic says where it goes next, so only the wait is lost, and an early attempt is what a retry
///   costs anyway, where dead-lettering it would need a person for a record that may well succeed.
///   Without well-formed `original` headers its own topic, partition and offset stand in.
///
/// A topic is a retry topic by its name: `<main>.retry.N` with `N` from 1 to the number of delays.
/// The application creates the retry topics ([`RetryTopics::topics`]) and subscribes one consumer to
/// the main and the retry topics: pauses are per partition, so a waiting retry topic holds up no main
/// partition, and one poll loop, one commit and one group are simpler to run and reason about than a
/// consumer per topic. Separate consumers (in one group or several) work as well: the handler goes by
/// each record's topic. Call [`RetryTopics::resume_due`] before every poll, poll no longer than until
/// [`RetryTopics::next_due`], and commit with [`Consumer::commit_stored`] (with
/// `enable.auto.commit=false`).
#[derive(Debug)]
pub struct RetryTopics<C> {
    dead_letters: DeadLetters,
    classify: C,
    delays: Vec<Duration>,
    waiting: Pauses,
}

impl<C> RetryTopics<C> {
    /// Failures classified by `classify`; retry topic `N` waits `delays[N - 1]`; dead letters (and retry
    /// records, through the same producer) through `dead_letters`. No delays: poison and transient
    /// failures alike are dead-lettered.
    pub fn new(dead_letters: DeadLetters, classify: C, delays: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            dead_letters,
            classify,
            delays: delays.into_iter().collect(),
            waiting: Pauses::default(),
        }
    }

    /// The retry topics of `main`, in order: create them, and subscribe to them with `main`.
    pub fn topics(&self, main: &str) -> Vec<String> {
        (1..=self.delays.len()).map(|n| retry_topic(main, n)).collect()
    }

    /// The dead-letter writer.
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Resumes the partitions whose first record is due, and forgets partitions no longer assigned.
    /// Call before each poll.
    pub fn resume_due(&mut self, consumer: &mut Consumer) -> Result<(), Error> {
        self.waiting.resume_due(consumer)
    }

    /// When the next paused partition is due (poll no longer than until then).
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.next_due()
    }

    /// Retry partitions paused until their first record is due.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Runs `process` on each record of `batch` that is due, partition by partition in order, and
    /// deals with its failures (see [`RetryTopics`]).
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
        let stages = self.delays.len();
        for (tp, records) in batch.partitions() {
            if self.waiting.contains(tp) {
                continue; // sought back: these records come again
            }
            let (main, stage) = stage_of(&tp.topic, stages);
            for record in records {
                let Some(origin) = self.origin_if_due(consumer, tp, stage, record)? else {
                    handled.delayed += 1;
                    break; // sought back and paused until it is due
                };
                let error = match process(record).await {
                    Ok(()) => {
                        consumer.store_offset(record)?;
                        handled.processed += 1;
                        continue;
                    }
                    Err(error) => error,
                };
                let attempt = stage as u32 + 1;
                match next(stage, stages, self.classify.classify(&error)) {
                    Next::Retry(to) => {
                        let topic = retry_topic(main, to);
                        let due = unix_millis().saturating_add(self.delays[to - 1].as_millis() as i64);
                        let headers = encode(&origin, attempt + 1, due, &error.to_string());
                        let sent = send_copy(self.dead_letters.producer(), &topic, record, &headers).await;
                        if let Err(source) = sent {
                            consumer.seek(tp, record.offset())?;
                            return Err(PatternError::RetryTopic {
                                partition: tp.clone(),
                                offset: record.offset(),
                                topic,
                                source,
                            });
                        }
                        tracing::debug!(partition = %tp, offset = record.offset(), attempt, %error, %topic, due, "processing failed; record written to a retry topic");
                        handled.retrying += 1;
                    }
                    Next::DeadLetter => {
                        dead_letter(&self.dead_letters, consumer, record, &origin, &error, attempt).await?;
                        handled.dead_lettered += 1;
                    }
                }
                consumer.store_offset(record)?;
            }
        }
        Ok(handled)
    }

    /// Where `record` (of retry stage `stage`, 0 for a main topic) was consumed first, if it is due;
    /// if it is not, seeks back to it and pauses its partition until it is, and returns `None`.
    fn origin_if_due(
        &mut self,
        consumer: &mut Consumer,
        tp: &TopicPartition,
        stage: usize,
        record: &ConsumerRecord,
    ) -> Result<Option<Origin>, Error> {
        if stage == 0 {
            return Ok(Some(Origin::of(record)));
        }
        let decoded = decode(record.headers().map(|h| (h.key(), h.value())));
        match decoded.due {
            Ok(due) => {
                let wait = due.saturating_sub(unix_millis());
                if wait > 0 {
                    // Never longer than this topic's delay, against a writer's clock ahead of ours.
                    let wait = Duration::from_millis(wait as u64).min(self.delays[stage - 1]);
                    let at = Instant::now() + wait;
                    self.waiting.pause_until(consumer, tp, record.offset(), at)?;
                    return Ok(None);
                }
            }
            Err(why) => {
                tracing::warn!(partition = %tp, offset = record.offset(), %why, "retry record without a due time; processing it now");
            }
        }
        Ok(Some(decoded.origin.unwrap_or_else(|| {
            tracing::warn!(partition = %tp, offset = record.offset(), "retry record without its original topic, partition, offset and timestamp; naming this one");
            Origin::of(record)
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_topics_are_told_by_name() {
        assert_eq!(stage_of("orders", 2), ("orders", 0));
        assert_eq!(stage_of("orders.retry.1", 2), ("orders", 1));
        assert_eq!(stage_of("orders.retry.2", 2), ("orders", 2));
        assert_eq!(stage_of("a.retry.b.retry.2", 2), ("a.retry.b", 2));
        // Beyond the configured stages, malformed or empty: a main topic.
        for t in [
            "orders.retry.3",
            "orders.retry.0",
            "orders.retry.01",
            "orders.retry.+1",
            "orders.retry.",
            ".retry.1",
            "orders.retry.x",
        ] {
            assert_eq!(stage_of(t, 2), (t, 0), "{t}");
        }
        assert_eq!(retry_topic("orders", 2), "orders.retry.2");
        assert_eq!(stage_of(&retry_topic("orders", 2), 2), ("orders", 2));
    }

    #[test]
    fn the_next_topic_is_the_next_stage_then_the_dead_letter_topic() {
        assert_eq!(next(0, 2, Verdict::Retry), Next::Retry(1));
        assert_eq!(next(1, 2, Verdict::Retry), Next::Retry(2));
        assert_eq!(next(2, 2, Verdict::Retry), Next::DeadLetter);
        assert_eq!(next(0, 0, Verdict::Retry), Next::DeadLetter);
        for stage in 0..=2 {
            assert_eq!(next(stage, 2, Verdict::DeadLetter), Next::DeadLetter);
        }
    }

    fn origin() -> Origin {
        Origin {
            topic: "orders".into(),
            partition: 3,
            offset: 42,
            timestamp: 1_700_000_000_000,
        }
    }

    #[test]
    fn headers_round_trip() {
        let encoded = encode(&origin(), 2, 1_700_000_000_200, "down");
        assert!(encoded.iter().all(|(k, _)| k.starts_with(retry_headers::PREFIX)));
        assert!(encoded.contains(&(retry_headers::ATTEMPT, "2".into())));
        assert!(encoded.contains(&(retry_headers::ERROR_MESSAGE, "down".into())));
        let mut headers: Vec<(&[u8], Option<&[u8]>)> = vec![(b"trace", Some(b"t-1"))];
        headers.extend(encoded.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_bytes()))));
        assert_eq!(
            decode(headers),
            Decoded {
                due: Ok(1_700_000_000_200),
                origin: Some(origin())
            }
        );
    }

    #[test]
    fn the_last_header_of_a_name_counts() {
        let due = retry_headers::DUE.as_bytes();
        let decoded = decode([(due, Some(&b"1"[..])), (due, Some(&b"2"[..]))]);
        assert_eq!(decoded.due, Ok(2));
    }

    #[test]
    fn bad_headers_are_reported_not_panicked_on() {
        let due = retry_headers::DUE.as_bytes();
        let none = decode([]);
        assert_eq!(none.due, Err("no kafkaroo.retry.due header".into()));
        assert_eq!(none.origin, None);
        assert!(decode([(due, None)]).due.unwrap_err().contains("null"));
        assert!(
            decode([(due, Some(&[0xff][..]))])
                .due
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(
            decode([(due, Some(&b"soon"[..]))])
                .due
                .unwrap_err()
                .contains("\"soon\"")
        );
        assert!(
            decode([(due, Some(&b"99999999999999999999999"[..]))])
                .due
                .is_err()
        );
        // One original header garbled: no origin at all (not a mix of two records').
        let mut encoded = encode(&origin(), 2, 5, "e");
        for (k, v) in &mut encoded {
            if *k == retry_headers::ORIGINAL_PARTITION {
                *v = "3000000000".into(); // beyond i32
            }
        }
        let headers = encoded.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_bytes())));
        let decoded = decode(headers);
        assert_eq!((decoded.due, decoded.origin), (Ok(5), None));
    }
}
