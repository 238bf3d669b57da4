//! What a partition's log segments hold, as Kafka's `DumpLogSegments` prints it.

use std::path::PathBuf;

use crate::Cluster;
use crate::error::{Error, Result};

/// One record batch of a log segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record (`base_offset` + lastOffsetDelta).
    pub last_offset: i64,
    /// Number of records in the batch, as its header says.
    pub count: i64,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    /// Written by a transactional producer (attributes bit 4).
    pub is_transactional: bool,
    /// A control batch (transaction commit/abort marker; attributes bit 5).
    pub is_control: bool,
    /// The producer id, -1 when the producer was neither idempotent nor transactional.
    pub producer_id: i64,
    /// Record batch format version; always 2, since only v2 batches are read.
    pub magic: i32,
}

/// Reads the batch headers of a v2 (magic 2) log segment file. Stops at the first truncated or pre-v2
/// batch (segments written by Kafka 3.x+/4.x with default settings are v2 throughout).
fn read_batches(segment: &[u8], out: &mut Vec<BatchInfo>) {
    let mut pos = 0usize;
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    // baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1) crc(4) attributes(2) lastOffsetDelta(4)
    // baseTimestamp(8) maxTimestamp(8) producerId(8) producerEpoch(2) baseSequence(4) recordsCount(4)
    while pos + 61 <= segment.len() {
        let h = &segment[pos..pos + 61];
        let base_offset = be(&h[0..8]) as i64;
        let length = be(&h[8..12]) as u32 as usize;
        let magic = h[16] as i8;
        if length < 49 || magic != 2 || pos + 12 + length > segment.len() {
            break;
        }
        let attributes = be(&h[21..23]) as u16;
        let last_offset_delta = be(&h[23..27]) as u32 as i32;
        out.push(BatchInfo {
            base_offset,
            last_offset: base_offset + i64::from(last_offset_delta),
            count: i64::from(be(&h[57..61]) as u32 as i32),
            compression: match attributes & 7 {
                0 => "none",
                1 => "gzip",
                2 => "snappy",
                3 => "lz4",
                4 => "zstd",
                _ => "unknown",
            }
            .to_owned(),
            is_transactional: attributes & 0x10 != 0,
            is_control: attributes & 0x20 != 0,
            producer_id: be(&h[43..51]) as i64,
            magic: i32::from(magic),
        });
        pos += 12 + length;
    }
}

impl Cluster {
    /// Directories `<log.dirs>/<topic>-<partition>` holding a replica of the partition, on every node
    /// (local JVM clusters only): copy the `*.log` segment files from there for golden test vectors.
    pub fn partition_dirs(&self, topic: &str, partition: i32) -> Vec<PathBuf> {
        self.data_dirs()
            .into_iter()
            .map(|d| d.join(format!("{topic}-{partition}")))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// The record batch headers of a partition, read from the first local replica's segment files
    /// (local JVM clusters only; v2 batches). Cheap: no JVM is started.
    pub fn batches(&self, topic: &str, partition: i32) -> Result<Vec<BatchInfo>> {
        let mut out = Vec::new();
        for file in self.segment_files(topic, partition)? {
            let bytes = std::fs::read(&file).map_err(|source| Error::Io {
                context: format!("reading {}", file.display()),
                source,
            })?;
            read_batches(&bytes, &mut out);
        }
        Ok(out)
    }

    /// The `*.log` segment files of the first local replica of a partition, in offset order.
    pub fn segment_files(&self, topic: &str, partition: i32) -> Result<Vec<PathBuf>> {
        let dir = self
            .partition_dirs(topic, partition)
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "no local replica of {topic}-{partition} (only local JVM clusters have one)"
                ))
            })?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| Error::Io {
                context: format!("listing {}", dir.display()),
                source,
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        // Segment names are zero-padded base offsets.
        files.sort();
        Ok(files)
    }

    /// Kafka's own `DumpLogSegments` output (with `--deep-iteration --print-data-log`) for the segments of
    /// a partition: a reference to compare a decoder against, or to read when a golden vector looks odd.
    pub fn dump_log_segments(&self, topic: &str, partition: i32) -> Result<String> {
        let files = self.segment_files(topic, partition)?;
        let files = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        // The tool moved from the broker (kafka.tools) to the tools jar (org.apache.kafka.tools) in 4.x.
        let mut last = None;
        for class in [
            "org.apache.kafka.tools.DumpLogSegments",
            "kafka.tools.DumpLogSegments",
        ] {
            let out =
                self.run_java_tool(class, ["--deep-iteration", "--print-data-log", "--files", &files])?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                return Ok(stdout);
            }
            last = Some(Error::Tool {
                tool: class.to_owned(),
                status: crate::util::status_text(&out.status),
                stderr: format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)),
            });
        }
        Err(last.expect("two attempts"))
    }
}
