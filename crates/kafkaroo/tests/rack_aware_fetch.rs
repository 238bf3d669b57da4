//! Fetching from the closest replica (KIP-392) on a real three-node KRaft cluster: each node in its own
//! rack (`broker.rack`), replicas chosen by Kafka's `RackAwareReplicaSelector`. A consumer whose
//! `client.rack` is a follower's rack fetches from that follower (counted from the consumer's
//! `kafka.consumer.fetch` spans, per `kafka.broker`); when that follower stops, the consumer goes back
//! to the leader. Every record arrives once, in order.
//!
//! The span counter is installed as the global subscriber, which is why this is its own test binary.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ClusterOptions, ProduceRequest, TestRecord};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

/// How many `kafka.consumer.fetch` spans named each broker.
#[derive(Clone, Default)]
struct FetchesPerBroker(Arc<Mutex<BTreeMap<i64, usize>>>);

impl FetchesPerBroker {
    fn to(&self, broker: i32) -> usize {
        let counts = self.0.lock().unwrap();
        counts.get(&i64::from(broker)).copied().unwrap_or(0)
    }
}

/// The `kafka.broker` field of a span.
struct BrokerField(Option<i64>);

impl Visit for BrokerField {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "kafka.broker" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for FetchesPerBroker {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "kafka.consumer.fetch" {
            return;
        }
        let mut broker = BrokerField(None);
        attrs.record(&mut broker);
        if let Some(b) = broker.0 {
            *self.0.lock().unwrap().entry(b).or_default() += 1;
        }
    }
}

fn records(range: std::ops::Range<usize>) -> Vec<TestRecord> {
    range
        .map(|i| TestRecord::new(format!("k{i}"), format!("value-{i}")))
        .collect()
}

#[test]
fn a_consumer_in_a_followers_rack_fetches_from_that_follower() {
    let fetches = FetchesPerBroker::default();
    tracing_subscriber::registry().with(fetches.clone()).init();
    let selector = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        broker_configs: vec![("replica.selector.class".into(), selector.into())],
        node_configs: (0..3)
            .map(|i| vec![("broker.rack".into(), format!("rack-{i}"))])
            .collect(),
        ..ClusterOptions::default()
    })
    .expect("three-node cluster");
    let topic = cluster.unique_topic("rack-aware");
    cluster
        .create_topic(&topic, 1, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let produce = |range: std::ops::Range<usize>| {
        let req = ProduceRequest::new(&topic, records(range)).producer_config("acks", "all");
        cluster.produce(&req).unwrap();
    };
    produce(0..1000);
    let leader = cluster.leader_of(&topic, 0).unwrap();
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;

    let rt = common::runtime();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .max_poll_records(200)
        .set("client.rack", &format!("rack-{follower}"))
        .unwrap()
        .build()
        .unwrap();
    let mut consumer = rt.block_on(Consumer::new(config)).unwrap();
    consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
    let mut seen: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut poll_until = |consumer: &mut Consumer, total: usize| {
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < total {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out at {} records",
                    seen.len()
                );
                for r in consumer
                    .poll(Duration::from_millis(500))
                    .await
                    .expect("no error reaches poll")
                {
                    seen.push((r.offset(), r.value().unwrap().to_vec()));
                }
            }
        })
    };
    poll_until(&mut consumer, 1000);
    produce(1000..2000);
    poll_until(&mut consumer, 2000);
    let (at_follower, at_leader) = (fetches.to(follower), fetches.to(leader));
    eprintln!("fetches: leader {leader}: {at_leader}, follower {follower}: {at_follower}");
    assert!(at_leader >= 1, "the leader is asked first");
    assert!(
        at_follower > at_leader,
        "the follower in the consumer's rack serves: {at_follower} fetches vs {at_leader} at the leader"
    );
    assert_eq!(fetches.to(other), 0, "the replica in another rack is never asked");

    // The follower goes away: its connection fails, the leader serves (or names the other replica).
    cluster.stop_node(follower).unwrap();
    produce(2000..3000);
    poll_until(&mut consumer, 3000);
    rt.block_on(consumer.close());
    cluster.start_node(follower).unwrap();
    eprintln!(
        "after stopping the follower: leader {}, other {}",
        fetches.to(leader),
        fetches.to(other)
    );
    assert!(fetches.to(leader) > at_leader, "back at the leader");

    let offsets: Vec<i64> = seen.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (0..3000).collect::<Vec<i64>>(), "gap or duplicate");
    for (o, v) in &seen {
        assert_eq!(v, format!("value-{o}").as_bytes(), "offset {o}");
    }
}
