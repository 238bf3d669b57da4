//! Against the shared single-node broker of this process (default version, or KAFKAROO_BOOTSTRAP).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafkaroo_testcontainers::{
    Batching, Cluster, Compression, ConsumedRecord, Error, Isolation, ProduceRequest, Producer, Reader,
    Source, TestRecord, TxnSpec,
};

type Content = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>);

fn content(records: &[TestRecord]) -> Vec<Content> {
    records
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect()
}

fn consumed(records: &[ConsumedRecord]) -> Vec<Content> {
    records
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect()
}

fn offsets(records: &[ConsumedRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

fn local(cluster: &Cluster) -> bool {
    cluster.source() == Source::Jvm
}

fn b(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

#[test]
fn console_producer_keys_null_values_and_headers() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("console");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let records = vec![
        TestRecord::new("k0", "v0")
            .with_header("h", Some(b"a"))
            .with_header("h", Some(b"b"))
            .with_header("n", None),
        TestRecord::new("k1", "")
            .with_value(None)
            .with_header("h", Some(b"c:d")),
        TestRecord::value("v2").with_header("x", Some(b"")),
        TestRecord::new("k3", ""),
        TestRecord::new("", "v4 with spaces"),
    ];
    let req = ProduceRequest::new(&topic, records.clone())
        .via(Producer::Console)
        .compression(Compression::Gzip);
    assert!(
        cluster.produce(&req).unwrap().is_empty(),
        "the console producer reports no offsets"
    );

    let got = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    assert_eq!(consumed(&got), content(&records));
    assert_eq!(offsets(&got), vec![0, 1, 2, 3, 4]);
    if local(cluster) {
        // Records with and without headers go through two console runs: two lingered gzip batches.
        let batches = cluster.batches(&topic, 0).unwrap();
        assert_eq!(
            batches.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![3, 2],
            "{batches:?}"
        );
        assert!(
            batches
                .iter()
                .all(|b| b.compression == "gzip" && !b.is_transactional),
            "{batches:?}"
        );
    }
}

#[test]
fn console_producer_every_codec_to_a_partition() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("console-codecs");
    cluster.create_topic(&topic, 5, 1, &[]).unwrap();
    for (p, codec) in Compression::ALL.into_iter().enumerate() {
        let records: Vec<_> = (0..4)
            .map(|i| TestRecord::new(format!("k{i}"), format!("{codec:?}-{i}")))
            .collect();
        let req = ProduceRequest::new(&topic, records.clone())
            .via(Producer::Console)
            .compression(codec)
            .partition(p as i32);
        cluster.produce(&req).unwrap();
        let got = cluster
            .read_records(&topic, p as i32, Isolation::ReadUncommitted, Reader::Kcat)
            .unwrap();
        assert_eq!(consumed(&got), content(&records), "{codec:?}");
        if local(cluster) {
            let batches = cluster.batches(&topic, p as i32).unwrap();
            assert_eq!(batches.len(), 1, "{codec:?}: {batches:?}");
            assert_eq!(
                (batches[0].count, batches[0].compression.as_str()),
                (4, codec.name())
            );
        }
    }
}

#[test]
fn kcat_every_codec_with_headers_and_nulls() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("kcat");
    cluster.create_topic(&topic, 5, 1, &[]).unwrap();
    for (p, codec) in Compression::ALL.into_iter().enumerate() {
        let records: Vec<_> = (0..3)
            .map(|i| {
                TestRecord::new(format!("key-{i}"), format!("value {i}\twith tab"))
                    .with_header("dup", Some(b"1"))
                    .with_header("dup", Some(b"2"))
                    .with_header("null", None)
            })
            .collect();
        let req = ProduceRequest::new(&topic, records.clone())
            .via(Producer::Kcat)
            .compression(codec)
            .partition(p as i32);
        cluster.produce(&req).unwrap();
        let java = cluster
            .read_records(&topic, p as i32, Isolation::ReadUncommitted, Reader::Java)
            .unwrap();
        let kcat = cluster
            .read_records(&topic, p as i32, Isolation::ReadUncommitted, Reader::Kcat)
            .unwrap();
        assert_eq!(consumed(&java), content(&records), "{codec:?}");
        assert_eq!(consumed(&kcat), content(&records), "{codec:?}");
        assert_eq!(offsets(&java), vec![0, 1, 2]);
        if local(cluster) {
            let batches = cluster.batches(&topic, p as i32).unwrap();
            assert_eq!(batches.len(), 1, "{codec:?}: {batches:?}");
            assert_eq!(
                (batches[0].count, batches[0].compression.as_str()),
                (3, codec.name())
            );
        }
    }
    // Null keys and values (-Z), one batch per record.
    let nulls = vec![
        TestRecord::new("k", "").with_value(None),
        TestRecord::value("v"),
        TestRecord::default(),
    ];
    let req = ProduceRequest::new(&topic, nulls.clone())
        .via(Producer::Kcat)
        .partition(0)
        .batching(Batching::PerRecord);
    cluster.produce(&req).unwrap();
    let got = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    assert_eq!(consumed(&got[3..]), content(&nulls));
    if local(cluster) {
        let counts: Vec<i64> = cluster
            .batches(&topic, 0)
            .unwrap()
            .iter()
            .map(|b| b.count)
            .collect();
        assert_eq!(counts, vec![3, 1, 1, 1]);
    }
}

#[test]
fn java_helper_exact_bytes_timestamps_and_batches() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("java");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    let records = vec![
        TestRecord::new(binary.clone(), b"\n\t\0".to_vec()).with_timestamp(1_600_000_000_000),
        TestRecord::default().with_timestamp(1_600_000_000_001),
        TestRecord::new("k", "v")
            .with_header("h", Some(&binary))
            .with_header("h", None)
            .with_header("", Some(b""))
            .with_timestamp(1_600_000_000_002),
    ];
    for codec in Compression::ALL {
        let positions = cluster
            .produce(
                &ProduceRequest::new(&topic, records.clone())
                    .partition(1)
                    .compression(codec),
            )
            .unwrap();
        assert!(positions.iter().all(|p| p.partition == 1));
        let got = cluster
            .read_records(&topic, 1, Isolation::ReadCommitted, Reader::Java)
            .unwrap();
        let got = &got[got.len() - 3..];
        assert_eq!(consumed(got), content(&records), "{codec:?}");
        assert_eq!(
            positions.iter().map(|p| p.offset).collect::<Vec<_>>(),
            offsets(got)
        );
        let ts: Vec<i64> = got.iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, vec![1_600_000_000_000, 1_600_000_000_001, 1_600_000_000_002]);
        assert!(got.iter().all(|r| r.timestamp_type == "CreateTime"));
    }
    let positions = cluster
        .produce(
            &ProduceRequest::new(&topic, records.clone())
                .partition(0)
                .batching(Batching::PerRecord),
        )
        .unwrap();
    assert_eq!(
        positions
            .iter()
            .map(|p| (p.partition, p.offset))
            .collect::<Vec<_>>(),
        vec![(0, 0), (0, 1), (0, 2)]
    );
    if local(cluster) {
        let batches = cluster.batches(&topic, 1).unwrap();
        let summary: Vec<(i64, &str)> = batches
            .iter()
            .map(|b| (b.count, b.compression.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![(3, "none"), (3, "gzip"), (3, "snappy"), (3, "lz4"), (3, "zstd")]
        );
        let counts: Vec<i64> = cluster
            .batches(&topic, 0)
            .unwrap()
            .iter()
            .map(|b| b.count)
            .collect();
        assert_eq!(counts, vec![1, 1, 1]);
    }
}

#[test]
fn transactions_read_committed_sees_only_committed_records() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("txn");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let rec = |s: &str| TestRecord::new(s, s);
    let txns = [
        TxnSpec {
            records: vec![rec("a"), rec("b")],
            commit: true,
        },
        TxnSpec {
            records: vec![rec("c"), rec("d")],
            commit: false,
        },
        TxnSpec {
            records: vec![rec("e")],
            commit: true,
        },
    ];
    let positions = cluster.produce_transactions(&topic, Some(0), &txns).unwrap();
    // Each transaction ends with a control record taking an offset.
    assert_eq!(
        positions.iter().map(|p| p.offset).collect::<Vec<_>>(),
        vec![0, 1, 3, 4, 6]
    );

    let committed = cluster
        .read_records(&topic, 0, Isolation::ReadCommitted, Reader::Java)
        .unwrap();
    assert_eq!(consumed(&committed), content(&[rec("a"), rec("b"), rec("e")]));
    assert_eq!(offsets(&committed), vec![0, 1, 6]);
    let kcat = cluster
        .read_records(&topic, 0, Isolation::ReadCommitted, Reader::Kcat)
        .unwrap();
    assert_eq!(consumed(&kcat), consumed(&committed));
    let all = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    assert_eq!(offsets(&all), vec![0, 1, 3, 4, 6]);
    if local(cluster) {
        let batches = cluster.batches(&topic, 0).unwrap();
        let kinds: Vec<(bool, bool, i64)> = batches
            .iter()
            .map(|b| (b.is_transactional, b.is_control, b.count))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (true, false, 2),
                (true, true, 1),
                (true, false, 2),
                (true, true, 1),
                (true, false, 1),
                (true, true, 1)
            ]
        );
        // Kafka's own dump agrees.
        let dump = cluster.dump_log_segments(&topic, 0).unwrap();
        assert_eq!(
            dump.lines().filter(|l| l.starts_with("baseOffset:")).count(),
            batches.len(),
            "{dump}"
        );
        assert!(
            dump.contains("endTxnMarker: COMMIT") && dump.contains("endTxnMarker: ABORT"),
            "{dump}"
        );
    }
}

#[test]
fn topics_are_created_with_configs_and_deleted() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("admin");
    cluster
        .create_topic(
            &topic,
            4,
            1,
            &[("cleanup.policy", "compact"), ("segment.bytes", "1048576")],
        )
        .unwrap();
    let md = cluster.metadata(Some(&[&topic])).unwrap();
    let info = md.topic(&topic).unwrap();
    assert!(info.is_ready(Some(4)), "{info:?}");
    match cluster.create_topic(&topic, 4, 1, &[]) {
        Err(Error::Tool { stderr, .. }) => assert!(stderr.contains("TopicExistsException"), "{stderr}"),
        other => panic!("creating an existing topic: {other:?}"),
    }
    cluster.delete_topic(&topic).unwrap();
    let md = cluster.metadata(Some(&[&topic])).unwrap();
    assert_eq!(
        md.topic(&topic).map(|t| t.error_code),
        Some(3),
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
}

#[test]
fn unsupported_tool_requests_are_rejected() {
    let cluster = Cluster::shared();
    let timed = ProduceRequest::new("t", vec![TestRecord::new("k", "v").with_timestamp(1)]);
    assert!(matches!(
        cluster.produce(&timed.clone().via(Producer::Console)),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        cluster.produce(&timed.via(Producer::Kcat)),
        Err(Error::Unsupported(_))
    ));
    let newline = ProduceRequest::new("t", vec![TestRecord::new("k", "a\nb")]).via(Producer::Console);
    assert!(matches!(cluster.produce(&newline), Err(Error::Unsupported(_))));
}

#[test]
fn verifiable_producer_runs_with_the_tools_classpath() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("verifiable");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let out = cluster
        .run_java_tool(
            "org.apache.kafka.tools.VerifiableProducer",
            [
                "--bootstrap-server",
                cluster.bootstrap(),
                "--topic",
                &topic,
                "--max-messages",
                "10",
            ],
        )
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    let values: Vec<_> = got.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, (0..10).map(|i| b(&i.to_string())).collect::<Vec<_>>());
}

fn broker_cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafkaroo-broker"));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Reads `key=value` lines until `started_ms=`.
fn read_announcement(child: &mut std::process::Child) -> Vec<(String, String)> {
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let (k, v) = line.split_once('=').unwrap();
        lines.push((k.to_owned(), v.to_owned()));
        if k == "started_ms" {
            return lines;
        }
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    panic!("kafkaroo-broker ended early: {lines:?}\n{err}");
}

fn values<'a>(lines: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn children_of(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn kafkaroo_bootstrap_env_names_an_existing_broker() {
    let shared = Cluster::shared();
    let mut child = broker_cli()
        .arg("start")
        .env("KAFKAROO_BOOTSTRAP", shared.bootstrap())
        .spawn()
        .unwrap();
    let lines = read_announcement(&mut child);
    assert_eq!(values(&lines, "source"), vec!["External"]);
    assert_eq!(values(&lines, "bootstrap"), vec![shared.bootstrap()]);
    assert!(
        values(&lines, "pid").is_empty() && values(&lines, "log").is_empty(),
        "{lines:?}"
    );
    // Its only children may be watchdog shells, no JVM.
    let comms: Vec<String> = children_of(child.id())
        .iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect();
    assert!(!comms.iter().any(|c| c == "java"), "started processes: {comms:?}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    // The tool helpers work against an external broker too.
    let external = Cluster::external(shared.bootstrap(), shared.version()).unwrap();
    assert_eq!((external.source(), external.node_count()), (Source::External, 0));
    let topic = external.unique_topic("external");
    external.create_topic(&topic, 1, 1, &[]).unwrap();
    let records = vec![TestRecord::new("k", "v")];
    external
        .produce(&ProduceRequest::new(&topic, records.clone()))
        .unwrap();
    let got = shared
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    assert_eq!(consumed(&got), content(&records));
}

fn gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn no_broker_jvm_survives_a_sigkilled_owner() {
    if kafkaroo_testcontainers::env_bootstrap().is_some() {
        return; // nothing is started against an external broker
    }
    let mut child = broker_cli()
        .arg("start")
        .env_remove("KAFKAROO_BOOTSTRAP")
        .spawn()
        .unwrap();
    let lines = read_announcement(&mut child);
    let pids: Vec<u32> = values(&lines, "pid").iter().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "{lines:?}");
    assert!(!gone_or_zombie(pids[0]));
    let data = std::path::PathBuf::from(values(&lines, "data")[0]);
    let dir = data.parent().unwrap().parent().unwrap().to_owned();
    assert!(dir.exists());

    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    // Killed at once, or (the one JVM recording the class-data archive, once per cache) terminated
    // gracefully within 60 s.
    let start = Instant::now();
    while !gone_or_zombie(pids[0]) || dir.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(75),
            "JVM {} or {} survived its owner",
            pids[0],
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
