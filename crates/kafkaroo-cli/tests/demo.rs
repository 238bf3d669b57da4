//! `kafkaroo demo` end to end against a real broker (the shared harness cluster, handed over through
//! `KAFKAROO_BOOTSTRAP`): a short run in plain mode, then checks on the summary it prints.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Run, run_command};
use kafkaroo_testcontainers::Cluster;

/// A guard against a hung run, far above a normal run's length (broker already up, 12 s script, drain).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Runs `kafkaroo demo args`, against `cluster` when given.
fn run_demo(args: &[&str], cluster: Option<&Cluster>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafkaroo"));
    command.arg("demo").args(args);
    if let Some(cluster) = cluster {
        command
            .env("KAFKAROO_BOOTSTRAP", cluster.bootstrap())
            .env("KAFKAROO_KAFKA_VERSION", cluster.version());
    }
    run_command(command, RUN_LIMIT)
}

/// The summary line starting with `prefix`, without the prefix.
fn line<'a>(summary: &'a str, prefix: &str) -> &'a str {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in the summary:\n{summary}"))
}

fn leading_number(text: &str) -> u64 {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number at the start of {text:?}"))
}

/// `(partition, from, to)` of each move listed under the rebalance line starting with `prefix`.
fn moves<'a>(summary: &'a str, prefix: &str) -> (u64, Vec<(&'a str, &'a str, &'a str)>) {
    let mut lines = summary.lines().skip_while(|l| !l.starts_with(prefix));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no {prefix:?} in the summary:\n{summary}"));
    assert!(head.contains("settled in generation"), "{head}");
    let moved = head
        .split_once(" partitions moved")
        .and_then(|(before, _)| before.split_whitespace().last())
        .map(leading_number)
        .unwrap_or_else(|| panic!("no 'partitions moved' in {head:?}"));
    let details = lines
        .take_while(|l| l.starts_with("    p"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f[2], "->", "{l}");
            (f[0], f[1], f[3])
        })
        .collect();
    (moved, details)
}

const SHORT_RUN: [&str; 9] = [
    "--duration",
    "12s",
    "--plain",
    "--partitions",
    "12",
    "--rate",
    "200",
    "--initial",
    "1000",
];

#[test]
fn demo_consumes_every_order_once_while_a_member_joins_and_another_leaves() {
    let run = run_demo(&SHORT_RUN, Some(Cluster::shared()));
    check_summary(&run);
}

/// On a machine with no Java, no Maven, no Docker and no `KAFKAROO_BOOTSTRAP`, the demo says so, runs on
/// the in-process cluster, and the same checks hold.
#[test]
fn demo_without_java_or_docker_runs_on_the_in_process_cluster() {
    let empty_cache = std::env::temp_dir().join(format!("kafkaroo-demo-no-jars-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafkaroo"));
    command
        .arg("demo")
        .args(SHORT_RUN)
        .env_remove("KAFKAROO_BOOTSTRAP")
        .env_remove("JAVA_HOME")
        .env("PATH", "/nonexistent")
        .env("KAFKAROO_DOCKER", "0")
        .env("KAFKAROO_CACHE_DIR", &empty_cache);
    let run = run_command(command, RUN_LIMIT);
    let out = run.text();
    assert!(
        out.contains("no real Kafka broker can be started here: no Docker and no JDK"),
        "the demo did not say why it is not using a real broker:
{out}
{}",
        run.stderr
    );
    assert!(out.contains("in-process cluster up at 127.0.0.1:"), "{out}");
    check_summary(&run);
    assert!(
        !empty_cache.join("kafka-4.4.0").exists(),
        "the in-process run fetched jars"
    );
}

/// The run succeeded and its summary shows every order consumed once and the script's rebalances.
fn check_summary(run: &Run) {
    let out = &run.text();
    assert_eq!(
        run.status,
        Some(0),
        "kafkaroo demo failed\nstdout:\n{out}\nstderr:\n{}",
        run.stderr
    );
    let summary = out
        .split_once("== summary ==")
        .unwrap_or_else(|| panic!("no summary in:\n{out}"))
        .1;

    let produced = leading_number(line(summary, "produced: "));
    let consumed = line(summary, "consumed: ");
    assert!(produced > 1000, "only the first batch was produced:\n{summary}");
    assert_eq!(leading_number(consumed), produced, "{summary}");
    assert!(consumed.contains(" 0 duplicates, 0 missing"), "{summary}");
    assert_eq!(line(summary, "ownership overlaps: "), "0", "{summary}");
    assert!(
        line(summary, "owners at end: ").starts_with("12/12 partitions owned"),
        "{summary}"
    );
    assert_eq!(line(summary, "errors: "), "none", "{summary}");

    // Cooperative-sticky from 4/4/4: the joining member takes one partition from each of the others.
    let (joined, join_moves) = moves(summary, "  rebalance \"join member-4\"");
    assert_eq!(joined, 3, "{summary}");
    let mut givers: Vec<&str> = join_moves.iter().map(|&(_, from, _)| from).collect();
    givers.sort_unstable();
    assert_eq!(givers, ["member-1", "member-2", "member-3"], "{summary}");
    assert!(join_moves.iter().all(|&(_, _, to)| to == "member-4"), "{summary}");

    // From 3/3/3/3: the leaving member's three partitions go one to each remaining member.
    let (left, leave_moves) = moves(summary, "  rebalance \"leave member-1\"");
    assert_eq!(left, 3, "{summary}");
    assert!(
        leave_moves.iter().all(|&(_, from, _)| from == "member-1"),
        "{summary}"
    );
    let mut takers: Vec<&str> = leave_moves.iter().map(|&(_, _, to)| to).collect();
    takers.sort_unstable();
    assert_eq!(takers, ["member-2", "member-3", "member-4"], "{summary}");

    // Every member processed something; member-1 left, the others were still in at the end.
    for member in ["member-1", "member-2", "member-3", "member-4"] {
        let counts = line(summary, &format!("  {member}: "));
        assert!(
            leading_number(counts) > 0,
            "{member} processed nothing:\n{summary}"
        );
    }
}

#[test]
fn demo_refuses_a_duration_too_short_for_the_script() {
    let run = run_demo(&["--duration", "1s", "--plain"], None);
    assert_eq!(run.status, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("between 5 s and a day"), "{}", run.stderr);
}
