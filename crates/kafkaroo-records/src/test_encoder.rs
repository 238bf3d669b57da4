//! Test-only record batch v2 encoder (unit tests, benches, fuzz seeds). Not a stable API and not
//! tuned: it exists to produce exact inputs, including deliberately wrong ones (any offset delta,
//! count, attribute or LZ4/snappy variant). Records, the header, the CRC and the Java-style codecs
//! come from the producer's encoder ([`crate::BatchBuilder`]'s module).

#[allow(unused_imports)]
use std::io::Write;

use crate::header::Compression;

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

    /// Appends the encoded record (length prefix included), with the producer's record writer.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let headers = self.headers.iter().map(|(k, v)| (k.as_slice(), v.as_deref()));
        crate::builder::write_record(
            out,
            self.attributes,
            self.timestamp_delta,
            self.offset_delta,
            self.key.as_deref(),
            self.value.as_deref(),
            headers,
        )
        .expect("test record fits a batch");
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
        let count = self.record_count.unwrap_or(self.records.len() as i32);
        let fields = crate::builder::BatchFields {
            base_offset: self.base_offset,
            partition_leader_epoch: self.partition_leader_epoch,
            attributes,
            last_offset_delta,
            base_timestamp: self.base_timestamp,
            max_timestamp,
            producer: crate::ProducerState {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                base_sequence: self.base_sequence,
            },
            record_count: count,
        };
        let start = out.len();
        fields.write(out);
        out.extend_from_slice(&region);
        crate::builder::finish_batch(&mut out[start..]).expect("test batch fits");
    }
}

/// Compresses a records region the way the given producer style would.
pub fn compress(codec: Compression, data: &[u8], lz4: Lz4Options, snappy_xerial: bool) -> Vec<u8> {
    match codec {
        #[cfg(feature = "compression-snappy")]
        Compression::Snappy if !snappy_xerial => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy compress"),
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
        // None, gzip, xerial snappy and zstd as the producer writes them.
        other => {
            let _ = (lz4, snappy_xerial);
            let mut out = Vec::new();
            crate::compress_into(other, data, &mut out).unwrap_or_else(|e| panic!("test encoder: {e}"));
            out
        }
    }
}
