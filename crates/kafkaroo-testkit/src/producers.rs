//! The idempotent producers the cluster knows (ids handed out, each producer's latest batches per
//! partition) and the leader's sequence checks that Produce runs before it appends a batch.

use std::collections::{BTreeMap, VecDeque};

use kafkaroo_wire::ErrorCode;

/// How many of a producer's latest batches per partition the leader remembers to answer retries, as
/// Kafka's producer state does (it matches `max.in.flight.requests.per.connection` ≤ 5).
const REMEMBERED_BATCHES: usize = 5;

/// One producer's sequence state on one partition.
#[derive(Debug, Clone, Default)]
struct SequenceState {
    epoch: i16,
    /// `(base sequence, last sequence, base offset)` of the latest batches, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

/// The idempotent producers the cluster knows: ids handed out and sequence state per partition.
#[derive(Debug, Default)]
pub(crate) struct Producers {
    next_id: i64,
    sequences: BTreeMap<(String, i32, i64), SequenceState>,
}

/// What the sequence check decided for one batch.
pub(crate) enum Sequence {
    /// Append it.
    Append,
    /// A retry of a batch already written at this base offset.
    Duplicate(i64),
}

/// The fields of a v2 batch header the leader reads before appending.
pub(crate) struct BatchHeader {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    last_offset_delta: i32,
}

impl BatchHeader {
    /// Offsets of the v2 header fields: baseOffset 0, batchLength 8, partitionLeaderEpoch 12, magic 16,
    /// crc 17, attributes 21, lastOffsetDelta 23, timestamps 27 and 35, producerId 43, producerEpoch 51,
    /// baseSequence 53, records count 57.
    const LEN: usize = 61;

    pub(crate) fn read(batch: &[u8]) -> Option<Self> {
        if batch.len() < Self::LEN || batch[16] != 2 {
            return None;
        }
        let i32_at = |at: usize| i32::from_be_bytes(batch[at..at + 4].try_into().expect("4 bytes"));
        Some(Self {
            last_offset_delta: i32_at(23),
            producer_id: i64::from_be_bytes(batch[43..51].try_into().expect("8 bytes")),
            producer_epoch: i16::from_be_bytes(batch[51..53].try_into().expect("2 bytes")),
            base_sequence: i32_at(53),
        })
    }
}

impl Producers {
    /// Kafka's rule for the next sequence: it wraps from `i32::MAX` to 0.
    fn next_sequence(last: i32) -> i32 {
        if last == i32::MAX { 0 } else { last + 1 }
    }

    pub(crate) fn check(&self, topic: &str, partition: i32, h: &BatchHeader) -> Result<Sequence, ErrorCode> {
        if h.producer_id < 0 {
            return Ok(Sequence::Append);
        }
        let key = (topic.to_owned(), partition, h.producer_id);
        let Some(state) = self.sequences.get(&key) else {
            // A producer this partition has not seen starts at sequence 0.
            return if h.base_sequence == 0 {
                Ok(Sequence::Append)
            } else {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if h.producer_epoch < state.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch > state.epoch {
            return if h.base_sequence == 0 {
                Ok(Sequence::Append)
            } else {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        let last_sequence = h.base_sequence.wrapping_add(h.last_offset_delta);
        if let Some(&(_, _, offset)) = state
            .recent
            .iter()
            .find(|&&(base, last, _)| base == h.base_sequence && last == last_sequence)
        {
            return Ok(Sequence::Duplicate(offset));
        }
        match state.recent.back() {
            Some(&(_, last, _)) if h.base_sequence != Self::next_sequence(last) => {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            }
            _ => Ok(Sequence::Append),
        }
    }

    pub(crate) fn appended(&mut self, topic: &str, partition: i32, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let state = self
            .sequences
            .entry((topic.to_owned(), partition, h.producer_id))
            .or_default();
        if h.producer_epoch != state.epoch {
            state.epoch = h.producer_epoch;
            state.recent.clear();
        }
        let last_sequence = h.base_sequence.wrapping_add(h.last_offset_delta);
        state
            .recent
            .push_back((h.base_sequence, last_sequence, base_offset));
        if state.recent.len() > REMEMBERED_BATCHES {
            state.recent.pop_front();
        }
    }
}

impl Producers {
    pub(crate) fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        // Recognisable in logs, like the topic ids.
        0x6b72_0000 + self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer_id: i64, producer_epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            producer_id,
            producer_epoch,
            base_sequence,
            last_offset_delta: records - 1,
        }
    }

    #[test]
    fn sequences_are_checked_like_the_leader_does() {
        let mut p = Producers::default();
        let h = header(7, 0, 0, 3);
        assert!(matches!(p.check("t", 0, &h), Ok(Sequence::Append)));
        p.appended("t", 0, &h, 100);
        // The same batch again: a retry, answered with its first offset.
        assert!(matches!(p.check("t", 0, &h), Ok(Sequence::Duplicate(100))));
        // A gap.
        assert_eq!(
            p.check("t", 0, &header(7, 0, 4, 1)).err(),
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // The next one.
        assert!(matches!(
            p.check("t", 0, &header(7, 0, 3, 1)),
            Ok(Sequence::Append)
        ));
        // A new producer must start at 0; another partition is separate.
        assert_eq!(
            p.check("t", 1, &header(7, 0, 5, 1)).err(),
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // A bumped epoch restarts at 0; the old epoch is fenced once the new one wrote.
        let bumped = header(7, 1, 0, 1);
        assert!(matches!(p.check("t", 0, &bumped), Ok(Sequence::Append)));
        p.appended("t", 0, &bumped, 103);
        assert_eq!(
            p.check("t", 0, &header(7, 0, 3, 1)).err(),
            Some(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
        // Not idempotent: never checked.
        assert!(matches!(
            p.check("t", 0, &header(-1, -1, -1, 1)),
            Ok(Sequence::Append)
        ));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(Producers::next_sequence(i32::MAX), 0);
        let mut p = Producers::default();
        let h = header(7, 0, 0, 1);
        p.appended("t", 0, &h, 0);
        p.sequences.get_mut(&("t".to_owned(), 0, 7)).unwrap().recent[0] = (i32::MAX, i32::MAX, 0);
        assert!(matches!(
            p.check("t", 0, &header(7, 0, 0, 1)),
            Ok(Sequence::Append)
        ));
    }
}
