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

/// The first error `poll` returns (within [`WAIT`]); it must be fatal.
async fn fatal_error(c: &mut Consumer) -> kafkaroo::Error {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no error from poll");
        if let Err(e) = c.poll(Duration::from_millis(100)).await {
            assert!(e.is_fatal(), "{e:?}");
            return e;
        }
    }
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
            let error = fatal_error(&mut c).await;
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

/// Polls `c` until its assignment is `expected` and every partition in `counts` delivered that many
/// records (recorded in `got` as offsets per partition); returns how long it took.
async fn poll_until_assigned_and_read(
    c: &mut Consumer,
    got: &mut BTreeMap<TopicPartition, Vec<i64>>,
    expected: &BTreeSet<TopicPartition>,
    counts: &BTreeMap<TopicPartition, usize>,
) -> Duration {
    let started = Instant::now();
    loop {
        let assigned: BTreeSet<TopicPartition> = c.assignment().into_iter().collect();
        let read = counts.iter().all(|(tp, n)| got.get(tp).map_or(0, Vec::len) >= *n);
        if assigned == *expected && read {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WAIT,
            "assignment {assigned:?}, expected {expected:?}; read {got:?}; {:?}",
            c.group_state()
        );
        let batch = c.poll(Duration::from_millis(100)).await.expect("poll");
        for (tp, records) in batch.partitions() {
            got.entry(tp.clone())
                .or_default()
                .extend(records.iter().map(|r| r.offset()));
        }
    }
}

/// `subscribe_broker_regex` on Kafka 4.x: the coordinator resolves the expression (RE2/J, whole
/// names), assigns the matching topics' partitions and only their records arrive; a matching topic
/// created later joins the assignment once the coordinator resolves the expression again (the test
/// brokers set `group.consumer.regex.refresh.interval.ms` to its minimum, 10 s); an expression the
/// coordinator cannot compile stops the member with INVALID_REGULAR_EXPRESSION.
#[test]
fn the_coordinator_resolves_a_regex_subscription() {
    let cluster = Cluster::shared();
    let version = cluster.version().to_owned();
    if version.starts_with("3.") {
        println!(
            "SKIPPED: Kafka {version} has no consumer group protocol (ConsumerGroupHeartbeat v1 carries the regex)"
        );
        return;
    }
    let prefix = cluster.unique_topic("rx");
    let topic = |suffix: &str| format!("{prefix}-{suffix}");
    let tp = |suffix: &str, p: i32| TopicPartition::new(topic(suffix), p);
    for (suffix, partitions) in [("orders", 2), ("payments", 1), ("audit", 1)] {
        cluster
            .create_topic(&topic(suffix), partitions, 1, &[])
            .expect("topic created");
    }
    let produce = |suffix: &str, partition: i32, n: usize| {
        let records = (0..n)
            .map(|i| TestRecord::new(format!("k{i}"), format!("v{i}")))
            .collect();
        cluster
            .produce(&ProduceRequest::new(topic(suffix), records).partition(partition))
            .expect("records produced");
    };
    for (suffix, partition) in [("orders", 0), ("orders", 1), ("payments", 0), ("audit", 0)] {
        produce(suffix, partition, 10);
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let group = format!("kip848-regex-{}", fastrand::u32(..));
        let mut c = Consumer::new(config(cluster, &group))
            .await
            .expect("consumer connects");
        c.subscribe_broker_regex(&format!("{prefix}-(orders|payments).*"))
            .expect("subscribe");
        let mut got = BTreeMap::new();
        let first: BTreeSet<TopicPartition> = [tp("orders", 0), tp("orders", 1), tp("payments", 0)].into();
        let counts = first.iter().map(|p| (p.clone(), 10)).collect();
        let took = poll_until_assigned_and_read(&mut c, &mut got, &first, &counts).await;
        println!("regex resolved and the matching topics read in {took:?}");
        for p in &first {
            assert_eq!(
                got[p],
                (0..10).collect::<Vec<i64>>(),
                "{p}: each record once, in order"
            );
        }
        assert!(
            !got.contains_key(&tp("audit", 0)),
            "audit does not match: {got:?}"
        );

        cluster
            .create_topic(&topic("orders-late"), 1, 1, &[])
            .expect("topic created");
        produce("orders-late", 0, 5);
        let mut second = first.clone();
        second.insert(tp("orders-late", 0));
        let counts = [(tp("orders-late", 0), 5)].into();
        let took = poll_until_assigned_and_read(&mut c, &mut got, &second, &counts).await;
        println!("a new matching topic joined and was read in {took:?}");
        assert_eq!(got[&tp("orders-late", 0)], (0..5).collect::<Vec<i64>>());
        assert!(!got.contains_key(&tp("audit", 0)));
        c.close().await;

        let mut bad = Consumer::new(config(cluster, &format!("{group}-bad")))
            .await
            .expect("consumer connects");
        bad.subscribe_broker_regex("orders-(")
            .expect("checked by the coordinator");
        let error = fatal_error(&mut bad).await;
        let text = error.to_string();
        assert!(
            text.contains("INVALID_REGULAR_EXPRESSION") && text.contains("orders-("),
            "{text}"
        );
    });
}
