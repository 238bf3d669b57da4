//! `kafkaroo::Consumer` with `group.protocol=consumer` against a real broker (issue 13): two members
//! share a topic, the broker moves partitions with each member's `on_revoked` before the other's
//! `on_assigned`, every record is delivered exactly once, and the commits (with the member epoch)
//! land. Kafka 3.x disables the protocol: there the test asserts the clear fatal error instead and
//! prints a SKIPPED line for the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, MemberState, RebalanceListener, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

const WAIT: Duration = Duration::from_secs(90);
const RECORDS: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Assigned(char, Vec<TopicPartition>),
    GaveUp(char, Vec<TopicPartition>),
    Record(char, TopicPartition, i64),
}

type Timeline = Arc<Mutex<Vec<Event>>>;

struct Recorder(char, Timeline);

impl RebalanceListener for Recorder {
    fn on_assigned(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::Assigned(self.0, p.to_vec()));
    }
    fn on_revoked(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::GaveUp(self.0, p.to_vec()));
    }
    fn on_lost(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::GaveUp(self.0, p.to_vec()));
    }
}

fn config(cluster: &Cluster, group: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .group_id(group)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(20)
        .set("group.protocol", "consumer")
        .and_then(|b| b.set("enable.auto.commit", "true"))
        .and_then(|b| b.set("auto.commit.interval.ms", "500"))
        .expect("valid properties")
        .build()
        .expect("valid config")
}

async fn member(cluster: &Cluster, group: &str, topic: &str, who: char, t: &Timeline) -> Consumer {
    let mut c = Consumer::new(config(cluster, group))
        .await
        .expect("consumer connects");
    c.subscribe_with_listener([topic], Recorder(who, t.clone()))
        .expect("subscribe");
    c
}

async fn poll_into(c: &mut Consumer, who: char, t: &Timeline) {
    let batch = c.poll(Duration::from_millis(50)).await.expect("poll");
    let mut t = t.lock().unwrap();
    for (tp, records) in batch.partitions() {
        t.extend(records.iter().map(|r| Event::Record(who, tp.clone(), r.offset())));
    }
}

fn delivered(t: &Timeline) -> usize {
    let t = t.lock().unwrap();
    t.iter()
        .filter_map(|e| match e {
            Event::Record(_, tp, o) => Some((tp.clone(), *o)),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .len()
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable) && c.assignment().len() == n
}

/// No partition owned by two members, no record handed out without ownership or twice; returns the
/// next offset per partition (what the commits must reach).
fn replay(t: &[Event]) -> BTreeMap<TopicPartition, i64> {
    let mut owner: BTreeMap<&TopicPartition, char> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut next = BTreeMap::new();
    for e in t {
        match e {
            Event::Assigned(who, ps) => {
                for p in ps {
                    let other = owner.insert(p, *who);
                    assert!(
                        other.is_none_or(|o| o == *who),
                        "{p} assigned to {who} while {other:?} owns it: {t:?}"
                    );
                }
            }
            Event::GaveUp(who, ps) => {
                for p in ps {
                    assert_eq!(
                        owner.remove(p),
                        Some(*who),
                        "{who} gave up {p} it did not own: {t:?}"
                    );
                }
            }
            Event::Record(who, p, o) => {
                assert_eq!(
                    owner.get(p),
                    Some(who),
                    "{who} delivered {p}@{o} without owning it"
                );
                assert!(seen.insert((p.clone(), *o)), "{p}@{o} delivered twice: {t:?}");
                next.insert(p.clone(), o + 1);
            }
        }
    }
    next
}

#[test]
fn kafkaroo_members_share_a_topic_with_the_consumer_protocol() {
    let cluster = Cluster::shared();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let topic = cluster.unique_topic("kip848-facade");
    cluster.create_topic(&topic, 4, 1, &[]).expect("topic created");
    let group = format!("kip848-facade-{}", fastrand::u32(..));
    let version = cluster.version().to_owned();

    if version.starts_with("3.") {
        // Kafka 3.9 lists ConsumerGroupHeartbeat but has the protocol disabled: a clear fatal error.
        runtime.block_on(async {
            let t: Timeline = Arc::default();
            let mut c = member(cluster, &group, &topic, 'a', &t).await;
            let deadline = Instant::now() + WAIT;
            let error = loop {
                assert!(Instant::now() < deadline, "no error from poll on Kafka {version}");
                if let Err(e) = c.poll(Duration::from_millis(100)).await {
                    break e;
                }
            };
            assert!(error.is_fatal(), "{error:?}");
            assert!(error.to_string().contains("group.protocol=classic"), "{error}");
        });
        println!(
            "SKIPPED: Kafka {version} disables group.protocol=consumer; asserted the clear error instead"
        );
        return;
    }

    let records: Vec<TestRecord> = (0..RECORDS)
        .map(|i| TestRecord::new(format!("k{i}"), format!("v{i}")))
        .collect();
    cluster
        .produce(&ProduceRequest::new(&topic, records))
        .expect("records produced");

    runtime.block_on(async {
        let t: Timeline = Arc::default();
        let mut a = member(cluster, &group, &topic, 'a', &t).await;
        let deadline = Instant::now() + WAIT;
        while !(stable_with(&a, 4) && delivered(&t) > 0) {
            assert!(
                Instant::now() < deadline,
                "a never consumed: {:?}",
                a.group_state()
            );
            poll_into(&mut a, 'a', &t).await;
        }
        let state = a.group_state().expect("subscribed");
        assert!(state.generation > 0, "a member epoch: {state:?}");

        let mut b = member(cluster, &group, &topic, 'b', &t).await;
        let deadline = Instant::now() + WAIT;
        while !(stable_with(&a, 2) && stable_with(&b, 2) && delivered(&t) == RECORDS) {
            assert!(
                Instant::now() < deadline,
                "no 2/2 split with everything delivered ({} of {RECORDS}): {:?} {:?}",
                delivered(&t),
                a.group_state(),
                b.group_state()
            );
            poll_into(&mut a, 'a', &t).await;
            poll_into(&mut b, 'b', &t).await;
        }
        replay(&t.lock().unwrap());

        // b leaves: its partitions reach a only after b's on_revoked.
        b.close().await;
        let deadline = Instant::now() + WAIT;
        while !stable_with(&a, 4) {
            assert!(
                Instant::now() < deadline,
                "a did not take over: {:?}",
                a.group_state()
            );
            poll_into(&mut a, 'a', &t).await;
        }
        a.close().await;
        let next = replay(&t.lock().unwrap());

        // Every position was committed (auto-commit, commit on revoke, close).
        let reader = Consumer::new(config(cluster, &group))
            .await
            .expect("consumer connects");
        let partitions: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new(&topic, p)).collect();
        let committed = reader.committed(&partitions).await.expect("committed offsets");
        for p in &partitions {
            let got = committed.get(p).cloned().flatten().map(|o| o.offset);
            assert_eq!(got, next.get(p).copied(), "committed offset of {p}");
        }
    });
}
