//! `kafkaroo consume -G`, `-o stored` and `kafkaroo group list|describe` against a real broker, with
//! kcat members in the same group and Java's `ConsumerGroupCommand --describe` as the reference.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, run};
use kafkaroo::admin::{AdminError, GroupDescription};
use kafkaroo::{ConsumerConfig, GroupAdmin};
use kafkaroo_testcontainers::{Batching, Cluster, ProduceRequest, TestRecord, kcat_path};
use serde_json::Value;

const JAVA_GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

fn cluster() -> &'static Cluster {
    Cluster::shared()
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kafkaroo"))
}

fn kafkaroo(args: &[&str]) -> Run {
    run(bin(), args)
}

#[track_caller]
fn assert_ok(r: &Run, what: &str) {
    assert_eq!(r.status, Some(0), "{what}: exit status; stderr:\n{}", r.stderr);
}

/// `kafkaroo consume -G group` from the earliest offset (when nothing is committed), printing `%p %o`
/// lines, with `extra` flags.
fn group_consume(group: &str, topic: &str, extra: &[&str]) -> Vec<String> {
    let b = cluster().bootstrap();
    let mut args: Vec<&str> = vec![
        "consume",
        "-b",
        b,
        "-G",
        group,
        "-X",
        "auto.offset.reset=earliest",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-f", "%p %o\\n", topic]);
    args.into_iter().map(str::to_owned).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `count` records on each of `partitions` (`p<p>-<i>`), one batch per record.
fn produce(topic: &str, partitions: i32, count: usize) {
    for p in 0..partitions {
        let records = (0..count)
            .map(|i| TestRecord::new(format!("k{i}"), format!("p{p}-{i}")))
            .collect();
        cluster()
            .produce(
                &ProduceRequest::new(topic, records)
                    .partition(p)
                    .batching(Batching::PerRecord),
            )
            .unwrap();
    }
}

/// `%p %o` lines as (partition, offset).
fn positions(text: &str) -> Vec<(i32, i64)> {
    text.lines()
        .map(|l| {
            let (p, o) = l.split_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            (p.parse().unwrap(), o.parse().unwrap())
        })
        .collect()
}

/// Waits for `condition`, failing with `what` after 90 s (a bound for a hung test, not a measurement).
#[track_caller]
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A group member running in the background, its output going to files.
struct Member {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Member {
    fn start(program: &Path, args: &[&str], name: &str) -> Self {
        let dir = std::env::temp_dir().join(cluster().unique_topic("kafkaroo-cli-group"));
        std::fs::create_dir_all(&dir).unwrap();
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (a clean exit commits and leaves the group).
    fn terminate(mut self) -> (Option<i32>, String, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("member did not exit after SIGTERM; stderr:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status.code(), self.output(), self.log())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `group describe --json`, or `None` while the group does not exist yet.
fn try_describe_json(group: &str) -> Option<Value> {
    let r = kafkaroo(&["group", "describe", "-b", cluster().bootstrap(), group, "--json"]);
    if r.status == Some(1) && r.stderr.contains("does not exist") {
        return None;
    }
    assert_ok(&r, "group describe --json");
    Some(serde_json::from_slice(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.text())))
}

fn describe_json(group: &str) -> Value {
    try_describe_json(group).unwrap_or_else(|| panic!("group {group} does not exist"))
}

/// Each member's client id and assigned partitions, when the group is Stable.
fn stable_assignments(group: &str) -> Option<Vec<(String, BTreeSet<i32>)>> {
    let d = try_describe_json(group)?;
    if d["state"] != "Stable" {
        return None;
    }
    Some(
        d["members"]
            .as_array()?
            .iter()
            .map(|m| {
                let parts = m["assignment"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|tp| tp["partition"].as_i64().unwrap() as i32)
                            .collect()
                    })
                    .unwrap_or_default();
                (m["client_id"].as_str().unwrap_or_default().to_owned(), parts)
            })
            .collect(),
    )
}

/// Per partition: (current offset, log end, lag, consumer id) as `group describe --json` reports them.
type Row = (Option<i64>, Option<i64>, Option<i64>, Option<String>);

fn rows(d: &Value) -> BTreeMap<i32, Row> {
    d["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap() as i32,
                (
                    r["current_offset"].as_i64(),
                    r["log_end_offset"].as_i64(),
                    r["lag"].as_i64(),
                    r["consumer_id"].as_str().map(str::to_owned),
                ),
            )
        })
        .collect()
}

/// The rows of a `--describe` table (ours or Java's), `-` as `None`.
fn table_rows(text: &str, group: &str) -> BTreeMap<i32, Row> {
    let num = |s: &str| s.parse::<i64>().ok();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.first() == Some(&group) && cols.len() == 9)
        .map(|c| {
            let consumer = (c[6] != "-").then(|| c[6].to_owned());
            (c[2].parse().unwrap(), (num(c[3]), num(c[4]), num(c[5]), consumer))
        })
        .collect()
}

#[test]
fn two_members_share_the_partitions_print_every_record_once_and_commit() {
    let b = cluster().bootstrap();
    let topic = cluster().unique_topic("cli-group-share");
    cluster().create_topic(&topic, 4, 1, &[]).unwrap();
    let group = cluster().unique_topic("cli-share");
    let member_args = group_consume(&group, &topic, &["-u"]);
    let a = Member::start(bin(), &strs(&member_args), "a");
    let c = Member::start(bin(), &strs(&member_args), "c");
    wait_for("both members to own partitions", || {
        stable_assignments(&group).is_some_and(|m| m.len() == 2 && m.iter().all(|(_, p)| !p.is_empty()))
    });
    let assignments = stable_assignments(&group).unwrap();
    let all: BTreeSet<i32> = assignments.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    assert_eq!(all, (0..4).collect(), "{assignments:?}");
    assert_eq!(
        assignments[0].1.intersection(&assignments[1].1).count(),
        0,
        "{assignments:?}"
    );

    produce(&topic, 4, 10);
    wait_for("40 records printed", || {
        a.output().lines().count() + c.output().lines().count() >= 40
    });
    let (status_a, out_a, log_a) = a.terminate();
    let (status_c, out_c, log_c) = c.terminate();
    assert_eq!(status_a, Some(0), "{log_a}");
    assert_eq!(status_c, Some(0), "{log_c}");
    for log in [&log_a, &log_c] {
        assert!(
            log.contains(&format!("% Group {group} rebalanced (memberid ")),
            "{log}"
        );
        assert!(
            log.contains("revoked: "),
            "the final revocation is reported: {log}"
        );
    }
    // Each printed only its own partitions, and together every record exactly once.
    for (out, log) in [(&out_a, &log_a), (&out_c, &log_c)] {
        let parts: BTreeSet<i32> = positions(out).iter().map(|(p, _)| *p).collect();
        assert!(!parts.is_empty(), "a member printed nothing: {log}");
        assert!(
            assignments.iter().any(|(_, owned)| parts.is_subset(owned)),
            "{parts:?} is not one member's assignment {assignments:?}"
        );
    }
    let mut together = positions(&out_a);
    together.extend(positions(&out_c));
    together.sort_unstable();
    let expected: Vec<(i32, i64)> = (0..4).flat_map(|p| (0..10).map(move |o| (p, o))).collect();
    assert_eq!(together, expected);

    // The commits landed: the group is empty, every partition committed at its end.
    let d = describe_json(&group);
    assert_eq!(d["state"], "Empty");
    let committed = rows(&d);
    assert_eq!(
        committed,
        (0..4)
            .map(|p| (p, (Some(10), Some(10), Some(0), None)))
            .collect::<BTreeMap<_, _>>()
    );
    let list = kafkaroo(&["group", "list", "-b", b]);
    assert_ok(&list, "group list");
    assert!(
        list.text()
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [group.as_str(), "Empty", "consumer"]),
        "{}",
        list.text()
    );

    // A rerun in the group (earliest reset, so it could only print nothing because of the commits).
    let rerun = kafkaroo(&strs(&group_consume(&group, &topic, &["-e"])));
    assert_ok(&rerun, "rerun");
    assert_eq!(rerun.text(), "", "{}", rerun.stderr);
    assert!(rerun.stderr.contains(": exiting"), "{}", rerun.stderr);

    // -o stored in simple mode resumes from the group's committed offsets.
    produce(&topic, 1, 3);
    let group_id = format!("group.id={group}");
    let simple_stored = || {
        kafkaroo(&[
            "consume",
            "-b",
            b,
            "-t",
            &topic,
            "-X",
            &group_id,
            "-o",
            "stored",
            "-e",
            "-f",
            "%p %o %s\\n",
        ])
    };
    let stored = simple_stored();
    assert_ok(&stored, "-o stored");
    assert_eq!(
        stored.text(),
        "0 10 p0-0\n0 11 p0-1\n0 12 p0-2\n",
        "{}",
        stored.stderr
    );
    // As kcat's simple mode with a group.id: what was printed is committed (auto-commit, and on exit),
    // so the same command prints nothing the second time.
    let again = simple_stored();
    assert_ok(&again, "-o stored again");
    assert_eq!(again.text(), "", "{}", again.stderr);
}

#[test]
fn describe_reports_committed_offsets_and_lag_like_java_with_a_kcat_member() {
    let b = cluster().bootstrap();
    let topic = cluster().unique_topic("cli-group-lag");
    cluster().create_topic(&topic, 3, 1, &[]).unwrap();
    produce(&topic, 3, 10);
    let group = cluster().unique_topic("cli-lag");

    // Consume 12 of 30 records, then exit: exactly what was printed is committed.
    let first = kafkaroo(&strs(&group_consume(&group, &topic, &["-c", "12"])));
    assert_ok(&first, "-c 12");
    let printed = positions(&first.text());
    assert_eq!(printed.len(), 12);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in &printed {
        let n = next.entry(*p).or_default();
        *n = (*n).max(o + 1);
    }
    produce(&topic, 3, 2);
    let d = describe_json(&group);
    assert_eq!(d["state"], "Empty");
    let before = rows(&d);
    let mut consumed = 0;
    for p in 0..3 {
        // A partition nothing was printed of has nothing committed: no row (as kcat commits only
        // printed offsets, and Java's tool lists only committed partitions of an empty group).
        let Some((current, end, lag, owner)) = before.get(&p) else {
            assert_eq!(next.get(&p), None, "partition {p} was printed but not committed");
            continue;
        };
        assert_eq!(*end, Some(12), "partition {p}");
        assert_eq!(*owner, None, "partition {p}");
        // Partitions nothing was printed of are committed at their start, or not at all.
        let expected = next.get(&p).copied().unwrap_or(0);
        assert_eq!(current.unwrap_or(0), expected, "partition {p}");
        assert_eq!(*lag, current.map(|c| 12 - c), "partition {p}");
        consumed += current.unwrap_or(0);
    }
    assert_eq!(consumed, 12, "committed offsets add up to the records printed");

    // A kcat member and a kafkaroo member share the group and consume the rest.
    let ours = Member::start(bin(), &strs(&group_consume(&group, &topic, &["-u"])), "kafkaroo");
    let theirs = Member::start(
        &kcat_path(),
        &[
            "-b",
            b,
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "auto.commit.interval.ms=200",
            "-u",
            "-f",
            "%p %o\\n",
            &topic,
        ],
        "kcat",
    );
    wait_for("a kafkaroo and a kcat member owning partitions", || {
        stable_assignments(&group).is_some_and(|m| {
            let clients: BTreeSet<&str> = m.iter().map(|(c, _)| c.as_str()).collect();
            m.len() == 2
                && m.iter().all(|(_, p)| !p.is_empty())
                && clients == BTreeSet::from(["kafkaroo-cli", "rdkafka"])
        })
    });
    wait_for("everything consumed and committed", || {
        rows(&describe_json(&group))
            .values()
            .all(|(c, _, lag, owner)| *c == Some(12) && *lag == Some(0) && owner.is_some())
    });
    let text = kafkaroo(&["group", "describe", "-b", b, &group]);
    assert_ok(&text, "group describe");
    let java = cluster()
        .run_java_tool(
            JAVA_GROUP_COMMAND,
            ["--bootstrap-server", b, "--describe", "--group", &group],
        )
        .unwrap();
    assert!(java.status.success(), "{}", String::from_utf8_lossy(&java.stderr));
    let java_text = String::from_utf8_lossy(&java.stdout);
    let ours_rows = table_rows(&text.text(), &group);
    assert_eq!(ours_rows.len(), 3, "{}", text.text());
    assert_eq!(
        ours_rows,
        table_rows(&java_text, &group),
        "ours:\n{}\njava:\n{java_text}",
        text.text()
    );

    let members = kafkaroo(&["group", "describe", "-b", b, &group, "--members"]);
    assert_ok(&members, "--members");
    let member_lines: Vec<Vec<String>> = members
        .text()
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(member_lines.len(), 2, "{}", members.text());
    let mut listed: Vec<i32> = Vec::new();
    for cols in &member_lines {
        assert_eq!(cols[0], group);
        assert!(matches!(cols[3].as_str(), "kafkaroo-cli" | "rdkafka"), "{cols:?}");
        let (t, parts) = cols[5].split_once(':').unwrap_or_else(|| panic!("{cols:?}"));
        assert_eq!(t, topic);
        let parts: Vec<i32> = parts.split(',').map(|p| p.parse().unwrap()).collect();
        assert_eq!(cols[4], parts.len().to_string(), "{cols:?}");
        listed.extend(parts);
    }
    listed.sort_unstable();
    assert_eq!(listed, vec![0, 1, 2]);

    let (status, ours_out, log) = ours.terminate();
    assert_eq!(status, Some(0), "{log}");
    let (status, theirs_out, log) = theirs.terminate();
    assert_eq!(status, Some(0), "{log}");
    // Together the members printed each record not committed before exactly once.
    let mut together = positions(&ours_out);
    together.extend(positions(&theirs_out));
    together.sort_unstable();
    let expected: Vec<(i32, i64)> = (0..3)
        .flat_map(|p| (next.get(&p).copied().unwrap_or(0)..12).map(move |o| (p, o)))
        .collect();
    assert_eq!(together, expected);
}

#[test]
fn describing_a_missing_group_fails_clearly() {
    let group = cluster().unique_topic("cli-no-such-group");
    let r = kafkaroo(&["group", "describe", "-b", cluster().bootstrap(), &group]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("% ERROR: consumer group {group:?} does not exist")),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    let r = kafkaroo(&["group", "describe", group.as_str()]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("-b <brokers> missing"), "{}", r.stderr);
}

/// The committed offset of partition 0, as `group describe --json` reports it (`None`: nothing yet).
fn committed_offset(group: &str) -> Option<i64> {
    let d = try_describe_json(group)?;
    rows(&d).get(&0).and_then(|r| r.0)
}

/// A member SIGKILLed while it prints never committed past the last line it wrote out: every restart
/// continues from a committed offset at or below what the killed run printed, so across the runs no
/// offset is missing (the CLI commits after its output buffer is written, not when records are polled).
/// Run once in `-G` mode and once in simple mode with a group.id.
#[test]
fn a_killed_member_never_committed_a_line_it_had_not_written_out() {
    let topic = cluster().unique_topic("cli-group-kill");
    cluster().create_topic(&topic, 1, 1, &[]).unwrap();
    let total = 600_000;
    let records: Vec<TestRecord> = (0..total)
        .map(|i| TestRecord::new(format!("k{i}"), format!("value {i:08}")))
        .collect();
    cluster().produce(&ProduceRequest::new(&topic, records)).unwrap();
    // Small fetches and polls and a fast commit interval: many commits while lines sit in the buffer.
    let slow = [
        "-X",
        "max.poll.records=20",
        "-X",
        "max.partition.fetch.bytes=2048",
        "-X",
        "fetch.max.bytes=2048",
        "-X",
        "auto.commit.interval.ms=20",
        // The next run joins once the killed member's session expired.
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=1000",
    ];
    for mode in ["-G", "simple"] {
        let group = cluster().unique_topic("cli-kill");
        let mut printed: BTreeSet<i64> = BTreeSet::new();
        for round in 0..3 {
            let b = cluster().bootstrap();
            let mut args: Vec<String> = if mode == "-G" {
                group_consume(&group, &topic, &slow)
            } else {
                let mut a: Vec<&str> = vec!["consume", "-b", b, "-t", &topic, "-X"];
                let group_id = format!("group.id={group}");
                a.push(&group_id);
                a.extend_from_slice(&["-o", "stored", "-X", "auto.offset.reset=earliest"]);
                a.extend_from_slice(&slow);
                a.extend_from_slice(&["-f", "%p %o\\n"]);
                a.into_iter().map(str::to_owned).collect()
            };
            if mode == "-G" {
                args.retain(|a| !a.is_empty());
            }
            let before = committed_offset(&group).unwrap_or(0);
            let mut member = Member::start(bin(), &strs(&args), &format!("kill-{round}"));
            // Killed while printing, somewhere after its first commit.
            let deadline = Instant::now() + Duration::from_secs(60);
            while committed_offset(&group).is_none_or(|c| c <= before + 1_000) {
                assert!(
                    Instant::now() < deadline,
                    "{mode} round {round}: no commit past {before}; {} lines printed; stderr:\n{}",
                    member.output().lines().count(),
                    member.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(10 + 30 * round));
            member.child.kill().unwrap();
            member.child.wait().unwrap();
            let out = member.output();
            // SIGKILL can land while the output buffer is half written: a last line without its newline
            // was not written out, and the committed offset must not pass it either.
            let complete = out.rfind('\n').map_or("", |end| &out[..=end]);
            let run_printed: Vec<i64> = positions(complete).into_iter().map(|(_, o)| o).collect();
            let committed = committed_offset(&group).expect("committed");
            let last_written = run_printed.last().copied().unwrap_or(-1);
            assert!(
                committed <= last_written + 1,
                "{mode} round {round}: committed {committed} but the last line written out was offset \
                 {last_written}: {} records would never be printed",
                committed - last_written - 1
            );
            assert!(
                run_printed.first().is_some_and(|f| *f <= before),
                "{mode} round {round}: started at {:?}, committed was {before}",
                run_printed.first()
            );
            printed.extend(run_printed);
        }
        let committed = committed_offset(&group).unwrap();
        let missing: Vec<i64> = (0..committed).filter(|o| !printed.contains(o)).take(5).collect();
        assert!(
            missing.is_empty(),
            "{mode}: offsets below the committed {committed} never printed: {missing:?}..."
        );
    }
}

/// The non-empty lines of a table, each as its whitespace-separated cells (column widths and trailing
/// spaces normalised away), sorted (the member order is the coordinator's, but not a contract).
fn table_cells(text: &str) -> Vec<Vec<String>> {
    let mut lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|cells| !cells.is_empty())
        .collect();
    lines.sort();
    lines
}

/// Whether `group describe --json` shows a consumer-protocol group of `members` members, Stable, whose
/// members all reconciled: epoch = assignment epoch = group epoch, current assignment = target, none empty.
fn reconciled(d: &Value, members: usize) -> bool {
    let epoch = &d["assignment_epoch"];
    d["type"] == "consumer"
        && d["state"] == "Stable"
        && d["group_epoch"] == *epoch
        && d["members"].as_array().is_some_and(|ms| {
            ms.len() == members
                && ms.iter().all(|m| {
                    m["member_epoch"] == *epoch
                        && m["assignment"] == m["target_assignment"]
                        && m["assignment"].as_array().is_some_and(|a| !a.is_empty())
                })
        })
}

/// `GroupAdmin::describe_consumer_group(group)` (ConsumerGroupDescribe only) against the shared cluster.
fn describe_consumer_group(group: &str) -> Result<GroupDescription, AdminError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ConsumerConfig::builder()
            .bootstrap_servers(cluster().bootstrap())
            .build()
            .unwrap();
        GroupAdmin::connect(&config)
            .await?
            .describe_consumer_group(group)
            .await
    })
}

/// Issue 13: `kafkaroo consume -G -X group.protocol=consumer` members form a consumer-protocol group
/// (KIP-848), and `group describe` shows it as Java's `ConsumerGroupCommand` does (ConsumerGroupDescribe):
/// `--members --verbose` (epochs, current and target assignment), `--state [--verbose]` (assignor, group
/// and target assignment epochs) and the offsets table. Kafka 3.x disables the protocol: SKIPPED there.
#[test]
fn describe_shows_a_consumer_protocol_group_like_java() {
    let version = cluster().version().to_owned();
    if version.starts_with("3.") {
        let refused = describe_consumer_group("any-group").unwrap_err();
        assert!(
            matches!(&refused, AdminError::Broker { code, .. } if code.name() == "UNSUPPORTED_VERSION")
                && refused.to_string().contains("need Kafka 4.0+"),
            "{refused}"
        );
        println!(
            "SKIPPED: Kafka {version} disables group.protocol=consumer (KIP-848 is GA in 4.0): no \
             consumer-protocol group to describe"
        );
        return;
    }
    let b = cluster().bootstrap();
    let topic = cluster().unique_topic("cli-kip848-describe");
    cluster().create_topic(&topic, 4, 1, &[]).unwrap();
    let group = cluster().unique_topic("cli-kip848");
    let member_args = group_consume(&group, &topic, &["-X", "group.protocol=consumer", "-u"]);
    let a = Member::start(bin(), &strs(&member_args), "kip848-a");
    let c = Member::start(bin(), &strs(&member_args), "kip848-c");
    wait_for("two reconciled members of a consumer-protocol group", || {
        try_describe_json(&group).is_some_and(|d| reconciled(&d, 2))
    });
    let d = describe_json(&group);
    let owned: BTreeSet<i64> = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["assignment"].as_array().unwrap().iter())
        .map(|tp| tp["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(owned, (0..4).collect(), "{d}");
    let api = describe_consumer_group(&group).unwrap();
    assert_eq!(
        (api.members.len(), api.protocol.as_str()),
        (2, "uniform"),
        "{api:?}"
    );
    assert!(
        api.members
            .iter()
            .all(|m| m.consumer.as_ref().is_some_and(|c| {
                c.subscribed_topic_names == [topic.clone()] && c.upgraded == Some(true)
            })),
        "{api:?}"
    );

    let java = |extra: &[&str]| {
        let mut args = vec!["--bootstrap-server", b, "--describe", "--group", &group];
        args.extend_from_slice(extra);
        let out = cluster().run_java_tool(JAVA_GROUP_COMMAND, &args).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ours = |extra: &[&str]| {
        let mut args = vec!["group", "describe", "-b", b, &group];
        args.extend_from_slice(extra);
        let r = kafkaroo(&args);
        assert_ok(&r, &format!("group describe {extra:?}"));
        r.text()
    };
    for view in [
        &["--members", "--verbose"][..],
        &["--state", "--verbose"],
        &["--state"],
    ] {
        let (mine, theirs) = (ours(view), java(view));
        assert_eq!(
            table_cells(&mine),
            table_cells(&theirs),
            "{view:?}\nours:\n{mine}\njava:\n{theirs}"
        );
    }
    let verbose = ours(&["--members", "--verbose"]);
    assert!(
        verbose.contains("CURRENT-EPOCH") && !verbose.contains(" - "),
        "epochs and assignments are shown for every member:\n{verbose}"
    );
    let state = ours(&["--state", "--verbose"]);
    let row = &table_cells(&state)[1];
    assert_eq!(row[0], group, "{state}");
    // GROUP HOST:PORT (ID) ASSIGNMENT-STRATEGY STATE GROUP-EPOCH TARGET-ASSIGNMENT-EPOCH #MEMBERS
    assert_eq!((row[4].as_str(), row[7].as_str()), ("Stable", "2"), "{state}");
    assert_eq!(
        row[5], row[6],
        "reconciled: group epoch = target assignment epoch\n{state}"
    );

    // The offsets table, as for classic groups (OffsetFetch answers for both kinds).
    produce(&topic, 4, 5);
    wait_for("everything consumed and committed", || {
        let rows = rows(&describe_json(&group));
        rows.len() == 4
            && rows
                .values()
                .all(|(c, _, lag, owner)| *c == Some(5) && *lag == Some(0) && owner.is_some())
    });
    let (mine, theirs) = (ours(&[]), java(&[]));
    let mine_rows = table_rows(&mine, &group);
    assert_eq!(mine_rows.len(), 4, "{mine}");
    assert_eq!(
        mine_rows,
        table_rows(&theirs, &group),
        "ours:\n{mine}\njava:\n{theirs}"
    );

    // Its state is known now, so a reset is refused while it has members, as by Java's tool.
    let reset = kafkaroo(&[
        "group",
        "reset-offsets",
        "-b",
        b,
        "--group",
        &group,
        "--all-topics",
        "--to-earliest",
        "--execute",
    ]);
    assert_eq!(reset.status, Some(1), "{}", reset.stderr);
    assert!(
        reset.stderr.contains(&format!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is Stable."
        )),
        "{}",
        reset.stderr
    );

    for m in [a, c] {
        let (status, out, log) = m.terminate();
        assert_eq!(status, Some(0), "{log}");
        assert!(!out.is_empty(), "each member consumed its partitions: {log}");
    }
}

/// kcat's convention: `-G group ^regex` subscribes to the matching topics, matched by the client with
/// the classic protocol and by the coordinator with `group.protocol=consumer` (Kafka 4.x).
#[test]
fn a_caret_topic_subscribes_by_regular_expression() {
    let prefix = cluster().unique_topic("cli-rx");
    for suffix in ["a", "b", "other-c"] {
        let topic = format!("{prefix}-{suffix}");
        cluster().create_topic(&topic, 1, 1, &[]).unwrap();
        produce(&topic, 1, 2);
    }
    let mut protocols = vec!["classic"];
    if cluster().version().starts_with("4.") {
        protocols.push("consumer");
    }
    for protocol in protocols {
        let group = cluster().unique_topic(&format!("cli-rx-{protocol}"));
        let regex = format!("^{prefix}-[ab]");
        let b = cluster().bootstrap();
        let args = [
            "consume",
            "-b",
            b,
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            &format!("group.protocol={protocol}"),
            "-c",
            "4",
            "-f",
            "%t %o\\n",
            &regex,
        ];
        let r = kafkaroo(&args);
        assert_ok(&r, protocol);
        let stdout = String::from_utf8_lossy(&r.stdout);
        let got: BTreeSet<&str> = stdout.lines().collect();
        let want: BTreeSet<String> = ["a", "b"]
            .iter()
            .flat_map(|s| {
                let prefix = &prefix;
                (0..2).map(move |o| format!("{prefix}-{s} {o}"))
            })
            .collect();
        assert_eq!(
            got,
            want.iter().map(String::as_str).collect(),
            "{protocol}: {}",
            r.stderr
        );
    }
    let b = cluster().bootstrap();
    let r = kafkaroo(&["consume", "-b", b, "-G", "g", "^x", "y"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("either topic names or one ^regex"),
        "{}",
        r.stderr
    );
}
