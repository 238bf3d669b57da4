//! Test-only record batch v2 encoder (unit tests, benches, fuzz seeds). Not a stable API and not
//! tuned: it exists to produce exact inputs, including deliberately wrong ones.

#[allow(unused_imports)]
use std::io::Write;

use crate::batch::Compression;
use crate::varint::{write_varint, write_varlong};

/// A record to encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestRecord {
    /// Record attributes byte.
    pub attributes: i8,
    /// Added to the batch base timestamp.
    pub timestamp_delta: i64,
    /// Added to the batch base offset.
    pub offset_delta: i32,
    /// Key (None = null).
    pub key: Option<Vec<u8>>,
    /// Value (None = null).
    pub value: Option<Vec<u8>>,
    /// Headers in order; keys may repeat.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl TestRecord {
    /// Record with key and value at the given offset delta.
    pub fn new(offset_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        Self {
            offset_delta,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            ..Self::default()
        }
    }

    /// A transaction marker control record (type 0 = ABORT, 1 = COMMIT).
    pub fn control(control_type: i16, coordinator_epoch: i32) -> Self {
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&control_type.to_be_bytes());
        let mut value = 0i16.to_be_bytes().to_vec();
        value.extend_from_slice(&coordinator_epoch.to_be_bytes());
        Self {
            key: Some(key),
            value: Some(value),
            ..Self::default()
        }
    }

    /// Appends the encoded record (length prefix included).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(32);
        body.push(self.attributes as u8);
        write_varlong(&mut body, self.timestamp_delta);
        write_varint(&mut body, self.offset_delta);
        write_bytes(&mut body, self.key.as_deref());
        write_bytes(&mut body, self.value.as_deref());
        write_varint(&mut body, self.headers.len() as i32);
        for (k, v) in &self.headers {
            write_bytes(&mut body, Some(k));
            write_bytes(&mut body, v.as_deref());
        }
        write_varint(out, body.len() as i32);
        out.extend_from_slice(&body);
    }
}

fn write_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// LZ4 frame options (to exercise every frame variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lz4Options {
    /// Independent blocks (Kafka's Java writer) instead of linked.
    pub independent: bool,
    /// Per-block xxHash32.
    pub block_checksums: bool,
    /// Whole-content xxHash32.
    pub content_checksum: bool,
    /// Write the content size in the header.
    pub content_size: bool,
}

/// A batch to encode. Fields left `None` are derived from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBatch {
    /// Base offset.
    pub base_offset: i64,
    /// Partition leader epoch.
    pub partition_leader_epoch: i32,
    /// Codec.
    pub compression: Compression,
    /// LZ4 frame variant.
    pub lz4: Lz4Options,
    /// Snappy: xerial framing (Java) instead of one raw block.
    pub snappy_xerial: bool,
    /// Attribute bit 3.
    pub log_append_time: bool,
    /// Attribute bit 4.
    pub transactional: bool,
    /// Attribute bit 5.
    pub control: bool,
    /// Attribute bit 6.
    pub delete_horizon: bool,
    /// Defaults to the largest record offset delta (0 if empty).
    pub last_offset_delta: Option<i32>,
    /// Base timestamp.
    pub base_timestamp: i64,
    /// Defaults to base + the largest timestamp delta.
    pub max_timestamp: Option<i64>,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Base sequence.
    pub base_sequence: i32,
    /// Defaults to `records.len()`.
    pub record_count: Option<i32>,
    /// Records.
    pub records: Vec<TestRecord>,
}

impl TestBatch {
    /// An uncompressed CreateTime batch with no producer.
    pub fn new(base_offset: i64, records: Vec<TestRecord>) -> Self {
        Self {
            base_offset,
            partition_leader_epoch: 0,
            compression: Compression::None,
            lz4: Lz4Options::default(),
            snappy_xerial: true,
            log_append_time: false,
            transactional: false,
            control: false,
            delete_horizon: false,
            last_offset_delta: None,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: None,
            records,
        }
    }

    /// Sets the codec.
    pub fn compressed(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// A control batch holding one marker (`abort` true = ABORT) for `producer_id`.
    pub fn marker(base_offset: i64, producer_id: i64, abort: bool) -> Self {
        let mut b = Self::new(base_offset, vec![TestRecord::control(i16::from(!abort), 5)]);
        b.control = true;
        b.transactional = true;
        b.producer_id = producer_id;
        b.producer_epoch = 0;
        b
    }

    /// The uncompressed records region.
    pub fn records_region(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in &self.records {
            r.encode_into(&mut out);
        }
        out
    }

    /// Encodes the whole batch with a correct CRC.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded batch to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let region = compress(
            self.compression,
            &self.records_region(),
            self.lz4,
            self.snappy_xerial,
        );
        let attributes: i16 = i16::from(self.compression.id())
            | (i16::from(self.log_append_time) << 3)
            | (i16::from(self.transactional) << 4)
            | (i16::from(self.control) << 5)
            | (i16::from(self.delete_horizon) << 6);
        let last_offset_delta = self
            .last_offset_delta
            .unwrap_or_else(|| self.records.iter().map(|r| r.offset_delta).max().unwrap_or(0));
        let max_timestamp = self.max_timestamp.unwrap_or_else(|| {
            self.base_timestamp + self.records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0)
        });
        let start = out.len();
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&((49 + region.len()) as i32).to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&[0; 4]); // CRC, patched below
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&last_offset_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        let count = self.record_count.unwrap_or(self.records.len() as i32);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&region);
        let crc = crc32c::crc32c(&out[start + 21..]);
        out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Compresses a records region the way the given producer style would.
pub fn compress(codec: Compression, data: &[u8], lz4: Lz4Options, snappy_xerial: bool) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        #[cfg(feature = "compression-gzip")]
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("in-memory write");
            e.finish().expect("in-memory write")
        }
        #[cfg(feature = "compression-snappy")]
        Compression::Snappy => {
            let mut enc = snap::raw::Encoder::new();
            if !snappy_xerial {
                return enc.compress_vec(data).expect("snappy compress");
            }
            let mut out = b"\x82SNAPPY\x00".to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            for chunk in data.chunks(32 * 1024) {
                let c = enc.compress_vec(chunk).expect("snappy compress");
                out.extend_from_slice(&(c.len() as i32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        }
        #[cfg(feature = "compression-lz4")]
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(if lz4.independent {
                    BlockMode::Independent
                } else {
                    BlockMode::Linked
                })
                .block_checksums(lz4.block_checksums)
                .content_checksum(lz4.content_checksum)
                .content_size(lz4.content_size.then_some(data.len() as u64));
            let mut e = FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).expect("in-memory write");
            e.finish().expect("in-memory write")
        }
        #[cfg(feature = "compression-zstd")]
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = (lz4, snappy_xerial);
            panic!("test encoder: {other} support not compiled in")
        }
    }
}
