//! The fixed v2 record batch header and what its attributes mean: sizes, codec, timestamp type. A leaf
//! of the crate: batch parsing, record decoding, the codecs and the errors all use it.

use std::fmt;

/// Size of `baseOffset` + `batchLength`: the part of a batch not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed v2 batch header, up to and including `recordCount`.
pub const BATCH_HEADER_LEN: usize = 61;
/// Codec of a batch's records region (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Uncompressed: records are sliced straight out of the input buffer.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// Snappy, xerial-framed (Java) or raw.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard frame(s).
    Zstd,
}

impl Compression {
    /// Maps the 3-bit codec id; `None` (the Rust one) for the undefined ids 5..=7.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// The 3-bit codec id written in the attributes.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        })
    }
}

/// Meaning of record timestamps (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer: `baseTimestamp + timestampDelta`.
    CreateTime,
    /// Set by the broker: every record's timestamp is the batch's `maxTimestamp`.
    LogAppendTime,
}

/// The raw batch attributes with typed accessors; kept raw so unknown bits survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attributes(pub i16);

impl Attributes {
    /// Codec id, bits 0-2.
    pub fn compression_id(self) -> u8 {
        (self.0 & 0x07) as u8
    }
    /// Timestamp type, bit 3.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Written by a transactional producer, bit 4.
    pub fn is_transactional(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Holds a control record (transaction marker), bit 5.
    pub fn is_control(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// `baseTimestamp` holds the delete horizon (KIP-534), bit 6.
    pub fn has_delete_horizon(self) -> bool {
        self.0 & 0x40 != 0
    }
}

/// Every field of a v2 batch header, exactly as stored (no field is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Offset of the first record slot.
    pub base_offset: i64,
    /// Bytes after the `batchLength` field; the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    /// Leader epoch of the appending leader (KIP-101).
    pub partition_leader_epoch: i32,
    /// Always 2 here.
    pub magic: i8,
    /// Stored CRC-32C over attributes..end.
    pub crc: u32,
    /// Raw attributes.
    pub attributes: Attributes,
    /// `lastOffset - baseOffset`; authoritative for the next fetch offset, even if records were compacted away.
    pub last_offset_delta: i32,
    /// First timestamp (or the delete horizon when `attributes.has_delete_horizon()`).
    pub base_timestamp: i64,
    /// Largest timestamp; every record's timestamp under LogAppendTime.
    pub max_timestamp: i64,
    /// -1 when the producer is neither idempotent nor transactional.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the first record (idempotence).
    pub base_sequence: i32,
    /// Declared number of records in the (possibly compressed) records region.
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the fixed header; `buf` must hold at least [`BATCH_HEADER_LEN`] bytes.
    pub(crate) fn parse(buf: &[u8]) -> Self {
        let i64_at = |p: usize| i64::from_be_bytes(buf[p..p + 8].try_into().expect("8 bytes"));
        let i32_at = |p: usize| i32::from_be_bytes(buf[p..p + 4].try_into().expect("4 bytes"));
        let i16_at = |p: usize| i16::from_be_bytes(buf[p..p + 2].try_into().expect("2 bytes"));
        Self {
            base_offset: i64_at(0),
            batch_length: i32_at(8),
            partition_leader_epoch: i32_at(12),
            magic: buf[16] as i8,
            crc: i32_at(17) as u32,
            attributes: Attributes(i16_at(21)),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            record_count: i32_at(57),
        }
    }

    /// `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(i64::from(self.last_offset_delta))
    }

    /// Where the next fetch starts: `base_offset + last_offset_delta + 1`, also for empty batches
    /// (using "last record + 1" stalls on batches emptied by compaction).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
}
