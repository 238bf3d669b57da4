//! The invariants of a consumer group run, checked over what its members reported (numbered as in
//! `docs/faults-and-invariants.md`: 1 no loss, 3 duplicates only where a failure explains them,
//! 4 in order within an assignment, 6 only assigned partitions, 7 one owner, 8 sane commits).
//!
//! Ownership is checked in time, which is stronger than per generation: a member owns a partition from
//! the moment it reported the assignment until it reported the revocation or loss, was killed, or
//! exited; two members' ownership of a partition must not overlap (touching is allowed: times are in ms).
//! Under the classic protocol the old owner reports the revocation before it rejoins, and the new owner
//! gets the partition only after that rejoin completed a generation, so an overlap means two members
//! believed they owned it at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::members::{ClientKind, Event, EventKind, MemberLog};
use super::observer::CommittedSample;

/// How an ownership interval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Revoked,
    Lost,
    Killed,
    Exited,
    /// Still owned when the member's report ends.
    Open,
}

/// Member `member` owned `partition` from `start_ms` to `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub member: String,
    pub partition: i32,
    pub start_ms: u64,
    pub end_ms: u64,
    pub end: End,
}

/// Everything the checks need beyond the members' reports.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub partitions: i32,
    /// High watermark per partition at the end.
    pub end_offsets: BTreeMap<i32, i64>,
    /// The group's committed offsets sampled during the run, in time order.
    pub committed_samples: Vec<CommittedSample>,
    /// The group's committed offsets read right after a member was killed (before its partitions could
    /// move): by member name.
    pub committed_at_kill: BTreeMap<String, BTreeMap<i32, i64>>,
    /// The committed offsets after every member left.
    pub final_committed: BTreeMap<i32, i64>,
    /// Member id -> member name (DescribeGroups client ids, the members' own reports).
    pub member_names: BTreeMap<String, String>,
    /// The clients of which some member must have led a generation.
    pub leaders_required: Vec<ClientKind>,
}

/// The outcome: violations (empty = pass) and a summary for the report.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub violations: Vec<String>,
    pub summary: Vec<String>,
    /// Generation -> leader member name, as reported by the kafkaroo members and by Java members of
    /// themselves.
    pub leaders: BTreeMap<i32, String>,
    pub consumed_records: u64,
    pub duplicates_after_kill: u64,
    pub duplicates_after_loss: u64,
    pub duplicates_after_failed_commit: u64,
    /// The shortest time (ms) between one member's end of ownership and another's start, and where.
    pub closest_handover: Option<(u64, String)>,
}

/// Ownership intervals of one member, and violations of its own bookkeeping (a partition assigned
/// twice, revoked while not owned).
pub fn intervals(log: &MemberLog, violations: &mut Vec<String>) -> Vec<Interval> {
    let mut open: BTreeMap<i32, u64> = BTreeMap::new();
    let mut out = Vec::new();
    let close = |open: &mut BTreeMap<i32, u64>, p: i32, at: u64, end: End, out: &mut Vec<Interval>| {
        if let Some(start) = open.remove(&p) {
            out.push(Interval {
                member: log.name.clone(),
                partition: p,
                start_ms: start,
                end_ms: at,
                end,
            });
            true
        } else {
            false
        }
    };
    for e in &log.events {
        match &e.kind {
            EventKind::Assigned(ps) => {
                for &p in ps {
                    if open.insert(p, e.at_ms).is_some() {
                        violations.push(format!(
                            "{}: partition {p} assigned at {} while already owned",
                            log.name, e.at_ms
                        ));
                    }
                }
            }
            EventKind::Revoked(ps) | EventKind::Lost(ps) => {
                let end = if matches!(e.kind, EventKind::Lost(_)) {
                    End::Lost
                } else {
                    End::Revoked
                };
                for &p in ps {
                    if !close(&mut open, p, e.at_ms, end, &mut out) {
                        violations.push(format!(
                            "{}: partition {p} revoked/lost at {} while not owned",
                            log.name, e.at_ms
                        ));
                    }
                }
            }
            EventKind::Killed | EventKind::Exited { .. } => {
                let end = if e.kind == EventKind::Killed {
                    End::Killed
                } else {
                    End::Exited
                };
                for p in open.keys().copied().collect::<Vec<_>>() {
                    close(&mut open, p, e.at_ms, end, &mut out);
                }
            }
            _ => {}
        }
    }
    for (p, start) in open {
        out.push(Interval {
            member: log.name.clone(),
            partition: p,
            start_ms: start,
            end_ms: u64::MAX,
            end: End::Open,
        });
    }
    out
}

/// Invariant 7: no two members own a partition at the same time. Returns the closest handover (the
/// shortest time from one member's end of ownership to another's start), to show how tight the check was.
pub fn check_exclusive(all: &[Interval], violations: &mut Vec<String>) -> Option<(u64, String)> {
    let mut closest: Option<(u64, String)> = None;
    let mut by_partition: BTreeMap<i32, Vec<&Interval>> = BTreeMap::new();
    for i in all {
        by_partition.entry(i.partition).or_default().push(i);
    }
    for (p, mut list) in by_partition {
        list.sort_by_key(|i| i.start_ms);
        for (n, a) in list.iter().enumerate() {
            for b in &list[n + 1..] {
                if a.member != b.member && b.start_ms >= a.end_ms {
                    let gap = b.start_ms - a.end_ms;
                    if closest.as_ref().is_none_or(|(g, _)| gap < *g) {
                        closest = Some((
                            gap,
                            format!("partition {p} from {} ({:?}) to {}", a.member, a.end, b.member),
                        ));
                    }
                }
                if a.member != b.member && b.start_ms < a.end_ms && a.start_ms < b.end_ms {
                    violations.push(format!(
                        "partition {p} owned by two members at once: {} from {} to {} ({:?}) and {} from {} \
                         to {} ({:?})",
                        a.member, a.start_ms, a.end_ms, a.end, b.member, b.start_ms, b.end_ms, b.end
                    ));
                }
            }
        }
    }
    closest
}

/// One delivery: `member` got offsets `min..=max` of `partition` at `at_ms`, in ownership interval
/// `interval` (an index into the interval list).
#[derive(Debug, Clone)]
struct Delivery {
    member: String,
    partition: i32,
    min: i64,
    max: i64,
    at_ms: u64,
    interval: usize,
}

/// Invariants 4 and 6: deliveries happen inside an ownership interval of that member, and within one
/// interval they are contiguous batches at strictly increasing offsets.
fn deliveries(log: &MemberLog, all: &[Interval], violations: &mut Vec<String>) -> Vec<Delivery> {
    let mut out = Vec::new();
    let mut last_max: BTreeMap<usize, i64> = BTreeMap::new();
    for e in &log.events {
        let EventKind::Consumed {
            partition,
            min,
            max,
            count,
        } = e.kind
        else {
            continue;
        };
        if min > max || count != max - min + 1 {
            violations.push(format!(
                "{}: partition {partition} batch {min}..={max} has {count} records (not contiguous)",
                log.name
            ));
        }
        let found = all.iter().position(|i| {
            i.member == log.name && i.partition == partition && i.start_ms <= e.at_ms && e.at_ms <= i.end_ms
        });
        let Some(interval) = found else {
            violations.push(format!(
                "{}: consumed partition {partition} offsets {min}..={max} at {} without owning it",
                log.name, e.at_ms
            ));
            continue;
        };
        if let Some(&prev) = last_max.get(&interval)
            && min <= prev
        {
            violations.push(format!(
                "{}: partition {partition} went back within one assignment: {min}..={max} after {prev}",
                log.name
            ));
        }
        last_max.insert(interval, max);
        out.push(Delivery {
            member: log.name.clone(),
            partition,
            min,
            max,
            at_ms: e.at_ms,
            interval,
        });
    }
    out
}

/// `a..b` ranges, `a..=b` printed, for short messages.
fn ranges(offsets: &[i64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < offsets.len() {
        let start = offsets[i];
        while i + 1 < offsets.len() && offsets[i + 1] == offsets[i] + 1 {
            i += 1;
        }
        let _ = write!(
            out,
            "{}{start}..={}",
            if out.is_empty() { "" } else { ", " },
            offsets[i]
        );
        i += 1;
    }
    out
}

/// Invariant 8, per member: its successful commits of a partition never go backwards, and never pass
/// what it consumed.
fn check_member_commits(log: &MemberLog, violations: &mut Vec<String>) {
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut consumed_max: BTreeMap<i32, i64> = BTreeMap::new();
    for e in &log.events {
        match &e.kind {
            EventKind::Consumed { partition, max, .. } => {
                let m = consumed_max.entry(*partition).or_insert(*max);
                *m = (*m).max(*max);
            }
            EventKind::Committed {
                success: true,
                offsets,
                ..
            } => {
                for &(p, o) in offsets {
                    if let Some(&prev) = committed.get(&p)
                        && o < prev
                    {
                        violations.push(format!(
                            "{}: committed partition {p} at {o} after committing {prev}",
                            log.name
                        ));
                    }
                    if consumed_max.get(&p).is_none_or(|&m| o > m + 1) {
                        violations.push(format!(
                            "{}: committed partition {p} at {o}, past what it consumed ({:?})",
                            log.name,
                            consumed_max.get(&p)
                        ));
                    }
                    committed.insert(p, o);
                }
            }
            _ => {}
        }
    }
}

/// Whether `member`'s last commit attempt for `partition` in `[from, to]` failed, with no successful
/// commit at or past `offset + 1` in that window: its own reports say `offset` may not be committed.
fn commit_failed(log: &MemberLog, partition: i32, offset: i64, from: u64, to: u64) -> bool {
    let mut last_attempt_failed = false;
    for e in log.events.iter().filter(|e| from <= e.at_ms && e.at_ms <= to) {
        if let EventKind::Committed { success, offsets, .. } = &e.kind
            && let Some(&(_, o)) = offsets.iter().find(|(p, _)| *p == partition)
        {
            if *success && o > offset {
                return false;
            }
            last_attempt_failed = !success;
        }
    }
    last_attempt_failed
}

/// The offset of `partition` that `log`'s member last committed successfully at or before `until` (0 if
/// it committed none).
fn last_commit(log: &MemberLog, partition: i32, until: u64) -> i64 {
    log.events
        .iter()
        .filter(|e| e.at_ms <= until)
        .filter_map(|e| match &e.kind {
            EventKind::Committed {
                success: true,
                offsets,
                ..
            } => offsets.iter().find(|(p, _)| *p == partition).map(|&(_, o)| o),
            _ => None,
        })
        .next_back()
        .unwrap_or(0)
}

/// Runs every check.
pub fn check(logs: &[MemberLog], facts: &RunFacts) -> Verdict {
    let mut v = Verdict::default();
    let mut all = Vec::new();
    for log in logs {
        all.extend(intervals(log, &mut v.violations));
    }
    v.closest_handover = check_exclusive(&all, &mut v.violations);
    let mut deliveries_all = Vec::new();
    for log in logs {
        deliveries_all.extend(deliveries(log, &all, &mut v.violations));
        check_member_commits(log, &mut v.violations);
        for e in &log.events {
            if let EventKind::Error(msg) = &e.kind {
                v.violations
                    .push(format!("{}: reported an error at {}: {msg}", log.name, e.at_ms));
            }
        }
    }
    if let Some(open) = all.iter().find(|i| i.end == End::Open) {
        v.violations.push(format!(
            "{} still owned partition {} when its report ended",
            open.member, open.partition
        ));
    }

    // Invariant 1 (every record below the high watermark delivered) and 3 (duplicates only where a
    // member died or lost its partitions above its last commit, or its own commit failed).
    let by_name: BTreeMap<&str, &MemberLog> = logs.iter().map(|l| (l.name.as_str(), l)).collect();
    for p in 0..facts.partitions {
        let hwm = facts.end_offsets.get(&p).copied().unwrap_or(0);
        let mut per_offset: BTreeMap<i64, Vec<&Delivery>> = BTreeMap::new();
        for d in deliveries_all.iter().filter(|d| d.partition == p) {
            for o in d.min..=d.max {
                per_offset.entry(o).or_default().push(d);
            }
        }
        let missing: Vec<i64> = (0..hwm).filter(|o| !per_offset.contains_key(o)).collect();
        if !missing.is_empty() {
            v.violations.push(format!(
                "partition {p}: {} of {hwm} records never consumed: {}",
                missing.len(),
                ranges(&missing)
            ));
        }
        let beyond: Vec<i64> = per_offset.range(hwm..).map(|(o, _)| *o).collect();
        if !beyond.is_empty() {
            v.violations.push(format!(
                "partition {p}: offsets at or past the high watermark {hwm} consumed: {}",
                ranges(&beyond)
            ));
        }
        let mut unexplained: BTreeMap<(String, String, &'static str), Vec<i64>> = BTreeMap::new();
        for (&o, list) in &mut per_offset {
            v.consumed_records += list.len() as u64;
            list.sort_by_key(|d| d.at_ms);
            for pair in list.windows(2) {
                let (first, again) = (pair[0], pair[1]);
                let owned = &all[first.interval];
                let reason = match owned.end {
                    End::Killed => {
                        let at_kill = facts
                            .committed_at_kill
                            .get(&first.member)
                            .and_then(|c| c.get(&p))
                            .copied()
                            .unwrap_or(0);
                        if o >= at_kill {
                            v.duplicates_after_kill += 1;
                            continue;
                        }
                        "below the group's committed offset when the first consumer was killed"
                    }
                    End::Lost => {
                        // A lost partition is read again from the last offset its member committed:
                        // duplicates below that commit have no excuse.
                        let log = by_name[first.member.as_str()];
                        if o >= last_commit(log, p, owned.end_ms) {
                            v.duplicates_after_loss += 1;
                            continue;
                        }
                        "below the offset the first consumer had committed before it lost the partition"
                    }
                    End::Revoked | End::Exited | End::Open => {
                        let log = by_name[first.member.as_str()];
                        if commit_failed(log, p, o, first.at_ms, owned.end_ms) {
                            v.duplicates_after_failed_commit += 1;
                            continue;
                        }
                        "after a clean revoke or leave of the first consumer"
                    }
                };
                unexplained
                    .entry((first.member.clone(), again.member.clone(), reason))
                    .or_default()
                    .push(o);
            }
        }
        for ((first, again, reason), offsets) in unexplained {
            v.violations.push(format!(
                "partition {p}: {} records consumed by {first} and again by {again}, {reason}: {}",
                offsets.len(),
                ranges(&offsets)
            ));
        }
    }

    // Invariant 1 after a kill (at least once): what the killed member read at or above the group's
    // committed offset is read again later. The committed offset is the one read right after the kill, or
    // a higher one sampled before the next owner started (a commit the member sent may land after).
    for (idx, killed) in all.iter().enumerate().filter(|(_, i)| i.end == End::Killed) {
        let p = killed.partition;
        let next_start = all
            .iter()
            .filter(|i| i.partition == p && i.start_ms >= killed.end_ms)
            .map(|i| i.start_ms)
            .min()
            .unwrap_or(u64::MAX);
        let committed = facts
            .committed_samples
            .iter()
            .filter(|s| killed.end_ms <= s.at_ms && s.at_ms <= next_start)
            .filter_map(|s| s.offsets.get(&p).copied())
            .chain(
                facts
                    .committed_at_kill
                    .get(&killed.member)
                    .and_then(|c| c.get(&p))
                    .copied(),
            )
            .max()
            .unwrap_or(0);
        let later: BTreeSet<i64> = deliveries_all
            .iter()
            .filter(|d| d.partition == p && d.at_ms > killed.end_ms)
            .flat_map(|d| d.min..=d.max)
            .collect();
        let not_again: BTreeSet<i64> = deliveries_all
            .iter()
            .filter(|d| d.interval == idx)
            .flat_map(|d| d.min.max(committed)..=d.max)
            .filter(|o| !later.contains(o))
            .collect();
        if !not_again.is_empty() {
            v.violations.push(format!(
                "partition {p}: {} records {} read above the committed offset {committed} before it was \
                 killed never read again: {}",
                not_again.len(),
                killed.member,
                ranges(&not_again.into_iter().collect::<Vec<_>>())
            ));
        }
    }

    // Invariant 8, group-wide: the committed offsets never go backwards, and end at the high watermark.
    let mut last: BTreeMap<i32, (i64, u64)> = BTreeMap::new();
    for s in &facts.committed_samples {
        for (&p, &o) in &s.offsets {
            if let Some(&(prev, at)) = last.get(&p)
                && o < prev
            {
                v.violations.push(format!(
                    "partition {p}: the group's committed offset went back from {prev} (at {at}) to {o} (at {})",
                    s.at_ms
                ));
            }
            last.insert(p, (o, s.at_ms));
        }
    }
    for p in 0..facts.partitions {
        let hwm = facts.end_offsets.get(&p).copied().unwrap_or(0);
        let committed = facts.final_committed.get(&p).copied();
        if committed != Some(hwm) {
            v.violations.push(format!(
                "partition {p}: committed {committed:?} after every member left, high watermark {hwm}"
            ));
        }
    }

    // Leadership, as the kafkaroo members saw it: one leader per generation.
    let kinds: BTreeMap<&str, ClientKind> = logs.iter().map(|l| (l.name.as_str(), l.kind)).collect();
    let mut leader_ids: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    for log in logs.iter().filter(|l| l.kind == ClientKind::Kafkaroo) {
        for e in &log.events {
            if let EventKind::GroupState {
                generation,
                leader_id,
                ..
            } = &e.kind
                && *generation >= 0
                && !leader_id.is_empty()
            {
                leader_ids
                    .entry(*generation)
                    .or_default()
                    .insert(leader_id.clone());
            }
        }
    }
    for (generation, ids) in leader_ids {
        if ids.len() > 1 {
            v.violations.push(format!(
                "generation {generation}: kafkaroo members saw different leaders {ids:?}"
            ));
        }
        let id = ids.into_iter().next().unwrap_or_default();
        let name = facts
            .member_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("unknown member {id}"));
        v.leaders.insert(generation, name);
    }
    // Java's own reports: the generations it computed the assignment of must be the ones the kafkaroo
    // members name it the leader of (where both reported).
    for log in logs.iter().filter(|l| l.kind == ClientKind::Java) {
        let joined: BTreeSet<i32> = log
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Joined { generation, .. } => Some(generation),
                _ => None,
            })
            .collect();
        let led: BTreeSet<i32> = log
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Led { generation } => Some(generation),
                _ => None,
            })
            .collect();
        for &generation in &led {
            match v.leaders.get(&generation) {
                Some(leader) if *leader != log.name => v.violations.push(format!(
                    "generation {generation}: {} reports leading it, the kafkaroo members saw {leader}",
                    log.name
                )),
                Some(_) => {}
                None => {
                    v.leaders.insert(generation, log.name.clone());
                }
            }
        }
        for (generation, leader) in &v.leaders {
            if *leader == log.name && joined.contains(generation) && !led.contains(generation) {
                v.violations.push(format!(
                    "generation {generation}: the kafkaroo members saw {} lead it, it reports joining it but \
                     no assignment computed",
                    log.name
                ));
            }
        }
        // (Nothing to say under KIP-848's consumer protocol: no leader, no such log lines.)
        if !joined.is_empty() || !led.is_empty() {
            v.summary.push(format!(
                "{} reports joining generations {joined:?}, leading {led:?}",
                log.name
            ));
        }
    }
    let led: BTreeSet<ClientKind> = v
        .leaders
        .values()
        .filter_map(|n| kinds.get(n.as_str()).copied())
        .collect();
    for &kind in &facts.leaders_required {
        if !led.contains(&kind) {
            v.violations.push(format!(
                "no {} member led a generation (leaders by generation: {:?})",
                kind.label(),
                v.leaders
            ));
        }
    }

    for log in logs {
        let consumed: i64 = log
            .events
            .iter()
            .map(|e| match e.kind {
                EventKind::Consumed { count, .. } => count,
                _ => 0,
            })
            .sum();
        let (assigned, revoked, lost) = log.events.iter().fold((0, 0, 0), |(a, r, l), e| match e.kind {
            EventKind::Assigned(_) => (a + 1, r, l),
            EventKind::Revoked(_) => (a, r + 1, l),
            EventKind::Lost(_) => (a, r, l + 1),
            _ => (a, r, l),
        });
        let end = log
            .events
            .iter()
            .rev()
            .find_map(|e: &Event| match &e.kind {
                EventKind::Killed => Some("killed".to_owned()),
                EventKind::Exited { status } => Some(format!("left ({status})")),
                _ => None,
            })
            .unwrap_or_else(|| "running".into());
        v.summary.push(format!(
            "{:<12} {:<8} consumed {consumed:>6}, {assigned} assigned / {revoked} revoked / {lost} lost events, {end}",
            log.name,
            log.kind.label()
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails unless one violation mentions `needle`.
    fn assert_reported(v: &Verdict, needle: &str) {
        assert!(
            v.violations.iter().any(|m| m.contains(needle)),
            "no violation mentions {needle:?}: {:?}",
            v.violations
        );
    }

    fn ev(at_ms: u64, kind: EventKind) -> Event {
        Event { at_ms, kind }
    }

    fn consumed(at: u64, partition: i32, min: i64, max: i64) -> Event {
        ev(
            at,
            EventKind::Consumed {
                partition,
                min,
                max,
                count: max - min + 1,
            },
        )
    }

    fn committed(at: u64, partition: i32, offset: i64, success: bool) -> Event {
        ev(
            at,
            EventKind::Committed {
                success,
                offsets: vec![(partition, offset)],
                error: None,
            },
        )
    }

    fn group_state(at: u64, generation: i32, me: &str, leader: &str) -> Event {
        ev(
            at,
            EventKind::GroupState {
                state: "Stable".into(),
                generation,
                member_id: me.into(),
                leader_id: leader.into(),
            },
        )
    }

    fn log(name: &str, kind: ClientKind, events: Vec<Event>) -> MemberLog {
        MemberLog {
            name: name.into(),
            kind,
            events,
        }
    }

    /// One partition with 10 records: `a` (kafkaroo, leader of generation 1) consumes 0..=4, commits 5
    /// and is revoked; `b` (Java, leader of 2) consumes 5..=9; `c` (kcat) leads generation 3.
    fn clean_run() -> (Vec<MemberLog>, RunFacts) {
        let logs = vec![
            log(
                "a",
                ClientKind::Kafkaroo,
                vec![
                    ev(10, EventKind::Assigned(vec![0])),
                    group_state(11, 1, "id-a", "id-a"),
                    consumed(20, 0, 0, 4),
                    committed(21, 0, 5, true),
                    ev(30, EventKind::Revoked(vec![0])),
                    group_state(40, 2, "id-a", "id-b"),
                    group_state(60, 3, "id-a", "id-c"),
                    ev(70, EventKind::Exited { status: "0".into() }),
                ],
            ),
            log(
                "b",
                ClientKind::Java,
                vec![
                    ev(35, EventKind::Assigned(vec![0])),
                    consumed(36, 0, 5, 9),
                    committed(37, 0, 10, true),
                    ev(50, EventKind::Revoked(vec![0])),
                    ev(51, EventKind::Exited { status: "0".into() }),
                ],
            ),
            log(
                "c",
                ClientKind::Kcat,
                vec![
                    ev(55, EventKind::Assigned(vec![0])),
                    ev(65, EventKind::Revoked(vec![0])),
                    ev(66, EventKind::Exited { status: "0".into() }),
                ],
            ),
        ];
        let facts = RunFacts {
            partitions: 1,
            end_offsets: [(0, 10)].into(),
            committed_samples: vec![
                CommittedSample {
                    at_ms: 22,
                    offsets: [(0, 5)].into(),
                },
                CommittedSample {
                    at_ms: 38,
                    offsets: [(0, 10)].into(),
                },
            ],
            committed_at_kill: BTreeMap::new(),
            final_committed: [(0, 10)].into(),
            member_names: [("id-a", "a"), ("id-b", "b"), ("id-c", "c")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            leaders_required: vec![ClientKind::Kafkaroo, ClientKind::Java, ClientKind::Kcat],
        };
        (logs, facts)
    }

    #[test]
    fn a_clean_run_passes() {
        let (logs, facts) = clean_run();
        let v = check(&logs, &facts);
        assert_eq!(v.violations, Vec::<String>::new());
        assert_eq!(v.consumed_records, 10);
        assert_eq!(v.leaders.values().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn overlapping_ownership_is_reported() {
        let (mut logs, facts) = clean_run();
        logs[1].events[0].at_ms = 29; // b assigned before a's revoke at 30
        let v = check(&logs, &facts);
        assert_reported(&v, "owned by two members at once");
    }

    #[test]
    fn a_record_nobody_consumed_is_reported() {
        let (mut logs, facts) = clean_run();
        logs[1].events[1] = consumed(36, 0, 6, 9);
        let v = check(&logs, &facts);
        assert_reported(&v, "1 of 10 records never consumed: 5..=5");
    }

    #[test]
    fn duplicates_after_a_clean_revoke_are_reported_and_after_a_kill_above_the_commit_allowed() {
        let (mut logs, mut facts) = clean_run();
        logs[1].events[1] = consumed(36, 0, 3, 9); // re-reads 3..=4 although a committed 5
        let v = check(&logs, &facts);
        assert_reported(&v, "2 records consumed by a and again by b, after a clean revoke");
        // The same duplicates after a's kill, with 3 committed then: allowed.
        logs[0].events[4] = ev(30, EventKind::Killed);
        logs[0].events.truncate(5);
        facts.committed_at_kill.insert("a".into(), [(0, 3)].into());
        let v = check(&logs, &facts);
        assert!(
            !v.violations.iter().any(|m| m.contains("again")),
            "{:?}",
            v.violations
        );
        assert_eq!(v.duplicates_after_kill, 2);
        // With 4 committed at the kill, offset 3 is a duplicate below the commit.
        facts.committed_at_kill.insert("a".into(), [(0, 4)].into());
        let v = check(&logs, &facts);
        assert_reported(&v, "below the group's committed offset");
    }

    #[test]
    fn what_a_killed_member_read_above_the_commit_must_be_read_again() {
        let (mut logs, mut facts) = clean_run();
        // a is killed after reading 0..=4 with 3 committed; b reads from 5: 3 and 4 were read once only.
        logs[0].events[4] = ev(30, EventKind::Killed);
        logs[0].events.truncate(5);
        facts.committed_at_kill.insert("a".into(), [(0, 3)].into());
        facts.leaders_required.clear();
        let v = check(&logs, &facts);
        assert_reported(
            &v,
            "2 records a read above the committed offset 3 before it was killed",
        );
        // a's commit of 5 landed after the kill (sampled before b started): nothing to read again.
        facts.committed_samples.push(CommittedSample {
            at_ms: 32,
            offsets: [(0, 5)].into(),
        });
        facts.committed_samples.sort_by_key(|s| s.at_ms);
        let v = check(&logs, &facts);
        assert_eq!(v.violations, Vec::<String>::new());
    }

    #[test]
    fn duplicates_after_a_loss_are_allowed_only_from_the_last_commit_on() {
        let (mut logs, facts) = clean_run();
        // a commits 5, then loses the partition; b re-reads from 5: what a delivered at 5.. again is
        // explained by the loss.
        logs[0].events[2] = consumed(20, 0, 0, 6);
        logs[0].events[4] = ev(30, EventKind::Lost(vec![0]));
        let v = check(&logs, &facts);
        assert_eq!(v.duplicates_after_loss, 2, "{:?}", v.violations);
        assert!(
            !v.violations.iter().any(|m| m.contains("again")),
            "{:?}",
            v.violations
        );
        // b re-reads from 3 although a had committed 5: duplicates 3 and 4 are not explained.
        logs[1].events[1] = consumed(36, 0, 3, 9);
        let v = check(&logs, &facts);
        assert_reported(&v, "before it lost the partition");
    }

    #[test]
    fn a_duplicate_after_the_members_own_failed_commit_is_explained() {
        let (mut logs, facts) = clean_run();
        logs[0].events[3] = committed(21, 0, 5, false);
        logs[1].events[1] = consumed(36, 0, 0, 9);
        let v = check(&logs, &facts);
        assert_eq!(v.duplicates_after_failed_commit, 5, "{:?}", v.violations);
    }

    #[test]
    fn committed_offsets_going_back_are_reported() {
        let (logs, mut facts) = clean_run();
        facts.committed_samples.push(CommittedSample {
            at_ms: 90,
            offsets: [(0, 7)].into(),
        });
        let v = check(&logs, &facts);
        assert_reported(&v, "went back from 10");
        let (mut logs, facts) = clean_run();
        logs[1].events.insert(3, committed(38, 0, 8, true));
        let v = check(&logs, &facts);
        assert_reported(&v, "b: committed partition 0 at 8 after committing 10");
    }

    #[test]
    fn consuming_without_owning_and_going_back_are_reported() {
        let (mut logs, facts) = clean_run();
        logs[0].events.insert(5, consumed(31, 0, 5, 5));
        logs[1].events.insert(2, consumed(36, 0, 9, 9));
        let v = check(&logs, &facts);
        assert_reported(
            &v,
            "a: consumed partition 0 offsets 5..=5 at 31 without owning it",
        );
        assert_reported(&v, "b: partition 0 went back within one assignment");
    }

    #[test]
    fn a_java_leadership_claim_the_kafkaroo_members_contradict_is_reported() {
        let (mut logs, facts) = clean_run();
        logs[1].events.push(ev(52, EventKind::Led { generation: 3 }));
        let v = check(&logs, &facts);
        assert_reported(
            &v,
            "generation 3: b reports leading it, the kafkaroo members saw c",
        );
        let (mut logs, facts) = clean_run();
        logs[1].events.push(ev(
            52,
            EventKind::Joined {
                generation: 2,
                member_id: "id-b".into(),
            },
        ));
        let v = check(&logs, &facts);
        assert_reported(&v, "generation 2: the kafkaroo members saw b lead it");
    }

    #[test]
    fn a_client_that_never_led_is_reported() {
        let (mut logs, facts) = clean_run();
        logs[0]
            .events
            .retain(|e| !matches!(&e.kind, EventKind::GroupState { generation: 3, .. }));
        let v = check(&logs, &facts);
        assert_reported(&v, "no kcat member led a generation");
    }
}
