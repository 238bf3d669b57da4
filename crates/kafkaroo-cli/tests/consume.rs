//! `kafkaroo consume` against a real Kafka broker (kafkaroo-testcontainers), compared with kcat's output for
//! the same flags.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{Run, run};
use kafkaroo_testcontainers::{Batching, Cluster, ProduceRequest, TestRecord, kcat_path};

const BASE_TS: i64 = 1_700_000_000_000;

fn kafkaroo(args: &[&str]) -> Run {
    let mut full = vec!["consume"];
    full.extend_from_slice(args);
    run(Path::new(env!("CARGO_BIN_EXE_kafkaroo")), &full)
}

fn kcat(args: &[&str]) -> Run {
    let mut full = vec!["-C"];
    full.extend_from_slice(args);
    run(&kcat_path(), &full)
}

fn cluster() -> &'static Cluster {
    Cluster::shared()
}

/// A one-partition topic with keys, null keys, null and empty values, headers (repeated names, null
/// values), UTF-8 and characters JSON must escape; timestamps BASE_TS + i.
fn known_topic() -> &'static str {
    static TOPIC: OnceLock<String> = OnceLock::new();
    TOPIC.get_or_init(|| {
        let cluster = cluster();
        let topic = cluster.unique_topic("cli-known");
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        let records = vec![
            TestRecord::new("k0", "hello"),
            TestRecord::value("no key"),
            TestRecord::new("k2", "").with_header("h", Some(b"1")),
            TestRecord::new("k3", "x").with_value(None),
            TestRecord::new("k4", "with headers")
                .with_header("h", Some(b"first"))
                .with_header("h", Some(b"second"))
                .with_header("n", None)
                .with_header("e", Some(b"")),
            TestRecord::new("", "empty key"),
            TestRecord::new("k6", "quote \" backslash \\ tab \t slash / ctl \u{1} é ü"),
            TestRecord::new("k7", "last"),
        ];
        let records = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_timestamp(BASE_TS + i as i64))
            .collect();
        cluster
            .produce(&ProduceRequest::new(&topic, records).partition(0))
            .unwrap();
        topic
    })
}

/// Three partitions of ten records each (`p<p>-<i>`), timestamps BASE_TS + i * 1000, and an empty
/// fourth partition.
fn multi_topic() -> &'static str {
    static TOPIC: OnceLock<String> = OnceLock::new();
    TOPIC.get_or_init(|| {
        let cluster = cluster();
        let topic = cluster.unique_topic("cli-multi");
        cluster.create_topic(&topic, 4, 1, &[]).unwrap();
        for p in 0..3 {
            let records = (0..10)
                .map(|i| {
                    TestRecord::new(format!("k{i}"), format!("p{p}-{i}"))
                        .with_timestamp(BASE_TS + i64::from(i) * 1000)
                })
                .collect();
            cluster
                .produce(
                    &ProduceRequest::new(&topic, records)
                        .partition(p)
                        .batching(Batching::PerRecord),
                )
                .unwrap();
        }
        topic
    })
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[track_caller]
fn assert_ok(r: &Run, what: &str) {
    assert_eq!(r.status, Some(0), "{what}: exit status; stderr:\n{}", r.stderr);
}

#[test]
fn format_output_is_exact_and_equals_kcat() {
    let topic = known_topic();
    let b = cluster().bootstrap();
    let fmt = "%p %o %k %s %h\\n";
    let ours = kafkaroo(&["-b", b, "-t", topic, "-o", "beginning", "-e", "-f", fmt]);
    assert_ok(&ours, "kafkaroo");
    let expected = "0 0 k0 hello \n\
                    0 1  no key \n\
                    0 2 k2  h=1\n\
                    0 3 k3  \n\
                    0 4 k4 with headers h=first,h=second,n=NULL,e=\n\
                    0 5  empty key \n\
                    0 6 k6 quote \" backslash \\ tab \t slash / ctl \u{1} é ü \n\
                    0 7 k7 last \n";
    assert_eq!(ours.text(), expected);
    assert!(
        ours.stderr.contains(&format!(
            "% Reached end of topic {topic} [0] at offset 8: exiting"
        )),
        "{}",
        ours.stderr
    );
    let theirs = kcat(&["-b", b, "-t", topic, "-o", "beginning", "-e", "-f", fmt]);
    assert_ok(&theirs, "kcat");
    assert_eq!(ours.text(), theirs.text(), "same bytes as kcat");

    // More formats, byte for byte against kcat.
    let variants: &[&[&str]] = &[
        &["-f", "%t|%p|%o|%T|%K|%S|%k|%s|%h|%%\\t\\x41\\n"],
        &["-f", "[%k][%s]\\n", "-Z"],
        &["-f", "%S:%R;"],
        &[],
        &["-K", ":"],
        &["-K", "\\t", "-D", "|\\x41|"],
        &["-Z", "-K", "="],
        &["-q", "-f", "%o\\n"],
    ];
    for extra in variants {
        let mut args = vec!["-b", b, "-t", topic, "-e"];
        args.extend_from_slice(extra);
        let ours = kafkaroo(&args);
        let theirs = kcat(&args);
        assert_ok(&ours, "kafkaroo");
        assert_ok(&theirs, "kcat");
        assert_eq!(ours.text(), theirs.text(), "flags {extra:?}");
        assert_eq!(ours.stdout, theirs.stdout, "flags {extra:?}");
    }
}

#[test]
fn json_equals_kcat() {
    let topic = known_topic();
    let b = cluster().bootstrap();
    let args = ["-b", b, "-t", topic, "-e", "-J"];
    let ours = kafkaroo(&args);
    let theirs = kcat(&args);
    assert_ok(&ours, "kafkaroo");
    assert_ok(&theirs, "kcat");
    let parse = |r: &Run| -> Vec<serde_json::Value> {
        r.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    };
    let (o, t) = (parse(&ours), parse(&theirs));
    assert_eq!(o.len(), 8);
    assert_eq!(o, t, "same JSON objects as kcat");
    assert_eq!(ours.text(), theirs.text(), "same bytes as kcat");
    assert_eq!(o[3]["payload"], serde_json::Value::Null);
    assert_eq!(o[1]["key"], serde_json::Value::Null);
    assert_eq!(
        o[4]["headers"],
        serde_json::json!(["h", "first", "h", "second", "n", null, "e", ""])
    );
    assert_eq!(o[0]["ts"], BASE_TS);
}

#[test]
fn offsets_counts_and_partitions_on_a_multi_partition_topic() {
    let topic = multi_topic();
    let b = cluster().bootstrap();
    let fmt = "%p %o %T %s\\n";
    let cases: &[(&[&str], usize)] = &[
        (&["-o", "beginning"], 30),
        (&["-o", "-3"], 9),
        (&["-o", "-30"], 30),
        (&["-o", "7"], 9),
        (&["-o", "end"], 0),
        (&["-o", "s@1700000006000"], 12),
        (&["-o", "s@1700000006500"], 9),
        (&["-o", "e@1700000002000"], 6),
        (&["-p", "1"], 10),
        (&["-p", "2", "-o", "-4"], 4),
        (&["-p", "3"], 0),
    ];
    for (extra, n) in cases {
        let mut args = vec!["-b", b, "-t", topic, "-f", fmt];
        // e@ alone never ends the empty partition: kcat needs -e as well.
        args.push("-e");
        args.extend_from_slice(extra);
        let ours = kafkaroo(&args);
        assert_ok(&ours, &format!("kafkaroo {extra:?}"));
        let lines = sorted_lines(&ours.stdout);
        assert_eq!(lines.len(), *n, "{extra:?}: {lines:?}");
        let theirs = kcat(&args);
        assert_ok(&theirs, &format!("kcat {extra:?}"));
        assert_eq!(lines, sorted_lines(&theirs.stdout), "{extra:?} vs kcat");
    }
    // Per-partition order is kept.
    let ours = kafkaroo(&["-b", b, "-t", topic, "-e", "-f", "%p %o\\n"]);
    for p in 0..3 {
        let offsets: Vec<i64> = ours
            .text()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(pp, _)| *pp == p.to_string())
            .map(|(_, o)| o.parse().unwrap())
            .collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    }
    // The empty partition is at its end at once.
    assert!(
        ours.stderr
            .contains(&format!("Reached end of topic {topic} [3] at offset 0")),
        "{}",
        ours.stderr
    );
    assert_eq!(
        ours.stderr.matches("Reached end of topic").count(),
        4,
        "{}",
        ours.stderr
    );
    assert!(ours.stderr.trim_end().ends_with(": exiting"), "{}", ours.stderr);
}

#[test]
fn count_stops_early_without_e() {
    let topic = multi_topic();
    let b = cluster().bootstrap();
    let ours = kafkaroo(&["-b", b, "-t", topic, "-c", "5", "-f", "%s\\n", "-q"]);
    assert_ok(&ours, "kafkaroo -c");
    assert_eq!(ours.text().lines().count(), 5);
    assert!(ours.stderr.is_empty(), "-q: {}", ours.stderr);
    let ours = kafkaroo(&[
        "-b", b, "-t", topic, "-p", "0", "-o", "4", "-c", "3", "-f", "%o\\n",
    ]);
    assert_eq!(ours.text(), "4\n5\n6\n");
}

#[test]
fn x_properties_reach_the_consumer() {
    let topic = multi_topic();
    let b = cluster().bootstrap();
    let ours = kafkaroo(&[
        "-b",
        b,
        "-t",
        topic,
        "-e",
        "-p",
        "0",
        "-X",
        "max.poll.records=1",
        "-X",
        "fetch.wait.max.ms=10",
        "-X",
        "isolation.level=read_committed",
        "-f",
        "%o\\n",
    ]);
    assert_ok(&ours, "kafkaroo -X");
    assert_eq!(ours.text().lines().count(), 10);

    // A property changes behaviour, not only parses: a group with nothing committed starts where
    // auto.offset.reset says (all 10 records of partition 0, or none).
    for (reset, expected) in [("earliest", 10), ("latest", 0)] {
        let group = cluster().unique_topic("cli-reset");
        let group_id = format!("group.id={group}");
        let reset_prop = format!("auto.offset.reset={reset}");
        let r = kafkaroo(&[
            "-b",
            b,
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "stored",
            "-e",
            "-X",
            &group_id,
            "-X",
            &reset_prop,
            "-f",
            "%o\\n",
        ]);
        assert_ok(&r, &reset_prop);
        assert_eq!(r.text().lines().count(), expected, "{reset_prop}: {}", r.text());
    }
}

#[test]
fn errors_have_a_status_and_one_clear_line() {
    let b = cluster().bootstrap();
    let missing = cluster().unique_topic("cli-missing");
    let r = kafkaroo(&["-b", b, "-t", &missing, "-e"]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains(&missing) && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.starts_with("% ERROR: "), "{}", r.stderr);

    let r = kafkaroo(&[
        "-b",
        "127.0.0.1:1",
        "-t",
        "t",
        "-e",
        "-X",
        "socket.connection.setup.timeout.ms=2000",
    ]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("cannot connect to 127.0.0.1:1"), "{}", r.stderr);

    let r = kafkaroo(&["-b", b, "-t", "t", "-X", "fetch.max.byte=1"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("fetch.max.byte"), "{}", r.stderr);
    let r = kafkaroo(&["-b", b, "-t", "t", "-X", "queued.min.messages=1"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("memory.budget.bytes"), "{}", r.stderr);

    let r = kafkaroo(&["-b", b, "-t", "t", "-o", "stored"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("-o stored needs -X group.id=<group>"),
        "{}",
        r.stderr
    );
    let usage_errors: &[(&[&str], &str)] = &[
        (&["t"], "topics as arguments (t) need -G <group>"),
        (&["-G", "g"], "-G g needs the topics to subscribe to"),
        (&["-G", "g", "-p", "0", "t"], "-p cannot be used with -G"),
        (&["-G", "g", "-o", "s@5", "t"], "timestamps can't be used with -G"),
        (
            &["-G", "g", "^t.*", "t"],
            "give either topic names or one ^regex, not both",
        ),
    ];
    for (args, expected) in usage_errors {
        let mut full = vec!["-b", b];
        full.extend_from_slice(args);
        let r = kafkaroo(&full);
        assert_eq!(r.status, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
    }
    let r = kafkaroo(&["-b", b, "-t", "t", "-f", "%x"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("Unsupported formatter: %x"), "{}", r.stderr);
    let r = kafkaroo(&["-b", b, "-t", "t", "-o", "soon"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    let r = kafkaroo(&["-t", "t"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("-b <brokers> missing"), "{}", r.stderr);
    let r = kafkaroo(&["-b", b, "-t", "t", "--bogus"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);

    let topic = multi_topic();
    let r = kafkaroo(&["-b", b, "-t", topic, "-p", "9", "-e"]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("partition 9 does not exist"), "{}", r.stderr);
}

/// Log lines on stderr carry no colour escape codes when stderr is not a terminal (a pipe here).
#[test]
fn logs_into_a_pipe_have_no_colour_codes() {
    let r = kafkaroo(&[
        "-b",
        "127.0.0.1:1",
        "-t",
        "t",
        "-e",
        "-v",
        "-v",
        "-X",
        "socket.connection.setup.timeout.ms=500",
    ]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("DEBUG"), "debug logs expected: {}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {:?}",
        r.stderr
    );
}

#[test]
fn statistics_interval_prints_the_consumers_statistics_as_json_on_stderr() {
    let topic = multi_topic();
    let b = cluster().bootstrap();
    let r = kafkaroo(&[
        "-b",
        b,
        "-t",
        topic,
        "-p",
        "0",
        "-e",
        "-X",
        "statistics.interval.ms=1",
        "-X",
        "max.poll.records=1",
        "-f",
        "%o\\n",
    ]);
    assert_ok(&r, "kafkaroo -X statistics.interval.ms");
    assert_eq!(r.text().lines().count(), 10, "the records still go to stdout");
    let stats: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(!stats.is_empty(), "no statistics line; stderr:\n{}", r.stderr);
    let last = stats.last().unwrap();
    assert_eq!(last["type"], "consumer");
    let p0 = &last["topics"][topic]["partitions"]["0"];
    assert_eq!(p0["partition"], 0);
    assert_eq!(p0["hi_offset"], 10, "{last}");
    // Every snapshot was taken after a poll: the position never passes what was printed.
    let positions: Vec<i64> = stats
        .iter()
        .filter_map(|s| s["topics"][topic]["partitions"]["0"]["app_offset"].as_i64())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    assert!(positions.iter().all(|&p| p <= 10), "{positions:?}");
}
