//! `kafkaroo group reset-offsets|delete|delete-offsets` and `describe --state|--members --verbose`
//! against a real broker, with Java's `ConsumerGroupCommand` on the same groups as the reference:
//! identical reset plans for every mode, identical committed offsets after `--execute` (ours read back
//! by Java's `--describe`, Java's read back by ours), the same refusal for an active group.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, run};
use kafkaroo_testcontainers::{Batching, Cluster, ProduceRequest, TestRecord};

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

fn java(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["--bootstrap-server", cluster().bootstrap()];
    all.extend_from_slice(args);
    let out = cluster().run_java_tool(JAVA_GROUP_COMMAND, &all).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kafkaroo group <sub> -b <bootstrap> <args>`, which must succeed; its stdout.
#[track_caller]
fn ours(sub: &str, args: &[&str]) -> String {
    let mut all = vec!["group", sub, "-b", cluster().bootstrap()];
    all.extend_from_slice(args);
    let r = kafkaroo(&all);
    assert_eq!(r.status, Some(0), "kafkaroo {all:?}: stderr:\n{}", r.stderr);
    r.text()
}

/// Rows of a `GROUP TOPIC PARTITION NEW-OFFSET` table (Java prints them in hash order): partition → offset.
fn plan_rows(text: &str, group: &str) -> BTreeMap<i32, i64> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() == 4 && c[0] == group)
        .map(|c| (c[2].parse().unwrap(), c[3].parse().unwrap()))
        .collect()
}

/// Committed offsets per partition from a `--describe` table (ours or Java's).
fn committed(text: &str, group: &str) -> BTreeMap<i32, i64> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() == 9 && c[0] == group)
        .filter_map(|c| Some((c[2].parse().ok()?, c[3].parse().ok()?)))
        .collect()
}

fn java_committed(group: &str) -> BTreeMap<i32, i64> {
    let (_, out, _) = java(&["--describe", "--group", group]);
    committed(&out, group)
}

fn ours_committed(group: &str) -> BTreeMap<i32, i64> {
    committed(&ours("describe", &[group]), group)
}

/// `count` records on each of `partitions`, one batch per record, with timestamps `base + i` ms.
fn produce(topic: &str, partitions: i32, count: usize, base: i64) {
    for p in 0..partitions {
        let records = (0..count)
            .map(|i| TestRecord {
                timestamp: Some(base + i as i64),
                ..TestRecord::new(format!("k{i}"), format!("p{p}-{i}"))
            })
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

/// Moves the log start of `topic`-`partition` to `offset` (Java's DeleteRecordsCommand).
fn delete_records(topic: &str, partition: i32, offset: i64) {
    let json = std::env::temp_dir().join(format!("{topic}-delete.json"));
    std::fs::write(
        &json,
        format!(r#"{{"partitions":[{{"topic":"{topic}","partition":{partition},"offset":{offset}}}],"version":1}}"#),
    )
    .unwrap();
    let out = cluster()
        .run_java_tool(
            "org.apache.kafka.tools.DeleteRecordsCommand",
            [
                "--bootstrap-server",
                cluster().bootstrap(),
                "--offset-json-file",
                json.to_str().unwrap(),
            ],
        )
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every reset mode: `--dry-run` plans equal Java's; `--execute` by one tool is read back equal by the
/// other. Topic with 3 partitions of 10 records (timestamps 1_000_000_000_000 + i), the log start
/// of partition 2 moved to 4 (DeleteRecords), so clamping to both ends shows.
#[test]
fn every_reset_mode_plans_and_commits_what_javas_does() {
    let started = Instant::now();
    let topic = cluster().unique_topic("cli-reset");
    cluster().create_topic(&topic, 3, 1, &[]).unwrap();
    let base = 1_000_000_000_000i64; // 2001-09-09T01:46:40.000Z
    produce(&topic, 3, 10, base);
    delete_records(&topic, 2, 4);
    let group = cluster().unique_topic("cli-reset-g");
    // A starting point, committed by Java: 5 on every partition (clamped to 5 on partition 2).
    let (status, out, err) = java(&[
        "--reset-offsets",
        "--group",
        &group,
        "--topic",
        &topic,
        "--to-offset",
        "5",
        "--execute",
    ]);
    assert_eq!(status, Some(0), "{out}{err}");
    assert_eq!(ours_committed(&group), BTreeMap::from([(0, 5), (1, 5), (2, 5)]));

    let csv = std::env::temp_dir().join(format!("{group}.csv"));
    std::fs::write(&csv, format!("{topic},0,3\n{topic},2,1\n{topic},1,50\n")).unwrap();
    let csv = csv.to_str().unwrap().to_owned();
    let t02 = format!("{topic}:0,2");
    let modes: Vec<(&str, Vec<&str>)> = vec![
        ("to-earliest", vec!["--topic", &topic, "--to-earliest"]),
        ("to-latest", vec!["--topic", &t02, "--to-latest"]),
        ("to-offset", vec!["--topic", &topic, "--to-offset", "2"]),
        (
            "to-offset past the end",
            vec!["--topic", &topic, "--to-offset", "99"],
        ),
        ("shift-by", vec!["--all-topics", "--shift-by", "-3"]),
        ("shift-by forward", vec!["--topic", &t02, "--shift-by", "4"]),
        ("to-current", vec!["--all-topics", "--to-current"]),
        (
            "to-datetime",
            vec!["--topic", &topic, "--to-datetime", "2001-09-09T01:46:40.006"],
        ),
        (
            "to-datetime with zone",
            vec![
                "--topic",
                &topic,
                "--to-datetime",
                "2001-09-09T03:46:40.003+02:00",
            ],
        ),
        ("by-duration", vec!["--topic", &topic, "--by-duration", "P1D"]),
        ("from-file", vec!["--from-file", &csv]),
    ];
    for (i, (name, flags)) in modes.iter().enumerate() {
        let mut args = vec!["--group", group.as_str()];
        args.extend_from_slice(flags);
        // Dry runs: the same plan.
        let mut dry = args.clone();
        dry.push("--dry-run");
        let our_plan = plan_rows(&ours("reset-offsets", &dry), &group);
        let mut java_args = vec!["--reset-offsets"];
        java_args.extend_from_slice(&dry);
        let (status, java_out, java_err) = java(&java_args);
        assert_eq!(status, Some(0), "{name}: {java_out}{java_err}");
        assert!(!our_plan.is_empty(), "{name}: empty plan");
        assert_eq!(
            our_plan,
            plan_rows(&java_out, &group),
            "{name}: plans differ; java:\n{java_out}"
        );
        // Execute with one tool (alternating), read back with the other.
        let mut exec = args.clone();
        exec.push("--execute");
        let before = ours_committed(&group);
        let expected: BTreeMap<i32, i64> = before.into_iter().chain(our_plan.clone()).collect();
        if i % 2 == 0 {
            ours("reset-offsets", &exec);
            assert_eq!(
                java_committed(&group),
                expected,
                "{name}: ours executed, Java reads"
            );
        } else {
            let mut java_args = vec!["--reset-offsets"];
            java_args.extend_from_slice(&exec);
            let (status, out, err) = java(&java_args);
            assert_eq!(status, Some(0), "{name}: {out}{err}");
            assert_eq!(
                ours_committed(&group),
                expected,
                "{name}: Java executed, ours reads"
            );
        }
    }
    // Without --dry-run or --execute: a dry run with Java's warning; nothing committed.
    let before = ours_committed(&group);
    let r = kafkaroo(&[
        "group",
        "reset-offsets",
        "-b",
        cluster().bootstrap(),
        "--group",
        &group,
        "--all-topics",
        "--to-earliest",
    ]);
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("--execute option is missing"), "{}", r.stderr);
    assert_eq!(ours_committed(&group), before);
    // --shift-by where nothing is committed: Java's message, a usage error.
    let fresh = cluster().unique_topic("cli-reset-fresh");
    let r = kafkaroo(&[
        "group",
        "reset-offsets",
        "-b",
        cluster().bootstrap(),
        "--group",
        &fresh,
        "--topic",
        &topic,
        "--shift-by",
        "1",
    ]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("since there is no current committed offset"),
        "{}",
        r.stderr
    );
    eprintln!("every reset mode: {:?}", started.elapsed());
}

/// A group member running in the background.
struct Member(Child, PathBuf);

impl Member {
    fn start(group: &str, topic: &str) -> Self {
        let err = std::env::temp_dir().join(format!("{group}.err"));
        let child = Command::new(bin())
            .args([
                "consume",
                "-b",
                cluster().bootstrap(),
                "-G",
                group,
                "-X",
                "auto.offset.reset=earliest",
                "-u",
                "-f",
                "%p %o\\n",
                topic,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Self(child, err)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[track_caller]
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn cells(text: &str, first: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|c| c.first().map(String::as_str) == Some(first))
        .collect()
}

/// With an active member: reset refused as Java refuses it, delete refused with the broker's error,
/// delete-offsets refused per partition; `--state` and `--members --verbose` rows equal Java's. After
/// the member leaves: delete-offsets and delete, seen by Java's `--describe`/`--list`.
#[test]
fn active_groups_are_refused_described_like_java_and_deleted_when_empty() {
    let started = Instant::now();
    let topic = cluster().unique_topic("cli-ops");
    cluster().create_topic(&topic, 2, 1, &[]).unwrap();
    produce(&topic, 2, 3, 1_000);
    let group = cluster().unique_topic("cli-ops-g");
    let member = Member::start(&group, &topic);
    let what = format!(
        "a Stable group with both partitions committed (member log: {})",
        member.1.display()
    );
    wait_for(&what, || {
        let (_, out, _) = java(&["--describe", "--group", &group, "--state"]);
        cells(&out, &group)
            .first()
            .is_some_and(|c| c.get(4).map(String::as_str) == Some("Stable"))
            && ours_committed(&group) == BTreeMap::from([(0, 3), (1, 3)])
    });

    // Reset: refused with Java's sentence; nothing committed.
    let b = cluster().bootstrap();
    let r = kafkaroo(&[
        "group",
        "reset-offsets",
        "-b",
        b,
        "--group",
        &group,
        "--topic",
        &topic,
        "--to-earliest",
        "--execute",
    ]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    let sentence = format!(
        "Assignments can only be reset if the group '{group}' is inactive, but the current state is Stable."
    );
    assert!(r.stderr.contains(&sentence), "{}", r.stderr);
    let (_, java_out, _) = java(&[
        "--reset-offsets",
        "--group",
        &group,
        "--topic",
        &topic,
        "--to-earliest",
        "--execute",
    ]);
    assert!(java_out.contains(&sentence), "{java_out}");
    assert_eq!(java_committed(&group), BTreeMap::from([(0, 3), (1, 3)]));

    // --state: the same row (the coordinator column is two words: host:port and (id)).
    let ours_state = cells(&ours("describe", &[&group, "--state"]), &group);
    let (_, java_state, _) = java(&["--describe", "--group", &group, "--state"]);
    assert_eq!(ours_state, cells(&java_state, &group), "java:\n{java_state}");
    assert_eq!(ours_state[0][3], "range");

    // --members --verbose: the same header and row, member ids and all.
    let ours_members = ours("describe", &[&group, "--members", "--verbose"]);
    let (_, java_members, _) = java(&["--describe", "--group", &group, "--members", "--verbose"]);
    assert_eq!(
        cells(&ours_members, "GROUP"),
        cells(&java_members, "GROUP"),
        "java:\n{java_members}"
    );
    assert_eq!(
        cells(&ours_members, &group),
        cells(&java_members, &group),
        "ours:\n{ours_members}java:\n{java_members}"
    );

    // delete: the broker's NON_EMPTY_GROUP; delete-offsets: GROUP_SUBSCRIBED_TO_TOPIC per partition.
    let r = kafkaroo(&["group", "delete", "-b", b, "--group", &group]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("NON_EMPTY_GROUP"), "{}", r.stderr);
    let r = kafkaroo(&[
        "group",
        "delete-offsets",
        "-b",
        b,
        "--group",
        &group,
        "--topic",
        &topic,
    ]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.text().contains("GROUP_SUBSCRIBED_TO_TOPIC"), "{}", r.text());
    assert_eq!(java_committed(&group), BTreeMap::from([(0, 3), (1, 3)]));

    // The member leaves (SIGTERM: commits, leaves the group).
    let pid = member.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("an Empty group", || {
        let (_, out, _) = java(&["--describe", "--group", &group, "--state"]);
        cells(&out, &group)
            .first()
            .is_some_and(|c| c.get(4).map(String::as_str) == Some("Empty"))
    });
    drop(member);
    let ours_state = cells(&ours("describe", &[&group, "--state"]), &group);
    let (_, java_state, _) = java(&["--describe", "--group", &group, "--state"]);
    assert_eq!(ours_state, cells(&java_state, &group), "java:\n{java_state}");

    // delete-offsets of partition 1: Java's describe shows only partition 0 left.
    let out = ours(
        "delete-offsets",
        &["--group", &group, "--topic", &format!("{topic}:1")],
    );
    assert!(
        out.starts_with(&format!(
            "Request succeeded for deleting offsets from group {group}."
        )),
        "{out}"
    );
    assert_eq!(
        cells(&out, &topic),
        vec![vec![topic.clone(), "1".into(), "Successful".into()]]
    );
    assert_eq!(java_committed(&group), BTreeMap::from([(0, 3)]));

    // delete: gone from Java's --list, and ours says it does not exist.
    let out = ours("delete", &["--group", &group]);
    assert_eq!(
        out,
        format!("Deletion of requested consumer groups ('{group}') was successful.\n")
    );
    let (_, list, _) = java(&["--list"]);
    assert!(!list.lines().any(|l| l.trim() == group), "{list}");
    let r = kafkaroo(&["group", "describe", "-b", b, &group]);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    eprintln!("active group, describe, delete: {:?}", started.elapsed());
}
