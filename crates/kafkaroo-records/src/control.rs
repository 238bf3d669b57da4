//! Control records: the transaction markers (ABORT / COMMIT) written by the transaction
//! coordinator. They occupy an offset but are never delivered to the application.

use crate::error::DecodeError;
use crate::record::Record;

/// Control record type (key field `type`).
/// Complete by construction (`Other` holds any type), so not `#[non_exhaustive]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// Type 0: the producer's open transaction was aborted.
    Abort,
    /// Type 1: the producer's open transaction was committed.
    Commit,
    /// Any other type (KRaft uses 2..=6 in its own logs); skipped like the others.
    Other(i16),
}

impl ControlType {
    fn from_i16(t: i16) -> Self {
        match t {
            0 => Self::Abort,
            1 => Self::Commit,
            t => Self::Other(t),
        }
    }
}

/// The end-transaction marker carried in the value of ABORT / COMMIT control records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EndTxnMarker {
    /// Marker value version.
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

/// A parsed control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ControlRecord {
    /// Offset of the marker.
    pub offset: i64,
    /// Key version.
    pub key_version: i16,
    /// ABORT, COMMIT or other.
    pub kind: ControlType,
    /// Value of ABORT / COMMIT markers; `None` for other types.
    pub marker: Option<EndTxnMarker>,
}

impl ControlRecord {
    /// Parses key `version i16, type i16` and, for ABORT / COMMIT, value `version i16,
    /// coordinatorEpoch i32`. Trailing bytes are allowed (newer versions may append fields).
    pub(crate) fn parse(record: &Record, batch_offset: i64) -> Result<Self, DecodeError> {
        let invalid = |reason| DecodeError::InvalidControlRecord {
            offset: batch_offset,
            reason,
        };
        let key = record.key().ok_or_else(|| invalid("null key"))?;
        let [v0, v1, t0, t1, ..] = *key else {
            return Err(invalid("key shorter than 4 bytes"));
        };
        let key_version = i16::from_be_bytes([v0, v1]);
        if key_version < 0 {
            return Err(invalid("negative key version"));
        }
        let kind = ControlType::from_i16(i16::from_be_bytes([t0, t1]));
        let marker = match kind {
            ControlType::Abort | ControlType::Commit => {
                let value = record.value().ok_or_else(|| invalid("null marker value"))?;
                let [a, b, c, d, e, f, ..] = *value else {
                    return Err(invalid("marker value shorter than 6 bytes"));
                };
                Some(EndTxnMarker {
                    version: i16::from_be_bytes([a, b]),
                    coordinator_epoch: i32::from_be_bytes([c, d, e, f]),
                })
            }
            ControlType::Other(_) => None,
        };
        Ok(Self {
            offset: record.offset(),
            key_version,
            kind,
            marker,
        })
    }
}
