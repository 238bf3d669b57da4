//! What the demo observed, shared by the producer thread, the members' tasks (and their rebalance
//! listeners), the script and the display: one mutex, held only for short bookkeeping.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafkaroo::{MemberState, TopicPartition};
use kafkaroo_testcontainers::RecordPosition;

/// An ownership change a rebalance listener reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Assigned,
    Revoked,
    Lost,
}

impl Change {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Self::Assigned => "got",
            Self::Revoked => "gave up",
            Self::Lost => "lost",
        }
    }
}

/// A listener callback, stamped with the generation its member reported at its next poll (the listener
/// runs inside the group task and cannot ask the consumer).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) at: Duration,
    pub(crate) member: usize,
    pub(crate) change: Change,
    pub(crate) partitions: Vec<i32>,
    pub(crate) generation: i32,
}

/// A partition changing hands (or getting its first owner, `from: None`) and how long nobody consumed it.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) partition: i32,
    pub(crate) from: Option<usize>,
    pub(crate) to: usize,
    /// From the revocation (or the phase start, for a first owner) to the assignment.
    pub(crate) paused: Duration,
}

/// One step of the script (start, a member joining, a member leaving) and the rebalance it caused.
#[derive(Debug, Clone)]
pub(crate) struct Phase {
    pub(crate) label: String,
    /// Whether the step changes the membership (start, join, leave) rather than winding down.
    pub(crate) rebalance: bool,
    pub(crate) at: Duration,
    pub(crate) moves: Vec<Move>,
    /// When the group was seen settled again, and in which generation.
    pub(crate) settled: Option<(Duration, i32)>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionProgress {
    pub(crate) owner: Option<usize>,
    /// The offset after the last processed record: the consumed offset.
    pub(crate) next_offset: i64,
    /// The log end offset: from the producer's acknowledgements and the owner's high watermark.
    pub(crate) log_end: i64,
    pub(crate) processed: u64,
    pub(crate) duplicates: u64,
    seen: HashSet<i64>,
    /// Who gave it up, and when: the start of a pause that ends with the next assignment.
    released: Option<(Instant, usize)>,
    ever_owned: bool,
}

impl PartitionProgress {
    pub(crate) fn lag(&self) -> i64 {
        (self.log_end - self.next_offset).max(0)
    }

    pub(crate) fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MemberProgress {
    pub(crate) name: String,
    pub(crate) joined: Duration,
    pub(crate) left: Option<Duration>,
    /// False once the script asked it to leave.
    pub(crate) active: bool,
    pub(crate) processed: u64,
    pub(crate) state: Option<MemberState>,
    pub(crate) generation: i32,
    pub(crate) assignment: Vec<i32>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) partitions: Vec<PartitionProgress>,
    pub(crate) members: Vec<MemberProgress>,
    pub(crate) produced: u64,
    pub(crate) events: Vec<Event>,
    pub(crate) phases: Vec<Phase>,
    /// Assignments made while another member still owned the partition (cooperative-sticky: none).
    pub(crate) overlaps: u64,
    pub(crate) errors: Vec<String>,
    /// Free-form lines for the log (phase starts, settles), with their time.
    pub(crate) notes: Vec<(Duration, String)>,
}

impl State {
    pub(crate) fn consumed_distinct(&self) -> u64 {
        self.partitions.iter().map(PartitionProgress::distinct).sum()
    }

    pub(crate) fn processed(&self) -> u64 {
        self.partitions.iter().map(|p| p.processed).sum()
    }

    pub(crate) fn duplicates(&self) -> u64 {
        self.partitions.iter().map(|p| p.duplicates).sum()
    }

    pub(crate) fn lag(&self) -> i64 {
        self.partitions.iter().map(PartitionProgress::lag).sum()
    }

    pub(crate) fn current_phase(&self) -> Option<&Phase> {
        self.phases.last()
    }

    /// The generation every active member is stable in, when together they own each partition exactly
    /// once.
    pub(crate) fn settled_generation(&self) -> Option<i32> {
        let active: Vec<&MemberProgress> = self.members.iter().filter(|m| m.active).collect();
        let generation = active.first()?.generation;
        if active
            .iter()
            .any(|m| m.state != Some(MemberState::Stable) || m.generation != generation)
        {
            return None;
        }
        let mut owned = vec![0u32; self.partitions.len()];
        for p in active.iter().flat_map(|m| &m.assignment) {
            owned[usize::try_from(*p).ok()?] += 1;
        }
        let listener_view_agrees = self
            .partitions
            .iter()
            .all(|p| p.owner.is_some_and(|o| self.members[o].active));
        (owned.iter().all(|&n| n == 1) && listener_view_agrees).then_some(generation)
    }
}

/// The shared record of a demo run.
#[derive(Debug)]
pub(crate) struct Demo {
    pub(crate) started: Instant,
    state: Mutex<State>,
    /// After Ctrl-C the broker and the producer's JVM get the signal too: their failures are expected.
    interrupted: AtomicBool,
}

impl Demo {
    pub(crate) fn new(partitions: i32) -> Self {
        let count = usize::try_from(partitions).unwrap_or(0);
        Self {
            started: Instant::now(),
            state: Mutex::new(State {
                partitions: vec![PartitionProgress::default(); count],
                members: Vec::new(),
                produced: 0,
                events: Vec::new(),
                phases: Vec::new(),
                overlaps: 0,
                errors: Vec::new(),
                notes: Vec::new(),
            }),
            interrupted: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn note(&self, text: String) {
        let at = self.elapsed();
        self.lock().notes.push((at, text));
    }

    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, text: String) {
        if self.interrupted.load(Ordering::Relaxed) {
            tracing::debug!("after the interruption: {text}");
            return;
        }
        tracing::warn!("{text}");
        let at = self.elapsed();
        let mut st = self.lock();
        st.notes.push((at, format!("error: {text}")));
        st.errors.push(text);
    }

    pub(crate) fn begin_phase(&self, label: &str, rebalance: bool) {
        let at = self.elapsed();
        let mut st = self.lock();
        st.phases.push(Phase {
            label: label.to_owned(),
            rebalance,
            at,
            moves: Vec::new(),
            settled: None,
        });
        st.notes.push((at, format!("── {label} ──")));
    }

    /// Marks the current phase settled in `generation` (once).
    pub(crate) fn phase_settled(&self, generation: i32) {
        let at = self.elapsed();
        let mut st = self.lock();
        let owners = st.members.iter().filter(|m| m.active).count();
        let Some(phase) = st.phases.last_mut() else {
            return;
        };
        if phase.settled.is_some() {
            return;
        }
        phase.settled = Some((at, generation));
        let text = format!(
            "group settled: generation {generation}, {owners} members own all {} partitions",
            st.partitions.len()
        );
        st.notes.push((at, text));
    }

    pub(crate) fn add_member(&self, name: String) -> usize {
        let joined = self.elapsed();
        let mut st = self.lock();
        st.members.push(MemberProgress {
            name,
            joined,
            left: None,
            active: true,
            processed: 0,
            state: None,
            generation: -1,
            assignment: Vec::new(),
        });
        st.members.len() - 1
    }

    pub(crate) fn deactivate(&self, member: usize) {
        if let Some(m) = self.lock().members.get_mut(member) {
            m.active = false;
        }
    }

    pub(crate) fn member_left(&self, member: usize) {
        let at = self.elapsed();
        let mut st = self.lock();
        if let Some(m) = st.members.get_mut(member) {
            m.left = Some(at);
            m.active = false;
            m.state = Some(MemberState::Unjoined);
            m.assignment.clear();
        }
    }

    /// Producer acknowledgements: counts and log end offsets.
    pub(crate) fn record_produced(&self, positions: &[RecordPosition]) {
        let mut st = self.lock();
        st.produced += positions.len() as u64;
        for pos in positions {
            if let Some(p) = usize::try_from(pos.partition)
                .ok()
                .and_then(|i| st.partitions.get_mut(i))
            {
                p.log_end = p.log_end.max(pos.offset + 1);
            }
        }
    }

    /// A listener callback: ownership bookkeeping happens now, so pauses are measured when they happen.
    pub(crate) fn ownership_change(&self, member: usize, change: Change, partitions: &[TopicPartition]) {
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        let phase_start = st.current_phase().map_or(self.started, |ph| self.started + ph.at);
        for tp in partitions {
            let Some(p) = usize::try_from(tp.partition)
                .ok()
                .and_then(|i| st.partitions.get_mut(i))
            else {
                continue;
            };
            match change {
                Change::Assigned => {
                    if p.owner.is_some_and(|o| o != member) {
                        st.overlaps += 1;
                    }
                    let (from, since) = match p.released.take() {
                        Some((at, from)) => (Some(from), at),
                        None if p.ever_owned => (p.owner, now),
                        None => (None, phase_start),
                    };
                    p.owner = Some(member);
                    p.ever_owned = true;
                    if let Some(phase) = st.phases.last_mut() {
                        phase.moves.push(Move {
                            partition: tp.partition,
                            from,
                            to: member,
                            paused: now.saturating_duration_since(since),
                        });
                    }
                }
                Change::Revoked | Change::Lost => {
                    if p.owner == Some(member) {
                        p.owner = None;
                        p.released = Some((now, member));
                    }
                }
            }
        }
    }

    /// The member's view after a poll: state, generation, assignment and high watermarks.
    pub(crate) fn member_view(
        &self,
        member: usize,
        state: Option<MemberState>,
        generation: i32,
        assignment: Vec<i32>,
        high_watermarks: &[(i32, i64)],
    ) {
        let mut st = self.lock();
        for &(partition, high) in high_watermarks {
            if let Some(p) = usize::try_from(partition)
                .ok()
                .and_then(|i| st.partitions.get_mut(i))
            {
                p.log_end = p.log_end.max(high);
            }
        }
        if let Some(m) = st.members.get_mut(member) {
            m.state = state;
            m.generation = generation;
            m.assignment = assignment;
        }
    }

    pub(crate) fn publish_events(&self, events: impl IntoIterator<Item = Event>) {
        self.lock().events.extend(events);
    }

    /// Records handed to the application and processed by `member`.
    pub(crate) fn record_processed(&self, member: usize, records: impl IntoIterator<Item = (i32, i64)>) {
        let mut st = self.lock();
        let mut count = 0;
        for (partition, offset) in records {
            let Some(p) = usize::try_from(partition)
                .ok()
                .and_then(|i| st.partitions.get_mut(i))
            else {
                continue;
            };
            p.processed += 1;
            if !p.seen.insert(offset) {
                p.duplicates += 1;
            }
            p.next_offset = p.next_offset.max(offset + 1);
            count += 1;
        }
        if let Some(m) = st.members.get_mut(member) {
            m.processed += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("orders", p)
    }

    #[test]
    fn a_revoked_partition_assigned_elsewhere_is_one_move_from_its_old_owner() {
        let demo = Demo::new(2);
        let a = demo.add_member("a".into());
        let b = demo.add_member("b".into());
        demo.begin_phase("start", true);
        demo.ownership_change(a, Change::Assigned, &[tp(0), tp(1)]);
        demo.begin_phase("join b", true);
        demo.ownership_change(a, Change::Revoked, &[tp(1)]);
        demo.ownership_change(b, Change::Assigned, &[tp(1)]);
        let st = demo.lock();
        let first: Vec<(i32, Option<usize>, usize)> = st.phases[0]
            .moves
            .iter()
            .map(|m| (m.partition, m.from, m.to))
            .collect();
        assert_eq!(first, vec![(0, None, a), (1, None, a)]);
        let moved: Vec<(i32, Option<usize>, usize)> = st.phases[1]
            .moves
            .iter()
            .map(|m| (m.partition, m.from, m.to))
            .collect();
        assert_eq!(moved, vec![(1, Some(a), b)]);
        assert_eq!(st.partitions[1].owner, Some(b));
        assert_eq!(st.overlaps, 0);
    }

    #[test]
    fn an_assignment_while_another_member_owns_the_partition_counts_as_overlap() {
        let demo = Demo::new(1);
        let a = demo.add_member("a".into());
        let b = demo.add_member("b".into());
        demo.ownership_change(a, Change::Assigned, &[tp(0)]);
        demo.ownership_change(b, Change::Assigned, &[tp(0)]);
        assert_eq!(demo.lock().overlaps, 1);
    }

    #[test]
    fn a_record_processed_twice_is_a_duplicate_and_counts_once_as_distinct() {
        let demo = Demo::new(1);
        let a = demo.add_member("a".into());
        demo.record_produced(&[
            RecordPosition {
                partition: 0,
                offset: 0,
            },
            RecordPosition {
                partition: 0,
                offset: 1,
            },
        ]);
        demo.record_processed(a, [(0, 0), (0, 1), (0, 1)]);
        let st = demo.lock();
        assert_eq!(st.produced, 2);
        assert_eq!(st.consumed_distinct(), 2);
        assert_eq!(st.duplicates(), 1);
        assert_eq!(st.lag(), 0);
        assert_eq!(st.members[a].processed, 3);
    }

    #[test]
    fn settled_needs_every_partition_owned_once_by_stable_members_of_one_generation() {
        let demo = Demo::new(2);
        let a = demo.add_member("a".into());
        let b = demo.add_member("b".into());
        demo.ownership_change(a, Change::Assigned, &[tp(0)]);
        demo.ownership_change(b, Change::Assigned, &[tp(1)]);
        demo.member_view(a, Some(MemberState::Stable), 3, vec![0], &[]);
        demo.member_view(b, Some(MemberState::Joining), 2, vec![1], &[]);
        assert_eq!(demo.lock().settled_generation(), None);
        demo.member_view(b, Some(MemberState::Stable), 3, vec![1], &[]);
        assert_eq!(demo.lock().settled_generation(), Some(3));
        demo.member_view(b, Some(MemberState::Stable), 3, vec![0, 1], &[]);
        assert_eq!(demo.lock().settled_generation(), None);
    }
}
