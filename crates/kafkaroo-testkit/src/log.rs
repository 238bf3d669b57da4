//! One partition's in-memory log: whole record batches as bytes, the offsets they cover, and the
//! leader-epoch history (KIP-101) the broker answers OffsetForLeaderEpoch and diverging-epoch checks from.

use bytes::{Bytes, BytesMut};
use kafkaroo_records::{BatchReader, DecodeOptions};

use crate::error::Error;

/// A batch as stored: its bytes and what the broker needs to know about it without decoding it again.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub(crate) base_offset: i64,
    /// `base_offset + last_offset_delta + 1`.
    pub(crate) next_offset: i64,
    /// Offset and timestamp of every record (for ListOffsets by timestamp).
    pub(crate) timestamps: Vec<(i64, i64)>,
    pub(crate) bytes: Bytes,
}

/// How a read cuts the log at the byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Only whole batches (the next batch that does not fit is left out).
    WholeBatches,
    /// Like Kafka's log reads: the bytes up to the limit, so the last batch may be partial.
    AtLimit,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_start: i64,
    /// Log end offset: the offset the next appended batch gets.
    end: i64,
    /// `(epoch, start offset)`, increasing in both.
    epochs: Vec<(i32, i64)>,
}

impl PartitionLog {
    pub(crate) fn log_start(&self) -> i64 {
        self.log_start
    }

    pub(crate) fn end(&self) -> i64 {
        self.end
    }

    pub(crate) fn epochs(&self) -> &[(i32, i64)] {
        &self.epochs
    }

    #[cfg(test)]
    pub(crate) fn batches(&self) -> &[StoredBatch] {
        &self.batches
    }

    pub(crate) fn batches_mut(&mut self) -> &mut [StoredBatch] {
        &mut self.batches
    }

    /// Appends an encoded batch whose base offset must be the log end offset.
    pub(crate) fn append(&mut self, bytes: Vec<u8>) -> Result<(i64, i64), Error> {
        let bytes = Bytes::from(bytes);
        let mut reader = BatchReader::new(bytes.clone(), DecodeOptions::default());
        let batch = match reader.next() {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(Error::BadBatch(e.to_string())),
            None => return Err(Error::BadBatch("no complete batch".into())),
        };
        if reader.next().is_some() {
            return Err(Error::BadBatch("more than one batch".into()));
        }
        let header = *batch.header();
        if header.base_offset != self.end {
            return Err(Error::BadBatch(format!(
                "base offset {} is not the log end offset {}",
                header.base_offset, self.end
            )));
        }
        let mut timestamps = Vec::new();
        if !batch.is_control() {
            for r in batch.records().map_err(|e| Error::BadBatch(e.to_string()))? {
                let r = r.map_err(|e| Error::BadBatch(e.to_string()))?;
                timestamps.push((r.offset(), r.timestamp()));
            }
        }
        let epoch = header.partition_leader_epoch;
        if self.epochs.last().is_none_or(|&(e, _)| epoch > e) {
            self.assign_epoch(epoch, header.base_offset);
        }
        let next = header.next_offset();
        self.batches.push(StoredBatch {
            base_offset: header.base_offset,
            next_offset: next,
            timestamps,
            bytes,
        });
        self.end = next;
        Ok((header.base_offset, next))
    }

    /// Records that `epoch` starts at `start` (a leader election), dropping entries it supersedes, as
    /// Kafka's leader-epoch cache does.
    pub(crate) fn assign_epoch(&mut self, epoch: i32, start: i64) {
        if self.epochs.last().is_some_and(|&(e, s)| e == epoch && s <= start) {
            return;
        }
        self.epochs.retain(|&(e, s)| e < epoch && s < start);
        self.epochs.push((epoch, start));
    }

    /// Removes everything at and after `offset` (a new leader with a shorter log), which must be a batch
    /// boundary.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<(), Error> {
        if offset > self.end || offset < self.log_start {
            return Err(Error::Offset(format!(
                "cannot truncate to {offset}: the log holds {}..{}",
                self.log_start, self.end
            )));
        }
        if self
            .batches
            .iter()
            .any(|b| b.base_offset < offset && b.next_offset > offset)
        {
            return Err(Error::Offset(format!("{offset} is inside a batch")));
        }
        self.batches.retain(|b| b.base_offset < offset);
        self.end = offset;
        self.epochs.retain(|&(_, s)| s < offset);
        Ok(())
    }

    /// DeleteRecords: the log now starts at `offset`; batches wholly below it go.
    pub(crate) fn delete_before(&mut self, offset: i64) -> Result<(), Error> {
        if offset > self.end || offset < self.log_start {
            return Err(Error::Offset(format!(
                "cannot start the log at {offset}: it holds {}..{}",
                self.log_start, self.end
            )));
        }
        self.log_start = offset;
        self.batches.retain(|b| b.next_offset > offset);
        Ok(())
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: the epoch at or below `epoch` and the offset where
    /// it ends (the start of the next epoch, or the log end for the latest epoch).
    pub(crate) fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        if epoch < 0 {
            return (-1, -1);
        }
        if self.epochs.last().is_some_and(|&(e, _)| e == epoch) {
            return (epoch, self.end);
        }
        let higher = self.epochs.iter().find(|&&(e, _)| e > epoch);
        let floor = self.epochs.iter().rev().find(|&&(e, _)| e <= epoch);
        match (floor, higher) {
            (_, None) => (-1, -1),
            (None, Some(&(_, start))) => (epoch, start),
            (Some(&(e, _)), Some(&(_, start))) => (e, start),
        }
    }

    /// The bytes of the batches from the one holding `offset` on, at most `max_bytes` unless
    /// `min_one` (KIP-74: the first batch comes whole even if it is larger than the limit).
    pub(crate) fn read(&self, offset: i64, max_bytes: usize, cut: Cut, min_one: bool) -> Bytes {
        let Some(first) = self.batches.iter().position(|b| b.next_offset > offset) else {
            return Bytes::new();
        };
        let mut out = BytesMut::new();
        for (i, b) in self.batches[first..].iter().enumerate() {
            let room = max_bytes.saturating_sub(out.len());
            if b.bytes.len() <= room {
                out.extend_from_slice(&b.bytes);
            } else if i == 0 && min_one {
                out.extend_from_slice(&b.bytes);
                break;
            } else {
                if cut == Cut::AtLimit {
                    out.extend_from_slice(&b.bytes[..room]);
                }
                break;
            }
        }
        out.freeze()
    }

    /// ListOffsets for a timestamp: the first record at or after it, as `(offset, timestamp)`.
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64)> {
        self.batches
            .iter()
            .flat_map(|b| b.timestamps.iter())
            .find(|&&(o, t)| t >= ts && o >= self.log_start)
            .copied()
    }

    /// ListOffsets -3 (KIP-734): the record with the largest timestamp (the first of equals).
    pub(crate) fn max_timestamp(&self) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for &(o, t) in self.batches.iter().flat_map(|b| b.timestamps.iter()) {
            if o >= self.log_start && best.is_none_or(|(_, bt)| t > bt) {
                best = Some((o, t));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use kafkaroo_records::test_encoder::{TestBatch, TestRecord};

    use super::*;

    fn batch(base: i64, epoch: i32, n: i32) -> Vec<u8> {
        let records = (0..n)
            .map(|i| TestRecord::new(i, None, Some(b"0123456789")))
            .collect();
        let mut b = TestBatch::new(base, records);
        b.partition_leader_epoch = epoch;
        b.encode()
    }

    #[test]
    fn offsets_epochs_and_truncation() {
        let mut log = PartitionLog::default();
        assert_eq!(log.append(batch(0, 0, 5)).unwrap(), (0, 5));
        assert_eq!(log.append(batch(5, 0, 5)).unwrap(), (5, 10));
        assert!(log.append(batch(3, 0, 1)).is_err());
        log.assign_epoch(1, 10);
        assert_eq!(log.append(batch(10, 1, 2)).unwrap(), (10, 12));
        assert_eq!(log.epochs(), &[(0, 0), (1, 10)]);
        assert_eq!(log.end_offset_for_epoch(0), (0, 10));
        assert_eq!(log.end_offset_for_epoch(1), (1, 12));
        assert_eq!(log.end_offset_for_epoch(7), (-1, -1));

        // Unclean election: the new leader only had 0..5, and starts epoch 2 there.
        log.truncate_to(5).unwrap();
        log.assign_epoch(2, 5);
        assert_eq!(log.epochs(), &[(0, 0), (2, 5)]);
        assert_eq!(log.end_offset_for_epoch(0), (0, 5));
        assert_eq!(log.end_offset_for_epoch(1), (0, 5));
        assert!(log.truncate_to(3).is_err(), "inside a batch");
    }

    #[test]
    fn reads_whole_batches_or_cut_at_the_limit() {
        let mut log = PartitionLog::default();
        for base in [0, 5, 10] {
            log.append(batch(base, 0, 5)).unwrap();
        }
        let one = log.batches()[0].bytes.len();
        assert_eq!(log.read(0, one * 3, Cut::WholeBatches, true).len(), one * 3);
        assert_eq!(log.read(0, one * 2 + 10, Cut::WholeBatches, true).len(), one * 2);
        assert_eq!(log.read(0, one * 2 + 10, Cut::AtLimit, true).len(), one * 2 + 10);
        // KIP-74: the first batch comes whole.
        assert_eq!(log.read(7, 10, Cut::WholeBatches, true).len(), one);
        assert_eq!(log.read(7, 10, Cut::WholeBatches, false).len(), 0);
        assert_eq!(log.read(7, 10, Cut::AtLimit, false).len(), 10);
        assert_eq!(log.read(15, 1000, Cut::WholeBatches, true).len(), 0);
        log.delete_before(7).unwrap();
        assert_eq!(log.log_start(), 7);
        assert_eq!(log.batches()[0].base_offset, 5);
    }
}
