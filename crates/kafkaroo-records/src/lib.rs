//! Zero-copy decoder, and encoder, for Kafka record batches (message format v2, magic 2).
//!
//! # Layout
//!
//! A partition's `records` bytes in a Fetch response are a concatenation of batches:
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 (=2) | crc u32
//! | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64
//! | producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32
//! | records...            <- only this region is compressed, as a whole
//! ```
//!
//! CRC-32C covers `attributes..end`. Each record is `length varint | attributes i8 |
//! timestampDelta varlong | offsetDelta varint | key | value | headers`, all varints zigzag.
//!
//! # Use
//!
//! [`BatchReader`] iterates [`RecordBatch`]es (checking CRCs); [`RecordBatch::records`] iterates
//! [`Record`]s lazily, and [`Records::next_ref`] lends [`RecordRef`]s without even a refcount
//! bump per record (the fastest path: ~1.5x the owned iteration for small records). Control batches (transaction markers) yield no records; feed every batch to
//! an [`AbortedTransactionFilter`] under `read_committed`. Always resume fetching at
//! [`RecordBatch::next_offset`], and skip records below the fetch offset in the first batch
//! (brokers return whole batches).
//!
//! [`BatchBuilder`] encodes batches for producers: records appended to one buffer, then the header,
//! the compressed region and the CRC-32C written at once; every codec is pure Rust and writes the
//! framing the Java producer writes.
//!
//! # Zero-copy contract
//!
//! Uncompressed records slice the input `Bytes` directly; compressed batches are decompressed
//! once into one buffer per batch that their records slice. Nothing is allocated per record, but
//! **one retained [`Record`] (or key/value `Bytes`) keeps its whole fetch buffer (or batch
//! buffer) alive**. Use [`Record::detach`], or copy what you keep, for long-lived data.
//!
//! # Compression
//!
//! Each codec is a cargo feature, all on by default and pure Rust (no C compiler needed):
//! - `compression-gzip`: flate2/miniz_oxide, several concatenated members accepted.
//! - `compression-snappy`: snappy-java's xerial framing (what the Java producer writes) and plain
//!   raw snappy (other clients), like Java's `SnappyInputStream`.
//! - `compression-lz4`: the LZ4 frame format, parsed here; blocks decoded by lz4_flex straight into
//!   one buffer (linked or independent blocks, concatenated and skippable frames). The optional
//!   xxHash32 header/block/content checksums are not verified: the batch CRC-32C already covers
//!   those bytes end to end.
//! - `compression-zstd`: ruzstd (vendored with faster decoding, see vendor/README.md), streaming
//!   with the cap, decoder state reused per thread; frame windows up to `max(cap, 8 MiB)` are
//!   accepted. ~0.5 GB/s best, ~0.3-0.4 GB/s median on a shared 2-vCPU machine
//!   (benches/README.md); the opt-in `zstd-c` feature switches to the C library (~0.9 GB/s,
//!   needs a C compiler).
//!
//! A codec compiled out yields [`DecodeError::CompressionDisabled`]; ids 5-7 yield
//! [`DecodeError::UnknownCompression`].
//!
//! # Robustness
//!
//! Any byte input yields records or a [`DecodeError`], never a panic or hang, and no allocation
//! beyond the input size or [`DecodeOptions::max_decompressed_batch_bytes`]. An incomplete
//! trailing batch is not an error: iteration stops and [`BatchReader::truncated_tail`] reports it.
//! Legacy message sets (magic 0/1, removed in Kafka 4.0 by KIP-724) are rejected with
//! [`DecodeError::UnsupportedMagic`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod builder;
mod codec;
mod control;
mod error;
mod header;
mod record;
mod txn;
mod varint;

#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(test, feature = "__test-encoder"))]
#[doc(hidden)]
pub mod test_encoder;

pub use batch::{
    BatchReader, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, DecodeOptions, RecordBatch, TruncatedTail,
};
pub use builder::{BatchBuilder, EncodeError, ProducerState, compress_into, set_producer_state};
pub use codec::decompress;
pub use control::{ControlRecord, ControlType, EndTxnMarker};
pub use error::{DecodeError, RecordErrorKind};
pub use header::{Attributes, BATCH_HEADER_LEN, BatchHeader, Compression, LOG_OVERHEAD, TimestampType};
pub use record::{Header, Headers, Record, RecordRef, Records};
pub use txn::{AbortedTransactionFilter, BatchSummary, BatchVerdict};

#[cfg(test)]
mod tests;
