//! Decode errors. Every variant carries the base offset of the batch it concerns so the caller
//! (which knows the topic and partition) can name exactly where the data went bad.

use std::fmt;

use crate::header::Compression;

/// Why a record batch or one of its records could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Magic byte other than 2. Kafka 4.0 removed message formats v0/v1 (KIP-724); we don't decode them.
    #[error("unsupported record batch magic {magic} at offset {offset} (only v2 is supported)")]
    UnsupportedMagic {
        /// The magic byte found.
        magic: i8,
        /// Base offset field of the batch.
        offset: i64,
    },
    /// The batch length field is negative or shorter than the fixed v2 header.
    #[error("invalid batch length {length} in batch at offset {offset}")]
    InvalidBatchLength {
        /// The `batchLength` field.
        length: i32,
        /// Base offset of the batch.
        offset: i64,
    },
    /// The stored CRC-32C does not match the batch contents.
    #[error("CRC-32C mismatch in batch at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// Base offset of the batch.
        offset: i64,
        /// CRC stored in the batch header.
        stored: u32,
        /// CRC computed over attributes..end.
        computed: u32,
    },
    /// Compression id 5..=7: not defined by Kafka.
    #[error("unknown compression codec id {codec_id} in batch at offset {offset}")]
    UnknownCompression {
        /// The low three attribute bits.
        codec_id: u8,
        /// Base offset of the batch.
        offset: i64,
    },
    /// The codec is known but its cargo feature is not enabled.
    #[error("{codec} compression is disabled in this build (batch at offset {offset})")]
    CompressionDisabled {
        /// The batch's codec.
        codec: Compression,
        /// Base offset of the batch.
        offset: i64,
    },
    /// The compressed records region is malformed.
    #[error("{codec} decompression failed in batch at offset {offset}: {reason}")]
    Decompression {
        /// The batch's codec.
        codec: Compression,
        /// Base offset of the batch.
        offset: i64,
        /// What the decompressor reported.
        reason: String,
    },
    /// Decompressing would exceed [`DecodeOptions::max_decompressed_batch_bytes`](crate::DecodeOptions).
    #[error(
        "{codec} batch at offset {offset} decompresses to more than the {cap}-byte cap (max_decompressed_batch_bytes)"
    )]
    DecompressedTooLarge {
        /// The batch's codec.
        codec: Compression,
        /// Base offset of the batch.
        offset: i64,
        /// The configured cap.
        cap: usize,
    },
    /// The `recordCount` header field is negative.
    #[error("negative record count {count} in batch at offset {offset}")]
    InvalidRecordCount {
        /// The `recordCount` field.
        count: i32,
        /// Base offset of the batch.
        offset: i64,
    },
    /// The records region does not hold exactly `recordCount` records.
    #[error(
        "batch at offset {offset} declares {declared} records but {}",
        if *.trailing_bytes { "bytes remain after the last one" } else { "its data ends early" }
    )]
    RecordCountMismatch {
        /// The `recordCount` field.
        declared: i32,
        /// `true`: bytes remain after `declared` records; `false`: the data ran out first.
        trailing_bytes: bool,
        /// Base offset of the batch.
        offset: i64,
    },
    /// A record inside the batch is malformed.
    #[error("malformed record #{index} in batch at offset {offset}: {kind}")]
    MalformedRecord {
        /// Base offset of the batch.
        offset: i64,
        /// Zero-based position of the record in the batch.
        index: u32,
        /// What is wrong with it.
        kind: RecordErrorKind,
    },
    /// A control batch whose control record cannot be parsed.
    #[error("invalid control record in batch at offset {offset}: {reason}")]
    InvalidControlRecord {
        /// Base offset of the batch.
        offset: i64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    /// Base offset of the batch the error concerns.
    pub fn offset(&self) -> i64 {
        match self {
            Self::UnsupportedMagic { offset, .. }
            | Self::InvalidBatchLength { offset, .. }
            | Self::CrcMismatch { offset, .. }
            | Self::UnknownCompression { offset, .. }
            | Self::CompressionDisabled { offset, .. }
            | Self::Decompression { offset, .. }
            | Self::DecompressedTooLarge { offset, .. }
            | Self::InvalidRecordCount { offset, .. }
            | Self::RecordCountMismatch { offset, .. }
            | Self::MalformedRecord { offset, .. }
            | Self::InvalidControlRecord { offset, .. } => *offset,
        }
    }

    /// `true` when the bytes themselves are bad (Kafka's CORRUPT_MESSAGE class), as opposed to a
    /// limitation of this build or configuration (disabled codec, legacy magic, size cap).
    pub fn is_corrupt(&self) -> bool {
        !matches!(
            self,
            Self::UnsupportedMagic { .. }
                | Self::CompressionDisabled { .. }
                | Self::DecompressedTooLarge { .. }
        )
    }
}

/// What is wrong with a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// A varint runs past the end of the data or is longer than 5 (varint) / 10 (varlong) bytes.
    BadVarint,
    /// The record length prefix is negative.
    NegativeLength,
    /// The record length prefix points past the end of the records region.
    LengthPastEnd,
    /// A key, value or header field runs past the end of the record.
    FieldPastEnd,
    /// A key, value or header length below -1, or a null header key.
    InvalidFieldLength,
    /// Negative header count.
    NegativeHeaderCount,
    /// The record's fields end before its declared length.
    LengthMismatch,
}

impl fmt::Display for RecordErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadVarint => "truncated or over-long varint",
            Self::NegativeLength => "negative record length",
            Self::LengthPastEnd => "record length runs past the end of the batch",
            Self::FieldPastEnd => "field runs past the end of the record",
            Self::InvalidFieldLength => "invalid key/value/header length",
            Self::NegativeHeaderCount => "negative header count",
            Self::LengthMismatch => "record fields end before its declared length",
        })
    }
}
