//! A pure-Rust Apache Kafka producer: idempotent by default, every codec without a C compiler, and the
//! Java producer's partitioners, so a key lands where a Java (or librdkafka `murmur2_random`) producer
//! would put it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafkaroo_producer::Error> {
//! use std::time::Duration;
//! use kafkaroo_producer::{Producer, ProducerConfig, ProducerRecord};
//!
//! let config = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("compression.type", "zstd"),
//! ])?;
//! let producer = Producer::new(config).await?;
//! let headers = [("trace", Some(&b"abc"[..])), ("trace", Some(&b"def"[..]))];
//! let delivery = producer
//!     .send(ProducerRecord::new("orders").key(b"order-17").value(b"{}").headers(&headers))
//!     .await?;
//! let written = delivery.await?;
//! println!("partition {} offset {}", written.partition, written.offset);
//! producer.close(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! # How a record travels
//!
//! `send` picks the partition (murmur2 of the key, the sticky partition without one, or the record's
//! own), takes `buffer.memory` room when it starts a batch (waiting up to `max.block.ms`: the
//! back-pressure), and copies the record into the partition's open batch (`kafkaroo-records`'
//! `BatchBuilder`). A background task sends a batch once it holds `batch.size` bytes or `linger.ms`
//! passed, one request per leader with at most one batch per partition, up to
//! `max.in.flight.requests.per.connection` requests per broker, at the highest Produce version (3+)
//! the broker offers.
//!
//! With `enable.idempotence` (the default, with `acks=all`) every batch carries the producer id,
//! epoch and its partition's sequence number: a retry after a lost answer is recognised by the broker
//! and not written twice, and retried batches go out in their original order. Retries wait by the
//! client's one backoff (`retry.backoff.ms` doubling to `retry.backoff.max.ms`) and end at
//! `delivery.timeout.ms`. The sequence rules are in `idempotence.rs`.
//!
//! # Not yet
//!
//! Transactions; `acks=0`; splitting a batch the broker refuses as too large (the records fail with
//! MESSAGE_TOO_LARGE); the adaptive part of KIP-794 (the sticky partition is chosen uniformly among
//! partitions with a leader).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod accumulator;
mod config;
mod error;
mod idempotence;
mod lane;
mod partitioner;
mod producer;
mod record;
mod sender;

pub use config::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use error::Error;
pub use kafkaroo_records::Compression;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::Producer;
pub use record::{DeliveryFuture, Header, ProducerRecord, RecordMetadata};
