//! Request headers v0–v2 and response headers v0–v1, and the typed request/response codec on top.
//!
//! Message bodies come from the `kafka-protocol` crate (generated from Kafka's JSON schemas); the headers
//! are small enough to write here, which also covers request header v0 that kafka-protocol no longer
//! models. Which header version an API version uses is decided by the message schema
//! ([`kafka_protocol::protocol::HeaderVersion`]), not guessed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request};

use crate::error_code::ErrorCode;
use crate::frame::{begin_frame, finish_frame};

/// A request could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message schema does not define this version.
    #[error("{api} v{version} is not a version this client can encode (it knows {min}..={max})")]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The requested version.
        version: i16,
        /// Lowest version the schema knows.
        min: i16,
        /// Highest version the schema knows.
        max: i16,
    },
    /// The body has a field set that the chosen version cannot carry, or a value out of range.
    #[error("{api} v{version} could not be encoded: {message}")]
    Body {
        /// The API name.
        api: &'static str,
        /// The version being encoded.
        version: i16,
        /// What the encoder reported.
        message: String,
    },
}

/// A response could not be decoded. The connection that produced it can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended inside the response header.
    #[error("response header truncated: {len} bytes")]
    TruncatedHeader {
        /// Bytes available.
        len: usize,
    },
    /// The body did not match the schema of the version that was requested.
    #[error("{api} v{version} response could not be decoded: {message}")]
    Body {
        /// The API name.
        api: &'static str,
        /// The version that was requested.
        version: i16,
        /// What the decoder reported.
        message: String,
    },
    /// The body decoded but bytes were left over: the peer and we disagree on the schema.
    #[error("{api} v{version} response has {trailing} unexpected trailing bytes")]
    TrailingBytes {
        /// The API name.
        api: &'static str,
        /// The version that was requested.
        version: i16,
        /// How many bytes were left.
        trailing: usize,
    },
}

/// The human name of an API key, e.g. `Fetch`; `Unknown` for keys this build does not know.
pub fn api_name(api_key: i16) -> &'static str {
    match ApiKey::try_from(api_key) {
        Ok(key) => api_key_name(key),
        Err(()) => "Unknown",
    }
}

fn api_key_name(key: ApiKey) -> &'static str {
    // The Debug form of the generated enum is exactly the API's name; leak-free via a static table.
    static NAMES: std::sync::OnceLock<std::collections::HashMap<i16, &'static str>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ApiKey::iter()
            .map(|k| (k as i16, &*Box::leak(format!("{k:?}").into_boxed_str())))
            .collect()
    });
    names.get(&(key as i16)).copied().unwrap_or("Unknown")
}

/// The fields of a request header. Which of them are written depends on the header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// The API being called.
    pub api_key: i16,
    /// The version of that API.
    pub api_version: i16,
    /// Echoed by the broker in the response header; matches responses to requests.
    pub correlation_id: i32,
    /// Shown in broker logs and quotas (header v1+).
    pub client_id: Option<&'a str>,
}

impl RequestHeader<'_> {
    /// Appends the header in `header_version` (0: key, version, correlation id; 1: + client id;
    /// 2: + empty tagged fields).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            // The client id stays a classic nullable string even in flexible header v2.
            match self.client_id {
                Some(id) => {
                    let len = id.len().min(i16::MAX as usize);
                    buf.put_i16(len as i16);
                    buf.put_slice(&id.as_bytes()[..len]);
                }
                None => buf.put_i16(-1),
            }
        }
        if header_version >= 2 {
            buf.put_u8(0); // no tagged fields
        }
    }
}

/// Encodes one complete request frame (size prefix, header, body) for `version` of `R`.
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &R,
) -> Result<(), EncodeError> {
    let api = api_name(R::KEY);
    if version < R::VERSIONS.min || version > R::VERSIONS.max {
        return Err(EncodeError::UnsupportedVersion {
            api,
            version,
            min: R::VERSIONS.min,
            max: R::VERSIONS.max,
        });
    }
    let start = begin_frame(buf);
    let header = RequestHeader {
        api_key: R::KEY,
        api_version: version,
        correlation_id,
        client_id,
    };
    header.encode(R::header_version(version), buf);
    if let Err(e) = body.encode(buf, version) {
        buf.truncate(start);
        return Err(EncodeError::Body {
            api,
            version,
            message: e.to_string(),
        });
    }
    finish_frame(buf, start);
    Ok(())
}

/// Reads the correlation id at the start of a response frame (it leads every header version), so a
/// connection can route the frame before knowing its type.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(DecodeError::TruncatedHeader { len: frame.len() }),
    }
}

fn get_unsigned_varint(buf: &mut Bytes) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let byte = buf.get_u8();
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Consumes a response header of `header_version` from the front of `frame`; returns the correlation id.
pub fn decode_response_header(header_version: i16, frame: &mut Bytes) -> Result<i32, DecodeError> {
    let len = frame.len();
    let correlation_id = peek_correlation_id(frame)?;
    frame.advance(4);
    if header_version >= 1 {
        let count = get_unsigned_varint(frame).ok_or(DecodeError::TruncatedHeader { len })?;
        for _ in 0..count {
            let _tag = get_unsigned_varint(frame).ok_or(DecodeError::TruncatedHeader { len })?;
            let size = get_unsigned_varint(frame).ok_or(DecodeError::TruncatedHeader { len })?;
            let size = usize::try_from(size).map_err(|_| DecodeError::TruncatedHeader { len })?;
            if frame.len() < size {
                return Err(DecodeError::TruncatedHeader { len });
            }
            frame.advance(size);
        }
    }
    Ok(correlation_id)
}

fn decode_body<M: Decodable>(api: &'static str, version: i16, mut body: Bytes) -> Result<M, DecodeError> {
    let message = M::decode(&mut body, version).map_err(|e| DecodeError::Body {
        api,
        version,
        message: e.to_string(),
    })?;
    if body.has_remaining() {
        return Err(DecodeError::TrailingBytes {
            api,
            version,
            trailing: body.remaining(),
        });
    }
    Ok(message)
}

/// Decodes a complete response frame (without size prefix) to `R`'s response at `version`.
/// Returns the correlation id from the header with the body.
pub fn decode_response<R: Request>(
    version: i16,
    mut frame: Bytes,
) -> Result<(i32, R::Response), DecodeError> {
    let correlation_id = decode_response_header(R::Response::header_version(version), &mut frame)?;
    if R::KEY == ApiKey::ApiVersions as i16 {
        // A broker that does not know the requested ApiVersions version answers UNSUPPORTED_VERSION with a
        // v0 body (its supported ranges), whatever version was asked. error_code leads every version.
        if frame.len() >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == ErrorCode::UNSUPPORTED_VERSION.0 {
            return Ok((correlation_id, decode_body(api_name(R::KEY), 0, frame)?));
        }
    }
    Ok((correlation_id, decode_body(api_name(R::KEY), version, frame)?))
}

/// Decodes an ApiVersions response frame; see [`decode_response`] for the UNSUPPORTED_VERSION rule.
pub fn decode_api_versions(version: i16, frame: Bytes) -> Result<(i32, ApiVersionsResponse), DecodeError> {
    decode_response::<kafka_protocol::messages::ApiVersionsRequest>(version, frame)
}

/// Encodes a response message with its header as a frame; used by the test broker and tests.
pub fn encode_response<M: Encodable + HeaderVersion>(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &M,
) -> Result<(), EncodeError> {
    let start = begin_frame(buf);
    buf.put_i32(correlation_id);
    if M::header_version(version) >= 1 {
        buf.put_u8(0);
    }
    if let Err(e) = body.encode(buf, version) {
        buf.truncate(start);
        return Err(EncodeError::Body {
            api: "response",
            version,
            message: e.to_string(),
        });
    }
    finish_frame(buf, start);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameDecoder;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, HeartbeatRequest, HeartbeatResponse};
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn request_header_versions_have_the_documented_layout() {
        let header = RequestHeader {
            api_key: 12,
            api_version: 4,
            correlation_id: 7,
            client_id: Some("ab"),
        };
        let mut v0 = BytesMut::new();
        header.encode(0, &mut v0);
        assert_eq!(&v0[..], &[0, 12, 0, 4, 0, 0, 0, 7]);
        let mut v1 = BytesMut::new();
        header.encode(1, &mut v1);
        assert_eq!(&v1[..], &[0, 12, 0, 4, 0, 0, 0, 7, 0, 2, b'a', b'b']);
        let mut v2 = BytesMut::new();
        header.encode(2, &mut v2);
        assert_eq!(&v2[..], &[0, 12, 0, 4, 0, 0, 0, 7, 0, 2, b'a', b'b', 0]);
        let mut null = BytesMut::new();
        RequestHeader {
            client_id: None,
            ..header
        }
        .encode(1, &mut null);
        assert_eq!(&null[8..], &[0xff, 0xff]);
    }

    #[test]
    fn flexible_request_uses_header_v2_and_classic_uses_v1() {
        let mut buf = BytesMut::new();
        let hb = HeartbeatRequest::default().with_group_id(StrBytes::from_static_str("g").into());
        encode_request(&mut buf, 9, Some("c"), 4, &hb).unwrap(); // Heartbeat v4 is flexible
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        // key 12, version 4, corr 9, client id "c", then the tagged-field count of header v2.
        assert_eq!(&frame[..12], &[0, 12, 0, 4, 0, 0, 0, 9, 0, 1, b'c', 0]);

        encode_request(&mut buf, 10, Some("c"), 2, &hb).unwrap(); // v2 is not flexible
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(&frame[..11], &[0, 12, 0, 2, 0, 0, 0, 10, 0, 1, b'c']);
        assert_eq!(frame[11], 0, "group id length high byte follows directly");
    }

    #[test]
    fn versions_outside_the_schema_are_refused() {
        let mut buf = BytesMut::new();
        let err = encode_request(&mut buf, 1, None, 3, &FetchRequest::default()).unwrap_err();
        assert!(
            matches!(
                err,
                EncodeError::UnsupportedVersion {
                    api: "Fetch",
                    version: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn response_roundtrip_and_trailing_bytes() {
        let mut buf = BytesMut::new();
        let resp = HeartbeatResponse::default()
            .with_error_code(27)
            .with_throttle_time_ms(5);
        encode_response(&mut buf, 77, 4, &resp).unwrap();
        let frame = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .freeze();
        let (corr, decoded) = decode_response::<HeartbeatRequest>(4, frame.clone()).unwrap();
        assert_eq!(corr, 77);
        assert_eq!(decoded.error_code, 27);
        assert_eq!(decoded.throttle_time_ms, 5);

        let mut longer = BytesMut::from(&frame[..]);
        longer.put_u8(1);
        let err = decode_response::<HeartbeatRequest>(4, longer.freeze()).unwrap_err();
        assert!(
            matches!(err, DecodeError::TrailingBytes { trailing: 1, .. }),
            "{err}"
        );

        let err = decode_response::<HeartbeatRequest>(4, frame.slice(..6)).unwrap_err();
        assert!(matches!(err, DecodeError::Body { api: "Heartbeat", .. }), "{err}");
    }

    #[test]
    fn api_versions_unsupported_version_answer_is_read_as_v0() {
        let v0_body = ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UNSUPPORTED_VERSION.0)
            .with_api_keys(vec![
                ApiVersion::default()
                    .with_api_key(18)
                    .with_min_version(0)
                    .with_max_version(2),
            ]);
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 1, 0, &v0_body).unwrap();
        let frame = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .freeze();
        // We asked for v3 (flexible) but the broker answered in v0.
        let (_, resp) = decode_response::<ApiVersionsRequest>(3, frame).unwrap();
        assert_eq!(resp.error_code, 35);
        assert_eq!(resp.api_keys[0].max_version, 2);
    }

    #[test]
    fn names_of_apis() {
        assert_eq!(api_name(1), "Fetch");
        assert_eq!(api_name(18), "ApiVersions");
        assert_eq!(api_name(-3), "Unknown");
    }
}
