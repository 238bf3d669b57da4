//! The consumer against a real Apache Kafka broker (started by `kafkaroo-testcontainers`): exact records
//! for every codec and producer, seeks, timestamps, reset policies, read_committed, pause/resume and the
//! memory budget.

use std::time::Duration;

use kafkaroo::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, Error, IsolationLevel, TopicPartition,
};
use kafkaroo_testcontainers::{
    Batching, Cluster, Compression, ProduceRequest, Producer, TestRecord, TxnSpec,
};

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

fn config(cluster: &Cluster) -> kafkaroo::ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
}

/// Polls until `n` records arrived (or 30 s passed) and returns them.
async fn consume_n(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        let batch = consumer.poll(Duration::from_millis(500)).await.expect("poll");
        out.extend(batch);
    }
    out
}

fn sample_records(n: usize, tag: &str) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let mut r = TestRecord::new(
                format!("key-{i}"),
                format!("{tag} value {i} {}", "x".repeat(i % 50)),
            );
            if i % 7 == 3 {
                r = r.with_value(None);
            }
            if i % 5 == 1 {
                r = r.with_key(None);
            }
            if i % 4 == 0 {
                r = r
                    .with_header("h", Some(b"first"))
                    .with_header("h", Some(b"second"))
                    .with_header("n", None);
            }
            r
        })
        .collect()
}

fn assert_same(got: &[ConsumerRecord], sent: &[TestRecord], first_offset: i64) {
    assert_eq!(got.len(), sent.len(), "record count");
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert_eq!(g.offset(), first_offset + i as i64, "offset of record {i}");
        assert_eq!(g.key(), s.key.as_deref(), "key of record {i}");
        assert_eq!(g.value(), s.value.as_deref(), "value of record {i}");
        let headers: Vec<(String, Option<Vec<u8>>)> = g
            .headers()
            .map(|h| {
                (
                    String::from_utf8(h.key().to_vec()).unwrap(),
                    h.value().map(<[u8]>::to_vec),
                )
            })
            .collect();
        assert_eq!(headers, s.headers, "headers of record {i}");
        assert!(g.timestamp() > 0);
    }
}

#[test]
fn every_codec_from_the_java_producer_is_read_exactly() {
    let cluster = cluster();
    let rt = runtime();
    for compression in Compression::ALL {
        let topic = cluster.unique_topic(&format!("codec-{}", compression.name()));
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        let sent = sample_records(300, compression.name());
        cluster
            .produce(
                &ProduceRequest::new(&topic, sent.clone())
                    .partition(0)
                    .compression(compression),
            )
            .unwrap();
        rt.block_on(async {
            let mut consumer = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
            consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
            let got = consume_n(&mut consumer, sent.len()).await;
            assert_same(&got, &sent, 0);
            assert_eq!(
                consumer.position(&TopicPartition::new(&topic, 0)).await.unwrap(),
                300
            );
            assert_eq!(
                consumer.lag(&TopicPartition::new(&topic, 0)),
                Some(0),
                "{}",
                compression.name()
            );
        });
    }
}

#[test]
fn kcat_and_console_producers_with_every_codec() {
    let cluster = cluster();
    let rt = runtime();
    for via in [Producer::Kcat, Producer::Console] {
        for compression in Compression::ALL {
            let topic = cluster.unique_topic(&format!("{via:?}-{}", compression.name()).to_lowercase());
            cluster.create_topic(&topic, 1, 1, &[]).unwrap();
            // Text-safe records: both tools read lines.
            let sent: Vec<TestRecord> = (0..40)
                .map(|i| {
                    TestRecord::new(format!("k{i}"), format!("v{i}-{}", "abc".repeat(i)))
                        .with_header("src", Some(b"tool"))
                })
                .collect();
            cluster
                .produce(
                    &ProduceRequest::new(&topic, sent.clone())
                        .partition(0)
                        .compression(compression)
                        .via(via),
                )
                .unwrap();
            rt.block_on(async {
                let mut consumer = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
                consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
                let got = consume_n(&mut consumer, sent.len()).await;
                assert_same(&got, &sent, 0);
            });
        }
    }
}

#[test]
fn seek_offsets_for_times_and_watermarks() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("seek");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    let base = 1_700_000_000_000i64;
    let sent: Vec<TestRecord> = (0..50)
        .map(|i| TestRecord::new(format!("k{i}"), format!("v{i}")).with_timestamp(base + i * 1000))
        .collect();
    cluster
        .produce(
            &ProduceRequest::new(&topic, sent.clone())
                .partition(1)
                .batching(Batching::PerRecord),
        )
        .unwrap();
    let tp = TopicPartition::new(&topic, 1);
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
        consumer
            .assign([tp.clone(), TopicPartition::new(&topic, 0)])
            .unwrap();
        consumer.seek(&tp, 20).unwrap();
        let got = consume_n(&mut consumer, 30).await;
        assert_same(&got, &sent[20..], 20);
        assert_eq!(got[0].timestamp(), base + 20_000);

        let answer = consumer
            .offsets_for_times(&[
                (tp.clone(), base + 10_500),
                (TopicPartition::new(&topic, 0), base),
            ])
            .await
            .unwrap();
        assert_eq!(
            answer[&tp].unwrap().offset,
            11,
            "first record at or after the timestamp"
        );
        assert_eq!(answer[&tp].unwrap().timestamp, base + 11_000);
        assert_eq!(
            answer[&TopicPartition::new(&topic, 0)],
            None,
            "empty partition has no such record"
        );
        assert_eq!(
            consumer.end_offsets(std::slice::from_ref(&tp)).await.unwrap()[&tp],
            50
        );
        assert_eq!(
            consumer
                .beginning_offsets(std::slice::from_ref(&tp))
                .await
                .unwrap()[&tp],
            0
        );

        consumer
            .seek_to_timestamp(std::slice::from_ref(&tp), base + 45_000)
            .unwrap();
        let got = consume_n(&mut consumer, 5).await;
        assert_same(&got, &sent[45..], 45);

        consumer.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
        let got = consume_n(&mut consumer, 50).await;
        assert_same(&got, &sent, 0);
        let w = consumer.watermarks(&tp).unwrap();
        assert_eq!((w.low, w.high, w.last_stable), (0, 50, 50));
    });
}

#[test]
fn reset_policies() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("reset");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    cluster
        .produce(&ProduceRequest::new(&topic, sample_records(10, "old")).partition(0))
        .unwrap();
    let tp = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        // latest: only what is produced after the position was resolved.
        let mut latest = Consumer::new(
            config(cluster)
                .auto_offset_reset(AutoOffsetReset::Latest)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        latest.assign([tp.clone()]).unwrap();
        assert_eq!(latest.position(&tp).await.unwrap(), 10);
        // none: an error naming the partition, no records.
        let mut none = Consumer::new(
            config(cluster)
                .auto_offset_reset(AutoOffsetReset::None)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        none.assign([tp.clone()]).unwrap();
        let err = none.poll(Duration::from_secs(5)).await.unwrap_err();
        assert!(
            matches!(&err, Error::NoOffsetForPartition { partition, .. } if *partition == tp),
            "{err}"
        );
        assert!(err.to_string().contains(&tp.to_string()), "{err}");
        // A seek makes the partition usable again, and an out-of-range seek with policy none is an error.
        none.seek(&tp, 3).unwrap();
        let got = consume_n(&mut none, 7).await;
        assert_eq!(got.first().map(ConsumerRecord::offset), Some(3));
        none.seek(&tp, 1000).unwrap();
        let err = none.poll(Duration::from_secs(5)).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoOffsetForPartition {
                    offset: Some(1000),
                    ..
                }
            ),
            "{err}"
        );
        // earliest after out of range: back to the start.
        let mut earliest = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
        earliest.assign([tp.clone()]).unwrap();
        earliest.seek(&tp, 5000).unwrap();
        let got = consume_n(&mut earliest, 10).await;
        assert_eq!(got.first().map(ConsumerRecord::offset), Some(0));
        latest.close().await;
    });
    let fresh = sample_records(5, "new");
    cluster
        .produce(&ProduceRequest::new(&topic, fresh.clone()).partition(0))
        .unwrap();
    rt.block_on(async {
        let mut latest = Consumer::new(
            config(cluster)
                .auto_offset_reset(AutoOffsetReset::Latest)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        latest.assign([tp.clone()]).unwrap();
        assert_eq!(latest.position(&tp).await.unwrap(), 15);
    });
}

#[test]
fn read_committed_skips_aborted_transactions() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("txn");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let txn = |tag: &str, n: usize, commit: bool| TxnSpec {
        records: (0..n)
            .map(|i| TestRecord::new(format!("{tag}-{i}"), format!("{tag} value {i}")))
            .collect(),
        commit,
    };
    let txns = vec![
        txn("c1", 5, true),
        txn("a1", 4, false),
        txn("c2", 3, true),
        txn("a2", 6, false),
        txn("c3", 2, true),
    ];
    cluster.produce_transactions(&topic, Some(0), &txns).unwrap();
    let committed: Vec<String> = txns
        .iter()
        .filter(|t| t.commit)
        .flat_map(|t| t.records.iter())
        .map(|r| String::from_utf8(r.key.clone().unwrap()).unwrap())
        .collect();
    let all: Vec<String> = txns
        .iter()
        .flat_map(|t| t.records.iter())
        .map(|r| String::from_utf8(r.key.clone().unwrap()).unwrap())
        .collect();
    let tp = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        for (level, expected) in [
            (IsolationLevel::ReadCommitted, &committed),
            (IsolationLevel::ReadUncommitted, &all),
        ] {
            let mut consumer = Consumer::new(config(cluster).isolation_level(level).build().unwrap())
                .await
                .unwrap();
            consumer.assign([tp.clone()]).unwrap();
            let got = consume_n(&mut consumer, expected.len()).await;
            let keys: Vec<String> = got
                .iter()
                .map(|r| String::from_utf8(r.key().unwrap().to_vec()).unwrap())
                .collect();
            assert_eq!(&keys, expected, "{level:?}");
            // Offsets strictly increase and skip the control markers.
            assert!(got.windows(2).all(|w| w[0].offset() < w[1].offset()));
            // Nothing more arrives: the markers are not records.
            let extra = consumer.poll(Duration::from_millis(500)).await.unwrap();
            assert!(extra.is_empty(), "{level:?}: unexpected {} records", extra.len());
            // 20 records + 5 markers: the position ends past the last marker.
            assert_eq!(consumer.position(&tp).await.unwrap(), 25, "{level:?}");
        }
    });
}

#[test]
fn pause_and_resume_keep_the_position() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("pause");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    let p0 = sample_records(100, "p0");
    let p1 = sample_records(100, "p1");
    cluster
        .produce(&ProduceRequest::new(&topic, p0.clone()).partition(0))
        .unwrap();
    cluster
        .produce(&ProduceRequest::new(&topic, p1.clone()).partition(1))
        .unwrap();
    let (tp0, tp1) = (TopicPartition::new(&topic, 0), TopicPartition::new(&topic, 1));
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster).max_poll_records(30).build().unwrap())
            .await
            .unwrap();
        consumer.assign([tp0.clone(), tp1.clone()]).unwrap();
        consumer.pause(std::slice::from_ref(&tp1)).unwrap();
        assert_eq!(consumer.paused(), vec![tp1.clone()]);
        let got = consume_n(&mut consumer, 100).await;
        assert!(
            got.iter().all(|r| r.partition() == 0),
            "a paused partition returned records"
        );
        assert_same(&got, &p0, 0);
        assert!(
            consumer
                .poll(Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
        consumer.resume(std::slice::from_ref(&tp1)).unwrap();
        let got = consume_n(&mut consumer, 100).await;
        assert_same(&got, &p1, 0);
        // Pause in the middle of partition data: the rest comes after resume, nothing twice.
        consumer.seek(&tp1, 0).unwrap();
        let first = consumer.poll(Duration::from_secs(5)).await.unwrap();
        let seen: Vec<i64> = first.iter().map(ConsumerRecord::offset).collect();
        assert!(!seen.is_empty());
        consumer.pause(std::slice::from_ref(&tp1)).unwrap();
        assert!(
            consumer
                .poll(Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
        consumer.resume(std::slice::from_ref(&tp1)).unwrap();
        let rest = consume_n(&mut consumer, 100 - seen.len()).await;
        let all: Vec<i64> = seen
            .into_iter()
            .chain(rest.iter().map(ConsumerRecord::offset))
            .collect();
        assert_eq!(all, (0..100).collect::<Vec<i64>>());
    });
}

#[test]
fn memory_budget_holds_when_not_polled() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("budget");
    cluster.create_topic(&topic, 4, 1, &[]).unwrap();
    let value = "v".repeat(1000);
    for p in 0..4 {
        let records: Vec<TestRecord> = (0..2000)
            .map(|i| TestRecord::new(format!("k{i}"), value.clone()))
            .collect();
        // Batches of at most 16 KiB: the only overshoot allowed is one batch (KIP-74).
        cluster
            .produce(
                &ProduceRequest::new(&topic, records)
                    .partition(p)
                    .producer_config("batch.size", "16384"),
            )
            .unwrap();
    }
    let budget = 256 * 1024;
    rt.block_on(async {
        let mut consumer = Consumer::new(
            config(cluster)
                .memory_budget_bytes(budget)
                .max_partition_fetch_bytes(64 * 1024)
                .max_poll_records(100_000)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        consumer
            .assign((0..4).map(|p| TopicPartition::new(&topic, p)))
            .unwrap();
        let mut peak = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            peak = peak.max(consumer.memory_used());
        }
        // A fetch's response may exceed its limit by one batch (KIP-74): at most 16 KiB here.
        assert!(peak > budget / 2, "fetching stopped early: {peak} bytes held");
        assert!(
            peak <= budget + 17 * 1024,
            "held {peak} bytes with a budget of {budget}"
        );
        // Everything still arrives when the application keeps up (processes and drops records); a record
        // the application keeps pins its response in the budget until dropped.
        let mut per_partition = [0i64; 4];
        let mut kept = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while per_partition.iter().sum::<i64>() < 8000 && tokio::time::Instant::now() < deadline {
            for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
                assert_eq!(
                    r.offset(),
                    per_partition[r.partition() as usize],
                    "gap or duplicate"
                );
                per_partition[r.partition() as usize] += 1;
                kept.get_or_insert(r);
            }
            assert!(consumer.memory_used() <= budget + 17 * 1024);
        }
        assert_eq!(per_partition, [2000; 4]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = consumer.memory_used();
        assert!(held > 0, "the kept record pins its response");
        drop(kept);
        assert!(
            consumer.memory_used() < held,
            "dropping the last record frees its response"
        );
    });
}

#[test]
fn unknown_topic_and_bad_config_are_errors() {
    let cluster = cluster();
    let rt = runtime();
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
        consumer
            .assign([TopicPartition::new("kafkaroo-no-such-topic", 0)])
            .unwrap();
        let err = consumer.poll(Duration::from_secs(20)).await.unwrap_err();
        assert!(
            matches!(&err, Error::UnknownTopic { topic } if topic == "kafkaroo-no-such-topic"),
            "{err}"
        );
        let err = Consumer::new(
            ConsumerConfig::builder()
                .bootstrap_servers("127.0.0.1:1")
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    });
}

#[test]
fn recv_and_stream_continue_where_poll_left_off() {
    use futures_util::StreamExt;
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("stream");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let sent = sample_records(60, "stream");
    cluster
        .produce(&ProduceRequest::new(&topic, sent.clone()).partition(0))
        .unwrap();
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster).max_poll_records(10).build().unwrap())
            .await
            .unwrap();
        consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
        let mut got: Vec<ConsumerRecord> = Vec::new();
        while got.len() < 10 {
            got.extend(consumer.poll(Duration::from_secs(5)).await.unwrap());
        }
        for _ in 0..15 {
            got.push(consumer.recv().await.unwrap());
        }
        let rest: Vec<ConsumerRecord> = consumer
            .stream()
            .take(60 - got.len())
            .map(Result::unwrap)
            .collect()
            .await;
        got.extend(rest);
        assert_same(&got, &sent, 0);
    });
}

#[test]
fn decompressed_batches_count_against_the_budget_until_dropped() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("inflate");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    // 1000 x 1 KiB of one repeated byte: lz4 shrinks it ~100 times.
    let value = "a".repeat(1024);
    let records: Vec<TestRecord> = (0..1000)
        .map(|i| TestRecord::new(format!("k{i}"), value.clone()))
        .collect();
    cluster
        .produce(
            &ProduceRequest::new(&topic, records)
                .partition(0)
                .compression(Compression::Lz4),
        )
        .unwrap();
    rt.block_on(async {
        // Fetches in flight reserve at most 64 KiB, so what is counted beyond that is decompressed data.
        let config = config(cluster)
            .max_poll_records(100_000)
            .fetch_max_bytes(64 * 1024)
            .build()
            .unwrap();
        let mut consumer = Consumer::new(config).await.unwrap();
        consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
        let got = consume_n(&mut consumer, 1000).await;
        assert_eq!(got.len(), 1000);
        let held = consumer.memory_used();
        assert!(
            held >= 1000 * 1024,
            "decompressed data held by records must be counted: {held} bytes"
        );
        drop(got);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = consumer.memory_used();
        assert!(
            after < 100 * 1024,
            "dropping the records releases their batches: {after} bytes still counted"
        );
    });
}

#[test]
fn records_held_by_recv_are_not_skipped_by_pause_and_resume() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("recv-pause");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let sent = sample_records(50, "recv");
    cluster
        .produce(&ProduceRequest::new(&topic, sent.clone()).partition(0))
        .unwrap();
    let tp = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster).build().unwrap()).await.unwrap();
        consumer.assign([tp.clone()]).unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(consumer.recv().await.unwrap());
        }
        // recv took a whole poll batch; the application has seen 5 records.
        assert_eq!(consumer.position(&tp).await.unwrap(), 5);
        consumer.pause(std::slice::from_ref(&tp)).unwrap();
        consumer.resume(std::slice::from_ref(&tp)).unwrap();
        while got.len() < 50 {
            got.push(consumer.recv().await.unwrap());
        }
        assert_same(&got, &sent, 0);
    });
}

/// The first record `poll` returns per partition.
async fn first_offsets(consumer: &mut Consumer, partitions: usize) -> std::collections::BTreeMap<i32, i64> {
    let mut first = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while first.len() < partitions && tokio::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            first.entry(r.partition()).or_insert_with(|| r.offset());
        }
    }
    first
}

/// `assign` with a `group.id` and no `subscribe` (Java's manual assignment with commits): commits go to
/// the group with no membership, in order, and the next consumer of the group starts where they
/// point; with auto-commit, what `poll` returned is committed (on the interval and on close).
#[test]
fn assigned_partitions_commit_to_the_group_and_start_from_its_offsets() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("assign-commit");
    let group = cluster.unique_topic("assign-group");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    for p in 0..2 {
        cluster
            .produce(&ProduceRequest::new(&topic, sample_records(20, "a")).partition(p))
            .unwrap();
    }
    let (t0, t1) = (TopicPartition::new(&topic, 0), TopicPartition::new(&topic, 1));
    let both = [t0.clone(), t1.clone()];
    rt.block_on(async {
        let manual = config(cluster)
            .group_id(&group)
            .set("enable.auto.commit", "false")
            .unwrap();
        let mut a = Consumer::new(manual.clone().build().unwrap()).await.unwrap();
        a.assign(both.clone()).unwrap();
        assert_eq!(consume_n(&mut a, 40).await.len(), 40);
        a.commit_sync(Some(vec![
            (t0.clone(), kafkaroo::OffsetAndMetadata::new(5)),
            (t1.clone(), kafkaroo::OffsetAndMetadata::new(12)),
        ]))
        .await
        .expect("commit without membership");
        // Async commits land in the order started.
        let handle = a.commit_handle();
        let first = handle
            .commit(Some(vec![(t0.clone(), kafkaroo::OffsetAndMetadata::new(7))]))
            .unwrap();
        let second = handle
            .commit(Some(vec![(t0.clone(), kafkaroo::OffsetAndMetadata::new(9))]))
            .unwrap();
        first.await.unwrap();
        second.await.unwrap();
        let committed = a.committed(&both).await.unwrap();
        assert_eq!(committed[&t0].as_ref().map(|o| o.offset), Some(9));
        assert_eq!(committed[&t1].as_ref().map(|o| o.offset), Some(12));
        a.close().await;

        // The next consumer of the group starts at the committed offsets, not at auto.offset.reset.
        let mut b = Consumer::new(manual.build().unwrap()).await.unwrap();
        b.assign(both.clone()).unwrap();
        assert_eq!(b.position(&t0).await.unwrap(), 9);
        let first = first_offsets(&mut b, 2).await;
        assert_eq!(first.into_iter().collect::<Vec<_>>(), vec![(0, 9), (1, 12)]);
        b.close().await;

        // Auto-commit (on its interval, and on close) commits what poll returned.
        let auto = config(cluster)
            .group_id(&group)
            .set("auto.commit.interval.ms", "200")
            .unwrap();
        let mut c = Consumer::new(auto.build().unwrap()).await.unwrap();
        c.assign(both.clone()).unwrap();
        let got = consume_n(&mut c, 11 + 8).await;
        assert_eq!(got.len(), 19, "from 9 and 12 to the ends");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let _ = c.poll(Duration::from_millis(100)).await.unwrap();
            let committed = c.committed(&both).await.unwrap();
            if committed
                .values()
                .all(|o| o.as_ref().map(|o| o.offset) == Some(20))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "auto-commit: {committed:?}"
            );
        }
        // Close commits the positions, which a seek moved back (as Java's close with auto-commit).
        c.seek(&t0, 15).unwrap();
        c.close().await;
        let check = Consumer::new(config(cluster).group_id(&group).build().unwrap())
            .await
            .unwrap();
        let committed = check.committed(&both).await.unwrap();
        assert_eq!(
            committed[&t0].as_ref().map(|o| o.offset),
            Some(15),
            "committed on close"
        );
        check.close().await;
    });
}

/// While the group has an active subscribed member, the coordinator refuses commits without
/// membership: a failed commit naming the partition and the coordinator's error, not a retry loop.
#[test]
fn commits_without_membership_are_refused_while_the_group_is_active() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("assign-active");
    let group = cluster.unique_topic("assign-active-group");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let t0 = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        let mut member = Consumer::new(config(cluster).group_id(&group).build().unwrap())
            .await
            .unwrap();
        member.subscribe([topic.clone()]).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while member.assignment().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "member joined");
            let _ = member.poll(Duration::from_millis(100)).await.unwrap();
        }
        let manual = config(cluster)
            .group_id(&group)
            .set("enable.auto.commit", "false")
            .unwrap();
        let mut outsider = Consumer::new(manual.build().unwrap()).await.unwrap();
        outsider.assign([t0.clone()]).unwrap();
        let err = outsider
            .commit_sync(Some(vec![(t0.clone(), kafkaroo::OffsetAndMetadata::new(3))]))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Commit { failed, .. } if failed == &vec![t0.clone()])
                && (text.contains("UNKNOWN_MEMBER_ID") || text.contains("ILLEGAL_GENERATION")),
            "{err}"
        );
        outsider.close().await;
        member.close().await;
    });
}
