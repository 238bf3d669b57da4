//! Lazy, allocation-free record iteration.
//!
//! Each [`Record`] owns one `Bytes` slice of its own encoded body (a refcount bump, no copy) plus
//! small offsets into it; keys, values and headers are located inside that slice on demand.
//! [`Records::next_ref`] lends a [`RecordRef`] instead: no refcount traffic at all, for the
//! hottest loops. Records are fully validated when yielded, so header iteration cannot fail.

use std::fmt;
use std::iter::FusedIterator;
use std::str::Utf8Error;

use bytes::Bytes;

use crate::error::{DecodeError, RecordErrorKind};
use crate::header::{BatchHeader, TimestampType};
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

    /// Replaces the buffer the records slice from with `wrap(buffer)`, which must hold the same bytes:
    /// e.g. the same buffer wrapped (`Bytes::from_owner`) so a consumer's memory budget counts a
    /// decompressed batch until its last record is dropped.
    ///
    /// # Panics
    /// If `wrap` returns a buffer of a different length.
    pub fn wrap_data(mut self, wrap: impl FnOnce(Bytes) -> Bytes) -> Self {
        let data = std::mem::take(&mut self.data);
        let len = data.len();
        self.data = wrap(data);
        assert_eq!(self.data.len(), len, "wrap_data must keep the same bytes");
        self
    }

    fn err(&self, kind: RecordErrorKind) -> DecodeError {
        DecodeError::MalformedRecord {
            offset: self.base_offset,
            index: self.index,
            kind,
        }
    }

    /// Parses and validates the next record; returns its body range and fields.
    #[inline(always)]
    fn parse_next(&mut self) -> Result<(usize, usize, Meta), DecodeError> {
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
        let f = parse_body(body).map_err(|k| self.err(k))?;
        let meta = Meta {
            offset: self.base_offset.wrapping_add(i64::from(f.offset_delta)),
            timestamp: if self.log_append_time {
                self.max_timestamp
            } else {
                self.base_timestamp.wrapping_add(f.timestamp_delta)
            },
            log_append_time: self.log_append_time,
            attributes: f.attributes,
            key: f.key,
            value: f.value,
            headers_start: f.headers_start,
            header_count: f.header_count,
        };
        self.pos = end;
        Ok((start, end, meta))
    }

    /// Bookkeeping shared by [`Self::next_ref`] and `next`: `None` when done, or the end-of-batch
    /// count check's error.
    #[inline(always)]
    fn step(&mut self) -> Option<Result<(usize, usize, Meta), DecodeError>> {
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
        match self.parse_next() {
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

    /// Like `next()`, but lends the record instead of giving it its own `Bytes` handle: no atomic
    /// refcount traffic per record. Use [`RecordRef::to_record`] for the records you keep.
    ///
    /// ```
    /// # fn f(records: &mut kafkaroo_records::Records) -> Result<(), kafkaroo_records::DecodeError> {
    /// while let Some(r) = records.next_ref() {
    ///     let r = r?;
    ///     let _ = (r.offset(), r.key(), r.value());
    /// }
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, DecodeError>> {
        Some(self.step()?.map(|(start, end, meta)| RecordRef {
            buf: &self.data,
            start,
            body: &self.data[start..end],
            meta,
        }))
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.step()?.map(|(start, end, meta)| Record {
            data: self.data.slice(start..end),
            meta,
        }))
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

/// Decoded fields of one record; spans are relative to the record body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    offset: i64,
    timestamp: i64,
    log_append_time: bool,
    attributes: i8,
    key: Span,
    value: Span,
    headers_start: u32,
    header_count: u32,
}

/// A record borrowed from its [`Records`] iterator (see [`Records::next_ref`]). Same accessors as
/// [`Record`]; owned slices (`*_bytes`) are still zero-copy.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    /// The buffer the body lives in.
    buf: &'a Bytes,
    /// Body position in `buf`.
    start: usize,
    body: &'a [u8],
    meta: Meta,
}

impl<'a> RecordRef<'a> {
    /// Absolute offset in the partition.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.meta.offset
    }

    /// Timestamp in ms; under LogAppendTime this is the batch's `maxTimestamp`.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.meta.timestamp
    }

    /// How [`Self::timestamp`] was assigned.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.meta.log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Record-level attributes byte (unused by Kafka so far).
    pub fn attributes(&self) -> i8 {
        self.meta.attributes
    }

    /// Key bytes, `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        let body = self.body;
        self.meta.key.range().map(|r| &body[r])
    }

    /// Value bytes, `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        let body = self.body;
        self.meta.value.range().map(|r| &body[r])
    }

    /// Key as an owned zero-copy slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.meta
            .key
            .range()
            .map(|r| self.buf.slice(self.start + r.start..self.start + r.end))
    }

    /// Value as an owned zero-copy slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.meta
            .value
            .range()
            .map(|r| self.buf.slice(self.start + r.start..self.start + r.end))
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.meta.header_count as usize
    }

    /// Headers in wire order, repeated keys kept. Parsed lazily, allocation-free.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            buf: self.buf,
            base: self.start,
            body: self.body,
            pos: self.meta.headers_start as usize,
            remaining: self.meta.header_count,
        }
    }

    /// The last header with this key (Java's `Headers.lastHeader`).
    pub fn last_header(&self, key: &[u8]) -> Option<Header<'a>> {
        self.headers().filter(|h| h.key() == key).last()
    }

    /// Encoded size of the record body, for memory accounting.
    pub fn encoded_len(&self) -> usize {
        self.body.len()
    }

    /// An owned record sharing the same buffer (one refcount bump, no copy).
    pub fn to_record(&self) -> Record {
        Record {
            data: self.buf.slice(self.start..self.start + self.body.len()),
            meta: self.meta,
        }
    }
}

impl fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("key", &self.key().map(Bytes::copy_from_slice))
            .field("value", &self.value().map(Bytes::copy_from_slice))
            .field("headers", &self.headers().collect::<Vec<_>>())
            .finish()
    }
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
    meta: Meta,
}

impl Record {
    /// Borrowed view with the same accessors.
    #[inline]
    pub fn view(&self) -> RecordRef<'_> {
        RecordRef {
            buf: &self.data,
            start: 0,
            body: &self.data,
            meta: self.meta,
        }
    }

    /// Absolute offset in the partition.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.meta.offset
    }

    /// Timestamp in ms; under LogAppendTime this is the batch's `maxTimestamp`.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.meta.timestamp
    }

    /// How [`Self::timestamp`] was assigned.
    pub fn timestamp_type(&self) -> TimestampType {
        self.view().timestamp_type()
    }

    /// Record-level attributes byte (unused by Kafka so far).
    pub fn attributes(&self) -> i8 {
        self.meta.attributes
    }

    /// Key bytes, `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.view().key()
    }

    /// Value bytes, `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.view().value()
    }

    /// Key as an owned zero-copy slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.view().key_bytes()
    }

    /// Value as an owned zero-copy slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.view().value_bytes()
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.meta.header_count as usize
    }

    /// Headers in wire order, repeated keys kept. Parsed lazily, allocation-free.
    pub fn headers(&self) -> Headers<'_> {
        self.view().headers()
    }

    /// The last header with this key (Java's `Headers.lastHeader`).
    pub fn last_header(&self, key: &[u8]) -> Option<Header<'_>> {
        self.view().last_header(key)
    }

    /// Encoded size of the record body, for memory accounting.
    pub fn encoded_len(&self) -> usize {
        self.data.len()
    }

    /// A copy that owns just this record's bytes, so keeping it does not pin the fetch buffer.
    pub fn detach(&self) -> Self {
        Self {
            data: Bytes::copy_from_slice(&self.data),
            meta: self.meta,
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

/// Lazy iterator over a record's headers.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    buf: &'a Bytes,
    /// Record body position in `buf`.
    base: usize,
    body: &'a [u8],
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
        let key = read_field(self.body, &mut self.pos).ok()?;
        let value = read_field(self.body, &mut self.pos).ok()?;
        self.remaining -= 1;
        Some(Header {
            buf: self.buf,
            base: self.base,
            body: self.body,
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
    buf: &'a Bytes,
    base: usize,
    body: &'a [u8],
    key: Span,
    value: Span,
}

impl<'a> Header<'a> {
    /// Raw key bytes.
    pub fn key(&self) -> &'a [u8] {
        let body = self.body;
        &body[self.key.range().unwrap_or_default()]
    }

    /// Key as UTF-8.
    pub fn key_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.key())
    }

    /// Key as an owned zero-copy slice.
    pub fn key_bytes(&self) -> Bytes {
        let r = self.key.range().unwrap_or_default();
        self.buf.slice(self.base + r.start..self.base + r.end)
    }

    /// Value bytes, `None` for null.
    pub fn value(&self) -> Option<&'a [u8]> {
        let body = self.body;
        self.value.range().map(|r| &body[r])
    }

    /// Value as an owned zero-copy slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value
            .range()
            .map(|r| self.buf.slice(self.base + r.start..self.base + r.end))
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
