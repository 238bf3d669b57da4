//! Regenerates the record-batch golden vectors of `crates/kafkaroo-records/tests/golden/` from a real
//! broker: real producers (Kafka's Java producer, its console producer, kcat/librdkafka, a transactional
//! Java producer) write records with every codec; the broker's log segment is copied as `NAME.log`, and
//! `NAME.json` is written from sources independent of our decoder: batch headers as the harness reads them
//! and the records as Kafka's own Java consumer returns them (read_uncommitted: aborted records included,
//! as the raw batches hold them).
//!
//! Run by hand (it rewrites checked-in files):
//! `KAFKAROO_REGENERATE_GOLDEN=1 cargo test -p kafkaroo-tests --test golden_vectors -- --ignored --nocapture`

use std::fmt::Write as _;
use std::path::PathBuf;

use kafkaroo_testcontainers::{
    Batching, Cluster, Compression, ConsumedRecord, Isolation, ProduceRequest, Producer, Reader, TestRecord,
    TxnSpec,
};

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/kafkaroo-records/tests/golden")
}

fn json_bytes(b: Option<&[u8]>) -> String {
    match b {
        None => "null".to_owned(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{{\"utf8\": {}}}", json_str(s)),
            Err(_) => format!("{{\"base64\": \"{}\"}}", base64(b)),
        },
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, x)| acc | (u32::from(*x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Copies the partition's segment and writes the expectation.
fn capture(cluster: &Cluster, topic: &str, name: &str, description: &str) {
    let segments = cluster.segment_files(topic, 0).expect("segment files");
    assert_eq!(segments.len(), 1, "one segment expected");
    let bytes = std::fs::read(&segments[0]).expect("read segment");
    let batches = cluster.batches(topic, 0).expect("batch headers");
    let records: Vec<ConsumedRecord> = cluster
        .read_records(topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .expect("Java consumer read-back");
    let mut json = String::new();
    let _ = writeln!(
        json,
        "{{\n  \"description\": {},\n  \"batches\": [",
        json_str(description)
    );
    for (bi, b) in batches.iter().enumerate() {
        let in_batch: Vec<&ConsumedRecord> = records
            .iter()
            .filter(|r| r.offset >= b.base_offset && r.offset <= b.last_offset)
            .collect();
        if !b.is_control {
            assert_eq!(
                in_batch.len() as i64,
                b.count,
                "{name}: batch at {} record count",
                b.base_offset
            );
        }
        let _ = write!(
            json,
            "    {{\"base_offset\": {}, \"last_offset_delta\": {}, \"compression\": \"{}\", \"transactional\": {}, \"producer_id\": {}",
            b.base_offset,
            b.last_offset - b.base_offset,
            b.compression,
            b.is_transactional,
            b.producer_id
        );
        if let Some(first) = in_batch.first() {
            let ts_type = if first.timestamp_type == "LogAppendTime" {
                "log_append"
            } else {
                "create"
            };
            let _ = write!(json, ", \"timestamp_type\": \"{ts_type}\"");
        }
        if b.is_control {
            // The marker type is not in the batch header and the Java consumer does not return markers:
            // the caller fills it in from the transactions it ran.
            let _ = write!(
                json,
                ", \"control\": {{\"type\": \"CONTROL_TYPE_{}\"}}",
                b.base_offset
            );
        }
        json.push_str(", \"records\": [");
        for (ri, r) in in_batch.iter().enumerate() {
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("[{}, {}]", json_str(k), json_bytes(v.as_deref())))
                .collect();
            let _ = write!(
                json,
                "{}\n      {{\"offset\": {}, \"timestamp\": {}, \"key\": {}, \"value\": {}, \"headers\": [{}]}}",
                if ri == 0 { "" } else { "," },
                r.offset,
                r.timestamp,
                json_bytes(r.key.as_deref()),
                json_bytes(r.value.as_deref()),
                headers.join(", ")
            );
        }
        let _ = writeln!(json, "]}}{}", if bi + 1 == batches.len() { "" } else { "," });
    }
    json.push_str("  ]\n}\n");
    let dir = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.log")), &bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), json).unwrap();
    println!(
        "wrote {name}: {} batches, {} records, {} bytes",
        batches.len(),
        records.len(),
        bytes.len()
    );
}

fn mixed_records(n: usize, tag: &str, timestamps: bool) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let mut r = TestRecord::new(
                format!("{tag}-key-{i}"),
                format!("{tag} value {i} {}", "abc".repeat(i % 9)),
            );
            if i % 5 == 2 {
                r = r.with_key(None);
            }
            if i % 6 == 4 {
                r = r.with_value(None);
            }
            if i % 3 == 0 {
                r = r
                    .with_header("trace", Some(b"a"))
                    .with_header("trace", Some(b"b"))
                    .with_header("empty", None);
            }
            if timestamps {
                r = r.with_timestamp(1_700_000_000_000 + i as i64 * 17);
            }
            r
        })
        .collect()
}

fn text_records(n: usize, tag: &str) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            TestRecord::new(
                format!("{tag}-k{i}"),
                format!("{tag} v{i} {}", "xyz".repeat(i % 7)),
            )
            .with_header("src", Some(tag.as_bytes()))
        })
        .collect()
}

#[test]
#[ignore = "rewrites checked-in golden vectors; run with KAFKAROO_REGENERATE_GOLDEN=1"]
fn regenerate_golden_vectors() {
    if std::env::var("KAFKAROO_REGENERATE_GOLDEN").as_deref() != Ok("1") {
        eprintln!("set KAFKAROO_REGENERATE_GOLDEN=1 to regenerate");
        return;
    }
    let cluster = Cluster::shared();
    let version = cluster.version().to_owned();
    for compression in Compression::ALL {
        let c = compression.name();
        let topic = cluster.unique_topic(&format!("golden-java-{c}"));
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        cluster
            .produce(
                &ProduceRequest::new(&topic, mixed_records(25, "java", true))
                    .partition(0)
                    .compression(compression),
            )
            .unwrap();
        cluster
            .produce(
                &ProduceRequest::new(&topic, mixed_records(3, "single", true))
                    .partition(0)
                    .compression(compression)
                    .batching(Batching::PerRecord),
            )
            .unwrap();
        capture(
            cluster,
            &topic,
            &format!("java-{c}"),
            &format!(
                "Kafka {version} Java producer, {c}: keys, null keys and values, repeated headers, explicit timestamps; then 3 single-record batches"
            ),
        );

        let topic = cluster.unique_topic(&format!("golden-kcat-{c}"));
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        cluster
            .produce(
                &ProduceRequest::new(&topic, text_records(20, "kcat"))
                    .partition(0)
                    .compression(compression)
                    .via(Producer::Kcat),
            )
            .unwrap();
        capture(
            cluster,
            &topic,
            &format!("kcat-{c}"),
            &format!("kcat (librdkafka) producer, {c}, with a header, through Kafka {version}"),
        );

        let topic = cluster.unique_topic(&format!("golden-console-{c}"));
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        cluster
            .produce(
                &ProduceRequest::new(&topic, text_records(15, "console"))
                    .partition(0)
                    .compression(compression)
                    .via(Producer::Console),
            )
            .unwrap();
        capture(
            cluster,
            &topic,
            &format!("console-{c}"),
            &format!("Kafka {version} console producer, {c}, with a header"),
        );
    }
    // LogAppendTime: the broker stamps every batch; records take the batch's max timestamp.
    let topic = cluster.unique_topic("golden-log-append");
    cluster
        .create_topic(&topic, 1, 1, &[("message.timestamp.type", "LogAppendTime")])
        .unwrap();
    cluster
        .produce(
            &ProduceRequest::new(&topic, mixed_records(12, "lat", true))
                .partition(0)
                .compression(Compression::Lz4),
        )
        .unwrap();
    capture(
        cluster,
        &topic,
        "java-log-append-time-lz4",
        &format!("Kafka {version} Java producer, lz4, topic with LogAppendTime"),
    );
    // Transactions: commit, abort, commit; control batches carry the markers.
    for compression in [Compression::None, Compression::Zstd] {
        let c = compression.name();
        let topic = cluster.unique_topic(&format!("golden-txn-{c}"));
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        let txn = |tag: &str, commit| TxnSpec {
            records: mixed_records(4, tag, false),
            commit,
        };
        cluster
            .produce_transactions_with(&kafkaroo_testcontainers::TxnRequest {
                topic: topic.clone(),
                partition: Some(0),
                txns: vec![txn("commit1", true), txn("abort1", false), txn("commit2", true)],
                compression,
                producer_configs: Vec::new(),
            })
            .unwrap();
        let name = format!("java-transactions-{c}");
        capture(
            cluster,
            &topic,
            &name,
            &format!("Kafka {version} transactional Java producer, {c}: commit, abort, commit"),
        );
        // Fill in the marker types: commit, abort, commit in order.
        let path = out_dir().join(format!("{name}.json"));
        let mut json = std::fs::read_to_string(&path).unwrap();
        for kind in ["commit", "abort", "commit"] {
            let start = json
                .find("\"CONTROL_TYPE_")
                .expect("a control batch per transaction");
            let end = start + json[start + 1..].find('"').unwrap() + 2;
            json.replace_range(start..end, &format!("\"{kind}\""));
        }
        assert!(
            !json.contains("CONTROL_TYPE_"),
            "{name}: more control batches than transactions"
        );
        std::fs::write(&path, json).unwrap();
    }
}
