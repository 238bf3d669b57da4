//! The report page: one HTML file with inline CSS and SVG, no scripts and nothing fetched.

use std::fmt::Write as _;

use crate::inputs::{Consume, Decode, DecodeRow, Rebalance};
use crate::svg::{self, Bars, Strips, escape};

/// What the page shows; every part is optional (a benchmark that was not run is left out).
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) consume: Option<Consume>,
    pub(crate) decode: Option<Decode>,
    pub(crate) rebalance: Option<Rebalance>,
    /// `key: value` lines describing the machine.
    pub(crate) machine: Option<String>,
    /// The commands that produced the results, one a line.
    pub(crate) commands: Option<String>,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}\
td.n{text-align:right}ul.legend{list-style:none;padding:0;font-size:13px}ul.legend li{display:inline-block;margin-right:1.5em}\
ul.legend span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}\
pre{background:#f4f4f4;padding:1em;overflow-x:auto}.chart{overflow-x:auto}";

pub(crate) fn page(report: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kafkaroo benchmark report</title><style>{STYLE}</style></head><body>\n<h1>kafkaroo benchmark report</h1>\n"
    );
    if let Some(machine) = &report.machine {
        machine_section(&mut h, machine);
    }
    if let Some(consume) = &report.consume {
        consume_section(&mut h, consume);
    }
    if let Some(decode) = &report.decode {
        decode_section(&mut h, decode);
    }
    if let Some(rebalance) = &report.rebalance {
        rebalance_section(&mut h, rebalance);
    }
    if let Some(commands) = &report.commands {
        let _ = write!(
            h,
            "<h2>Commands</h2>\n<pre>{}</pre>\n",
            escape(commands.trim_end())
        );
    }
    h.push_str("</body></html>\n");
    h
}

fn machine_section(h: &mut String, machine: &str) {
    h.push_str("<h2>Machine</h2>\n<table>");
    for line in machine.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once(':') {
            Some((k, v)) => {
                let _ = write!(
                    h,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(k.trim()),
                    escape(v.trim())
                );
            }
            None => {
                let _ = write!(h, "<tr><td colspan=\"2\">{}</td></tr>", escape(line));
            }
        }
    }
    h.push_str("</table>\n");
}

/// Names in order of first appearance, and the index of each.
fn first_appearance<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}

fn index_of(list: &[String], name: &str) -> usize {
    list.iter().position(|n| n == name).unwrap_or(0)
}

fn legend(h: &mut String, series: &[String]) {
    h.push_str("<ul class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            h,
            "<li><span style=\"background:{}\"></span>{}</li>",
            svg::colour(i),
            escape(s)
        );
    }
    h.push_str("</ul>\n");
}

/// Bars per group (in order of first appearance) with one bar per row of that group.
fn grouped<T>(
    rows: &[T],
    group: impl Fn(&T) -> &str,
    series: impl Fn(&T) -> &str,
    value: impl Fn(&T) -> f64,
    unit: &str,
) -> Bars {
    let series_names = first_appearance(rows.iter().map(&series));
    let groups = first_appearance(rows.iter().map(&group))
        .into_iter()
        .map(|g| {
            let bars = rows
                .iter()
                .filter(|r| group(r) == g)
                .map(|r| (index_of(&series_names, series(r)), value(r)))
                .collect();
            (g, bars)
        })
        .collect();
    Bars {
        unit: unit.to_owned(),
        series: series_names,
        groups,
    }
}

fn chart(h: &mut String, title: &str, svg: &str) {
    let _ = write!(
        h,
        "<h3>{}</h3>\n<div class=\"chart\">{svg}</div>\n",
        escape(title)
    );
}

fn consume_section(h: &mut String, c: &Consume) {
    let _ = write!(
        h,
        "<h2>Consume</h2>\n<p>{} records of {} bytes in {} partitions, read from the start to the end by one consumer at a time; median of {} run(s). CPU = user + sys of the process (<code>/usr/bin/time</code>). ConsumerPerformance's numbers include the JVM's start-up; rskafka has no consumer groups and reads each partition directly (one fetch per partition).</p>\n",
        c.records, c.record_size, c.partitions, c.runs
    );
    let throughput = grouped(
        &c.rows,
        |r| &r.codec,
        |r| &r.consumer,
        |r| c.records / r.wall_s,
        "records/s",
    );
    legend(h, &throughput.series);
    chart(
        h,
        "Throughput (records/s, higher is better)",
        &svg::bar_chart(&throughput),
    );
    let cpu = grouped(
        &c.rows,
        |r| &r.codec,
        |r| &r.consumer,
        |r| r.cpu_s * 1e6 / c.records,
        "CPU µs per record",
    );
    chart(h, "CPU per record (µs, lower is better)", &svg::bar_chart(&cpu));
    h.push_str("<table><tr><th>codec</th><th>client</th><th>consumer</th><th>wall s</th><th>records/s</th><th>CPU s</th><th>CPU µs per record</th><th>peak RSS MiB</th></tr>");
    for r in &c.rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.0}</td></tr>",
            escape(&r.codec),
            escape(&r.client),
            escape(&r.consumer),
            r.wall_s,
            c.records / r.wall_s,
            r.cpu_s,
            r.cpu_s * 1e6 / c.records,
            r.peak_rss_kib / 1024.0
        );
    }
    h.push_str("</table>\n");
}

/// Decoders with a result for every case: a decoder measured on a few cases only (such as CRC checking
/// off, uncompressed only) would stretch the axis without a comparison.
fn decoders_on_every_case(d: &Decode) -> Vec<String> {
    let cases = first_appearance(d.rows.iter().map(|r| r.case.as_str()));
    first_appearance(d.rows.iter().map(|r| r.decoder.as_str()))
        .into_iter()
        .filter(|decoder| {
            cases
                .iter()
                .all(|c| d.rows.iter().any(|r| &r.decoder == decoder && &r.case == c))
        })
        .collect()
}

fn decode_section(h: &mut String, d: &Decode) {
    h.push_str("<h2>Record batch decoding</h2>\n<p>benches/decode.rs: one ~4 MiB partition buffer per case (codec / value bytes), CRC-32C checked, every record visited. GB/s of <em>decompressed</em> bytes, median sample. The chart shows the decoders measured on every case; the others (e.g. with CRC checking off) are in the table only.</p>\n");
    let charted = decoders_on_every_case(d);
    let rows: Vec<DecodeRow> = d
        .rows
        .iter()
        .filter(|r| charted.contains(&r.decoder))
        .cloned()
        .collect();
    let bars = grouped(
        &rows,
        |r| &r.case,
        |r| &r.decoder,
        |r| r.median_gb_per_s,
        "GB/s (decompressed)",
    );
    legend(h, &bars.series);
    chart(
        h,
        "Decode throughput per codec (GB/s, median)",
        &svg::bar_chart(&bars),
    );
    h.push_str("<table><tr><th>case</th><th>decoder</th><th>median GB/s</th><th>fastest GB/s</th></tr>");
    for r in &d.rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td></tr>",
            escape(&r.case),
            escape(&r.decoder),
            r.median_gb_per_s,
            r.fastest_gb_per_s
        );
    }
    h.push_str("</table>\n");
}

fn rebalance_section(h: &mut String, r: &Rebalance) {
    let _ = write!(
        h,
        "<h2>Rebalance pause</h2>\n<p>3 members of a group consume 12 partitions written at {} records/s; a 4th joins. Each point is one partition that moved to another member in one run: the highest latency (receive time &minus; CreateTime) of its records after the join. Box: quartiles and median; whiskers: extremes.</p>\n",
        r.rate
    );
    let name = |run: &crate::inputs::RebalanceRun| format!("{} {}", run.client, run.protocol);
    let categories = first_appearance(r.runs.iter().map(|run| run.client.as_str()))
        .into_iter()
        .flat_map(|c| {
            first_appearance(r.runs.iter().map(|run| run.protocol.as_str()))
                .into_iter()
                .map(move |p| format!("{c} {p}"))
        })
        .filter_map(|cat| {
            let points: Vec<(usize, f64)> = r
                .runs
                .iter()
                .filter(|run| name(run) == cat)
                .flat_map(|run| run.moved_pause_ms.iter().map(|v| (run.run as usize, *v)))
                .collect();
            let ran = r.runs.iter().any(|run| name(run) == cat);
            ran.then_some((cat, points))
        })
        .collect();
    let strips = Strips {
        unit: "pause ms".to_owned(),
        categories,
    };
    chart(
        h,
        "Moved partitions: pause per run (ms, lower is better)",
        &svg::strip_chart(&strips),
    );
    h.push_str("<table><tr><th>run</th><th>client</th><th>protocol</th><th>rebalance ms</th><th>moved partitions: pause ms</th><th>duplicates</th></tr>");
    for run in &r.runs {
        let pauses: Vec<String> = run.moved_pause_ms.iter().map(|v| format!("{v:.0}")).collect();
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            run.run,
            escape(&run.client),
            escape(&run.protocol),
            run.rebalance_ms,
            pauses.join(", "),
            run.duplicates
        );
    }
    h.push_str("</table>\n");
}
