//! Record batch v2 encoding, for producers.
//!
//! [`BatchBuilder`] appends records to one uncompressed records region as they arrive (amortised
//! growth, nothing allocated per record) and [`BatchBuilder::encode`] writes the whole batch: header,
//! the region compressed with the batch's codec, and the CRC-32C. The producer fields (id, epoch, base
//! sequence) are given at encode time and can be rewritten in an encoded batch with
//! [`set_producer_state`], so a batch re-sequenced after an epoch bump is not compressed again.
//!
//! Codecs write what the Java producer writes, so every consumer reads them: gzip (one member),
//! snappy in snappy-java's xerial framing with 32 KiB blocks, LZ4 frames with independent 64 KiB blocks
//! and no checksums (the batch CRC covers the bytes), zstd frames from the pure-Rust encoder (libzstd's, level 3, with `zstd-c`).

use crate::header::{BATCH_HEADER_LEN, Compression};
use crate::varint::{varint_len, varlong_len, write_varint, write_varlong};

/// Offset of the CRC field in a batch, and of the first byte it covers.
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
#[cfg(feature = "compression-snappy")]
/// Snappy-java's stream header: magic, version 1, compatible version 1.
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
#[cfg(feature = "compression-snappy")]
/// Snappy-java's block size (uncompressed bytes per block).
const XERIAL_BLOCK: usize = 32 * 1024;

/// Why a batch could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A record, key, value or header is larger than a record batch can describe (2 GiB).
    #[error("record of {size} bytes is larger than a record batch can hold")]
    RecordTooLarge {
        /// Its encoded size, as far as it was computed.
        size: usize,
    },
    /// More records (or a wider timestamp spread) than one batch can describe.
    #[error("batch is full: {0}")]
    BatchFull(&'static str),
    /// The codec's cargo feature is not enabled.
    #[error("{codec} compression is disabled in this build: enable the compression-{codec} feature")]
    CompressionDisabled {
        /// The codec asked for.
        codec: Compression,
    },
    /// The compressor failed.
    #[error("{codec} compression failed: {reason}")]
    Compression {
        /// The codec.
        codec: Compression,
        /// What it reported.
        reason: String,
    },
    /// [`set_producer_state`] was given bytes that are not one v2 batch.
    #[error("not an encoded record batch v2: {0}")]
    NotABatch(&'static str),
}

/// The producer fields of a batch header (KIP-98). [`ProducerState::NONE`] for a producer without
/// idempotence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// Producer id from InitProducerId, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record, or -1.
    pub base_sequence: i32,
}

impl ProducerState {
    /// No producer id: the broker does not deduplicate.
    pub const NONE: Self = Self {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Builds one record batch v2: append records, then encode.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    transactional: bool,
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch for `compression`.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// An empty batch whose records region has room for `bytes` before it grows.
    pub fn with_capacity(compression: Compression, bytes: usize) -> Self {
        Self {
            compression,
            transactional: false,
            records: Vec::with_capacity(bytes),
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Marks the batch as part of a transaction (attribute bit 4).
    pub fn set_transactional(&mut self, transactional: bool) {
        self.transactional = transactional;
    }

    /// The batch's codec.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch's size before compression: header plus records region. The encoded batch is at most
    /// this plus the codec's framing overhead on incompressible data.
    pub fn uncompressed_size(&self) -> usize {
        BATCH_HEADER_LEN + self.records.len()
    }

    /// The first record's timestamp (the batch's base timestamp), if any record was appended.
    pub fn base_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.base_timestamp)
    }

    /// What appending this record would add to [`Self::uncompressed_size`] (an upper bound when the
    /// batch is empty or the timestamp is far from the base).
    pub fn record_size<'h, H>(key: Option<&[u8]>, value: Option<&[u8]>, headers: H) -> usize
    where
        H: IntoIterator<Item = (&'h [u8], Option<&'h [u8]>)>,
    {
        let body = body_len(i64::from(i32::MAX), i32::MAX, key, value, headers);
        body + varint_len(i64::try_from(body).unwrap_or(i64::MAX))
    }

    /// Appends a record with the next offset delta; returns the bytes it added. Header keys may
    /// repeat; they are kept in the order given.
    pub fn append<'h, H>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: H,
    ) -> Result<usize, EncodeError>
    where
        H: IntoIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
    {
        if self.count == i32::MAX {
            return Err(EncodeError::BatchFull("2^31 - 1 records"));
        }
        let base = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let delta = timestamp
            .checked_sub(base)
            .ok_or(EncodeError::BatchFull("timestamp delta overflows"))?;
        let before = self.records.len();
        write_record(&mut self.records, 0, delta, self.count, key, value, headers)?;
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
        Ok(self.records.len() - before)
    }

    /// Appends the encoded batch (base offset 0, as producers send it) to `out`.
    pub fn encode(&self, producer: ProducerState, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_at(0, producer, out)
    }

    /// Appends the encoded batch with `base_offset` to `out`.
    pub fn encode_at(
        &self,
        base_offset: i64,
        producer: ProducerState,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let header = BatchFields {
            base_offset,
            partition_leader_epoch: -1,
            attributes: i16::from(self.compression.id()) | (i16::from(self.transactional) << 4),
            last_offset_delta: (self.count - 1).max(0),
            base_timestamp: self.base_timestamp,
            max_timestamp: if self.count == 0 {
                self.base_timestamp
            } else {
                self.max_timestamp
            },
            producer,
            record_count: self.count,
        };
        let start = out.len();
        header.write(out);
        if let Err(e) = compress_into(self.compression, &self.records, out) {
            out.truncate(start);
            return Err(e);
        }
        finish_batch(&mut out[start..]).inspect_err(|_| out.truncate(start))
    }

    /// Empties the batch for reuse, keeping its buffer.
    pub fn clear(&mut self) {
        self.records.clear();
        self.count = 0;
        self.base_timestamp = 0;
        self.max_timestamp = i64::MIN;
    }
}

/// Rewrites the producer id, epoch and base sequence of one encoded batch and its CRC-32C (after an
/// epoch bump the same records go out under new numbers, without compressing them again).
pub fn set_producer_state(batch: &mut [u8], producer: ProducerState) -> Result<(), EncodeError> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(EncodeError::NotABatch("shorter than a batch header"));
    }
    if batch[16] != 2 {
        return Err(EncodeError::NotABatch("magic is not 2"));
    }
    batch[43..51].copy_from_slice(&producer.producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&producer.producer_epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&producer.base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Every header field of a batch; the CRC and batch length are computed by [`finish_batch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchFields {
    pub(crate) base_offset: i64,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer: ProducerState,
    pub(crate) record_count: i32,
}

impl BatchFields {
    /// Appends the 61-byte header with a zero batch length and CRC.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.reserve(BATCH_HEADER_LEN);
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.producer.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.record_count.to_be_bytes());
    }
}

/// Fills in the batch length and CRC of a batch written by [`BatchFields::write`] plus its records.
pub(crate) fn finish_batch(batch: &mut [u8]) -> Result<(), EncodeError> {
    let length =
        i32::try_from(batch.len() - 12).map_err(|_| EncodeError::RecordTooLarge { size: batch.len() })?;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    b.map_or(1, |b| varint_len(b.len() as i64) + b.len())
}

fn body_len<'h, H>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: H,
) -> usize
where
    H: IntoIterator<Item = (&'h [u8], Option<&'h [u8]>)>,
{
    let mut count = 0usize;
    let mut header_bytes = 0usize;
    for (k, v) in headers {
        count += 1;
        header_bytes = header_bytes
            .saturating_add(bytes_len(Some(k)))
            .saturating_add(bytes_len(v));
    }
    1usize
        .saturating_add(varlong_len(timestamp_delta))
        .saturating_add(varint_len(i64::from(offset_delta)))
        .saturating_add(bytes_len(key))
        .saturating_add(bytes_len(value))
        .saturating_add(varint_len(count as i64))
        .saturating_add(header_bytes)
}

/// Appends one record (length prefix included). The size is computed first, so nothing is buffered.
pub(crate) fn write_record<'h, H>(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: H,
) -> Result<(), EncodeError>
where
    H: IntoIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
{
    let body = body_len(timestamp_delta, offset_delta, key, value, headers.clone());
    let too_large = || EncodeError::RecordTooLarge { size: body };
    let length = i32::try_from(body).map_err(|_| too_large())?;
    let count = headers.clone().into_iter().count();
    out.reserve(body + 5);
    write_varint(out, length);
    out.push(attributes as u8);
    write_varlong(out, timestamp_delta);
    write_varint(out, offset_delta);
    write_bytes(out, key)?;
    write_bytes(out, value)?;
    write_varint(out, i32::try_from(count).map_err(|_| too_large())?);
    for (k, v) in headers {
        write_bytes(out, Some(k))?;
        write_bytes(out, v)?;
    }
    Ok(())
}

fn write_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) -> Result<(), EncodeError> {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| EncodeError::RecordTooLarge { size: b.len() })?;
            write_varint(out, len);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Appends `data` compressed with `codec` to `out`, in the framing the Java producer writes.
pub fn compress_into(codec: Compression, data: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    #[allow(unused_variables)]
    let failed = |reason: std::io::Error| EncodeError::Compression {
        codec,
        reason: reason.to_string(),
    };
    match codec {
        Compression::None => {
            out.extend_from_slice(data);
            Ok(())
        }
        #[cfg(feature = "compression-gzip")]
        Compression::Gzip => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            e.write_all(data).map_err(failed)?;
            e.finish().map_err(failed)?;
            Ok(())
        }
        #[cfg(feature = "compression-snappy")]
        Compression::Snappy => {
            let mut encoder = snap::raw::Encoder::new();
            out.extend_from_slice(XERIAL_HEADER);
            for block in data.chunks(XERIAL_BLOCK) {
                let at = out.len();
                out.resize(at + 4 + snap::raw::max_compress_len(block.len()), 0);
                let n =
                    encoder
                        .compress(block, &mut out[at + 4..])
                        .map_err(|e| EncodeError::Compression {
                            codec,
                            reason: e.to_string(),
                        })?;
                out.truncate(at + 4 + n);
                out[at..at + 4].copy_from_slice(&(n as i32).to_be_bytes());
            }
            Ok(())
        }
        #[cfg(feature = "compression-lz4")]
        Compression::Lz4 => {
            use std::io::Write;

            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Independent);
            let mut e = FrameEncoder::with_frame_info(info, out);
            e.write_all(data).map_err(failed)?;
            e.finish().map_err(|e| EncodeError::Compression {
                codec,
                reason: e.to_string(),
            })?;
            Ok(())
        }
        #[cfg(feature = "compression-zstd")]
        Compression::Zstd => crate::codec::zstd::compress(data, out)
            .map_err(|reason| EncodeError::Compression { codec, reason }),
        #[allow(unreachable_patterns)]
        _ => Err(EncodeError::CompressionDisabled { codec }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{BatchReader, DecodeOptions};

    type Headers = Vec<(Vec<u8>, Option<Vec<u8>>)>;
    type Sample = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Headers);

    fn sample(i: usize) -> Sample {
        let key = (i % 5 != 1).then(|| format!("key-{i}").into_bytes());
        let value = (i % 7 != 3).then(|| format!("value {i} {}", "x".repeat(i % 300)).into_bytes());
        let mut headers = Vec::new();
        if i.is_multiple_of(4) {
            headers.push((b"h".to_vec(), Some(b"first".to_vec())));
            headers.push((b"h".to_vec(), Some(b"second".to_vec())));
            headers.push((b"n".to_vec(), None));
        }
        // Timestamps may go backwards within a batch: the delta is signed.
        let ts = 1_700_000_000_000 + (i as i64 % 13) * 1000 - 4000;
        (ts, key, value, headers)
    }

    fn build(codec: Compression, n: usize) -> (BatchBuilder, Vec<Sample>) {
        let mut b = BatchBuilder::new(codec);
        let records: Vec<_> = (0..n).map(sample).collect();
        for (ts, k, v, h) in &records {
            let headers = h.iter().map(|(k, v)| (k.as_slice(), v.as_deref()));
            let predicted = BatchBuilder::record_size(k.as_deref(), v.as_deref(), headers.clone());
            let added = b.append(*ts, k.as_deref(), v.as_deref(), headers).unwrap();
            assert!(added <= predicted, "record_size is an upper bound");
        }
        (b, records)
    }

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips_through_the_decoder() {
        let producer = ProducerState {
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 17,
        };
        for codec in ALL {
            // 2,000 records span several snappy (32 KiB) and LZ4 (64 KiB) blocks.
            let (b, records) = build(codec, 2000);
            let mut out = vec![0xAA]; // appended, never overwritten
            b.encode_at(100, producer, &mut out).unwrap();
            assert_eq!(out[0], 0xAA);
            let data = Bytes::from(out).slice(1..);
            if codec != Compression::None {
                assert!(data.len() < b.uncompressed_size(), "{codec} compresses");
            }
            let mut reader = BatchReader::new(data, DecodeOptions::default());
            let batch = reader.next().expect("one batch").expect("decodes, CRC ok");
            assert!(reader.next().is_none());
            let h = batch.header();
            assert_eq!(batch.compression(), codec);
            assert_eq!((h.base_offset, h.partition_leader_epoch), (100, -1));
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (4242, 3, 17));
            assert_eq!(h.record_count, 2000);
            assert_eq!(h.last_offset_delta, 1999);
            assert_eq!(h.base_timestamp, records[0].0);
            assert_eq!(h.max_timestamp, records.iter().map(|r| r.0).max().unwrap());
            assert!(!batch.is_transactional());
            let mut n = 0;
            for (i, rec) in batch.records().unwrap().enumerate() {
                let rec = rec.unwrap();
                let (ts, k, v, hs) = &records[i];
                assert_eq!(rec.offset(), 100 + i as i64);
                assert_eq!(rec.timestamp(), *ts, "{codec} record {i}");
                assert_eq!(rec.key(), k.as_deref());
                assert_eq!(rec.value(), v.as_deref());
                let got: Headers = rec
                    .headers()
                    .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
                    .collect();
                assert_eq!(&got, hs, "headers in order, repeats kept");
                n += 1;
            }
            assert_eq!(n, 2000);
        }
    }

    #[test]
    fn producer_state_is_rewritten_with_a_valid_crc() {
        let (b, _) = build(Compression::Lz4, 10);
        let mut out = Vec::new();
        b.encode(ProducerState::NONE, &mut out).unwrap();
        let next = ProducerState {
            producer_id: 9,
            producer_epoch: 1,
            base_sequence: 0,
        };
        set_producer_state(&mut out, next).unwrap();
        let batch = BatchReader::new(Bytes::from(out), DecodeOptions::default())
            .next()
            .unwrap()
            .expect("CRC matches after the rewrite");
        let h = batch.header();
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (9, 1, 0));
        assert_eq!(batch.records().unwrap().count(), 10);
        assert!(matches!(
            set_producer_state(&mut [0; 10], next),
            Err(EncodeError::NotABatch(_))
        ));
    }

    #[test]
    fn empty_clear_and_reuse() {
        let mut b = BatchBuilder::with_capacity(Compression::None, 1024);
        assert!(b.is_empty() && b.base_timestamp().is_none());
        b.append(5, Some(b"k"), None, []).unwrap();
        b.append(3, None, Some(b"v"), [(b"a".as_slice(), None)]).unwrap();
        assert_eq!((b.len(), b.base_timestamp()), (2, Some(5)));
        b.clear();
        assert!(b.is_empty());
        b.append(7, None, None, []).unwrap();
        let mut out = Vec::new();
        b.encode(ProducerState::NONE, &mut out).unwrap();
        let batch = BatchReader::new(Bytes::from(out), DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        let recs: Vec<_> = batch.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].offset(), recs[0].timestamp()), (0, 7));
        assert_eq!((recs[0].key(), recs[0].value()), (None, None));
    }

    #[test]
    fn snappy_is_xerial_framed_as_java_writes_it() {
        let mut out = Vec::new();
        compress_into(Compression::Snappy, &[7u8; 100_000], &mut out).unwrap();
        assert_eq!(&out[..16], XERIAL_HEADER);
        // 100,000 bytes = 4 blocks of at most 32 KiB.
        let mut p = 16;
        let mut blocks = 0;
        while p < out.len() {
            let len = i32::from_be_bytes(out[p..p + 4].try_into().unwrap()) as usize;
            p += 4 + len;
            blocks += 1;
        }
        assert_eq!((p, blocks), (out.len(), 4));
        let back = crate::decompress(Compression::Snappy, &out, 1 << 20, 0).unwrap();
        assert_eq!(&back[..], &[7u8; 100_000][..]);
    }
}
