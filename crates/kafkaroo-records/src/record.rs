//! Lazy, allocation-free record iteration.
//!
//! Each [`Record`] owns one `Bytes` slice of its own encoded body (a refcount bump, no copy) plus
//! small offsets into it; keys, values and headers are located inside that slice on demand.
//! Records are fully validated when yielded, so header iteration later cannot fail.

use std::fmt;
use std::iter::FusedIterator;
use std::str::Utf8Error;

use bytes::Bytes;

use crate::batch::{BatchHeader, TimestampType};
use crate::error::{DecodeError, RecordErrorKind};
use crate::varint::{read_varint, read_varlong};

/// Lazy iterator over the records of one batch, yielding `Result<Record, DecodeError>`.
///
/// After the first error it ends. It also checks the declared record count: too few records, or
/// bytes left over after the last one, yield [`DecodeError::RecordCountMismatch`] at the end.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    pos: usize,
    remaining: u32,
    index: u32,
    declared: i32,
    base_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    log_append_time: bool,
    done: bool,
}

impl Records {
    pub(crate) fn new(data: Bytes, h: &BatchHeader) -> Self {
        Self {
            data,
            pos: 0,
            remaining: h.record_count.max(0) as u32,
            index: 0,
            declared: h.record_count,
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            log_append_time: h.attributes.timestamp_type() == TimestampType::LogAppendTime,
            done: false,
        }
    }

    pub(crate) fn empty(h: &BatchHeader) -> Self {
        let mut r = Self::new(Bytes::new(), h);
        r.remaining = 0;
        r.done = true;
        r
    }

    /// The (decompressed) records region the records slice from.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    fn err(&self, kind: RecordErrorKind) -> DecodeError {
        DecodeError::MalformedRecord {
            offset: self.base_offset,
            index: self.index,
            kind,
        }
    }

    #[inline]
    fn parse_one(&mut self) -> Result<Record, DecodeError> {
        let buf: &[u8] = &self.data;
        let mut p = self.pos;
        if p >= buf.len() {
            return Err(DecodeError::RecordCountMismatch {
                declared: self.declared,
                trailing_bytes: false,
                offset: self.base_offset,
            });
        }
        let len = read_varint(buf, &mut p).map_err(|k| self.err(k))?;
        if len < 0 {
            return Err(self.err(RecordErrorKind::NegativeLength));
        }
        let start = p;
        let end = start + len as usize;
        let Some(body) = buf.get(start..end) else {
            return Err(self.err(RecordErrorKind::LengthPastEnd));
        };
        let fields = parse_body(body).map_err(|k| self.err(k))?;
        let record = Record {
            data: self.data.slice(start..end),
            offset: self.base_offset.wrapping_add(i64::from(fields.offset_delta)),
            timestamp: if self.log_append_time {
                self.max_timestamp
            } else {
                self.base_timestamp.wrapping_add(fields.timestamp_delta)
            },
            log_append_time: self.log_append_time,
            attributes: fields.attributes,
            key: fields.key,
            value: fields.value,
            headers_start: fields.headers_start,
            header_count: fields.header_count,
        };
        self.pos = end;
        Ok(record)
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            if self.done {
                return None;
            }
            self.done = true;
            if self.pos != self.data.len() {
                return Some(Err(DecodeError::RecordCountMismatch {
                    declared: self.declared,
                    trailing_bytes: true,
                    offset: self.base_offset,
                }));
            }
            return None;
        }
        match self.parse_one() {
            Ok(r) => {
                self.remaining -= 1;
                self.index += 1;
                Some(Ok(r))
            }
            Err(e) => {
                self.remaining = 0;
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Upper bound +1 for a possible trailing error; lower 0 as any record may be malformed.
        (0, Some(self.remaining as usize + usize::from(!self.done)))
    }
}

impl FusedIterator for Records {}

/// A field inside a record body: start and length, `len < 0` meaning null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: i32,
}

impl Span {
    const NULL: Self = Self { start: 0, len: -1 };

    #[inline]
    fn range(self) -> Option<std::ops::Range<usize>> {
        (self.len >= 0).then(|| self.start as usize..self.start as usize + self.len as usize)
    }
}

struct BodyFields {
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Span,
    value: Span,
    headers_start: u32,
    header_count: u32,
}

/// Reads a nullable length-prefixed field; `-1` is null.
#[inline(always)]
fn read_field(body: &[u8], p: &mut usize) -> Result<Span, RecordErrorKind> {
    let len = read_varint(body, p)?;
    if len < 0 {
        return if len == -1 {
            Ok(Span::NULL)
        } else {
            Err(RecordErrorKind::InvalidFieldLength)
        };
    }
    let start = *p;
    if body.len() - start < len as usize {
        return Err(RecordErrorKind::FieldPastEnd);
    }
    *p = start + len as usize;
    Ok(Span {
        start: start as u32,
        len,
    })
}

/// Validates a whole record body (everything after its length prefix).
#[inline(always)]
fn parse_body(body: &[u8]) -> Result<BodyFields, RecordErrorKind> {
    let Some(&attributes) = body.first() else {
        return Err(RecordErrorKind::FieldPastEnd);
    };
    let mut p = 1;
    let timestamp_delta = read_varlong(body, &mut p)?;
    let offset_delta = read_varint(body, &mut p)?;
    let key = read_field(body, &mut p)?;
    let value = read_field(body, &mut p)?;
    let header_count = read_varint(body, &mut p)?;
    if header_count < 0 {
        return Err(RecordErrorKind::NegativeHeaderCount);
    }
    let headers_start = p;
    // Each header takes at least 2 bytes, so this loop is bounded by the body length.
    for _ in 0..header_count {
        let key = read_field(body, &mut p)?;
        if key.len < 0 {
            return Err(RecordErrorKind::InvalidFieldLength);
        }
        read_field(body, &mut p)?;
    }
    if p != body.len() {
        return Err(RecordErrorKind::LengthMismatch);
    }
    Ok(BodyFields {
        attributes: attributes as i8,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers_start: headers_start as u32,
        header_count: header_count as u32,
    })
}

/// One record. Key, value and header values are zero-copy slices of the fetch buffer (or of the
/// batch's decompression buffer).
///
/// Holding a `Record` keeps that whole buffer alive; use [`Record::detach`] to keep a record
/// long-term without pinning the buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The encoded record body (after the length prefix).
    data: Bytes,
    offset: i64,
    timestamp: i64,
    log_append_time: bool,
    attributes: i8,
    key: Span,
    value: Span,
    headers_start: u32,
    header_count: u32,
}

impl Record {
    /// Absolute offset in the partition.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Timestamp in ms; under LogAppendTime this is the batch's `maxTimestamp`.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// How [`Self::timestamp`] was assigned.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Record-level attributes byte (unused by Kafka so far).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// Key bytes, `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.key.range().map(|r| &self.data[r])
    }

    /// Value bytes, `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.value.range().map(|r| &self.data[r])
    }

    /// Key as an owned zero-copy slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.range().map(|r| self.data.slice(r))
    }

    /// Value as an owned zero-copy slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.range().map(|r| self.data.slice(r))
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// Headers in wire order, repeated keys kept. Parsed lazily, allocation-free.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            data: &self.data,
            pos: self.headers_start as usize,
            remaining: self.header_count,
        }
    }

    /// The last header with this key (Java's `Headers.lastHeader`).
    pub fn last_header(&self, key: &[u8]) -> Option<Header<'_>> {
        self.headers().filter(|h| h.key() == key).last()
    }

    /// Encoded size of the record body, for memory accounting.
    pub fn encoded_len(&self) -> usize {
        self.data.len()
    }

    /// A copy that owns just this record's bytes, so keeping it does not pin the fetch buffer.
    pub fn detach(&self) -> Self {
        Self {
            data: Bytes::copy_from_slice(&self.data),
            ..self.clone()
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key().map(Bytes::copy_from_slice))
            .field("value", &self.value().map(Bytes::copy_from_slice))
            .field("headers", &self.headers().collect::<Vec<_>>())
            .finish()
    }
}

/// Lazy iterator over a record's headers.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    data: &'a Bytes,
    pos: usize,
    remaining: u32,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    #[inline]
    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // The record was validated when it was yielded, so these cannot fail.
        let key = read_field(self.data, &mut self.pos).ok()?;
        let value = read_field(self.data, &mut self.pos).ok()?;
        self.remaining -= 1;
        Some(Header {
            data: self.data,
            key,
            value,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

impl ExactSizeIterator for Headers<'_> {}
impl FusedIterator for Headers<'_> {}

/// One header. The key is UTF-8 by Kafka convention, but that is checked only by [`Self::key_str`].
#[derive(Clone, Copy)]
pub struct Header<'a> {
    data: &'a Bytes,
    key: Span,
    value: Span,
}

impl<'a> Header<'a> {
    /// Raw key bytes.
    pub fn key(&self) -> &'a [u8] {
        &self.data[self.key.range().unwrap_or_default()]
    }

    /// Key as UTF-8.
    pub fn key_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.key())
    }

    /// Key as an owned zero-copy slice.
    pub fn key_bytes(&self) -> Bytes {
        self.data.slice(self.key.range().unwrap_or_default())
    }

    /// Value bytes, `None` for null.
    pub fn value(&self) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.data;
        self.value.range().map(|r| &data[r])
    }

    /// Value as an owned zero-copy slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.range().map(|r| self.data.slice(r))
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value().map(Bytes::copy_from_slice))
            .finish()
    }
}
