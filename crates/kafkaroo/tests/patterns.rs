//! `kafkaroo::patterns` against the real broker: a group member processes a topic holding good,
//! poison, flaky (fail twice, then succeed) and hopeless (always fail, transient) records through
//! `FailureHandling`. Checked: every good and flaky record is processed exactly once and in order per
//! partition; every poison and hopeless record is in the dead-letter topic once, with its key, value,
//! original headers and the failure headers (topic, partition, offset, error class and message,
//! attempts, group); the committed offsets reach the end of every partition; a restarted member of
//! the same group gets nothing again.

#![cfg(feature = "producer")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafkaroo::patterns::{DeadLetters, FailureHandling, RetryPolicy};
use kafkaroo::producer::{Producer, ProducerConfig};
use kafkaroo::{Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 12;

/// Record `i` of partition `p`: every 4th is poison, every 5th flaky, every 7th hopeless.
fn value(p: i32, i: usize) -> String {
    let kind = if i % 4 == 1 {
        "poison"
    } else if i % 5 == 2 {
        "flaky"
    } else if i % 7 == 3 {
        "hopeless"
    } else {
        "good"
    };
    format!("{kind}-p{p}-{i}")
}

fn member_config(cluster: &Cluster, group: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .group_id(group)
        .set("enable.auto.commit", "false")
        .and_then(|b| b.set("auto.offset.reset", "earliest"))
        .and_then(|b| b.set("max.poll.records", "5"))
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn poison_and_exhausted_records_reach_the_dead_letter_topic_and_nothing_is_lost() {
    let cluster = Cluster::shared();
    common::init_tracing();
    let topic = cluster.unique_topic("patterns");
    let dlt = format!("{topic}.dlt");
    cluster.create_topic(&topic, PARTITIONS, 1, &[]).unwrap();
    cluster.create_topic(&dlt, 1, 1, &[]).unwrap();
    for p in 0..PARTITIONS {
        let records = (0..PER_PARTITION)
            .map(|i| TestRecord::new(format!("k{i}"), value(p, i)).with_header("trace", Some(b"t-1")))
            .collect();
        cluster
            .produce(&ProduceRequest::new(&topic, records).partition(p))
            .unwrap();
    }
    let group = cluster.unique_topic("patterns-group");

    common::runtime().block_on(async {
        let producer_config =
            ProducerConfig::from_properties([("bootstrap.servers", cluster.bootstrap())]).unwrap();
        let producer = Producer::new(producer_config).await.unwrap();
        let dead_letters = DeadLetters::new(producer, dlt.clone(), Some(group.clone()));
        let policy = RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        };
        let mut handling = FailureHandling::new(dead_letters, common::classify, policy);

        let mut consumer = Consumer::new(member_config(cluster, &group)).await.unwrap();
        consumer.subscribe([topic.as_str()]).unwrap();
        let mut processed: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        let mut tries: HashMap<String, u32> = HashMap::new();
        let expected_processed = (0..PARTITIONS)
            .flat_map(|p| (0..PER_PARTITION).map(move |i| value(p, i)))
            .filter(|v| v.starts_with("good") || v.starts_with("flaky"))
            .count();
        let expected_dead = PARTITIONS as usize * PER_PARTITION - expected_processed;
        common::handle_until(
            &mut handling,
            &mut consumer,
            (expected_processed, expected_dead),
            Duration::from_secs(60),
            async |record| {
                let v = String::from_utf8(record.value().unwrap().to_vec()).unwrap();
                let n = tries.entry(v.clone()).or_default();
                *n += 1;
                match v.split('-').next().unwrap() {
                    "poison" => Err(common::Failure::Poison(v)),
                    "hopeless" => Err(common::Failure::Transient(v)),
                    "flaky" if *n < 3 => Err(common::Failure::Transient(v)),
                    _ => {
                        processed.entry(record.partition()).or_default().push(v);
                        Ok(())
                    }
                }
            },
        )
        .await;

        // Each processed once, in order per partition.
        for p in 0..PARTITIONS {
            let want: Vec<String> = (0..PER_PARTITION)
                .map(|i| value(p, i))
                .filter(|v| v.starts_with("good") || v.starts_with("flaky"))
                .collect();
            assert_eq!(
                processed.get(&p).cloned().unwrap_or_default(),
                want,
                "partition {p}"
            );
        }
        // Poison records tried once, hopeless and flaky three times.
        for (v, n) in &tries {
            let want = if v.starts_with("poison") || v.starts_with("good") {
                1
            } else {
                3
            };
            assert_eq!(*n, want, "{v}");
        }
        common::assert_committed(&consumer, &topic, PARTITIONS, PER_PARTITION as i64).await;
        handling
            .dead_letters()
            .producer()
            .close(Duration::from_secs(5))
            .await;
        consumer.close().await;

        // The dead letters, read back (no more than expected: none twice).
        let letters = common::read_back(cluster.bootstrap(), &dlt, expected_dead).await;
        common::check_dead_letters(&letters, &topic, &group, expected_dead);

        // A restarted member of the group starts at the committed end: nothing comes again.
        let parts: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(&topic, p)).collect();
        let mut again = Consumer::new(member_config(cluster, &group)).await.unwrap();
        again.subscribe([topic.as_str()]).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let batch = again.poll(Duration::from_millis(100)).await.unwrap();
            assert!(
                batch.is_empty(),
                "records again after a clean restart: {:?}",
                batch.iter().map(|r| r.offset()).collect::<Vec<_>>()
            );
            let caught_up = again.assignment().len() == PARTITIONS as usize
                && parts.iter().all(|tp| again.lag(tp) == Some(0));
            if caught_up {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the restarted member never caught up"
            );
        }
        again.close().await;
    });
}
