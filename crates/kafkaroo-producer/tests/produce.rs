//! The producer against a real Apache Kafka broker (kafkaroo-testcontainers): every codec read back
//! exactly by Java's consumer and kafkaroo's, keys on the partitions Java's producer picks, no duplicate after a lost
//! answer, and the errors that refuse a record before it is queued.

use std::collections::HashMap;
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_producer::{
    Compression, Error, Producer, ProducerConfig, ProducerRecord, RecordMetadata, partition_for_key,
};
use kafkaroo_testcontainers::{Cluster, ConsumedRecord, Isolation, ProduceRequest, Reader, TestRecord};

fn cluster() -> &'static Cluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Cluster::shared()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn producer_config(cluster: &Cluster, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props = vec![("bootstrap.servers", cluster.bootstrap())];
    props.extend_from_slice(extra);
    ProducerConfig::from_properties(props).unwrap()
}

/// Everything in `partitions` partitions of `topic`, by (partition, offset), as Java's consumer reads it.
fn read_all(cluster: &Cluster, topic: &str, partitions: i32) -> HashMap<(i32, i64), ConsumedRecord> {
    let mut out = HashMap::new();
    for p in 0..partitions {
        for r in cluster
            .read_records(topic, p, Isolation::ReadUncommitted, Reader::Java)
            .unwrap()
        {
            let dup = out.insert((r.partition, r.offset), r);
            assert!(dup.is_none(), "a record read twice");
        }
    }
    out
}

/// The same, as kafkaroo's consumer reads it (in the shape of Java's records, to compare the two).
async fn read_with_kafkaroo(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    n: usize,
) -> HashMap<(i32, i64), ConsumedRecord> {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer
        .assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut out = HashMap::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            let headers = r
                .headers()
                .map(|h| {
                    (
                        String::from_utf8(h.key().to_vec()).unwrap(),
                        h.value().map(<[u8]>::to_vec),
                    )
                })
                .collect();
            let record = ConsumedRecord {
                partition: r.partition(),
                offset: r.offset(),
                timestamp: r.timestamp(),
                timestamp_type: format!("{:?}", r.timestamp_type()),
                key: r.key().map(<[u8]>::to_vec),
                value: r.value().map(<[u8]>::to_vec),
                headers,
            };
            assert!(out.insert((r.partition(), r.offset()), record).is_none());
        }
    }
    out
}

struct Sample {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

fn samples(n: usize, tag: &str) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            key: (i % 5 != 1).then(|| format!("key-{i}").into_bytes()),
            value: (i % 7 != 3).then(|| format!("{tag} value {i} {}", "x".repeat(i % 50)).into_bytes()),
            headers: if i % 4 == 0 {
                vec![
                    ("h".into(), Some(b"first".to_vec())),
                    ("h".into(), Some(b"second".to_vec())),
                    ("n".into(), None),
                ]
            } else {
                Vec::new()
            },
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

async fn send_all(producer: &Producer, topic: &str, sent: &[Sample]) -> Vec<RecordMetadata> {
    let mut futures = Vec::new();
    for s in sent {
        let headers: Vec<(&str, Option<&[u8]>)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let mut record = ProducerRecord::new(topic)
            .headers(&headers)
            .timestamp(s.timestamp);
        record.key = s.key.as_deref();
        record.value = s.value.as_deref();
        futures.push(producer.send(record).await.unwrap());
    }
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await.unwrap());
    }
    out
}

fn assert_written(
    got: &HashMap<(i32, i64), ConsumedRecord>,
    sent: &[Sample],
    meta: &[RecordMetadata],
    what: &str,
) {
    assert_eq!(got.len(), sent.len(), "{what}: records in the topic");
    for (i, (s, m)) in sent.iter().zip(meta).enumerate() {
        let g = &got[&(m.partition, m.offset)];
        assert_eq!(g.key, s.key, "{what}: key of record {i}");
        assert_eq!(g.value, s.value, "{what}: value of record {i}");
        assert_eq!(g.timestamp, s.timestamp, "{what}: timestamp of record {i}");
        assert_eq!(g.timestamp_type, "CreateTime");
        assert_eq!(m.timestamp, s.timestamp);
        assert_eq!(
            g.headers, s.headers,
            "{what}: headers of record {i}, in order with repeats"
        );
        if let Some(key) = &s.key {
            assert_eq!(m.partition, partition_for_key(key, 3), "{what}: keyed record {i}");
        }
    }
}

#[test]
fn every_codec_is_read_back_exactly_by_java_and_kafkaroo() {
    let cluster = cluster();
    let rt = runtime();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = cluster.unique_topic(&format!("produce-{codec}"));
        cluster.create_topic(&topic, 3, 1, &[]).unwrap();
        let sent = samples(400, codec);
        let meta = rt.block_on(async {
            let config = producer_config(cluster, &[("compression.type", codec), ("linger.ms", "20")]);
            let producer = Producer::new(config).await.unwrap();
            let meta = send_all(&producer, &topic, &sent).await;
            producer.close(Duration::from_secs(5)).await;
            let ours = read_with_kafkaroo(cluster, &topic, 3, sent.len()).await;
            assert_written(&ours, &sent, &meta, &format!("{codec} (kafkaroo consumer)"));
            meta
        });
        let got = read_all(cluster, &topic, 3);
        assert_written(&got, &sent, &meta, &format!("{codec} (Java consumer)"));
        // On disk: our codec, our producer id (idempotence), several records per batch.
        let batches: Vec<_> = (0..3).flat_map(|p| cluster.batches(&topic, p).unwrap()).collect();
        assert!(
            batches
                .iter()
                .all(|b| b.compression == codec && b.producer_id >= 0),
            "{batches:?}"
        );
        assert!(
            batches.len() < sent.len() / 4,
            "{codec}: {} batches",
            batches.len()
        );
        {
            // Records without a key stuck to partitions in runs, not one partition each.
            let unkeyed: Vec<i32> = sent
                .iter()
                .zip(&meta)
                .filter(|(s, _)| s.key.is_none())
                .map(|(_, m)| m.partition)
                .collect();
            let switches = unkeyed.windows(2).filter(|w| w[0] != w[1]).count();
            assert!(
                switches < unkeyed.len() / 2,
                "{codec}: sticky partitioner: {unkeyed:?}"
            );
        }
    }
}

#[test]
fn keys_land_on_the_partitions_javas_producer_picks() {
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-keys");
    cluster.create_topic(&topic, 7, 1, &[]).unwrap();
    let keys: Vec<String> = (0..60)
        .map(|i| format!("user-{i}-{}", "k".repeat(i % 9)))
        .collect();
    let records = keys.iter().map(|k| TestRecord::new(k.as_str(), "java")).collect();
    let java = cluster.produce(&ProduceRequest::new(&topic, records)).unwrap();
    assert_eq!(java.len(), keys.len());
    runtime().block_on(async {
        let producer = Producer::new(producer_config(cluster, &[])).await.unwrap();
        for (key, j) in keys.iter().zip(&java) {
            let record = ProducerRecord::new(&topic).key(key.as_bytes()).value(b"rust");
            let m = producer.send(record).await.unwrap().await.unwrap();
            assert_eq!(m.partition, j.partition, "key {key:?}");
        }
        producer.close(Duration::from_secs(5)).await;
    });
}

#[test]
fn a_lost_answer_is_retried_without_a_duplicate() {
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-idempotent");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let sent = samples(50, "idempotent");
    rt_block(|| async {
        let config = producer_config(cluster, &[("retry.backoff.ms", "10")]);
        let producer = Producer::new(config).await.unwrap();
        // The broker writes the first request's batches; its answer is lost with the connection, and
        // the retry carries the same producer id, epoch and sequences.
        producer.drop_next_responses(1);
        let meta = send_all(&producer, &topic, &sent).await;
        producer.close(Duration::from_secs(5)).await;
        let offsets: Vec<i64> = meta.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, (0..50).collect::<Vec<_>>(), "in order, each once");
    });
    let got = read_all(cluster, &topic, 1);
    assert_eq!(got.len(), 50, "nothing written twice");
    // The same without idempotence writes the lost batch twice: the test would notice a duplicate.
    let topic = cluster.unique_topic("produce-not-idempotent");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    rt_block(|| async {
        let config = producer_config(
            cluster,
            &[("enable.idempotence", "false"), ("retry.backoff.ms", "10")],
        );
        let producer = Producer::new(config).await.unwrap();
        producer.drop_next_responses(1);
        let record = ProducerRecord::new(&topic).value(b"once?");
        producer.send(record).await.unwrap().await.unwrap();
        producer.close(Duration::from_secs(5)).await;
    });
    let got = read_all(cluster, &topic, 1);
    assert_eq!(got.len(), 2, "without idempotence the retry is a second copy");
}

#[test]
fn many_batches_in_flight_reach_the_broker_in_sequence_order() {
    // Regression: requests encoded in parallel tasks could overtake each other on the connection, and
    // the broker refused the overtaking batches with OUT_OF_ORDER_SEQUENCE_NUMBER.
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-in-flight");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    let n = 20_000;
    rt_block(|| async {
        let config = producer_config(
            cluster,
            &[
                ("batch.size", "2048"),
                ("linger.ms", "0"),
                ("compression.type", "lz4"),
            ],
        );
        let producer = Producer::new(config).await.unwrap();
        let mut futures = Vec::with_capacity(n);
        for i in 0..n {
            let value = format!("{i:08} {}", "y".repeat(i % 200));
            let record = ProducerRecord::new(&topic)
                .partition((i % 2) as i32)
                .value(value.as_bytes());
            futures.push(producer.send(record).await.unwrap());
        }
        for (i, f) in futures.into_iter().enumerate() {
            let m = f.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
            assert_eq!(m.offset, (i / 2) as i64, "record {i}");
        }
        producer.close(Duration::from_secs(5)).await;
    });
}

#[test]
fn buffer_memory_is_a_hard_bound_with_back_pressure() {
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-buffer");
    cluster.create_topic(&topic, 4, 1, &[]).unwrap();
    rt_block(|| async {
        // Four 16 KiB batches fill 64 KiB; with a long linger nothing leaves on its own.
        let config = producer_config(
            cluster,
            &[
                ("buffer.memory", "65536"),
                ("batch.size", "16384"),
                ("linger.ms", "60000"),
                ("max.block.ms", "300"),
            ],
        );
        let producer = Producer::new(config).await.unwrap();
        let value = [b'x'; 1000];
        let mut futures = Vec::new();
        for p in 0..4 {
            let record = ProducerRecord::new(&topic).partition(p).value(&value);
            futures.push(producer.send(record).await.unwrap());
        }
        let started = tokio::time::Instant::now();
        // A fifth batch must wait for room, and gives up after max.block.ms.
        let mut refused = None;
        for _ in 0..20 {
            let record = ProducerRecord::new(&topic).partition(0).value(&value);
            match producer.send(record).await {
                Ok(f) => futures.push(f),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let e = refused.expect("back-pressure");
        assert!(matches!(e, Error::BufferFull { .. }), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Sending frees the memory: the same record goes in after a flush.
        let queued = futures.len();
        producer.flush().await;
        let record = ProducerRecord::new(&topic).partition(0).value(&value);
        futures.push(producer.send(record).await.unwrap());
        producer.flush().await;
        for f in futures {
            f.await.unwrap();
        }
        assert!(
            queued >= 4 + 15,
            "records that fit the full batches were accepted: {queued}"
        );
        producer.close(Duration::from_secs(1)).await;
    });
}

#[test]
fn retries_end_at_the_delivery_timeout_with_the_last_error() {
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-timeout");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    rt_block(|| async {
        let config = producer_config(
            cluster,
            &[
                ("delivery.timeout.ms", "2000"),
                ("request.timeout.ms", "1000"),
                ("retry.backoff.ms", "50"),
                ("retry.backoff.max.ms", "200"),
            ],
        );
        let producer = Producer::new(config).await.unwrap();
        // Every answer is lost with its connection: each attempt fails as a transport error.
        producer.drop_next_responses(u32::MAX);
        let started = tokio::time::Instant::now();
        let record = ProducerRecord::new(&topic).value(b"v");
        let e = producer.send(record).await.unwrap().await.unwrap_err();
        let waited = started.elapsed();
        let Error::DeliveryTimeout { last: Some(last), .. } = &e else {
            panic!("not a delivery timeout: {e}");
        };
        assert!(matches!(**last, Error::Net(_)), "{e}");
        assert!(e.is_retriable() && !e.is_fatal(), "{e}");
        assert!(
            waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
            "retried until about delivery.timeout.ms: {waited:?}"
        );
        producer.close(Duration::from_secs(1)).await;
    });
}

#[test]
fn records_refused_before_they_are_queued() {
    let cluster = cluster();
    let topic = cluster.unique_topic("produce-refused");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    rt_block(|| async {
        let config = producer_config(cluster, &[("max.block.ms", "300"), ("max.request.size", "2000")]);
        let producer = Producer::new(config).await.unwrap();
        let big = vec![0u8; 5000];
        let e = producer
            .send(ProducerRecord::new(&topic).value(&big))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::RecordTooLarge {
                    setting: "max.request.size",
                    ..
                }
            ),
            "{e}"
        );
        let e = producer
            .send(ProducerRecord::new(&topic).value(b"v").partition(2))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnknownPartition { count: 2, .. }), "{e}");
        let e = producer
            .send(ProducerRecord::new("no-such-topic-kafkaroo").value(b"v"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnknownTopic { .. }), "{e}");
        // flush delivers without waiting for linger.ms; after close, send is refused.
        let slow = producer_config(
            cluster,
            &[("linger.ms", "60000"), ("delivery.timeout.ms", "120000")],
        );
        let slow = Producer::new(slow).await.unwrap();
        let f = slow
            .send(ProducerRecord::new(&topic).value(b"v").partition(1))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), slow.flush())
            .await
            .expect("flush");
        let m = tokio::time::timeout(Duration::from_millis(100), f)
            .await
            .expect("done")
            .unwrap();
        assert_eq!((m.partition, m.offset), (1, 0));
        slow.close(Duration::from_secs(1)).await;
        let e = slow
            .send(ProducerRecord::new(&topic).value(b"v"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Closed), "{e}");
        producer.close(Duration::from_secs(1)).await;
    });
}

fn rt_block<F, Fut>(f: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime().block_on(f());
}

#[test]
fn every_codec_name_is_a_compression() {
    for (name, codec) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let c = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("compression.type", name)])
            .unwrap();
        assert_eq!(c.compression, codec);
    }
}
