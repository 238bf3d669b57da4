//! `Consumer::subscribe_pattern` with both group protocols, and `subscribe_broker_regex` (resolved by
//! the KIP-848 coordinator), against the in-process cluster: the topics whose whole name matches are
//! assigned and only their records delivered; a topic created later joins the subscription (on a
//! metadata refresh, or when the coordinator resolves the regex again) and its records arrive; a
//! deleted one leaves it; an invalid expression is a configuration error, or the coordinator's
//! INVALID_REGULAR_EXPRESSION.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Delivered, WAIT, config, produce, tp};
use kafkaroo::{Consumer, Error, TopicPartition};
use kafkaroo_testkit::Cluster;
use tokio::time::Instant;

async fn cluster() -> Cluster {
    common::tracing();
    Cluster::builder()
        .topic("orders-eu", 2)
        .topic("orders-us", 1)
        .topic("payments", 1)
        .topic("old-orders-eu", 1)
        .consumer_protocol(true)
        .build()
        .await
        .unwrap()
}

fn assigned(c: &Consumer) -> BTreeSet<TopicPartition> {
    c.assignment().into_iter().collect()
}

fn set(partitions: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    partitions.iter().map(|(t, p)| tp(t, *p)).collect()
}

/// Polls (recording what arrives) until the assignment is `expected`.
async fn poll_until_assigned(c: &mut Consumer, got: &mut Delivered, expected: &BTreeSet<TopicPartition>) {
    let deadline = Instant::now() + WAIT;
    while assigned(c) != *expected {
        assert!(
            Instant::now() < deadline,
            "assignment {:?}, expected {expected:?}",
            assigned(c)
        );
        got.poll_once(c, Duration::from_millis(50)).await;
    }
}

/// Who matches the expression.
#[derive(Clone, Copy, PartialEq)]
enum Matcher {
    Client,
    Coordinator,
}

fn subscribe(c: &mut Consumer, matcher: Matcher, expression: &str) {
    match matcher {
        Matcher::Client => c.subscribe_pattern(expression).unwrap(),
        Matcher::Coordinator => c.subscribe_broker_regex(expression).unwrap(),
    }
}

async fn pattern_subscription(protocol: &str, matcher: Matcher) {
    let cluster = cluster().await;
    for (topic, partition) in [
        ("orders-eu", 0),
        ("orders-eu", 1),
        ("orders-us", 0),
        ("payments", 0),
        ("old-orders-eu", 0),
    ] {
        produce(&cluster, topic, partition, 3);
    }
    let mut c = Consumer::new(
        config(&cluster)
            .group_id(format!("pattern-{protocol}-{}", matcher as u8))
            .set("group.protocol", protocol)
            .and_then(|b| b.set("metadata.max.age.ms", "100"))
            .unwrap()
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    subscribe(&mut c, matcher, "orders-.*");

    let mut got = Delivered::default();
    let first = set(&[("orders-eu", 0), ("orders-eu", 1), ("orders-us", 0)]);
    poll_until_assigned(&mut c, &mut got, &first).await;
    got.poll_until(&mut c, "the matching topics' records", |d| {
        first.iter().all(|tp| d.count(tp) == 3)
    })
    .await;
    for other in [tp("payments", 0), tp("old-orders-eu", 0)] {
        assert_eq!(
            got.count(&other),
            0,
            "{protocol}: {other} does not match the whole name"
        );
    }

    // A new matching topic joins on a metadata refresh; its records arrive.
    cluster.create_topic("orders-asia", 1).unwrap();
    produce(&cluster, "orders-asia", 0, 2);
    let second = set(&[
        ("orders-asia", 0),
        ("orders-eu", 0),
        ("orders-eu", 1),
        ("orders-us", 0),
    ]);
    poll_until_assigned(&mut c, &mut got, &second).await;
    got.poll_count(&mut c, &tp("orders-asia", 0), 2).await;
    got.assert_exact(&tp("orders-asia", 0), 0..2);

    // A deleted one leaves.
    cluster.delete_topic("orders-us").unwrap();
    let third = set(&[("orders-asia", 0), ("orders-eu", 0), ("orders-eu", 1)]);
    poll_until_assigned(&mut c, &mut got, &third).await;
    for tp in &first {
        if tp.topic == "orders-eu" {
            got.assert_exact(tp, 0..3);
        }
    }
    let state = c.group_state().unwrap();
    assert!(state.generation > 0, "{protocol}: {state:?}");

    // Another pattern replaces the subscription.
    subscribe(&mut c, matcher, "pay.*");
    poll_until_assigned(&mut c, &mut got, &set(&[("payments", 0)])).await;
    got.poll_count(&mut c, &tp("payments", 0), 3).await;
    got.assert_exact(&tp("payments", 0), 0..3);
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_members_follow_the_topics_a_pattern_matches() {
    pattern_subscription("classic", Matcher::Client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_members_follow_the_topics_a_pattern_matches() {
    pattern_subscription("consumer", Matcher::Client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_members_follow_the_topics_the_coordinators_regex_matches() {
    pattern_subscription("consumer", Matcher::Coordinator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_the_coordinator_refuses_stops_the_member_with_its_error() {
    let cluster = cluster().await;
    let config = config(&cluster)
        .group_id("bad-broker-regex")
        .set("group.protocol", "consumer")
        .unwrap()
        .build()
        .unwrap();
    let mut c = Consumer::new(config).await.unwrap();
    // Not checked on the client: the coordinator's syntax (RE2/J) is the one that counts.
    c.subscribe_broker_regex("orders-(").unwrap();
    let deadline = Instant::now() + WAIT;
    let err = loop {
        assert!(Instant::now() < deadline, "no error from poll");
        match c.poll(Duration::from_millis(50)).await {
            Ok(batch) => assert!(batch.is_empty(), "records without a subscription"),
            Err(e) => break e,
        }
    };
    let text = err.to_string();
    assert!(
        text.contains("INVALID_REGULAR_EXPRESSION") && text.contains("orders-("),
        "{text}"
    );
    assert!(c.assignment().is_empty());
}

#[tokio::test]
async fn a_coordinator_regex_needs_the_consumer_protocol() {
    let cluster = cluster().await;
    let mut c = Consumer::new(config(&cluster).group_id("classic-regex").build().unwrap())
        .await
        .unwrap();
    let err = c.subscribe_broker_regex("orders-.*").unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("group.protocol=consumer"), "{err}");
    assert!(c.group_state().is_none(), "nothing joined");
}

#[tokio::test]
async fn an_invalid_pattern_is_a_configuration_error() {
    let cluster = cluster().await;
    let mut c = Consumer::new(config(&cluster).group_id("bad-pattern").build().unwrap())
        .await
        .unwrap();
    let err = c.subscribe_pattern("orders-(").unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("orders-("), "{err}");
    assert!(c.group_state().is_none(), "nothing joined");
}
