//! `kafkaroo::patterns::RetryTopics` against the real broker: one group member subscribed to a main
//! topic and its two retry topics (200 ms and 400 ms) processes good, poison, flaky (fail once or
//! twice, then succeed) and hopeless (always fail, transient) records, plus a retry record whose due
//! header is garbled. Checked: every good and flaky record is processed exactly once, none before
//! the due time its retry record carries, each retry record names its first consumption and its
//! attempt; every poison and hopeless record is in the dead-letter topic once, with its key, value,
//! original headers (no `kafkaroo.retry.*` ones) and failure headers naming the main topic's
//! partition and offset; the committed offsets reach the end of every topic's partitions.

#![cfg(feature = "producer")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkaroo::patterns::{DeadLetters, RetryTopics, retry_headers};
use kafkaroo::producer::{Producer, ProducerConfig};
use kafkaroo::{Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

const PARTITIONS: i32 = 3;
const RETRY_PARTITIONS: i32 = 2;
const PER_PARTITION: usize = 12;
const DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(400)];

/// Record `i` of partition `p`: every 4th is poison, every 5th flaky (failing once or twice), every
/// 7th hopeless.
fn value(p: i32, i: usize) -> String {
    let kind = if i % 4 == 1 {
        "poison"
    } else if i % 5 == 2 {
        if i.is_multiple_of(2) { "flaky1" } else { "flaky2" }
    } else if i % 7 == 3 {
        "hopeless"
    } else {
        "good"
    };
    format!("{kind}-p{p}-{i}")
}

fn kind(v: &str) -> &str {
    v.split('-').next().unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn retry_topics_delay_retries_without_blocking_and_dead_letter_the_rest() {
    let cluster = Cluster::shared();
    common::init_tracing();
    let topic = cluster.unique_topic("retry");
    let dlt = format!("{topic}.dlt");
    let retry: Vec<String> = (1..=DELAYS.len())
        .map(|n| kafkaroo::patterns::retry_topic(&topic, n))
        .collect();
    cluster.create_topic(&topic, PARTITIONS, 1, &[]).unwrap();
    for r in &retry {
        cluster.create_topic(r, RETRY_PARTITIONS, 1, &[]).unwrap();
    }
    cluster.create_topic(&dlt, 1, 1, &[]).unwrap();
    for p in 0..PARTITIONS {
        let records = (0..PER_PARTITION)
            .map(|i| TestRecord::new(format!("k{i}"), value(p, i)).with_header("trace", Some(b"t-1")))
            .collect();
        cluster
            .produce(&ProduceRequest::new(&topic, records).partition(p))
            .unwrap();
    }
    // A retry record someone wrote with a garbled due time: processed at once.
    let garbled = TestRecord::new("kg", "garbled-p0-0").with_header(retry_headers::DUE, Some(b"soon"));
    cluster
        .produce(&ProduceRequest::new(&retry[0], vec![garbled]).partition(0))
        .unwrap();
    let group = cluster.unique_topic("retry-group");

    common::runtime().block_on(async {
        let producer_config =
            ProducerConfig::from_properties([("bootstrap.servers", cluster.bootstrap())]).unwrap();
        let producer = Producer::new(producer_config).await.unwrap();
        let dead_letters = DeadLetters::new(producer, dlt.clone(), Some(group.clone()));
        let mut handling = RetryTopics::new(dead_letters, common::classify, DELAYS);
        assert_eq!(handling.topics(&topic), retry);

        let config = ConsumerConfig::builder()
            .bootstrap_servers(cluster.bootstrap())
            .group_id(&group)
            .set("enable.auto.commit", "false")
            .and_then(|b| b.set("auto.offset.reset", "earliest"))
            .and_then(|b| b.set("max.poll.records", "5"))
            .unwrap()
            .build()
            .unwrap();
        let mut consumer = Consumer::new(config).await.unwrap();
        let mut subscription = vec![topic.clone()];
        subscription.extend(retry.iter().cloned());
        consumer
            .subscribe(subscription.iter().map(String::as_str))
            .unwrap();

        let mut processed: BTreeMap<String, u32> = BTreeMap::new();
        let mut tries: HashMap<String, u32> = HashMap::new();
        let all: Vec<String> = (0..PARTITIONS)
            .flat_map(|p| (0..PER_PARTITION).map(move |i| value(p, i)))
            .collect();
        let expected_processed = 1 + all
            .iter()
            .filter(|v| kind(v) == "good" || kind(v).starts_with("flaky"))
            .count();
        let expected_dead = all.len() + 1 - expected_processed;
        let (mut done, mut dead, mut delayed) = (0, 0, 0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while done < expected_processed || dead < expected_dead || handling.waiting() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "processed {done}/{expected_processed}, dead {dead}/{expected_dead}"
            );
            handling.resume_due(&mut consumer).unwrap();
            let batch = consumer.poll(Duration::from_millis(50)).await.unwrap();
            let handled = handling
                .handle(&mut consumer, &batch, async |record| {
                    let at = now_ms();
                    let v = String::from_utf8(record.value().unwrap().to_vec()).unwrap();
                    let h = common::text_headers(record);
                    let stage = retry
                        .iter()
                        .position(|t| t == record.topic())
                        .map_or(0, |s| s + 1);
                    if kind(&v) == "garbled" {
                        *processed.entry(v).or_default() += 1;
                        *tries.entry("garbled-p0-0".to_owned()).or_default() += 1;
                        return Ok(());
                    }
                    assert_eq!(h[0], ("trace".to_owned(), "t-1".to_owned()), "{v}: {h:?}");
                    if stage > 0 {
                        let due: i64 = common::header(&h, retry_headers::DUE).unwrap().parse().unwrap();
                        assert!(at >= due, "{v} processed at {at}, due at {due}");
                        let (p, i) = common::place(&v);
                        assert_eq!(
                            common::header(&h, retry_headers::ATTEMPT),
                            Some((stage + 1).to_string())
                        );
                        assert_eq!(
                            common::header(&h, retry_headers::ORIGINAL_TOPIC).as_deref(),
                            Some(topic.as_str())
                        );
                        assert_eq!(
                            common::header(&h, retry_headers::ORIGINAL_PARTITION),
                            Some(p.to_string())
                        );
                        assert_eq!(
                            common::header(&h, retry_headers::ORIGINAL_OFFSET),
                            Some(i.to_string())
                        );
                        assert_eq!(record.key(), Some(format!("k{i}").as_bytes()));
                        let n = h
                            .iter()
                            .filter(|(k, _)| k.starts_with(retry_headers::PREFIX))
                            .count();
                        assert_eq!(n, 7, "one set of retry headers: {h:?}");
                    }
                    let n = tries.entry(v.clone()).or_default();
                    *n += 1;
                    match kind(&v) {
                        "poison" => Err(common::Failure::Poison(v)),
                        "hopeless" => Err(common::Failure::Transient(v)),
                        "flaky1" if *n < 2 => Err(common::Failure::Transient(v)),
                        "flaky2" if *n < 3 => Err(common::Failure::Transient(v)),
                        _ => {
                            *processed.entry(v).or_default() += 1;
                            Ok(())
                        }
                    }
                })
                .await
                .unwrap();
            done += handled.processed;
            dead += handled.dead_lettered;
            delayed += handled.delayed;
            consumer.commit_stored().await.unwrap();
        }
        assert!(delayed > 0, "some retry record was not due when polled");

        // Each good and flaky record processed once; poison tried once, flaky1 twice, flaky2 and
        // hopeless three times (main topic and both retry topics).
        for v in all.iter().chain(["garbled-p0-0".to_owned()].iter()) {
            let (want_done, want_tries) = match kind(v) {
                "good" | "garbled" => (1, 1),
                "poison" => (0, 1),
                "flaky1" => (1, 2),
                "flaky2" => (1, 3),
                _ => (0, 3),
            };
            assert_eq!(processed.get(v).copied().unwrap_or(0), want_done, "{v} processed");
            assert_eq!(tries.get(v).copied(), Some(want_tries), "{v} tried");
        }

        // Committed at the end of every partition of every topic.
        let mut parts: Vec<TopicPartition> =
            (0..PARTITIONS).map(|p| TopicPartition::new(&topic, p)).collect();
        for r in &retry {
            parts.extend((0..RETRY_PARTITIONS).map(|p| TopicPartition::new(r, p)));
        }
        let committed = consumer.committed(&parts).await.unwrap();
        let ends = consumer.end_offsets(&parts).await.unwrap();
        for tp in &parts {
            // A partition no record went to has nothing to commit.
            let want = (ends[tp] > 0).then_some(ends[tp]);
            assert_eq!(committed[tp].as_ref().map(|o| o.offset), want, "{tp}");
        }
        let retried: i64 = parts[PARTITIONS as usize..].iter().map(|tp| ends[tp]).sum();
        let flaky = all.iter().filter(|v| kind(v).starts_with("flaky")).count();
        let hopeless = all.iter().filter(|v| kind(v) == "hopeless").count();
        let flaky2 = all.iter().filter(|v| kind(v) == "flaky2").count();
        assert_eq!(
            retried as usize,
            1 + flaky + flaky2 + 2 * hopeless,
            "retry records written"
        );
        handling
            .dead_letters()
            .producer()
            .close(Duration::from_secs(5))
            .await;
        consumer.close().await;

        // The dead letters, read back (no more than expected: none twice).
        let letters = common::read_back(cluster.bootstrap(), &dlt, expected_dead).await;
        common::check_dead_letters(&letters, &topic, &group, expected_dead);
    });
}
