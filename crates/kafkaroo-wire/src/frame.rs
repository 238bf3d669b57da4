//! Kafka's framing: every request and response is a 4-byte big-endian size followed by that many bytes.
//!
//! The size is checked before anything is allocated: a negative or oversized size is an error that names
//! it, and the bytes that usually cause it (an HTTP server or a TLS endpoint on the port) are recognised
//! so the error can say what the peer probably is.

use bytes::{Buf, BufMut, BytesMut};

/// The default cap on a single frame, as franz-go and librdkafka use (`receive.message.max.bytes`).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// What the first bytes of a bad frame suggest about the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerHint {
    /// The bytes spell `HTTP`: the address is an HTTP server or proxy, not a Kafka listener.
    Http,
    /// A TLS record header (alert or handshake): the listener expects TLS.
    Tls,
}

impl std::fmt::Display for PeerHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http => f.write_str("the peer answered with HTTP; is this an HTTP port or proxy?"),
            Self::Tls => f.write_str(
                "the peer answered with a TLS record: the listener speaks TLS: set security.protocol=SSL or SASL_SSL",
            ),
        }
    }
}

/// A frame whose size prefix cannot be accepted. The connection must be closed: the stream is no longer
/// in sync and nothing of the claimed size was allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("frame size {size} is negative{}", hint_suffix(.hint))]
    NegativeSize {
        /// The size the peer sent.
        size: i32,
        /// What the bytes look like, if recognisable.
        hint: Option<PeerHint>,
    },
    /// The size prefix exceeds the configured maximum.
    #[error("frame size {size} exceeds the maximum of {max} bytes{}", hint_suffix(.hint))]
    TooLarge {
        /// The size the peer sent.
        size: usize,
        /// The configured maximum.
        max: usize,
        /// What the bytes look like, if recognisable.
        hint: Option<PeerHint>,
    },
}

fn hint_suffix(hint: &Option<PeerHint>) -> String {
    hint.map(|h| format!(": {h}")).unwrap_or_default()
}

impl FrameError {
    /// What the first bytes suggested about the peer, if anything.
    pub fn hint(&self) -> Option<PeerHint> {
        match self {
            Self::NegativeSize { hint, .. } | Self::TooLarge { hint, .. } => *hint,
        }
    }
}

/// Recognises the usual non-Kafka answers from their first four bytes.
pub fn sniff_peer(prefix: [u8; 4]) -> Option<PeerHint> {
    if &prefix == b"HTTP" || &prefix[..3] == b"HTT" {
        return Some(PeerHint::Http);
    }
    // TLS record: content type 21 (alert) or 22 (handshake), then protocol version 3.x.
    if matches!(prefix[0], 0x15 | 0x16) && prefix[1] == 0x03 && prefix[2] <= 0x04 {
        return Some(PeerHint::Tls);
    }
    None
}

/// Splits complete frames off a read buffer. Sans-IO: the caller reads bytes into the buffer and calls
/// [`FrameDecoder::decode`] until it returns `Ok(None)` ("need more bytes").
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames larger than `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// The configured maximum frame size.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Checks a size prefix without consuming anything. Returns the frame length.
    pub fn check_size(&self, prefix: [u8; 4]) -> Result<usize, FrameError> {
        let size = i32::from_be_bytes(prefix);
        if size < 0 {
            return Err(FrameError::NegativeSize {
                size,
                hint: sniff_peer(prefix),
            });
        }
        let size = size as usize;
        if size > self.max_frame_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_size,
                hint: sniff_peer(prefix),
            });
        }
        Ok(size)
    }

    /// Takes one complete frame (without its size prefix) off the front of `buf`, or returns `Ok(None)`
    /// when more bytes are needed. When the frame is incomplete, reserves room for the rest of it (the
    /// size was validated first), so the caller's next read can fill it without repeated growth.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = self.check_size([buf[0], buf[1], buf[2], buf[3]])?;
        if buf.len() < 4 + size {
            buf.reserve(4 + size - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(size)))
    }
}

/// Writes the size prefix for a frame whose body was appended to `buf` after `start + 4`.
/// Use with [`begin_frame`].
pub fn finish_frame(buf: &mut BytesMut, start: usize) {
    let len = (buf.len() - start - 4) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Reserves the 4-byte size prefix of a new frame; returns its position for [`finish_frame`].
pub fn begin_frame(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_and_waits_for_more() {
        let d = FrameDecoder::new(16);
        let mut buf = BytesMut::from(&[0, 0, 0, 3, b'a', b'b'][..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[b'c', 0, 0, 0, 0, 0, 0]);
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"");
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn oversized_frame_is_refused_without_allocating_it() {
        let d = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap_before = buf.capacity();
        let err = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: i32::MAX as usize,
                max: 1024,
                hint: None
            }
        );
        assert_eq!(buf.capacity(), cap_before);
        assert!(err.to_string().contains("2147483647"), "{err}");
    }

    #[test]
    fn negative_frame_is_refused() {
        let d = FrameDecoder::default();
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap_err(),
            FrameError::NegativeSize { size: -5, hint: None }
        );
    }

    #[test]
    fn http_and_tls_answers_are_named() {
        let d = FrameDecoder::default();
        let mut http = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        let err = d.decode(&mut http).unwrap_err();
        assert_eq!(err.hint(), Some(PeerHint::Http));
        assert!(err.to_string().contains("HTTP"), "{err}");

        // A TLS alert record: type 21, version 3.3, length 2.
        let mut tls = BytesMut::from(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46][..]);
        let err = d.decode(&mut tls).unwrap_err();
        assert_eq!(err.hint(), Some(PeerHint::Tls));
        assert!(err.to_string().contains("TLS"), "{err}");
    }

    #[test]
    fn begin_and_finish_write_the_size() {
        let mut buf = BytesMut::new();
        let start = begin_frame(&mut buf);
        buf.put_slice(b"hello");
        finish_frame(&mut buf, start);
        assert_eq!(&buf[..], b"\0\0\0\x05hello");
        let d = FrameDecoder::default();
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"hello");
    }
}
