//! `kafkaroo group lag`: a group's lag in records and in seconds per partition, with per-member totals;
//! `--watch` refreshes it (redrawn in place with a bar per partition on a terminal, plain tables
//! otherwise).
//!
//! Lag in seconds is the age of the oldest record the group has not consumed: now minus the timestamp of
//! the record at the committed offset (0 when the partition is caught up). It is read with a consumer in
//! assign mode, one small fetch per lagging partition and refresh, so it costs a fetch where the lag in
//! records costs none; with `LogAppendTime` topics it is the time the record has waited in the log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use kafkaroo::admin::GroupLag;
use kafkaroo::{Consumer, ConsumerConfig, GroupAdmin, TopicPartition};
use serde_json::{Value, json};

use super::{Connect, MISSING};

#[derive(Debug, Args)]
pub(crate) struct LagArgs {
    /// The group id
    pub(crate) group: String,
    /// Refresh until interrupted (or --count tables were printed)
    #[arg(long)]
    watch: bool,
    /// Time between refreshes with --watch, e.g. 2s, 500ms
    #[arg(long, default_value = "2s", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after this many tables (implies --watch when more than 1)
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    pub(crate) connect: Connect,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, millis) = match text.strip_suffix("ms") {
        Some(n) => (n, true),
        None => (text.strip_suffix('s').unwrap_or(text), false),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an interval (e.g. 2s, 500ms)"))?;
    let d = Duration::from_secs_f64(if millis { value / 1000.0 } else { value });
    if d < Duration::from_millis(100) {
        return Err(format!("{text:?}: refresh at most every 100 ms"));
    }
    Ok(d)
}

/// One partition's lag at one refresh.
struct Row {
    tp: TopicPartition,
    committed: Option<i64>,
    log_end: Option<i64>,
    lag: Option<i64>,
    /// Age of the first record not consumed, in seconds; `None` when it could not be read.
    seconds: Option<f64>,
    owner: Option<String>,
}

pub(crate) async fn run(
    admin: &GroupAdmin,
    config: &ConsumerConfig,
    args: &LagArgs,
) -> anyhow::Result<String> {
    let count = args.count.unwrap_or(if args.watch { u64::MAX } else { 1 });
    let live = (args.watch || count > 1) && !args.connect.json && std::io::stdout().is_terminal();
    let mut reader = AgeReader::new(config.clone());
    let mut stdout = std::io::stdout();
    for n in 0..count {
        if n > 0 {
            tokio::time::sleep(args.interval).await;
        }
        let lag = admin.group_lag(&args.group).await?;
        let rows = reader.rows(&lag).await?;
        let text = if args.connect.json {
            format!("{}\n", rows_json(&args.group, &rows))
        } else {
            table(&args.group, &rows, live)
        };
        if live {
            // Home and clear, then the table: a redraw in place.
            write!(stdout, "\x1b[H\x1b[2J{text}")?;
        } else if count > 1 {
            writeln!(stdout, "{text}")?;
        } else {
            return Ok(text);
        }
        stdout.flush()?;
    }
    Ok(String::new())
}

/// Reads the timestamp of the record at each committed offset with one consumer kept across refreshes.
struct AgeReader {
    config: ConsumerConfig,
    consumer: Option<Consumer>,
}

impl AgeReader {
    fn new(config: ConsumerConfig) -> Self {
        Self {
            config,
            consumer: None,
        }
    }

    async fn rows(&mut self, lag: &GroupLag) -> anyhow::Result<Vec<Row>> {
        let wanted: Vec<(TopicPartition, i64)> = lag
            .partitions
            .iter()
            .filter_map(|p| match (p.committed, p.lag) {
                (Some(c), Some(l)) if l > 0 => Some((p.partition.clone(), c)),
                _ => None,
            })
            .collect();
        let ages = self.ages(&wanted).await?;
        Ok(lag
            .partitions
            .iter()
            .map(|p| Row {
                tp: p.partition.clone(),
                committed: p.committed,
                log_end: p.log_end,
                lag: p.lag,
                seconds: match p.lag {
                    Some(0) => Some(0.0),
                    Some(_) => ages.get(&p.partition).copied(),
                    None => None,
                },
                owner: p.owner.clone(),
            })
            .collect())
    }

    /// The age in seconds of the record at each `(partition, offset)`, read within a short deadline;
    /// partitions whose record did not arrive in time are left out (shown as `-`).
    async fn ages(
        &mut self,
        wanted: &[(TopicPartition, i64)],
    ) -> anyhow::Result<BTreeMap<TopicPartition, f64>> {
        let mut ages = BTreeMap::new();
        if wanted.is_empty() {
            return Ok(ages);
        }
        if self.consumer.is_none() {
            let consumer = Consumer::new(self.config.clone())
                .await
                .context("connecting the consumer that reads record timestamps")?;
            self.consumer = Some(consumer);
        }
        let consumer = self.consumer.as_mut().expect("just set");
        consumer.assign(wanted.iter().map(|(tp, _)| tp.clone()))?;
        for (tp, offset) in wanted {
            consumer.seek(tp, *offset)?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while ages.len() < wanted.len() && tokio::time::Instant::now() < deadline {
            let batch = consumer.poll(Duration::from_millis(200)).await?;
            let now_ms = now_ms();
            for (tp, records) in batch.partitions() {
                if ages.contains_key(tp) {
                    continue;
                }
                if let Some(first) = records.iter().next() {
                    ages.insert(tp.clone(), (now_ms - first.timestamp()).max(0) as f64 / 1000.0);
                }
            }
        }
        Ok(ages)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn num(n: Option<i64>) -> String {
    n.map_or_else(|| MISSING.to_owned(), |n| n.to_string())
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| MISSING.to_owned(), |s| format!("{s:.1}"))
}

/// A bar of up to 20 cells for `lag` relative to the largest lag shown.
fn bar(lag: Option<i64>, max: i64) -> String {
    let cells = match lag {
        Some(l) if max > 0 && l > 0 => ((l as f64 / max as f64) * 20.0).ceil() as usize,
        _ => 0,
    };
    "#".repeat(cells.min(20))
}

fn table(group: &str, rows: &[Row], bars: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "GROUP {group} at {}", time_of_day());
    if rows.is_empty() {
        out.push_str("(no partitions: nothing committed and no member owns any)\n");
        return out;
    }
    let tw = rows.iter().map(|r| r.tp.topic.len()).fold(5, usize::max);
    let ow = rows
        .iter()
        .map(|r| r.owner.as_deref().map_or(1, str::len))
        .fold(11, usize::max);
    let _ = write!(
        out,
        "{:tw$} {:>9} {:>14} {:>14} {:>10} {:>11} {:ow$}",
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS", "CONSUMER-ID"
    );
    out.push_str(if bars { " LAG-BAR\n" } else { "\n" });
    let max = rows.iter().filter_map(|r| r.lag).max().unwrap_or(0);
    for r in rows {
        let _ = write!(
            out,
            "{:tw$} {:>9} {:>14} {:>14} {:>10} {:>11} {:ow$}",
            r.tp.topic,
            r.tp.partition,
            num(r.committed),
            num(r.log_end),
            num(r.lag),
            seconds(r.seconds),
            r.owner.as_deref().unwrap_or(MISSING),
        );
        if bars {
            let _ = write!(out, " {}", bar(r.lag, max));
        }
        out.push('\n');
    }
    // Per-member totals: lag in records, and the oldest record not consumed.
    let mut totals: BTreeMap<&str, (i64, Option<f64>)> = BTreeMap::new();
    for r in rows {
        let t = totals.entry(r.owner.as_deref().unwrap_or(MISSING)).or_default();
        t.0 += r.lag.unwrap_or(0);
        t.1 = match (t.1, r.seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    out.push_str("MEMBER TOTALS (lag, oldest record not consumed in seconds)\n");
    for (member, (lag, oldest)) in totals {
        let _ = writeln!(out, "  {member:ow$} {lag:>10} {:>11}", seconds(oldest));
    }
    out
}

fn time_of_day() -> String {
    let secs = now_ms() / 1000;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn rows_json(group: &str, rows: &[Row]) -> Value {
    json!({
        "group": group,
        "time_ms": now_ms(),
        "partitions": rows.iter().map(|r| json!({
            "topic": r.tp.topic,
            "partition": r.tp.partition,
            "committed": r.committed,
            "log_end": r.log_end,
            "lag": r.lag,
            "lag_seconds": r.seconds,
            "owner": r.owner,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_in_seconds_or_milliseconds() {
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1.5"), Ok(Duration::from_millis(1500)));
        assert!(
            parse_interval("10ms")
                .unwrap_err()
                .contains("at most every 100 ms")
        );
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn bars_scale_to_the_largest_lag() {
        assert_eq!(bar(Some(100), 100), "#".repeat(20));
        assert_eq!(bar(Some(1), 100), "#");
        assert_eq!(bar(Some(0), 100), "");
        assert_eq!(bar(None, 0), "");
    }

    #[test]
    fn the_table_has_lag_seconds_and_member_totals() {
        let row = |p: i32, lag: i64, secs: Option<f64>, owner: Option<&str>| Row {
            tp: TopicPartition::new("orders", p),
            committed: Some(10),
            log_end: Some(10 + lag),
            lag: Some(lag),
            seconds: secs,
            owner: owner.map(str::to_owned),
        };
        let text = table(
            "g",
            &[
                row(0, 5, Some(3.25), Some("m1")),
                row(1, 0, Some(0.0), Some("m1")),
                row(2, 7, None, None),
            ],
            false,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("LAG-SECONDS"), "{text}");
        let column = |line: &str, n: usize| line.split_whitespace().nth(n).map(str::to_owned);
        // TOPIC PARTITION CURRENT LOG-END LAG LAG-SECONDS CONSUMER-ID
        assert_eq!(column(lines[2], 5).as_deref(), Some("3.2"), "{text}");
        assert_eq!(column(lines[3], 5).as_deref(), Some("0.0"), "{text}");
        assert_eq!(column(lines[4], 5).as_deref(), Some(MISSING), "{text}");
        let totals = &lines[lines.iter().position(|l| l.starts_with("MEMBER TOTALS")).unwrap() + 1..];
        assert_eq!(totals.len(), 2, "{text}");
        assert!(
            totals
                .iter()
                .any(|l| l.trim_start().starts_with('-') && l.contains(" 7 ")),
            "{text}"
        );
        assert!(
            totals
                .iter()
                .any(|l| l.trim_start().starts_with("m1") && l.contains(" 5 ")),
            "{text}"
        );
    }
}
