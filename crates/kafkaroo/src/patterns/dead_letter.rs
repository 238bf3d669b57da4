//! Dead letters: a record processing gave up on, written to a dead-letter topic as it was (key, value,
//! headers in order) with headers saying where it came from and why it failed. A record from a retry
//! topic keeps its application headers but not the `kafkaroo.retry.*` ones, and its dead letter names
//! the topic, partition and offset it was consumed from first.

use std::borrow::Cow;
use std::fmt::Display;

use kafkaroo_producer::{Producer, ProducerRecord, RecordMetadata};

use super::retry_headers;
use crate::record::ConsumerRecord;
use crate::telemetry::unix_millis;

/// The headers a dead letter carries after the original record's own (values are UTF-8 text).
pub mod headers {
    /// The topic the record was consumed from.
    pub const ORIGINAL_TOPIC: &str = "kafkaroo.dlt.original.topic";
    /// Its partition (decimal).
    pub const ORIGINAL_PARTITION: &str = "kafkaroo.dlt.original.partition";
    /// Its offset (decimal).
    pub const ORIGINAL_OFFSET: &str = "kafkaroo.dlt.original.offset";
    /// Its timestamp, milliseconds since the epoch (decimal).
    pub const ORIGINAL_TIMESTAMP: &str = "kafkaroo.dlt.original.timestamp";
    /// The consuming group (absent without a `group.id`).
    pub const CONSUMER_GROUP: &str = "kafkaroo.dlt.consumer.group";
    /// The error's Rust type name.
    pub const ERROR_CLASS: &str = "kafkaroo.dlt.error.class";
    /// The error's message (`Display`).
    pub const ERROR_MESSAGE: &str = "kafkaroo.dlt.error.message";
    /// How many times processing was tried (decimal).
    pub const ATTEMPTS: &str = "kafkaroo.dlt.attempts";
    /// When the record was dead-lettered, milliseconds since the epoch (decimal).
    pub const FAILED_AT: &str = "kafkaroo.dlt.failed.at";
}

/// Writes dead letters to one topic through a [`Producer`].
#[derive(Debug)]
pub struct DeadLetters {
    producer: Producer,
    topic: String,
    group: Option<String>,
}

impl DeadLetters {
    /// Dead letters go to `topic`; `group` (the consumer's `group.id`) is recorded in each.
    pub fn new(producer: Producer, topic: impl Into<String>, group: Option<String>) -> Self {
        Self {
            producer,
            topic: topic.into(),
            group,
        }
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The producer, to flush or close it.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Writes `record` to the dead-letter topic with the failure's headers, keyed as the original
    /// (so a key's dead letters stay in order), and resolves once the broker acknowledged it: only then
    /// may the source offset be committed.
    pub async fn send<E: Display + ?Sized>(
        &self,
        record: &ConsumerRecord,
        error: &E,
        error_class: &str,
        attempts: u32,
    ) -> Result<RecordMetadata, kafkaroo_producer::Error> {
        self.send_from(record, &Origin::of(record), error, error_class, attempts)
            .await
    }

    /// [`send`](Self::send) for a record first consumed at `origin` (a retry topic's record: its
    /// dead letter names the topic, partition and offset it failed at first).
    pub(crate) async fn send_from<E: Display + ?Sized>(
        &self,
        record: &ConsumerRecord,
        origin: &Origin,
        error: &E,
        error_class: &str,
        attempts: u32,
    ) -> Result<RecordMetadata, kafkaroo_producer::Error> {
        let mut text = vec![
            (headers::ORIGINAL_TOPIC, origin.topic.clone()),
            (headers::ORIGINAL_PARTITION, origin.partition.to_string()),
            (headers::ORIGINAL_OFFSET, origin.offset.to_string()),
            (headers::ORIGINAL_TIMESTAMP, origin.timestamp.to_string()),
            (headers::ERROR_CLASS, error_class.to_owned()),
            (headers::ERROR_MESSAGE, error.to_string()),
            (headers::ATTEMPTS, attempts.to_string()),
            (headers::FAILED_AT, unix_millis().to_string()),
        ];
        if let Some(group) = &self.group {
            text.push((headers::CONSUMER_GROUP, group.clone()));
        }
        send_copy(&self.producer, &self.topic, record, &text).await
    }
}

/// Where a record was consumed first: its main topic's partition, offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
}

impl Origin {
    /// `record` itself.
    pub(crate) fn of(record: &ConsumerRecord) -> Self {
        Self {
            topic: record.topic().to_owned(),
            partition: record.partition(),
            offset: record.offset(),
            timestamp: record.timestamp(),
        }
    }
}

/// Writes a copy of `record` to `topic` (its key, value and headers in order, less the retry
/// bookkeeping headers `kafkaroo.retry.*`, then `extra`) and resolves once the broker acknowledged it.
pub(crate) async fn send_copy(
    producer: &Producer,
    topic: &str,
    record: &ConsumerRecord,
    extra: &[(&str, String)],
) -> Result<RecordMetadata, kafkaroo_producer::Error> {
    // The original headers first, in order (a key that is not UTF-8 is kept, lossily).
    let original: Vec<(Cow<'_, str>, Option<&[u8]>)> = record
        .headers()
        .map(|h| (String::from_utf8_lossy(h.key()), h.value()))
        .filter(|(k, _)| !k.starts_with(retry_headers::PREFIX))
        .collect();
    let mut all: Vec<(&str, Option<&[u8]>)> = original.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
    all.extend(extra.iter().map(|(k, v)| (*k, Some(v.as_bytes()))));
    let mut out = ProducerRecord::new(topic).headers(&all);
    if let Some(key) = record.key() {
        out = out.key(key);
    }
    if let Some(value) = record.value() {
        out = out.value(value);
    }
    producer.send(out).await?.await
}
