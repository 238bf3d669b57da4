//! The poll side: decoding buffered fetch data into records, on the application's task. The driver
//! only stores the raw response ([`Buffered`]); batches are parsed, filtered (`read_committed`) and
//! decompressed here, as `poll` hands records out (ARCHITECTURE.md, "How a byte travels").

use std::sync::Arc;

use kafkaroo_records::{BatchVerdict, Compression};

use super::partition::Buffered;
use crate::budget::MemoryBudget;
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};

/// Where the partition stands while records are handed out.
pub(super) struct Cursor {
    /// The next offset to hand out.
    pub(super) position: i64,
    /// Leader epoch of the last batch handed out.
    pub(super) last_epoch: Option<i32>,
}

/// Whether the buffer has more to hand out.
pub(super) enum Drained {
    /// `max` records were handed out; more may follow.
    More,
    /// Every batch was read: the buffer can go.
    Exhausted,
}

impl Buffered {
    /// Hands out records at or after `cursor.position` until `out` holds `max`, moving the cursor past
    /// each record, and past batches that hold nothing for the application (control batches, aborted
    /// transactions, compacted tails). A corrupt batch stops with an error naming its offset.
    pub(super) fn drain(
        &mut self,
        tp: &TopicPartition,
        topic: &Arc<str>,
        cursor: &mut Cursor,
        budget: &Arc<MemoryBudget>,
        max: usize,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<Drained, Error> {
        let corrupt = |offset, source| Error::CorruptRecord {
            partition: tp.clone(),
            offset,
            source,
        };
        while out.len() < max {
            if self.current.is_none() {
                let batch = match self.reader.next() {
                    None => return Ok(Drained::Exhausted),
                    Some(Err(source)) => return Err(corrupt(source.offset().max(cursor.position), source)),
                    Some(Ok(batch)) => batch,
                };
                if batch.next_offset() <= cursor.position {
                    continue; // entirely below the position (whole batches are returned)
                }
                let deliver = match self.filter.as_mut() {
                    Some(f) => match f.check(&batch) {
                        Ok(v) => v == BatchVerdict::Deliver,
                        Err(source) => return Err(corrupt(batch.base_offset(), source)),
                    },
                    None => !batch.is_control(),
                };
                if !deliver {
                    cursor.position = batch.next_offset();
                    continue;
                }
                let records = match batch.records() {
                    Ok(records) => records,
                    Err(source) => return Err(corrupt(batch.base_offset().max(cursor.position), source)),
                };
                // A decompressed batch is new memory: count it until its last record drops.
                let records = if batch.compression() == Compression::None {
                    records
                } else {
                    let reservation = budget.reserve_exact(records.data().len());
                    records.wrap_data(|data| reservation.attach(data))
                };
                self.current = Some((batch, records));
            }
            let Some((batch, records)) = self.current.as_mut() else {
                continue;
            };
            let epoch = batch.header().partition_leader_epoch;
            let mut finished = true;
            for record in records.by_ref() {
                let record = record.map_err(|source| corrupt(cursor.position, source))?;
                if record.offset() < cursor.position {
                    continue;
                }
                cursor.position = record.offset() + 1;
                cursor.last_epoch = Some(epoch);
                out.push(ConsumerRecord {
                    topic: topic.clone(),
                    partition: tp.partition,
                    leader_epoch: epoch,
                    record,
                });
                if out.len() >= max {
                    finished = false;
                    break;
                }
            }
            if finished {
                // Past the batch's last offset even if compaction removed its tail records.
                cursor.position = cursor.position.max(batch.next_offset());
                cursor.last_epoch = Some(epoch);
                self.current = None;
            }
        }
        Ok(Drained::More)
    }
}
