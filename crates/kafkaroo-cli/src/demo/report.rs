//! What the demo prints: a table redrawn in place on a terminal (or periodic plain lines otherwise),
//! the rebalance events as they happen, and the summary at the end.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use super::state::{Demo, Move, Phase, State};

/// Window over which records/s are computed.
const RATE_WINDOW: Duration = Duration::from_secs(3);
/// Plain mode: a progress line this often, the whole table every `PLAIN_TABLE_EVERY` lines.
const PLAIN_PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
const PLAIN_TABLE_EVERY: u32 = 5;
/// Live mode: at most this many partition rows and recent events (the frame must fit a terminal).
const LIVE_MAX_PARTITION_ROWS: usize = 24;
const LIVE_RECENT_EVENTS: usize = 10;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// ANSI redraw of one frame on a terminal.
    Live,
    /// Lines appended to the output, for logs and pipes.
    Plain,
}

/// Everything the display needs to know besides the shared record.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub(crate) topic: String,
    pub(crate) group: String,
    pub(crate) bootstrap: String,
    pub(crate) duration: Duration,
}

/// Processed counts at one instant, for records/s.
struct Sample {
    at: Instant,
    partitions: Vec<u64>,
    members: Vec<u64>,
}

pub(crate) struct Display {
    mode: Mode,
    labels: Labels,
    history: VecDeque<Sample>,
    printed_events: usize,
    printed_notes: usize,
    frame_lines: usize,
    plain_lines: u32,
    /// Live mode: the last log lines, shown under the table.
    recent: VecDeque<(Duration, String)>,
    last_progress: Option<Instant>,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn partition_list(partitions: &[i32]) -> String {
    if partitions.is_empty() {
        return "-".to_owned();
    }
    partitions
        .iter()
        .map(|p| format!("p{p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Timed log lines (notes and stamped listener events) not printed yet, in time order.
fn new_log_lines(st: &State, events_from: usize, notes_from: usize) -> Vec<(Duration, String)> {
    let mut lines: Vec<(Duration, String)> = st.notes[notes_from.min(st.notes.len())..].to_vec();
    for e in &st.events[events_from.min(st.events.len())..] {
        lines.push((
            e.at,
            format!(
                "{} {} {} (generation {})",
                st.members[e.member].name,
                e.change.verb(),
                partition_list(&e.partitions),
                e.generation
            ),
        ));
    }
    lines.sort_by_key(|(at, _)| *at);
    lines
}

fn log_line(at: Duration, text: &str) -> String {
    format!("[{:>6.1} s] {text}", at.as_secs_f64())
}

impl Display {
    pub(crate) fn new(mode: Mode, labels: Labels) -> Self {
        Self {
            mode,
            labels,
            history: VecDeque::new(),
            printed_events: 0,
            printed_notes: 0,
            frame_lines: 0,
            plain_lines: 0,
            recent: VecDeque::new(),
            last_progress: None,
        }
    }

    /// Records/s per partition and per member over the rate window.
    fn rates(&mut self, st: &State) -> (Vec<f64>, Vec<f64>) {
        let now = Instant::now();
        let sample = Sample {
            at: now,
            partitions: st.partitions.iter().map(|p| p.processed).collect(),
            members: st.members.iter().map(|m| m.processed).collect(),
        };
        while self
            .history
            .front()
            .is_some_and(|s| now.duration_since(s.at) > RATE_WINDOW)
        {
            self.history.pop_front();
        }
        let rate = |now_counts: &[u64], then: Option<&[u64]>, dt: f64| -> Vec<f64> {
            now_counts
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let before = then.and_then(|t| t.get(i)).copied().unwrap_or(0);
                    if dt > 0.0 {
                        (n - before.min(n)) as f64 / dt
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let oldest = self.history.front();
        let dt = oldest.map_or(0.0, |s| now.duration_since(s.at).as_secs_f64());
        let by_partition = rate(&sample.partitions, oldest.map(|s| s.partitions.as_slice()), dt);
        let by_member = rate(&sample.members, oldest.map(|s| s.members.as_slice()), dt);
        self.history.push_back(sample);
        (by_partition, by_member)
    }

    /// The table: header, one row per partition, one per member.
    fn table(&mut self, st: &State, elapsed: Duration, max_rows: usize) -> Vec<String> {
        let (partition_rates, member_rates) = self.rates(st);
        let total_rate: f64 = partition_rates.iter().sum();
        let phase = st.current_phase().map_or("starting", |p| p.label.as_str());
        let mut out = vec![
            format!(
                "kafkaroo demo  {} of {}  phase: {phase}  topic {}  group {}  broker {}",
                secs(elapsed),
                secs(self.labels.duration),
                self.labels.topic,
                self.labels.group,
                self.labels.bootstrap
            ),
            format!(
                "produced {}  consumed {}  lag {}  {:.0} records/s  duplicates {}",
                st.produced,
                st.consumed_distinct(),
                st.lag(),
                total_rate,
                st.duplicates()
            ),
            String::new(),
            format!(
                "{:>9}  {:<10} {:>9} {:>9} {:>7} {:>10}",
                "partition", "owner", "consumed", "log end", "lag", "records/s"
            ),
        ];
        for (i, p) in st.partitions.iter().enumerate().take(max_rows) {
            let owner = p.owner.map_or("-", |o| st.members[o].name.as_str());
            out.push(format!(
                "{i:>9}  {owner:<10} {:>9} {:>9} {:>7} {:>10.0}",
                p.next_offset,
                p.log_end,
                p.lag(),
                partition_rates[i]
            ));
        }
        if st.partitions.len() > max_rows {
            out.push(format!("{:>9}  ({} more)", "…", st.partitions.len() - max_rows));
        }
        out.push(String::new());
        out.push(format!(
            "{:<10} {:<12} {:>4}  {:<28} {:>9} {:>10}",
            "member", "state", "gen", "partitions", "processed", "records/s"
        ));
        for (i, m) in st.members.iter().enumerate() {
            let state = match (m.left, m.state) {
                (Some(left), _) => format!("left {}", secs(left)),
                (None, Some(s)) => format!("{s:?}"),
                (None, None) => "starting".to_owned(),
            };
            out.push(format!(
                "{:<10} {state:<12} {:>4}  {:<28} {:>9} {:>10.0}",
                m.name,
                m.generation,
                partition_list(&m.assignment),
                m.processed,
                member_rates[i]
            ));
        }
        out
    }

    /// Called every few hundred milliseconds: redraws the frame, or prints new log lines and, every
    /// [`PLAIN_PROGRESS_INTERVAL`], a progress line.
    pub(crate) fn tick(&mut self, demo: &Demo) {
        let due = self
            .last_progress
            .is_none_or(|at| at.elapsed() >= PLAIN_PROGRESS_INTERVAL);
        if due {
            self.last_progress = Some(Instant::now());
        }
        self.refresh(demo, due);
    }

    /// One refresh: a redrawn frame, or new log lines plus (when `progress_due`) a progress line.
    fn refresh(&mut self, demo: &Demo, progress_due: bool) {
        let elapsed = demo.elapsed();
        let st = demo.lock();
        let lines = new_log_lines(&st, self.printed_events, self.printed_notes);
        self.printed_events = st.events.len();
        self.printed_notes = st.notes.len();
        let mut out = String::new();
        match self.mode {
            Mode::Live => {
                let mut frame = self.table(&st, elapsed, LIVE_MAX_PARTITION_ROWS);
                drop(st);
                self.push_recent(lines);
                frame.push(String::new());
                frame.push("recent events".to_owned());
                frame.extend(self.recent.iter().map(|(at, text)| log_line(*at, text)));
                // Up to the previous frame's first line, clear to the end of the screen, draw.
                if self.frame_lines > 0 {
                    let _ = write!(out, "\x1b[{}F", self.frame_lines);
                }
                out.push_str("\x1b[J");
                for line in &frame {
                    let _ = writeln!(out, "{line}\x1b[K");
                }
                self.frame_lines = frame.len();
            }
            Mode::Plain => {
                for (at, text) in &lines {
                    let _ = writeln!(out, "{}", log_line(*at, text));
                }
                if progress_due {
                    self.plain_lines += 1;
                    let table = self.table(&st, elapsed, usize::MAX);
                    if self.plain_lines.is_multiple_of(PLAIN_TABLE_EVERY) {
                        for line in &table {
                            let _ = writeln!(out, "  {line}");
                        }
                    } else {
                        let _ = writeln!(out, "{}", log_line(elapsed, &table[1]));
                    }
                }
            }
        }
        print_flush(&out);
    }

    /// The last frame (live) or the whole table (plain), before the summary.
    pub(crate) fn finish(&mut self, demo: &Demo) {
        self.refresh(demo, false);
        if self.mode == Mode::Plain {
            let table = self.table(&demo.lock(), demo.elapsed(), usize::MAX);
            let mut out = String::new();
            for line in &table {
                let _ = writeln!(out, "  {line}");
            }
            print_flush(&out);
        }
    }

    fn push_recent(&mut self, lines: Vec<(Duration, String)>) {
        self.recent.extend(lines);
        while self.recent.len() > LIVE_RECENT_EVENTS {
            self.recent.pop_front();
        }
    }
}

fn print_flush(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Partition owners when the run ended, before the members closed.
#[derive(Debug, Clone)]
pub(crate) struct EndOwners {
    pub(crate) owners: Vec<Option<String>>,
}

impl EndOwners {
    pub(crate) fn capture(st: &State) -> Self {
        Self {
            owners: st
                .partitions
                .iter()
                .map(|p| p.owner.map(|o| st.members[o].name.clone()))
                .collect(),
        }
    }
}

fn pause_stats(moves: &[&Move]) -> (Duration, Duration) {
    let max = moves.iter().map(|m| m.paused).max().unwrap_or_default();
    let total: Duration = moves.iter().map(|m| m.paused).sum();
    let avg = total / u32::try_from(moves.len().max(1)).unwrap_or(u32::MAX);
    (max, avg)
}

fn phase_summary(out: &mut String, st: &State, phase: &Phase) {
    let moved: Vec<&Move> = phase.moves.iter().filter(|m| m.from.is_some()).collect();
    let first: Vec<&Move> = phase.moves.iter().filter(|m| m.from.is_none()).collect();
    let _ = write!(out, "  rebalance \"{}\" at {}: ", phase.label, secs(phase.at));
    if !first.is_empty() {
        let (max, _) = pause_stats(&first);
        let _ = write!(
            out,
            "{} partitions got a first owner within {}",
            first.len(),
            millis(max)
        );
    }
    if !(first.len() == st.partitions.len() && moved.is_empty()) {
        if !first.is_empty() {
            out.push_str("; ");
        }
        let (max, avg) = pause_stats(&moved);
        let _ = write!(out, "{} partitions moved", moved.len());
        if !moved.is_empty() {
            let _ = write!(out, ", paused max {} (avg {})", millis(max), millis(avg));
        }
        let touched: std::collections::HashSet<i32> = phase.moves.iter().map(|m| m.partition).collect();
        let _ = write!(
            out,
            ", {} kept consuming",
            st.partitions.len().saturating_sub(touched.len())
        );
    }
    match phase.settled {
        Some((at, generation)) => {
            let _ = writeln!(
                out,
                "; settled in generation {generation} after {}",
                secs(at.saturating_sub(phase.at))
            );
        }
        None => {
            let _ = writeln!(out, "; did not settle");
        }
    }
    for m in moved {
        let from = m.from.map_or("-", |f| st.members[f].name.as_str());
        let _ = writeln!(
            out,
            "    p{} {from} -> {} paused {}",
            m.partition,
            st.members[m.to].name,
            millis(m.paused)
        );
    }
}

/// The end-of-run summary the README promises and the test reads.
pub(crate) fn summary(st: &State, labels: &Labels, end: &EndOwners, interrupted: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== summary{} ==",
        if interrupted { " (interrupted)" } else { "" }
    );
    let _ = writeln!(
        out,
        "topic {} ({} partitions), group {}, broker {}",
        labels.topic,
        st.partitions.len(),
        labels.group,
        labels.bootstrap
    );
    let distinct = st.consumed_distinct();
    let _ = writeln!(out, "produced: {} orders", st.produced);
    let _ = writeln!(
        out,
        "consumed: {distinct} distinct orders ({} processed), {} duplicates, {} missing",
        st.processed(),
        st.duplicates(),
        st.produced.saturating_sub(distinct)
    );
    let _ = writeln!(out, "members:");
    for m in &st.members {
        let left = m
            .left
            .map_or_else(|| "still in".to_owned(), |l| format!("left {}", secs(l)));
        let _ = writeln!(
            out,
            "  {}: {} orders (joined {}, {left})",
            m.name,
            m.processed,
            secs(m.joined)
        );
    }
    let _ = writeln!(out, "rebalances:");
    for phase in st.phases.iter().filter(|p| p.rebalance) {
        phase_summary(&mut out, st, phase);
    }
    let _ = writeln!(out, "ownership overlaps: {}", st.overlaps);
    let owned = end.owners.iter().filter(|o| o.is_some()).count();
    let owners: Vec<String> = end
        .owners
        .iter()
        .enumerate()
        .map(|(p, o)| format!("p{p} {}", o.as_deref().unwrap_or("-")))
        .collect();
    let _ = writeln!(
        out,
        "owners at end: {owned}/{} partitions owned ({})",
        end.owners.len(),
        owners.join(", ")
    );
    if st.errors.is_empty() {
        let _ = writeln!(out, "errors: none");
    } else {
        let _ = writeln!(out, "errors: {}", st.errors.len());
        for e in &st.errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}
