//! The generator on fixed inputs: what the page shows, and the errors for bad input files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A fresh directory under the system temp dir holding `files`.
fn dir_with(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bench-report-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

const CONSUME: &str = r#"{
  "benchmark": "consume", "records": 1000000, "record_size": 100, "partitions": 12, "runs": 1,
  "date": "2026-12-06T00:00:00Z", "cores": 2, "kafka_version": "4.4.0", "broker": "started",
  "rows": [
    {"codec": "none", "client": "kafkaroo", "consumer": "kafkaroo consume -e -q -f '%o\\n'", "wall_s": 0.5, "cpu_s": 0.1, "user_s": 0.08, "sys_s": 0.02, "peak_rss_kib": 51200, "wall_s_runs": [0.5], "cpu_s_runs": [0.1]},
    {"codec": "none", "client": "kcat", "consumer": "kcat <b>&\"x\"</b>", "wall_s": 2.0, "cpu_s": 0.4, "user_s": 0.3, "sys_s": 0.1, "peak_rss_kib": 90000, "wall_s_runs": [2.0], "cpu_s_runs": [0.4]},
    {"codec": "none", "client": "rskafka", "consumer": "rskafka fetch_records (values)", "wall_s": 1.0, "cpu_s": 0.3, "user_s": 0.2, "sys_s": 0.1, "peak_rss_kib": 70000, "wall_s_runs": [1.0], "cpu_s_runs": [0.3]},
    {"codec": "lz4", "client": "kafkaroo", "consumer": "kafkaroo consume -e -q -f '%o\\n'", "wall_s": 0.25, "cpu_s": 0.12, "user_s": 0.1, "sys_s": 0.02, "peak_rss_kib": 51200, "wall_s_runs": [0.25], "cpu_s_runs": [0.12]},
    {"codec": "lz4", "client": "kcat", "consumer": "kcat <b>&\"x\"</b>", "wall_s": 4.0, "cpu_s": 0.5, "user_s": 0.4, "sys_s": 0.1, "peak_rss_kib": 90000, "wall_s_runs": [4.0], "cpu_s_runs": [0.5]},
    {"codec": "lz4", "client": "rskafka", "consumer": "rskafka fetch_records (values)", "wall_s": 2.0, "cpu_s": 0.6, "user_s": 0.5, "sys_s": 0.1, "peak_rss_kib": 70000, "wall_s_runs": [2.0], "cpu_s_runs": [0.6]}
  ]
}"#;

const DECODE: &str = r#"{"benchmark": "decode", "rows": [
  {"decoder": "kafkaroo_ref", "case": "none/100", "fastest_ns": 1, "median_ns": 1, "fastest_gb_per_s": 7.0, "median_gb_per_s": 6.0, "median_records_per_s": 4e7},
  {"decoder": "kafka_protocol", "case": "none/100", "fastest_ns": 1, "median_ns": 1, "fastest_gb_per_s": 1.5, "median_gb_per_s": 1.2, "median_records_per_s": 9e6},
  {"decoder": "kafkaroo_ref", "case": "lz4/100", "fastest_ns": 1, "median_ns": 1, "fastest_gb_per_s": 2.7, "median_gb_per_s": 2.4, "median_records_per_s": 2e7},
  {"decoder": "kafka_protocol", "case": "lz4/100", "fastest_ns": 1, "median_ns": 1, "fastest_gb_per_s": 1.0, "median_gb_per_s": 0.9, "median_records_per_s": 7e6},
  {"decoder": "kafkaroo_ref_no_crc", "case": "none/100", "fastest_ns": 1, "median_ns": 1, "fastest_gb_per_s": 90, "median_gb_per_s": 88, "median_records_per_s": 7e8}
]}"#;

const REBALANCE: &str = r#"{"benchmark": "rebalance", "partitions": 12, "initial_members": 3, "rate": 3000,
  "baseline_secs": 10, "settle_secs": 8, "margin_ms": 2000, "cores": 2, "runs": [
  {"run": 1, "client": "kafkaroo", "protocol": "classic", "load": 3.5, "rebalance_ms": 2900, "generations": 2,
   "moved_pause_ms": [128, 131, 140], "moved_gap_ms": [120, 125, 130], "moved_never_resumed": 0,
   "retained_max_latency_ms": [20, 30], "retained_paused": 0, "steady_latency_p99_ms": 22, "steady_latency_max_ms": 40, "duplicates": 0},
  {"run": 1, "client": "java", "protocol": "classic", "load": 4.5, "rebalance_ms": 6800, "generations": 2,
   "moved_pause_ms": [3250, 3285, 3300], "moved_gap_ms": [3200, 3210, 3220], "moved_never_resumed": 0,
   "retained_max_latency_ms": [50], "retained_paused": 0, "steady_latency_p99_ms": 75, "steady_latency_max_ms": 133, "duplicates": 141}
]}"#;

fn args(dir: &std::path::Path) -> HtmlArgs {
    HtmlArgs {
        consume: Some(dir.join("consume.json")),
        decode: Some(dir.join("decode.json")),
        rebalance: Some(dir.join("rebalance.json")),
        machine: Some(dir.join("machine.txt")),
        commands: Some(dir.join("commands.txt")),
        out: dir.join("out/index.html"),
    }
}

fn full_dir() -> PathBuf {
    dir_with(&[
        ("consume.json", CONSUME),
        ("decode.json", DECODE),
        ("rebalance.json", REBALANCE),
        ("machine.txt", "cpu: Test CPU <fast>\ncores: 2\n"),
        ("commands.txt", "QUICK=1 benches/report.sh\n"),
    ])
}

/// The page written from the full fixed inputs.
fn rendered_page() -> String {
    let args = args(&full_dir());
    write_html(&args).unwrap();
    std::fs::read_to_string(&args.out).unwrap()
}

/// The bars of the chart whose heading contains `title`: (group, series, value, height).
fn bars(html: &str, title: &str) -> Vec<(String, String, f64, f64)> {
    let start = html.find(title).unwrap_or_else(|| panic!("no chart {title:?}"));
    let svg = &html[start..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    svg.split("<rect class=\"bar\" ")
        .skip(1)
        .map(|rect| {
            let attr = |name: &str| {
                let from = rect.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                rect[from..from + rect[from..].find('"').unwrap()].to_owned()
            };
            (
                attr("data-group"),
                attr("data-series"),
                attr("data-value").parse().unwrap(),
                attr("height").parse().unwrap(),
            )
        })
        .collect()
}

/// Each bar's height over its value is the same for every bar of a chart.
fn assert_proportional(bars: &[(String, String, f64, f64)]) {
    let (_, _, v0, h0) = &bars[0];
    for (g, s, v, h) in bars {
        assert!(
            (h / h0 - v / v0).abs() < 1e-3,
            "bar {g}/{s}: height {h} for {v}, but {h0} for {v0}"
        );
    }
}

#[test]
fn one_bar_per_client_and_codec_with_heights_proportional_to_the_values() {
    let html = rendered_page();

    let throughput = bars(&html, "Throughput");
    assert_eq!(throughput.len(), 6, "{throughput:?}");
    let expected = [
        ("none", 2e6),
        ("none", 0.5e6),
        ("none", 1e6),
        ("lz4", 4e6),
        ("lz4", 0.25e6),
        ("lz4", 0.5e6),
    ];
    for ((group, _, value, _), (codec, records_per_s)) in throughput.iter().zip(expected) {
        assert_eq!(group, codec);
        assert!((value - records_per_s).abs() < 1e-6, "{value} != {records_per_s}");
    }
    assert_proportional(&throughput);
    // The tallest bar (4M records/s) reaches the axis maximum (5M) at 4/5 of the plot height.
    let tallest = throughput.iter().map(|b| b.3).fold(0.0, f64::max);
    assert!((tallest - 260.0 * 0.8).abs() < 0.01, "{tallest}");

    let cpu = bars(&html, "CPU per record");
    assert_eq!(cpu.len(), 6);
    let kafkaroo_none = &cpu[0];
    assert!((kafkaroo_none.2 - 0.1).abs() < 1e-9, "{kafkaroo_none:?}");
    assert_proportional(&cpu);

    let decode = bars(&html, "Decode throughput");
    let decode: Vec<(&str, &str, f64)> = decode
        .iter()
        .map(|(g, s, v, _)| (g.as_str(), s.as_str(), *v))
        .collect();
    assert_eq!(
        decode,
        [
            ("none/100", "kafkaroo_ref", 6.0),
            ("none/100", "kafka_protocol", 1.2),
            ("lz4/100", "kafkaroo_ref", 2.4),
            ("lz4/100", "kafka_protocol", 0.9),
        ],
        "the decoder measured on one case only is left out of the chart"
    );
    assert_proportional(&bars(&html, "Decode throughput"));
    assert!(
        html.contains("<td>kafkaroo_ref_no_crc</td><td class=\"n\">88.000</td>"),
        "but it is in the table"
    );
}

#[test]
fn one_point_per_moved_partition_and_run() {
    let html = rendered_page();
    let points: Vec<&str> = html.split("<circle class=\"pause\" ").skip(1).collect();
    assert_eq!(points.len(), 6);
    assert_eq!(
        points
            .iter()
            .filter(|p| p.starts_with("data-category=\"kafkaroo classic\""))
            .count(),
        3
    );
    assert!(
        points
            .iter()
            .any(|p| p.starts_with("data-category=\"java classic\" data-value=\"3285\""))
    );
    // The medians of the boxes.
    assert!(
        html.contains("class=\"median\" data-value=\"131\""),
        "kafkaroo's median"
    );
    assert!(
        html.contains("class=\"median\" data-value=\"3285\""),
        "java's median"
    );
}

#[test]
fn names_are_escaped_and_the_page_is_self_contained() {
    let html = rendered_page();
    assert!(!html.contains("<b>"), "a client name's markup reached the page");
    assert!(html.contains("kcat &lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"));
    assert!(html.contains("Test CPU &lt;fast&gt;"));
    assert!(html.contains("kafkaroo consume -e -q -f &#39;%o\\n&#39;"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing fetched"
    );
    assert!(html.contains("QUICK=1 benches/report.sh"));
}

#[test]
fn a_missing_input_file_is_an_error_naming_it_and_its_producer() {
    let dir = full_dir();
    std::fs::remove_file(dir.join("rebalance.json")).unwrap();
    let args = args(&dir);
    let err = format!("{:#}", write_html(&args).unwrap_err());
    assert!(
        err.contains("rebalance.json") && err.contains("rebalance-bench.sh"),
        "{err}"
    );
    assert!(!args.out.exists(), "no page from partial inputs");
}

#[test]
fn malformed_input_files_are_errors_naming_the_file_and_the_field() {
    for (file, text, expected) in [
        (
            "consume.json",
            "{\"benchmark\": \"consume\", \"rows\": [",
            "not valid JSON",
        ),
        (
            "consume.json",
            &CONSUME.replace("\"wall_s\": 2.0", "\"wall_s\": \"2.0\""),
            "rows[1]: field \"wall_s\" is not a number",
        ),
        (
            "consume.json",
            &CONSUME.replace("\"wall_s\": 2.0", "\"wall_s\": 0"),
            "expected a positive number",
        ),
        (
            "decode.json",
            &DECODE.replace("\"case\": \"lz4/100\", ", ""),
            "rows[2]: no field \"case\"",
        ),
        (
            "rebalance.json",
            CONSUME,
            "holds \"consume\" results, expected \"rebalance\"",
        ),
        (
            "rebalance.json",
            &REBALANCE.replace("[128, 131, 140]", "[128, null]"),
            "\"moved_pause_ms\" holds a non-number",
        ),
    ] {
        let dir = full_dir();
        std::fs::write(dir.join(file), text).unwrap();
        let err = format!("{:#}", write_html(&args(&dir)).unwrap_err());
        assert!(err.contains(file) && err.contains(expected), "{file}: {err}");
    }
}

#[test]
fn a_report_needs_some_results() {
    let dir = full_dir();
    let mut args = args(&dir);
    args.consume = None;
    args.decode = None;
    args.rebalance = None;
    let err = write_html(&args).unwrap_err().to_string();
    assert!(err.contains("nothing to report"), "{err}");
}

#[test]
fn divan_output_becomes_decode_input() {
    let text = "\
decode              fastest       │ slowest       │ median        │ mean          │ samples │ iters
╰─ kafkaroo_ref                   │               │               │               │         │
   ╰─ lz4/100       2 ms          │ 3 ms          │ 2.5 ms        │ 2.6 ms        │ 10      │ 10
                    20 Mitem/s    │ 15 Mitem/s    │ 18 Mitem/s    │ 17 Mitem/s    │         │
                    2.7 GB/s      │ 2 GB/s        │ 2.4 GB/s      │ 2.3 GB/s      │         │
";
    let json = divan::to_json(&divan::parse(text).unwrap());
    let dir = dir_with(&[("decode.json", &json.to_string())]);
    let decode = inputs::read_decode(&dir.join("decode.json")).unwrap();
    assert_eq!(decode.rows.len(), 1);
    assert_eq!(decode.rows[0].case, "lz4/100");
    assert!((decode.rows[0].median_gb_per_s - 2.4).abs() < 1e-9);
    assert!((decode.rows[0].fastest_gb_per_s - 2.7).abs() < 1e-9);
}
