//! Small helpers: names as protocol types, error codes as text, embedded consumer protocol bytes and a
//! minimal record batch header reader.

use bytes::{BufMut, Bytes, BytesMut};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::StrBytes;
use kafkaroo_wire::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafkaroo_wire::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, TopicName};
use kafkaroo_wire::protocol::Encodable;

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub(crate) fn tn(s: &str) -> TopicName {
    TopicName(sb(s))
}

pub(crate) fn gid(s: &str) -> GroupId {
    GroupId(sb(s))
}

/// `NAME(code)`.
pub(crate) fn code(c: i16) -> String {
    format!("{}({c})", ErrorCode(c).name())
}

/// Fails unless `got` is `want`.
pub(crate) fn expect_code(what: &str, got: i16, want: ErrorCode) -> anyhow::Result<()> {
    anyhow::ensure!(
        got == want.0,
        "{what}: expected {}, got {}",
        code(want.0),
        code(got)
    );
    Ok(())
}

/// The embedded consumer protocol: a big-endian i16 version, then the struct at that version.
fn embedded<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .expect("consumer protocol message encodes");
    buf.freeze()
}

/// JoinGroup metadata of a consumer subscribed to `topics` (ConsumerProtocolSubscription v3).
pub(crate) fn subscription(topics: &[&str]) -> Bytes {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| sb(t)).collect())
        .with_generation_id(-1);
    embedded(&s, 3)
}

/// SyncGroup assignment of all `partitions` of `topic` (ConsumerProtocolAssignment v3).
pub(crate) fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        AssignedPartitions::default()
            .with_topic(tn(topic))
            .with_partitions(partitions.to_vec()),
    ]);
    embedded(&a, 3)
}

/// The header fields of one record batch (magic 2) the suite asserts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Format version; 2 for every batch a modern broker stores.
    pub magic: i8,
    /// Timestamp of the first record (create time unless the topic uses log append time).
    pub base_timestamp: i64,
    /// Number of records in the batch.
    pub record_count: i32,
}

/// Reads the headers of the complete batches in a Fetch response's `records`. A trailing partial batch
/// (the broker may cut the last one at `max_bytes`) is ignored; a malformed header is an error.
pub fn parse_batch_headers(mut bytes: &[u8]) -> Result<Vec<BatchHeader>, String> {
    const HEADER: usize = 61;
    let mut out = Vec::new();
    while bytes.len() >= 12 {
        let base_offset = i64::from_be_bytes(bytes[0..8].try_into().unwrap());
        let batch_length = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
        if batch_length < (HEADER - 12) as i32 {
            return Err(format!(
                "batch at offset {base_offset}: length {batch_length} is shorter than a batch header"
            ));
        }
        let total = 12 + batch_length as usize;
        if bytes.len() < total {
            break;
        }
        let magic = bytes[16] as i8;
        if magic != 2 {
            return Err(format!(
                "batch at offset {base_offset}: magic {magic}, expected 2"
            ));
        }
        out.push(BatchHeader {
            base_offset,
            batch_length,
            magic,
            base_timestamp: i64::from_be_bytes(bytes[27..35].try_into().unwrap()),
            record_count: i32::from_be_bytes(bytes[57..61].try_into().unwrap()),
        });
        bytes = &bytes[total..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base_offset: i64, count: i32, body: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&base_offset.to_be_bytes());
        b.extend_from_slice(&((49 + body) as i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        b.push(2); // magic
        b.extend_from_slice(&[0; 4]); // crc
        b.extend_from_slice(&[0; 2]); // attributes
        b.extend_from_slice(&(count - 1).to_be_bytes()); // last offset delta
        b.extend_from_slice(&1234i64.to_be_bytes()); // base timestamp
        b.extend_from_slice(&1234i64.to_be_bytes()); // max timestamp
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        b.extend_from_slice(&count.to_be_bytes());
        b.extend(std::iter::repeat_n(7u8, body));
        b
    }

    #[test]
    fn reads_complete_batches_and_ignores_a_partial_tail() {
        let mut bytes = batch(0, 3, 10);
        bytes.extend(batch(3, 2, 5));
        let partial = batch(5, 4, 20);
        bytes.extend_from_slice(&partial[..30]);
        let headers = parse_batch_headers(&bytes).unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].base_offset, 0);
        assert_eq!(headers[0].record_count, 3);
        assert_eq!(headers[0].base_timestamp, 1234);
        assert_eq!(headers[1].base_offset, 3);
        assert_eq!(headers[1].record_count, 2);
        assert_eq!(headers[1].batch_length, 54);
    }

    #[test]
    fn rejects_old_magic_and_short_lengths() {
        let mut b = batch(0, 1, 0);
        b[16] = 1;
        assert!(parse_batch_headers(&b).unwrap_err().contains("magic 1"));
        let mut b = batch(0, 1, 0);
        b[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(parse_batch_headers(&b).is_err());
    }

    #[test]
    fn embedded_consumer_protocol_starts_with_its_version() {
        let s = subscription(&["t"]);
        assert_eq!(&s[..2], &[0, 3]);
        // version, topics array (len 1, "t"), user data null, owned partitions (0), generation, rack null
        assert_eq!(&s[2..9], &[0, 0, 0, 1, 0, 1, b't']);
        let a = assignment("t", &[0, 1]);
        assert_eq!(&a[..2], &[0, 3]);
    }
}
