//! Record batch v2 header parsing and the batch iterator over a partition's `records` bytes.

use std::iter::FusedIterator;

use bytes::Bytes;

use crate::codec;
use crate::control::ControlRecord;
use crate::error::DecodeError;
use crate::header::{BATCH_HEADER_LEN, BatchHeader, Compression, LOG_OVERHEAD, TimestampType};
use crate::record::Records;

/// Bytes needed to read the magic byte (offset 16).
const HEADER_UP_TO_MAGIC: usize = 17;
/// Where the CRC-32C coverage (attributes..end) starts.
const CRC_START: usize = 21;

/// Default cap on one batch's decompressed size: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES: usize = 64 << 20;

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Check each batch's CRC-32C (default `true`, like Java's `check.crcs`). Costs roughly
    /// 10-40% of uncompressed decode time.
    pub verify_crc: bool,
    /// Decompression-bomb guard: a batch that inflates beyond this is an error (default 64 MiB).
    pub max_decompressed_batch_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            verify_crc: true,
            max_decompressed_batch_bytes: DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES,
        }
    }
}

impl DecodeOptions {
    /// Sets [`Self::verify_crc`].
    pub fn with_verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    /// Sets [`Self::max_decompressed_batch_bytes`].
    pub fn with_max_decompressed_batch_bytes(mut self, cap: usize) -> Self {
        self.max_decompressed_batch_bytes = cap;
        self
    }
}

/// One complete, CRC-checked batch. Records are decoded lazily by [`RecordBatch::records`].
#[derive(Debug, Clone)]
pub struct RecordBatch {
    header: BatchHeader,
    compression: Compression,
    /// The whole batch (header included), a slice of the reader's input.
    raw: Bytes,
    max_decompressed: usize,
}

impl RecordBatch {
    /// All header fields.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }
    /// Offset of the first record slot.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }
    /// `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }
    /// `base_offset + last_offset_delta + 1`: where to fetch next after this batch, even if empty.
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }
    /// Declared record count.
    pub fn record_count(&self) -> i32 {
        self.header.record_count
    }
    /// Codec of the records region.
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// Timestamp type from the attributes.
    pub fn timestamp_type(&self) -> TimestampType {
        self.header.attributes.timestamp_type()
    }
    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.header.attributes.is_transactional()
    }
    /// A control batch (transaction marker): never yields records, see [`Self::control_record`].
    pub fn is_control(&self) -> bool {
        self.header.attributes.is_control()
    }
    /// The whole batch as received (header included): a zero-copy slice of the input.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }
    /// The records region as stored (compressed if the batch is).
    pub fn records_region(&self) -> Bytes {
        self.raw.slice(BATCH_HEADER_LEN..)
    }

    /// Decodes the records. Compressed batches are decompressed here, once per call, into one
    /// buffer that the returned records slice from; call it once per batch.
    ///
    /// Control batches yield no records (their single record is a transaction marker, see
    /// [`Self::control_record`]).
    ///
    /// A decompression failure is an error, never a truncated tail: the reader only yields
    /// batches whose full `batchLength` arrived. The caller must not advance its fetch position
    /// past a batch whose records failed to decode.
    pub fn records(&self) -> Result<Records, DecodeError> {
        if self.is_control() {
            return Ok(Records::empty(&self.header));
        }
        self.decode_records()
    }

    fn decode_records(&self) -> Result<Records, DecodeError> {
        let h = &self.header;
        if h.record_count < 0 {
            return Err(DecodeError::InvalidRecordCount {
                count: h.record_count,
                offset: h.base_offset,
            });
        }
        let data = match self.compression {
            Compression::None => self.records_region(),
            codec => codec::decompress(
                codec,
                &self.raw[BATCH_HEADER_LEN..],
                self.max_decompressed,
                h.base_offset,
            )?,
        };
        Ok(Records::new(data, h))
    }

    /// For a control batch, the transaction marker it carries; `Ok(None)` for data batches and
    /// for control batches left empty by compaction.
    pub fn control_record(&self) -> Result<Option<ControlRecord>, DecodeError> {
        if !self.is_control() {
            return Ok(None);
        }
        match self.decode_records()?.next() {
            None => Ok(None),
            Some(rec) => ControlRecord::parse(&rec?, self.header.base_offset).map(Some),
        }
    }
}

/// Where and why iteration stopped at an incomplete trailing batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TruncatedTail {
    /// Byte position of the partial batch in the input.
    pub position: usize,
    /// Bytes present from that position.
    pub available: usize,
    /// Full size of the partial batch, if enough of it arrived to read its length.
    pub needed: Option<usize>,
    /// Its base offset, if the first 8 bytes arrived.
    pub base_offset: Option<i64>,
}

#[derive(Debug)]
enum State {
    Running,
    Truncated(TruncatedTail),
    Failed,
    Done,
}

/// Iterates the record batches of one partition's `records` bytes from a Fetch response.
///
/// - An incomplete last batch (the broker cuts at the size limit) ends iteration cleanly; see
///   [`Self::truncated_tail`].
/// - On an error (bad CRC, bad length, legacy magic...) the reader yields that error once and
///   then ends. It does not advance past the bad batch: [`Self::position`] and
///   [`Self::next_offset`] still point at it, so the fetch engine can report the partition and
///   retry or surface the error without skipping data.
#[derive(Debug)]
pub struct BatchReader {
    buf: Bytes,
    pos: usize,
    opts: DecodeOptions,
    state: State,
    batches: usize,
    next_offset: Option<i64>,
}

impl BatchReader {
    /// Wraps one partition's `records` bytes (zero-copy: batches and records slice from `records`).
    pub fn new(records: Bytes, opts: DecodeOptions) -> Self {
        Self {
            buf: records,
            pos: 0,
            opts,
            state: State::Running,
            batches: 0,
            next_offset: None,
        }
    }

    /// Byte position of the next batch to read (or of the batch that failed).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// `next_offset()` of the last batch yielded, i.e. where to fetch from next.
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Number of complete batches yielded so far.
    pub fn batches_read(&self) -> usize {
        self.batches
    }

    /// Set once iteration stopped at an incomplete trailing batch. Together with
    /// `batches_read() == 0` it tells the fetch engine that no complete batch fit in the
    /// response and the fetch size must grow.
    pub fn truncated_tail(&self) -> Option<TruncatedTail> {
        match self.state {
            State::Truncated(t) => Some(t),
            _ => None,
        }
    }

    /// `true` after an error was yielded.
    pub fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    fn truncated(&mut self, needed: Option<usize>) -> Option<Result<RecordBatch, DecodeError>> {
        let rest = &self.buf[self.pos..];
        let available = rest.len();
        let base_offset = rest
            .get(..8)
            .map(|b| i64::from_be_bytes(b.try_into().expect("8 bytes")));
        self.state = State::Truncated(TruncatedTail {
            position: self.pos,
            available,
            needed,
            base_offset,
        });
        None
    }

    fn fail(&mut self, err: DecodeError) -> Option<Result<RecordBatch, DecodeError>> {
        self.state = State::Failed;
        Some(Err(err))
    }
}

impl Iterator for BatchReader {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !matches!(self.state, State::Running) {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            self.state = State::Done;
            return None;
        }
        if rest.len() < HEADER_UP_TO_MAGIC {
            let needed = rest.get(8..12).map(|b| {
                LOG_OVERHEAD.saturating_add(i32::from_be_bytes(b.try_into().expect("4")).max(0) as usize)
            });
            return self.truncated(needed);
        }
        let offset = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        let magic = rest[16] as i8;
        if magic != 2 {
            return self.fail(DecodeError::UnsupportedMagic { magic, offset });
        }
        if length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
            return self.fail(DecodeError::InvalidBatchLength { length, offset });
        }
        let total = LOG_OVERHEAD + length as usize;
        if rest.len() < total {
            return self.truncated(Some(total));
        }
        let raw = &rest[..total];
        let header = BatchHeader::parse(raw);
        if self.opts.verify_crc {
            let computed = crc32c::crc32c(&raw[CRC_START..]);
            if computed != header.crc {
                return self.fail(DecodeError::CrcMismatch {
                    offset,
                    stored: header.crc,
                    computed,
                });
            }
        }
        let codec_id = header.attributes.compression_id();
        let Some(compression) = Compression::from_id(codec_id) else {
            return self.fail(DecodeError::UnknownCompression { codec_id, offset });
        };
        let raw = self.buf.slice(self.pos..self.pos + total);
        self.pos += total;
        self.batches += 1;
        self.next_offset = Some(header.next_offset());
        Some(Ok(RecordBatch {
            header,
            compression,
            raw,
            max_decompressed: self.opts.max_decompressed_batch_bytes,
        }))
    }
}

impl FusedIterator for BatchReader {}
