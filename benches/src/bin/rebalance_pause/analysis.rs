//! Reads the members' logs of one run and measures how long each partition went without records while
//! a member joined: the pause of the partitions that moved to it, and whether the others paused at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};

/// What one member printed (see `benches/java/RebalanceMember.java` for the line format).
#[derive(Debug, Default)]
pub(crate) struct MemberLog {
    pub(crate) name: String,
    subscribed_us: Option<u64>,
    /// `A` (assigned), `V` (revoked), `L` (lost) callbacks: time, kind, partitions.
    callbacks: Vec<(u64, char, Vec<i32>)>,
    /// Generation seen after a poll, when it changed.
    generations: Vec<(u64, i32)>,
    records: Vec<Received>,
}

/// One record as handed to the application.
#[derive(Debug, Clone, Copy)]
struct Received {
    at_us: u64,
    partition: i32,
    offset: i64,
    /// The record's timestamp (CreateTime, set by the producer on this host).
    created_ms: i64,
}

impl Received {
    /// From the producer creating the record to the application getting it. Unlike the gap between
    /// deliveries, this does not grow when the producer stalls (then every partition has a gap at once).
    fn latency_ms(&self) -> f64 {
        self.at_us as f64 / 1000.0 - self.created_ms as f64
    }
}

impl MemberLog {
    /// Parses a member's stdout; a line that does not follow the format is an error naming it.
    pub(crate) fn parse(name: &str, text: &str) -> anyhow::Result<Self> {
        let mut log = Self {
            name: name.to_owned(),
            ..Self::default()
        };
        for (n, line) in text.lines().enumerate() {
            log.parse_line(line)
                .with_context(|| format!("{name} line {}: {line:?}", n + 1))?;
        }
        Ok(log)
    }

    fn parse_line(&mut self, line: &str) -> anyhow::Result<()> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some((&tag, rest)) = fields.split_first() else {
            return Ok(());
        };
        let at_us: u64 = rest.first().context("no time")?.parse().context("time")?;
        let field = |i: usize| rest.get(i).copied().with_context(|| format!("field {i} missing"));
        match tag {
            "S" => self.subscribed_us = Some(at_us),
            "R" => self.records.push(Received {
                at_us,
                partition: field(1)?.parse().context("partition")?,
                offset: field(2)?.parse().context("offset")?,
                created_ms: field(3)?.parse().context("record timestamp")?,
            }),
            "A" | "V" | "L" => {
                let partitions = match field(1)? {
                    "-" => Vec::new(),
                    list => list
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .context("partition list")?,
                };
                self.callbacks
                    .push((at_us, tag.chars().next().unwrap_or('?'), partitions));
            }
            "G" => self
                .generations
                .push((at_us, field(1)?.parse().context("generation")?)),
            "X" => {}
            other => bail!("unknown line tag {other:?}"),
        }
        Ok(())
    }
}

/// The logs of one run: members in start order, the last one the joiner.
pub(crate) fn load_run(dir: &Path, members: usize) -> anyhow::Result<Vec<MemberLog>> {
    (1..=members)
        .map(|k| {
            let name = format!("member-{k}");
            let path = dir.join(format!("{name}.out"));
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            MemberLog::parse(&name, &text)
        })
        .collect()
}

/// How one partition fared from the join to the end of the window.
#[derive(Debug, Clone)]
pub(crate) struct PartitionPause {
    pub(crate) partition: i32,
    /// Longest time between two consecutive deliveries that overlaps the window.
    pub(crate) max_gap_ms: f64,
    /// When that gap started, relative to the join (negative: before it).
    pub(crate) gap_start_ms: f64,
    /// Highest latency (receive time - CreateTime) of a record received in the window: how long the
    /// consumer kept a record waiting, whatever the producer did.
    pub(crate) max_latency_ms: f64,
    /// When that record was received, relative to the join.
    pub(crate) max_latency_at_ms: f64,
    pub(crate) owner_before: String,
    pub(crate) owner_after: String,
    /// No delivery after the window: the gap ran until the run stopped.
    pub(crate) never_resumed: bool,
}

/// The measurements of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunReport {
    /// From the joiner's subscribe to the last assignment callback of any member.
    pub(crate) rebalance_ms: f64,
    /// Generations the group went through after the join.
    pub(crate) rounds: i32,
    /// Per member: from the join to its last assignment callback.
    pub(crate) member_rebalance_ms: Vec<(String, Option<f64>)>,
    /// From the joiner's subscribe to its first record.
    pub(crate) joiner_first_record_ms: Option<f64>,
    pub(crate) moved: Vec<PartitionPause>,
    pub(crate) retained: Vec<PartitionPause>,
    /// Gaps between consecutive deliveries of a partition before the join (all partitions pooled).
    pub(crate) baseline_p50_ms: f64,
    pub(crate) baseline_p99_ms: f64,
    pub(crate) baseline_max_ms: f64,
    /// Record latencies before the join (all partitions pooled).
    pub(crate) baseline_latency_p99_ms: f64,
    pub(crate) baseline_latency_max_ms: f64,
    /// Offsets handed out more than once (by any members).
    pub(crate) duplicates: usize,
}

impl RunReport {
    /// A retained partition counts as paused when a record waited longer than this: 3x the
    /// steady-state p99 record latency.
    pub(crate) fn pause_threshold_ms(&self) -> f64 {
        3.0 * self.baseline_latency_p99_ms
    }

    pub(crate) fn retained_paused(&self) -> usize {
        let threshold = self.pause_threshold_ms();
        self.retained
            .iter()
            .filter(|p| p.max_latency_ms > threshold || p.never_resumed)
            .count()
    }

    pub(crate) fn moved_latencies(&self) -> Vec<f64> {
        self.moved.iter().map(|p| p.max_latency_ms).collect()
    }

    pub(crate) fn moved_gaps(&self) -> Vec<f64> {
        self.moved.iter().map(|p| p.max_gap_ms).collect()
    }

    pub(crate) fn retained_max_latency_ms(&self) -> f64 {
        self.retained.iter().map(|p| p.max_latency_ms).fold(0.0, f64::max)
    }

    pub(crate) fn retained_max_gap_ms(&self) -> f64 {
        self.retained.iter().map(|p| p.max_gap_ms).fold(0.0, f64::max)
    }

    /// One line per partition and member, for the run's details file.
    pub(crate) fn details(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "rebalance {:.0} ms, {} generation(s); joiner's first record after {} ms",
            self.rebalance_ms,
            self.rounds,
            optional_ms(self.joiner_first_record_ms)
        );
        let _ = writeln!(
            s,
            "baseline delivery gaps: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; record latency p99 {:.1} ms, max {:.1} ms; duplicates {}",
            self.baseline_p50_ms,
            self.baseline_p99_ms,
            self.baseline_max_ms,
            self.baseline_latency_p99_ms,
            self.baseline_latency_max_ms,
            self.duplicates
        );
        for (name, ms) in &self.member_rebalance_ms {
            let ms = optional_ms(*ms);
            let _ = writeln!(s, "{name}: last assignment callback at join + {ms} ms");
        }
        for (label, list) in [("moved", &self.moved), ("retained", &self.retained)] {
            for p in list {
                let _ = writeln!(
                    s,
                    "{label} p{}: {} -> {}, max gap {:.1} ms starting at join {:+.0} ms, max latency {:.1} ms at join {:+.0} ms{}",
                    p.partition,
                    p.owner_before,
                    p.owner_after,
                    p.max_gap_ms,
                    p.gap_start_ms,
                    p.max_latency_ms,
                    p.max_latency_at_ms,
                    if p.never_resumed { " (never resumed)" } else { "" }
                );
            }
        }
        s
    }
}

/// Parameters of the analysis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Steady state measured over this long before the join.
    pub(crate) baseline_us: u64,
    /// The window ends this long after the group is stable again.
    pub(crate) margin_us: u64,
    /// Nothing at or after this time counts (members were told to stop).
    pub(crate) stop_us: u64,
}

/// Milliseconds without decimals, or "-" when there is nothing to show.
pub(crate) fn optional_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}"))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn signed_ms(at_us: u64, origin_us: u64) -> f64 {
    (at_us as f64 - origin_us as f64) / 1000.0
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

/// Measures one run; `members` in start order, the last one joined at its `S` time.
pub(crate) fn analyze(members: &[MemberLog], window: Window) -> anyhow::Result<RunReport> {
    let joiner = members.last().context("no members")?;
    let join_us = joiner
        .subscribed_us
        .with_context(|| format!("{} never subscribed", joiner.name))?;
    let last_assignment = |m: &MemberLog| {
        m.callbacks
            .iter()
            .filter(|(t, kind, _)| *kind == 'A' && *t >= join_us && *t < window.stop_us)
            .map(|(t, _, _)| *t)
            .max()
    };
    let stable_us = members
        .iter()
        .filter_map(last_assignment)
        .max()
        .context("no assignment after the join: the group did not rebalance")?;
    let window_end_us = stable_us + window.margin_us;
    if window_end_us >= window.stop_us {
        bail!(
            "the group was stable only {} ms before the stop: run longer after the join",
            (window.stop_us - stable_us) / 1000
        );
    }
    let generation_at = |pred: &dyn Fn(u64) -> bool| {
        members
            .iter()
            .flat_map(|m| m.generations.iter())
            .filter(|(t, _)| pred(*t))
            .map(|(_, g)| *g)
            .max()
    };
    let before = generation_at(&|t| t < join_us).unwrap_or(0);
    let after = generation_at(&|t| t <= window_end_us).unwrap_or(before);

    // partition -> offset -> (first delivery, member index); later deliveries are duplicates.
    let mut first_delivery: BTreeMap<i32, BTreeMap<i64, (Received, usize)>> = BTreeMap::new();
    let mut duplicates = 0;
    for (index, m) in members.iter().enumerate() {
        for r in m.records.iter().filter(|r| r.at_us < window.stop_us) {
            let slot = first_delivery.entry(r.partition).or_default();
            match slot.get_mut(&r.offset) {
                Some(seen) => {
                    duplicates += 1;
                    if r.at_us < seen.0.at_us {
                        *seen = (*r, index);
                    }
                }
                None => {
                    slot.insert(r.offset, (*r, index));
                }
            }
        }
    }

    let baseline_from = join_us.saturating_sub(window.baseline_us);
    let mut baseline = Vec::new();
    let mut baseline_latency = Vec::new();
    let mut moved = Vec::new();
    let mut retained = Vec::new();
    for (&partition, offsets) in &first_delivery {
        // Deliveries: distinct times a poll handed out records of this partition, with who got them.
        let deliveries: BTreeMap<u64, usize> = offsets.values().map(|(r, i)| (r.at_us, *i)).collect();
        let times: Vec<u64> = deliveries.keys().copied().collect();
        let received = |from: u64, to: u64| {
            offsets
                .values()
                .map(|(r, _)| r)
                .filter(move |r| r.at_us >= from && r.at_us < to)
        };
        baseline_latency.extend(received(baseline_from, join_us).map(Received::latency_ms));
        baseline.extend(
            times
                .windows(2)
                .filter(|w| w[0] >= baseline_from && w[1] < join_us)
                .map(|w| ms(w[1] - w[0])),
        );
        let owner = |pred: &dyn Fn(u64) -> bool| {
            deliveries
                .iter()
                .rev()
                .find(|(t, _)| pred(**t))
                .map_or_else(|| "-".to_owned(), |(_, &i)| members[i].name.clone())
        };
        let owner_before = owner(&|t| t < join_us);
        let owner_after = owner(&|_| true);
        let mut gaps: Vec<(u64, u64)> = times
            .windows(2)
            .filter(|w| w[1] > join_us && w[0] < window_end_us)
            .map(|w| (w[0], w[1]))
            .collect();
        let last = times.last().copied().unwrap_or(join_us);
        let never_resumed = last < window_end_us;
        if never_resumed {
            gaps.push((last, window.stop_us));
        }
        let (gap_from, gap_to) = gaps
            .into_iter()
            .max_by_key(|(a, b)| b - a)
            .unwrap_or((join_us, join_us));
        // A partition that never resumed kept its next record waiting until the stop at least.
        let (max_latency_ms, latency_at_us) = if never_resumed {
            (ms(window.stop_us - last), window.stop_us)
        } else {
            received(join_us, window_end_us)
                .map(|r| (r.latency_ms(), r.at_us))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, join_us))
        };
        let pause = PartitionPause {
            partition,
            max_gap_ms: ms(gap_to - gap_from),
            gap_start_ms: signed_ms(gap_from, join_us),
            max_latency_ms,
            max_latency_at_ms: signed_ms(latency_at_us, join_us),
            never_resumed,
            owner_before: owner_before.clone(),
            owner_after: owner_after.clone(),
        };
        if owner_before == owner_after {
            retained.push(pause);
        } else {
            moved.push(pause);
        }
    }
    baseline.sort_by(f64::total_cmp);
    baseline_latency.sort_by(f64::total_cmp);
    let joiner_first_record_ms = joiner
        .records
        .iter()
        .map(|r| r.at_us)
        .filter(|t| *t >= join_us)
        .min()
        .map(|t| ms(t - join_us));
    let partitions: BTreeSet<i32> = first_delivery.keys().copied().collect();
    if partitions.is_empty() {
        bail!("no records consumed");
    }
    Ok(RunReport {
        rebalance_ms: ms(stable_us - join_us),
        rounds: after - before,
        member_rebalance_ms: members
            .iter()
            .map(|m| (m.name.clone(), last_assignment(m).map(|t| ms(t - join_us))))
            .collect(),
        joiner_first_record_ms,
        moved,
        retained,
        baseline_p50_ms: percentile(&baseline, 50.0),
        baseline_p99_ms: percentile(&baseline, 99.0),
        baseline_max_ms: baseline.last().copied().unwrap_or(0.0),
        baseline_latency_p99_ms: percentile(&baseline_latency, 99.0),
        baseline_latency_max_ms: baseline_latency.last().copied().unwrap_or(0.0),
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two partitions delivered every 10 ms, 2 ms after the records were created; at t=1000 ms a second
    /// member joins and takes partition 1, which the first member last delivered at 1000 ms and the
    /// joiner first at 1300 ms (with the records created since 1008 ms).
    fn logs() -> Vec<MemberLog> {
        let mut first = String::from("S 0\nG 0 1 Stable\nA 1 0,1\n");
        let mut joiner = String::from("S 1000000\n");
        for i in 0..300u64 {
            let t = i * 10_000;
            // Created 2 ms before the first member got it; the joiner gets its first at 1300 ms.
            let created = (t / 1000) as i64 - 2;
            first.push_str(&format!("R {t} 0 {i} {created}\n"));
            if t <= 1_000_000 {
                first.push_str(&format!("R {t} 1 {i} {created}\n"));
            } else {
                // Records created during the handover wait for the joiner.
                let delivered = t.max(1_300_000);
                joiner.push_str(&format!("R {delivered} 1 {i} {created}\n"));
            }
        }
        first.push_str("G 1100000 2 Stable\nV 1100000 1\nA 1200000 -\nG 1200000 3 Stable\n");
        joiner.push_str("A 1250000 1\n");
        vec![
            MemberLog::parse("member-1", &first).unwrap(),
            MemberLog::parse("member-2", &joiner).unwrap(),
        ]
    }

    #[test]
    fn moved_partition_pause_is_the_gap_between_owners() {
        let window = Window {
            baseline_us: 1_000_000,
            margin_us: 500_000,
            stop_us: 3_000_000,
        };
        let report = analyze(&logs(), window).unwrap();
        assert_eq!(report.moved.len(), 1);
        assert_eq!(report.moved[0].partition, 1);
        assert_eq!(report.moved[0].max_gap_ms, 300.0);
        assert_eq!(report.moved[0].owner_after, "member-2");
        assert_eq!(report.retained.len(), 1);
        assert_eq!(report.retained[0].max_gap_ms, 10.0);
        assert_eq!(report.moved[0].max_latency_ms, 292.0);
        assert_eq!(report.retained[0].max_latency_ms, 2.0);
        assert_eq!(report.baseline_latency_p99_ms, 2.0);
        assert_eq!(report.retained_paused(), 0);
        assert_eq!(report.rebalance_ms, 250.0);
        assert_eq!(report.rounds, 2);
        assert_eq!(report.joiner_first_record_ms, Some(300.0));
        assert_eq!(report.baseline_p99_ms, 10.0);
        assert_eq!(report.duplicates, 0);
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_it() {
        let err = MemberLog::parse("member-1", "S 1\nR 2 x 3 4\n").unwrap_err();
        assert!(format!("{err:#}").contains("member-1 line 2"), "{err:#}");
    }
}
