//! The W3C Trace Context `traceparent` a producer puts in a record's headers (the OpenTelemetry Kafka
//! instrumentations of Java, Go and .NET all write this header), so that an application continues the
//! producer's trace for each record it consumes.

use std::fmt;

use crate::record::ConsumerRecord;

/// A parsed `traceparent` header: `version-traceid-parentid-flags`, e.g.
/// `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
///
/// Parsing follows the W3C Trace Context rules: lowercase hex only, version `ff` and all-zero ids are
/// invalid, a version above `00` may carry more fields after the four it shares with `00` (ignored).
///
/// ```
/// use kafkaroo::TraceParent;
///
/// let tp = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(tp.is_sampled());
/// assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(TraceParent::parse(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The format version (`00` today).
    pub version: u8,
    /// The trace the record belongs to.
    pub trace_id: [u8; 16],
    /// The span that produced the record: the parent of the consumer's span.
    pub parent_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

/// Length of a version-00 `traceparent`.
const LEN: usize = 55;

impl TraceParent {
    /// The header's name.
    pub const HEADER: &'static str = "traceparent";

    /// The record's `traceparent` header (the last one, if it has several), if present and valid.
    pub fn of(record: &ConsumerRecord) -> Option<Self> {
        record
            .record()
            .last_header(Self::HEADER.as_bytes())
            .and_then(|h| h.value())
            .and_then(Self::parse)
    }

    /// Parses a header value; `None` if it is not a valid `traceparent`.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        let version = hex::<1>(value.get(..2)?)?[0];
        if version == 0xff || value.len() < LEN || (version == 0 && value.len() != LEN) {
            return None;
        }
        if value.len() > LEN && value[LEN] != b'-' {
            return None;
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let trace_id = hex::<16>(&value[3..35])?;
        let parent_id = hex::<8>(&value[36..52])?;
        let flags = hex::<1>(&value[53..55])?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Whether the producer's trace was sampled (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lowercase hex digits (what tracing backends show).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The parent span id as 16 lowercase hex digits.
    pub fn parent_id_hex(&self) -> String {
        to_hex(&self.parent_id)
    }
}

/// The header value, as a producer writes it (version 00 layout).
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}-{}-{}-{:02x}",
            self.version,
            self.trace_id_hex(),
            self.parent_id_hex(),
            self.flags
        )
    }
}

/// Exactly `2 * N` lowercase hex digits.
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_specification_example() {
        let tp = TraceParent::parse(VALID.as_bytes()).unwrap();
        assert_eq!(tp.version, 0);
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        assert!(tp.is_sampled());
        assert_eq!(tp.to_string(), VALID);
        let unsampled = TraceParent::parse(&VALID.replace("-01", "-00").into_bytes()).unwrap();
        assert!(!unsampled.is_sampled());
    }

    #[test]
    fn refuses_what_the_specification_refuses() {
        let bad = [
            "",
            "00",
            // uppercase hex
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // version ff
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // all-zero trace id and parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version 00 with a trailing field
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // wrong separators, short ids, non-hex
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            // a later version whose extra part is not a field
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ];
        for value in bad {
            assert_eq!(TraceParent::parse(value.as_bytes()), None, "{value:?}");
        }
    }

    #[test]
    fn a_later_version_keeps_the_fields_it_shares_with_00() {
        let tp = TraceParent::parse(
            b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds",
        )
        .unwrap();
        assert_eq!((tp.version, tp.flags), (0xcc, 1));
        assert_eq!(tp.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(
            TraceParent::parse(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n")
                .map(|t| t.version),
            Some(0)
        );
    }
}
