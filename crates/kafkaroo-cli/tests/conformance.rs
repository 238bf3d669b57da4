//! `kafkaroo conformance` against a real Kafka broker (the harness' `KAFKAROO_KAFKA_VERSION`) as a user
//! runs it: only `-b` and `--json`, records written by kafkaroo's producer, the Kafka version unknown to
//! the suite; over SASL_SSL with `-X` properties; and against an address where nothing listens: a clear
//! error, a non-zero exit.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Run, run_command};
use kafkaroo_testcontainers::{Cluster, SecuredCluster};
use serde_json::Value;

/// Every API the suite checks, as its rows name them.
const APIS: [&str; 18] = [
    "ApiVersions",
    "Metadata",
    "CreateTopics",
    "DeleteTopics",
    "FindCoordinator",
    "ListOffsets",
    "Fetch",
    "OffsetForLeaderEpoch",
    "JoinGroup",
    "JoinGroup static membership",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "OffsetCommit",
    "OffsetFetch",
    "DescribeGroups",
    "ListGroups",
    "ConsumerGroupHeartbeat",
];

fn kafkaroo(args: &[&str], limit: Duration) -> Run {
    let mut command = Command::new(Path::new(env!("CARGO_BIN_EXE_kafkaroo")));
    command.arg("conformance").args(args);
    run_command(command, limit)
}

#[test]
fn every_check_passes_against_real_kafka_and_the_json_matches_the_table() {
    let cluster = Cluster::shared();
    let (json, table) = passing_run(&["-b", cluster.bootstrap()], "plaintext");

    assert_eq!(json["broker"]["bootstrap"], cluster.bootstrap());
    assert_eq!(json["broker"]["security"], "PLAINTEXT");
    // The version is unknown to the suite: it says what ApiVersions suggests (every tested 4.x lists
    // ConsumerGroupHeartbeat v1).
    let label = json["broker"]["kafka_version"].as_str().unwrap();
    let expected = if cluster.version().starts_with("4.") {
        "4.x-like"
    } else {
        "pre-4"
    };
    assert!(
        label.starts_with("unknown") && label.contains(expected),
        "{label}"
    );
    let offered = json["offered"].as_array().unwrap();
    assert!(
        offered
            .iter()
            .any(|a| a["name"] == "Fetch" && a["min"].as_i64() <= a["max"].as_i64()),
        "no Fetch in the versions offered: {offered:?}"
    );

    let rows = json["rows"].as_array().unwrap();
    for api in APIS {
        assert!(rows.iter().any(|r| r["api"] == api), "no row for {api}");
    }
    for r in rows {
        // 3.x brokers may not offer ConsumerGroupHeartbeat; everything else must pass.
        let allowed = r["outcome"] == "passed"
            || (r["outcome"] == "not offered"
                && r["api"] == "ConsumerGroupHeartbeat"
                && !cluster.version().starts_with("4."));
        assert!(allowed, "row did not pass: {r}");
    }
    let summary = &json["summary"];
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["skipped"], 0);
    assert_eq!(
        summary["passed"].as_u64().unwrap() + summary["not_offered"].as_u64().unwrap(),
        rows.len() as u64
    );

    // The printed table: one line per JSON row, in order, with the same API, version and outcome, then
    // the summary line.
    let lines: Vec<&str> = table.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("API ") && l.contains("| version | result"))
        .expect("no table header");
    let printed = &lines[header + 2..header + 2 + rows.len()];
    for (line, r) in printed.iter().zip(rows) {
        let cells: Vec<&str> = line.splitn(3, " | ").map(str::trim).collect();
        assert_eq!(cells[0], r["api"].as_str().unwrap(), "{line}");
        let version = r["version"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        assert_eq!(cells[1], version, "{line}");
        let kind = match r["outcome"].as_str().unwrap() {
            "passed" => "ok",
            "not offered" => "n/a",
            other => other,
        };
        assert_eq!(
            cells[2],
            format!("{kind}: {}", r["message"].as_str().unwrap()),
            "{line}"
        );
    }
    assert_eq!(lines[header + 2 + rows.len()], summary["line"].as_str().unwrap());
}

/// The JSON report of a run that must have passed, and its printed table.
fn passing_run(args: &[&str], name: &str) -> (Value, String) {
    let dir = Cluster::shared().dir().join("cli-conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join(format!("{name}.json"));
    let _ = std::fs::remove_file(&json_path);
    let mut full = args.to_vec();
    full.extend(["--json", json_path.to_str().unwrap()]);
    let out = kafkaroo(&full, Duration::from_secs(600));
    let table = out.text();
    println!("{table}");
    assert_eq!(
        out.status,
        Some(0),
        "kafkaroo conformance failed:\n{table}\n{}",
        out.stderr
    );
    (
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap(),
        table,
    )
}

#[test]
fn every_check_passes_over_sasl_ssl_with_x_properties() {
    let cluster = SecuredCluster::shared();
    let ca = cluster.ca_pem_path().display().to_string();
    let password = SecuredCluster::password("admin").expect("admin's password");
    let (json, _) = passing_run(
        &[
            "-b",
            cluster.sasl_ssl_bootstrap(),
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanism=SCRAM-SHA-512",
            "-X",
            "sasl.username=admin",
            "-X",
            &format!("sasl.password={password}"),
            "-X",
            &format!("ssl.ca.location={ca}"),
        ],
        "sasl_ssl",
    );
    assert_eq!(json["broker"]["security"], "SASL_SSL SCRAM-SHA-512 as admin");
    assert_eq!(json["summary"]["failed"], 0);
    assert_eq!(json["summary"]["skipped"], 0);
    let rows = json["rows"].as_array().unwrap();
    for api in APIS {
        assert!(rows.iter().any(|r| r["api"] == api), "no row for {api}");
    }
    // Records were written and read over TLS and SASL too.
    assert!(
        rows.iter()
            .any(|r| r["api"] == "Fetch" && r["outcome"] == "passed"),
        "no Fetch passed: {rows:?}"
    );
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let out = kafkaroo(&["-b", &address], Duration::from_secs(180));
    assert_eq!(
        out.status,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        out.text(),
        out.stderr
    );
    assert!(
        out.stderr.contains("the conformance suite could not run") && out.stderr.contains(&address),
        "{}",
        out.stderr
    );
    assert!(out.text().is_empty(), "a table was printed: {}", out.text());
}

#[test]
fn other_properties_are_refused_as_usage_errors() {
    let out = kafkaroo(
        &["-b", "127.0.0.1:1", "-X", "linger.ms=5"],
        Duration::from_secs(60),
    );
    assert_eq!(out.status, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("linger.ms is not a security property"),
        "{}",
        out.stderr
    );
}
