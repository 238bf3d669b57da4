//! The consumer's metrics as Prometheus scrapes them (`metrics-exporter-prometheus` over HTTP, as
//! `crates/kafkaroo/examples/prometheus.rs` serves them), scraped again and again while a second member
//! joins a group and the partitions move: every scrape parses and carries the families the Grafana
//! dashboard (`docs/grafana/kafkaroo-consumer.json`) queries, the numbers agree with the members (lag
//! per partition, assigned partitions, rebalances, records consumed), and a partition that moved away
//! reads lag 0 under its former owner.
//!
//! The exporter is the process's global recorder, which is why this is its own test binary.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{Delivered, WAIT, config, produce, tp};
use kafkaroo::{Consumer, MemberState, OffsetAndMetadata};
use kafkaroo_testkit::Cluster;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::time::Instant;

/// `GET /metrics`, the body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("the exporter listens");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// Sample lines `name{labels} value` as (name, labels, value); `# HELP`/`# TYPE` lines skipped. A line
/// that does not parse fails the test.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let rest = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                    let labels = rest
                        .split("\",")
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv
                                .split_once("=\"")
                                .unwrap_or_else(|| panic!("bad label in {line:?}"));
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            (name.to_owned(), labels, value)
        })
        .collect()
}

/// The value of `name` for `client` with `extra` labels (`None` if absent).
fn value(text: &str, name: &str, client: &str, extra: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, labels, _)| {
            n == name
                && labels.get("messaging_client_id").map(String::as_str) == Some(client)
                && extra
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
}

/// The sum of the series of `name` for `client` (`None` if there is none).
fn total(text: &str, name: &str, client: &str) -> Option<f64> {
    let values: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(n, labels, _)| {
            n == name && labels.get("messaging_client_id").map(String::as_str) == Some(client)
        })
        .map(|(_, _, v)| v)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The lag gauge of partition `partition` of topic `t` for `client`.
fn lag(text: &str, client: &str, partition: i32) -> Option<f64> {
    let p = partition.to_string();
    let labels = [
        ("messaging_destination_name", "t"),
        ("messaging_destination_partition_id", p.as_str()),
    ];
    value(text, "messaging_kafka_consumer_lag", client, &labels)
}

/// The metric names the dashboard's queries use.
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/grafana/kafkaroo-consumer.json"))
            .expect("the dashboard is JSON");
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("messaging_")
                    && !word.starts_with("messaging_client_id")
                    && !word.starts_with("messaging_destination")
                {
                    names.insert(word.to_owned());
                }
            }
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    names
}

fn member(cluster: &Cluster, client: &str) -> kafkaroo::ConsumerConfigBuilder {
    config(cluster)
        .group_id("scraped")
        .client_id(client)
        .set("heartbeat.interval.ms", "100")
        .and_then(|b| b.set("enable.auto.commit", "true"))
        .and_then(|b| b.set("auto.commit.interval.ms", "100"))
        .and_then(|b| b.set("partition.assignment.strategy", "cooperative-sticky"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_during_a_rebalance_agree_with_the_members() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .expect("exporter installed");

    let cluster = Cluster::builder().topic("t", 4).build().await.unwrap();
    for p in 0..4 {
        produce(&cluster, "t", p, 5);
    }
    let all: BTreeSet<_> = (0..4).map(|p| tp("t", p)).collect();
    let mut a = Consumer::new(member(&cluster, "scraped-a").build().unwrap())
        .await
        .unwrap();
    a.subscribe(["t"]).unwrap();
    let mut got_a = Delivered::default();
    got_a
        .poll_until(&mut a, "a: every record", |d| {
            all.iter().all(|tp| d.count(tp) == 5)
        })
        .await;

    let text = scrape(addr);
    let wanted = dashboard_metrics();
    assert_eq!(
        value(
            &text,
            "messaging_kafka_consumer_assigned_partitions",
            "scraped-a",
            &[]
        ),
        Some(4.0)
    );
    for p in 0..4 {
        assert_eq!(lag(&text, "scraped-a", p), Some(0.0), "{text}");
    }

    // A second member joins: scrape while the group rebalances until both are stable with two each.
    let mut b = Consumer::new(member(&cluster, "scraped-b").build().unwrap())
        .await
        .unwrap();
    b.subscribe(["t"]).unwrap();
    let mut got_b = Delivered::default();
    let mut scrapes_while_rebalancing = 0;
    let deadline = Instant::now() + WAIT;
    loop {
        let stable = |c: &Consumer| c.group_state().is_some_and(|s| s.state == MemberState::Stable);
        let done = stable(&a) && stable(&b) && a.assignment().len() == 2 && b.assignment().len() == 2;
        let text = scrape(addr);
        let _ = samples(&text); // every scrape parses
        if done {
            break;
        }
        scrapes_while_rebalancing += 1;
        assert!(
            Instant::now() < deadline,
            "no stable 2+2 assignment: {:?} {:?}",
            a.assignment(),
            b.assignment()
        );
        got_a.poll_once(&mut a, Duration::from_millis(20)).await;
        got_b.poll_once(&mut b, Duration::from_millis(20)).await;
    }
    assert!(
        scrapes_while_rebalancing > 0,
        "no scrape happened during the rebalance"
    );

    // A commit of a partition `a` no longer owns is refused and counted by its reason.
    let not_owned = b.assignment()[0].clone();
    let refused = a
        .commit_sync(Some(vec![(not_owned, OffsetAndMetadata::new(1))]))
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Everything `a` consumed is committed: its lag from the committed offsets is 0.
    a.commit_sync(None).await.expect("a commits");

    // The final scrape.
    let text = scrape(addr);
    for kept in a.assignment() {
        let p = kept.partition.to_string();
        let labels = [
            ("messaging_destination_name", "t"),
            ("messaging_destination_partition_id", p.as_str()),
        ];
        assert_eq!(
            value(
                &text,
                "messaging_kafka_consumer_committed_lag",
                "scraped-a",
                &labels
            ),
            Some(0.0),
            "{kept}: {text}"
        );
    }
    let present: BTreeSet<String> = samples(&text).into_iter().map(|(n, _, _)| n).collect();
    for name in &wanted {
        assert!(
            present.contains(name),
            "the dashboard queries {name}, not in the scrape:\n{text}"
        );
    }
    assert_eq!(
        value(
            &text,
            "messaging_kafka_consumer_assigned_partitions",
            "scraped-a",
            &[]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "messaging_kafka_consumer_assigned_partitions",
            "scraped-b",
            &[]
        ),
        Some(2.0)
    );
    // Rebalances as each member counts them (a cooperative join takes the newcomer two rounds).
    for (c, client) in [(&a, "scraped-a"), (&b, "scraped-b")] {
        let counted = c.statistics().group.expect("subscribed").rebalances as f64;
        assert!(counted >= 1.0);
        assert_eq!(
            total(&text, "messaging_kafka_consumer_rebalances", client),
            Some(counted),
            "{client}: {text}"
        );
    }
    for moved in b.assignment() {
        assert_eq!(
            lag(&text, "scraped-a", moved.partition),
            Some(0.0),
            "{moved} moved from a"
        );
    }
    let failures = value(
        &text,
        "messaging_kafka_consumer_commit_failures",
        "scraped-a",
        &[("error_type", "not_owned")],
    );
    assert_eq!(failures, Some(1.0), "{text}");
    let consumed = value(&text, "messaging_client_consumed_messages", "scraped-a", &[]).unwrap_or_default()
        + value(&text, "messaging_client_consumed_messages", "scraped-b", &[]).unwrap_or_default();
    let delivered: usize = all.iter().map(|tp| got_a.count(tp) + got_b.count(tp)).sum();
    assert_eq!(consumed as usize, delivered, "{text}");
    a.close().await;
    b.close().await;
}
