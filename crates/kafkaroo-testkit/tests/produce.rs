//! The fake cluster's write side: kcat (librdkafka) produces to it with every codec and reads back; an
//! idempotent producer's retry is answered with the first offset and written once; CreateTopics.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_net::{Connection, ConnectionConfig};
use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
use kafkaroo_testcontainers::kcat_path;
use kafkaroo_testkit::{Cluster, TopicRef};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::create_topics_request::CreatableTopic;
use kafkaroo_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkaroo_wire::messages::{
    CreateTopicsRequest, InitProducerIdRequest, ProduceRequest, ProducerId, TopicName,
};
use kafkaroo_wire::protocol::StrBytes;

/// Runs kcat with `args`, feeding `stdin`; its stdout. A missing kcat fails the test with the reason.
fn kcat(args: &[&str], stdin: &str) -> String {
    let path = kcat_path();
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "kcat ({}) is needed here (apt-get install kcat): {e}",
                path.display()
            )
        });
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn read_all(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<(String, String, Vec<String>)> {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer.assign([TopicPartition::new(topic, partition)]).unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while seen.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "read {} of {count}",
            seen.len()
        );
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap().iter() {
            let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            let headers = r
                .headers()
                .map(|h| format!("{}={}", text(Some(h.key())), text(h.value())))
                .collect();
            seen.push((text(r.key()), text(r.value()), headers));
        }
    }
    seen
}

/// kcat writes keyed records with headers to the fake in every codec; kafkaroo's consumer and kcat read
/// them back, in order, with their keys and headers; the log end moved by exactly the records written.
#[tokio::test(flavor = "multi_thread")]
async fn kcat_produces_with_every_codec_and_reads_back() {
    common::tracing();
    let cluster = Cluster::builder().brokers(2).build().await.unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        cluster.create_topic(&topic, 2).unwrap();
        let lines: String = (0..50).map(|i| format!("k{i}:{codec}-{i}\n")).collect();
        let b = cluster.bootstrap();
        kcat(
            &[
                "-P", "-b", &b, "-t", &topic, "-p", "1", "-K", ":", "-z", codec, "-H", "h1=a", "-H", "h1=b",
            ],
            &lines,
        );
        assert_eq!(
            cluster.offsets(&topic, 1).unwrap(),
            (0, 50),
            "{codec}: log of partition 1"
        );
        assert_eq!(
            cluster.offsets(&topic, 0).unwrap(),
            (0, 0),
            "{codec}: partition 0 untouched"
        );
        let seen = read_all(&cluster, &topic, 1, 50).await;
        for (i, (key, value, headers)) in seen.iter().enumerate() {
            assert_eq!(
                (key.as_str(), value.as_str()),
                (format!("k{i}").as_str(), format!("{codec}-{i}").as_str())
            );
            assert_eq!(
                headers,
                &["h1=a", "h1=b"],
                "{codec}: headers in order, repeats kept"
            );
        }
        let back = kcat(
            &[
                "-C", "-b", &b, "-t", &topic, "-p", "1", "-e", "-q", "-f", "%k=%s\\n",
            ],
            "",
        );
        let expected: String = (0..50).map(|i| format!("k{i}={codec}-{i}\n")).collect();
        assert_eq!(back, expected, "{codec}: kcat reads back what it wrote");
    }
}

/// A Produce request for one partition, naming the topic both ways (by name up to v12, by id in v13).
fn produce_request(topic: &TopicRef, partition: i32, batch: &TestBatch, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                .with_topic_id(topic.id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.encode().into())),
                ]),
        ])
}

fn idempotent_batch(producer_id: i64, base_sequence: i32, values: &[&str]) -> TestBatch {
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| TestRecord::new(i as i32, None, Some(v.as_bytes())))
        .collect();
    let mut batch = TestBatch::new(0, records);
    batch.producer_id = producer_id;
    batch.producer_epoch = 0;
    batch.base_sequence = base_sequence;
    batch
}

/// An idempotent producer's retry of a batch that was written is answered with the offset it got and is
/// not written twice; a sequence gap is refused; a batch to a broker that does not lead is refused.
#[tokio::test]
async fn idempotent_retries_are_written_once() {
    let cluster = Cluster::builder().brokers(2).topic("t", 2).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    let (leader, _) = cluster.leader("t", 0).unwrap();
    let addr = cluster.addr(leader).unwrap().to_string();
    let conn = Connection::connect(&addr, Some(leader), ConnectionConfig::default())
        .await
        .unwrap();
    let init = conn
        .send(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await
        .unwrap();
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    assert!(pid >= 0);

    let first = idempotent_batch(pid, 0, &["a", "b"]);
    let offsets = |r: &kafkaroo_wire::messages::ProduceResponse| {
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    let r = conn.send(&produce_request(&t, 0, &first, -1)).await.unwrap();
    assert_eq!(offsets(&r), (0, 0));
    // The retry: same producer, epoch and sequence.
    let r = conn.send(&produce_request(&t, 0, &first, -1)).await.unwrap();
    assert_eq!(offsets(&r), (0, 0), "a retry gets the first answer");
    assert_eq!(cluster.offsets("t", 0).unwrap(), (0, 2), "written once");
    // A gap (sequence 3 after 0..=1).
    let gap = idempotent_batch(pid, 3, &["d"]);
    let r = conn.send(&produce_request(&t, 0, &gap, -1)).await.unwrap();
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0
    );
    let next = idempotent_batch(pid, 2, &["c"]);
    let r = conn.send(&produce_request(&t, 0, &next, -1)).await.unwrap();
    assert_eq!(offsets(&r), (0, 2));
    // Another broker does not lead t-0.
    let other = cluster.broker_ids().into_iter().find(|&b| b != leader).unwrap();
    let other_addr = cluster.addr(other).unwrap().to_string();
    let other_conn = Connection::connect(&other_addr, Some(other), ConnectionConfig::default())
        .await
        .unwrap();
    let r = other_conn
        .send(&produce_request(&t, 0, &idempotent_batch(-1, -1, &["x"]), -1))
        .await
        .unwrap();
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER.0
    );
    assert_eq!(cluster.offsets("t", 0).unwrap(), (0, 3));
    let seen = read_all(&cluster, "t", 0, 3).await;
    let values: Vec<&str> = seen.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(values, ["a", "b", "c"]);
}

/// acks=0 gets no answer (the next request's answer is the next thing on the connection), and the
/// batch is written.
#[tokio::test]
async fn acks_zero_is_not_answered() {
    let cluster = Cluster::builder().topic("t", 1).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    let addr = cluster.addr(1).unwrap().to_string();
    let conn = Connection::connect(&addr, Some(1), ConnectionConfig::default())
        .await
        .unwrap();
    let batch = idempotent_batch(-1, -1, &["fire", "and", "forget"]);
    // Sent with a short timeout: no answer comes.
    let unanswered = conn
        .send_version(&produce_request(&t, 0, &batch, 0), 9, Duration::from_millis(300))
        .await;
    assert!(unanswered.is_err(), "acks=0 was answered: {unanswered:?}");
    assert_eq!(cluster.offsets("t", 0).unwrap(), (0, 3));
}

/// CreateTopics creates topics with their partition counts, refuses an existing name, and a
/// validate-only request creates nothing.
#[tokio::test]
async fn create_topics_over_the_wire() {
    let cluster = Cluster::builder().topic("exists", 1).build().await.unwrap();
    let addr = cluster.addr(1).unwrap().to_string();
    let conn = Connection::connect(&addr, Some(1), ConnectionConfig::default())
        .await
        .unwrap();
    let topic = |name: &str, partitions: i32| {
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)
    };
    let r = conn
        .send(
            &CreateTopicsRequest::default()
                .with_timeout_ms(5_000)
                .with_topics(vec![topic("new", 3), topic("exists", 1)]),
        )
        .await
        .unwrap();
    let codes: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        [
            ("new".to_owned(), 0),
            ("exists".to_owned(), ErrorCode::TOPIC_ALREADY_EXISTS.0)
        ]
    );
    assert_eq!(cluster.offsets("new", 2).unwrap(), (0, 0), "three partitions");
    assert!(cluster.offsets("new", 3).is_err());
    let r = conn
        .send(
            &CreateTopicsRequest::default()
                .with_validate_only(true)
                .with_topics(vec![topic("checked", 1)]),
        )
        .await
        .unwrap();
    assert_eq!(r.topics[0].error_code, 0);
    assert!(cluster.topic("checked").is_err(), "validate_only created it");
}
