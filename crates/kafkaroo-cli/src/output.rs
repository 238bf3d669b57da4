//! Buffered stdout, and the offsets it has written out: a commit covers only records whose lines reached
//! the file descriptor (the rule "commit after the side effect"). Records still in the buffer are never
//! committed, so a process killed with a full buffer re-prints them after a restart instead of losing them.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use kafkaroo::{CommitHandle, ConsumerRecord, OffsetAndMetadata, RebalanceListener, TopicPartition};

use crate::format::Renderer;

/// Output is written when this much is buffered...
const FLUSH_BYTES: usize = 128 * 1024;
/// ...or when the oldest buffered record waited this long.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Buffered stdout: records are rendered into `buf`, which goes to the file descriptor in large writes.
pub(crate) struct Output {
    buf: Vec<u8>,
    sink: Box<dyn Write + Send>,
    last_flush: Instant,
    /// Per partition, the offset after the last record rendered into `buf` since the last flush.
    rendered: HashMap<TopicPartition, OffsetAndMetadata>,
    /// Per partition, the offset after the last record written out and not committed yet.
    written: HashMap<TopicPartition, OffsetAndMetadata>,
}

impl Output {
    pub(crate) fn stdout() -> Self {
        // Our own handle on fd 1: Rust's `Stdout` is line-buffered, which would split large writes.
        let sink: Box<dyn Write + Send> = match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(std::fs::File::from(fd)),
            Err(_) => Box::new(io::stdout()),
        };
        Self {
            buf: Vec::with_capacity(FLUSH_BYTES + 64 * 1024),
            sink,
            last_flush: Instant::now(),
            rendered: HashMap::new(),
            written: HashMap::new(),
        }
    }

    /// Writes the buffer out; what it held counts as written (committable) only once that succeeded.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.last_flush = Instant::now();
        self.sink.flush()?;
        self.written.extend(self.rendered.drain());
        Ok(())
    }

    /// Renders one record, writing out at once with `-u`, else when enough is buffered.
    #[inline]
    pub(crate) fn record(
        &mut self,
        renderer: &Renderer,
        unbuffered: bool,
        tp: &TopicPartition,
        record: &ConsumerRecord,
        leader: i32,
    ) -> io::Result<()> {
        renderer.render(record, leader, &mut self.buf);
        if unbuffered || self.buf.len() >= FLUSH_BYTES {
            self.printed(tp, record);
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Notes `last`, the last record of a partition rendered in this batch: its offset becomes
    /// committable when the buffer is written out. (Once per partition and batch, not per record.)
    pub(crate) fn printed(&mut self, tp: &TopicPartition, last: &ConsumerRecord) {
        let after = OffsetAndMetadata::after(last);
        match self.rendered.get_mut(tp) {
            Some(at) => *at = after,
            None => {
                self.rendered.insert(tp.clone(), after);
            }
        }
    }

    /// After a batch: the batch's write result, then the interval flush. `Ok(true)` when stdout is gone
    /// (broken pipe), which ends consumption without an error, as for kcat.
    pub(crate) fn settle(&mut self, written: io::Result<()>) -> anyhow::Result<bool> {
        let result = written.and_then(|()| {
            if !self.buf.is_empty() && self.last_flush.elapsed() >= FLUSH_INTERVAL {
                self.flush()
            } else {
                Ok(())
            }
        });
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
            Err(e) => Err(anyhow::Error::new(e).context("writing output")),
            Ok(()) => Ok(false),
        }
    }

    /// Takes the written-out offsets of `partitions` (all of them with `None`) for a commit.
    fn take_written(
        &mut self,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        match partitions {
            None => self.written.drain().collect(),
            Some(parts) => parts
                .iter()
                .filter_map(|tp| self.written.remove_entry(tp))
                .collect(),
        }
    }

    /// Forgets partitions this consumer no longer owns (lost: committing them would be refused).
    fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.rendered.remove(tp);
            self.written.remove(tp);
        }
    }
}

/// The output, shared with the rebalance listener, which writes it out before committing a revocation.
#[derive(Clone)]
pub(crate) struct SharedOutput(Arc<Mutex<Output>>);

impl SharedOutput {
    pub(crate) fn new(output: Output) -> Self {
        Self(Arc::new(Mutex::new(output)))
    }

    /// The output; the loop holds it while it renders a batch, never across `poll`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Output> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Commits what was written out: on an interval (`auto.commit.interval.ms`, the CLI's own auto-commit,
/// which the library's is replaced by), on revocation (through the listener) and at the end. Turned
/// off by `-X enable.auto.commit=false`.
pub(crate) struct Commits {
    enabled: bool,
    interval: Duration,
    last: Instant,
}

impl Commits {
    pub(crate) fn new(enabled: bool, interval: Duration) -> Self {
        Self {
            enabled,
            interval,
            last: Instant::now(),
        }
    }

    /// Starts a commit of what was written out, when the interval elapsed. Asynchronous: commits land
    /// in the order they were started, and a failed one is retried by the next.
    pub(crate) fn on_interval(&mut self, handle: &CommitHandle, out: &mut Output) {
        if self.enabled && self.last.elapsed() >= self.interval {
            self.last = Instant::now();
            commit_written(handle, out, None);
        }
    }

    /// Writes everything out and commits it, waiting for the outcome (at the end of a run).
    pub(crate) async fn last(&mut self, handle: &CommitHandle, out: &SharedOutput) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let pending = {
            let mut out = out.lock();
            if out.flush().is_err() {
                // What could not be written out is not committed; the error is reported by the caller.
                return Ok(());
            }
            let offsets = out.take_written(None);
            if offsets.is_empty() {
                return Ok(());
            }
            handle.commit(Some(offsets))?
        };
        pending.await?;
        Ok(())
    }
}

/// Starts a commit of the written-out offsets of `partitions` (all with `None`).
fn commit_written(handle: &CommitHandle, out: &mut Output, partitions: Option<&[TopicPartition]>) {
    let offsets = out.take_written(partitions);
    if offsets.is_empty() {
        return;
    }
    if let Err(e) = handle.commit(Some(offsets)) {
        tracing::warn!(error = %e, "cannot start a commit of the printed offsets");
    }
}

/// A rebalance callback, forwarded to the printing loop (for kcat's rebalance lines and `-o` restarts).
pub(crate) enum Rebalance {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// `-G`'s listener: forwards every change; on revocation it first writes the output out and commits
/// the revoked partitions' printed offsets, which land before the partitions move to another member.
pub(crate) struct FlushThenCommit {
    pub(crate) events: mpsc::Sender<Rebalance>,
    pub(crate) out: SharedOutput,
    pub(crate) handle: CommitHandle,
    pub(crate) commit: bool,
}

impl RebalanceListener for FlushThenCommit {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        let _ = self.events.send(Rebalance::Assigned(partitions.to_vec()));
    }

    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        let mut out = self.out.lock();
        if self.commit && out.flush().is_ok() {
            commit_written(&self.handle, &mut out, Some(partitions));
        }
        out.forget(partitions);
        let _ = self.events.send(Rebalance::Revoked(partitions.to_vec()));
    }

    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        // Another member may own them already: nothing of theirs is committed.
        self.out.lock().forget(partitions);
        let _ = self.events.send(Rebalance::Lost(partitions.to_vec()));
    }
}
