//! `kafkaroo mock` as other clients see it: Java's console producer (idempotent, by default) and kcat
//! write to it; Java's console consumer reads it in a group and commits; kafkaroo and kcat read back.
//! Java parts need a JDK and the cached Kafka jars (`KAFKAROO_SKIP_JAVA=1` skips them, saying so).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

use common::{Run, run};
use kafkaroo_testcontainers::{KafkaDist, java, kafka_version, kcat_path};

/// The mock cluster running in the background; SIGTERM on drop.
struct Mock {
    child: Child,
    bootstrap: String,
}

impl Mock {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafkaroo"))
            .arg("mock")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting kafkaroo mock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bootstrap = line.trim().to_owned();
        assert!(
            bootstrap.starts_with("127.0.0.1:"),
            "kafkaroo mock printed {line:?} instead of its bootstrap address"
        );
        Self { child, bootstrap }
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        (status.code(), stderr)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Java tool of the cached Kafka distribution with a 60 s limit, `stdin` fed to it; `None` when
/// `KAFKAROO_SKIP_JAVA=1`.
fn java_tool(main_class: &str, args: &[&str], stdin: &str) -> Option<Output> {
    if std::env::var("KAFKAROO_SKIP_JAVA").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: {main_class} (KAFKAROO_SKIP_JAVA=1)");
        return None;
    }
    let java = java().expect("a JDK is needed for the Java interop checks (KAFKAROO_SKIP_JAVA=1 skips them)");
    let dist = KafkaDist::get(&kafka_version()).expect("the Kafka jars");
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(java)
        .args(["-cp", &dist.tools_classpath(), main_class])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    Some(child.wait_with_output().unwrap())
}

/// Lines of a console consumer's or kcat's output that are record values (Java's log lines can share
/// stdout).
fn records(stdout: &[u8]) -> usize {
    text(stdout).lines().filter(|l| l.starts_with("from ")).count()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `partition key value` lines read by `kafkaroo consume` from the start to the end of every partition.
fn kafkaroo_reads(bootstrap: &str, topic: &str) -> Vec<(i32, String, String)> {
    let r: Run = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_kafkaroo")),
        &[
            "consume",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %k %s\\n",
        ],
    );
    assert_eq!(r.status, Some(0), "kafkaroo consume: {}", r.stderr);
    r.text()
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, ' ');
            let p = f.next().unwrap().parse().unwrap();
            (
                p,
                f.next().unwrap().to_owned(),
                f.next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn java_and_kcat_produce_to_and_consume_from_the_mock() {
    let mock = Mock::start(&["--brokers", "2", "--topic", "orders:3"]);
    let b = mock.bootstrap.clone();

    // kcat writes to partition 2 with gzip.
    let mut kcat = Command::new(kcat_path())
        .args(["-P", "-b", &b, "-t", "orders", "-p", "2", "-K", ":", "-z", "gzip"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is needed here (apt-get install kcat)");
    let lines: String = (0..10).map(|i| format!("kcat-{i}:from kcat {i}\n")).collect();
    kcat.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = kcat.wait_with_output().unwrap();
    assert!(out.status.success(), "kcat -P: {}", text(&out.stderr));
    let mut expected = 10;

    // Java's producer (idempotent by default: InitProducerId and sequence numbers) writes keyed records.
    let keyed: String = (0..30).map(|i| format!("java-{i}:from java {i}\n")).collect();
    let java_producer = java_tool(
        "org.apache.kafka.tools.ConsoleProducer",
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            "key.separator=:",
        ],
        &keyed,
    );
    if let Some(out) = &java_producer {
        assert!(out.status.success(), "Java producer: {}", text(&out.stderr));
        expected += 30;
    }

    let seen = kafkaroo_reads(&b, "orders");
    assert_eq!(seen.len(), expected, "kafkaroo read {seen:?}");
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    for (p, key, value) in &seen {
        let n = key.rsplit('-').next().unwrap();
        let source = key.split('-').next().unwrap();
        assert_eq!(value, &format!("from {source} {n}"), "{key}");
        partition_of.insert(key, *p);
    }
    for i in 0..10 {
        assert_eq!(
            partition_of.get(format!("kcat-{i}").as_str()),
            Some(&2),
            "kcat wrote to partition 2"
        );
    }
    if java_producer.is_some() {
        let partitions: std::collections::BTreeSet<i32> = partition_of
            .iter()
            .filter(|(k, _)| k.starts_with("java-"))
            .map(|(_, p)| *p)
            .collect();
        assert!(
            partitions.len() > 1,
            "Java's partitioner spread 30 keys over {partitions:?}"
        );
    }

    // kcat reads everything back too.
    let out = Command::new(kcat_path())
        .args(["-C", "-b", &b, "-t", "orders", "-e", "-q", "-f", "%s\\n"])
        .output()
        .unwrap();
    assert!(out.status.success(), "kcat -C: {}", text(&out.stderr));
    assert_eq!(records(&out.stdout), expected);

    // Java's consumer reads in a group and commits; a second run of the group has nothing left.
    let group_args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--group",
            "java-group",
            "--from-beginning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let consumer = "org.apache.kafka.tools.consumer.ConsoleConsumer";
    let max = expected.to_string();
    let first = group_args(&["--max-messages", &max]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    if let Some(out) = java_tool(consumer, &first, "") {
        assert!(out.status.success(), "Java consumer: {}", text(&out.stderr));
        assert_eq!(records(&out.stdout), expected, "{}", text(&out.stderr));
        let again = group_args(&["--timeout-ms", "3000"]);
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        let out = java_tool(consumer, &again, "").unwrap();
        assert_eq!(
            records(&out.stdout),
            0,
            "the group's commits did not land: the second run re-read\n{}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("Processed a total of 0 messages"),
            "{}",
            text(&out.stderr)
        );
    }

    let (status, stderr) = mock.stop();
    assert_eq!(status, Some(0), "kafkaroo mock after SIGTERM: {stderr}");
}

#[test]
fn mock_refuses_a_bad_topic_spec() {
    let r = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_kafkaroo")),
        &["mock", "--topic", "orders:none"],
    );
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("partitions must be a number from 1 to 10000"),
        "{}",
        r.stderr
    );
}

#[test]
fn mock_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_kafkaroo")),
        &["mock", "--port", &port],
    );
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")) && r.stderr.contains("in use"),
        "{}",
        r.stderr
    );
}

/// Two Java console consumers share a group on the mock: both get partitions, together they print every
/// record exactly once, and `kafkaroo group describe` reads the group from the mock while they run.
#[test]
fn a_java_group_of_two_members_shares_the_partitions_on_the_mock() {
    if std::env::var("KAFKAROO_SKIP_JAVA").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: two Java members on the mock (KAFKAROO_SKIP_JAVA=1)");
        return;
    }
    let mock = Mock::start(&["--topic", "shared:4"]);
    let b = mock.bootstrap.clone();
    let java = java().expect("a JDK is needed for the Java interop checks (KAFKAROO_SKIP_JAVA=1 skips them)");
    let dist = KafkaDist::get(&kafka_version()).expect("the Kafka jars");
    let start_member = || {
        Command::new(&java)
            .args([
                "-cp",
                &dist.tools_classpath(),
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
            ])
            .args([
                "--bootstrap-server",
                &b,
                "--topic",
                "shared",
                "--group",
                "pair",
                "--from-beginning",
            ])
            .args(["--timeout-ms", "6000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start_member(), start_member());
    // Wait until both members hold partitions (the group read from the mock by kafkaroo).
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kafkaroo"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = run(bin, &["group", "describe", "pair", "-b", &b, "--json"]);
        let both = serde_json::from_str::<serde_json::Value>(r.text().trim())
            .ok()
            .is_some_and(|d| {
                d["state"] == "Stable"
                    && d["members"].as_array().is_some_and(|m| {
                        m.len() == 2
                            && m.iter()
                                .all(|m| m["assignment"].as_array().is_some_and(|a| !a.is_empty()))
                    })
            });
        if both {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the two Java members never shared the group: {}",
            r.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut kcat = Command::new(kcat_path())
        .args(["-P", "-b", &b, "-t", "shared", "-K", ":"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat is needed here (apt-get install kcat)");
    let lines: String = (0..40).map(|i| format!("key-{i}:from pair {i}\n")).collect();
    kcat.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(kcat.wait().unwrap().success());
    let outputs: Vec<Output> = [first, second]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut all: Vec<String> = Vec::new();
    for out in &outputs {
        let got: Vec<String> = text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("from "))
            .map(str::to_owned)
            .collect();
        assert!(!got.is_empty(), "a member printed nothing: {}", text(&out.stderr));
        all.extend(got);
    }
    all.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!("from pair {i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every record exactly once across the two members");
}
