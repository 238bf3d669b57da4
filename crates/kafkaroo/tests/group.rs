//! Consumer groups against a real Apache Kafka broker: subscribe, rebalance listener, commits, resume
//! from committed offsets, a cooperative two-member rebalance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkaroo::{
    CommitHandle, Consumer, ConsumerConfig, Error, MemberState, OffsetAndMetadata, RebalanceListener,
    TopicPartition,
};
use kafkaroo_testcontainers::Cluster;

mod common;

use common::{produce, runtime};

fn cluster() -> &'static Cluster {
    common::init_tracing();
    Cluster::shared()
}

fn config(cluster: &Cluster, group: &str, auto_commit: bool) -> ConsumerConfig {
    common::group_config(cluster.bootstrap(), group, 6000, auto_commit)
}

/// Polls (each returning nothing) until the group's committed offsets of `partitions` are `offset`.
async fn poll_until_committed(c: &mut Consumer, partitions: &[TopicPartition], offset: i64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        assert!(c.poll(Duration::from_millis(200)).await.unwrap().is_empty());
        let committed = c.committed(partitions).await.unwrap();
        if partitions
            .iter()
            .all(|tp| committed[tp].as_ref().map(|o| o.offset) == Some(offset))
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {committed:?}");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Assigned,
    Revoked,
    Lost,
}

type Timeline = Arc<Mutex<Vec<(usize, Kind, Vec<TopicPartition>)>>>;

struct Recorder {
    member: usize,
    timeline: Timeline,
}

impl RebalanceListener for Recorder {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.timeline
            .lock()
            .unwrap()
            .push((self.member, Kind::Assigned, partitions.to_vec()));
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.timeline
            .lock()
            .unwrap()
            .push((self.member, Kind::Revoked, partitions.to_vec()));
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.timeline
            .lock()
            .unwrap()
            .push((self.member, Kind::Lost, partitions.to_vec()));
    }
}

/// `(member, partition, offset)` of every record handed out, in order.
type Seen = Arc<Mutex<Vec<(usize, TopicPartition, i64)>>>;

/// Two slow members of one group (made and subscribed by `member(index)`) poll until `total` records
/// were consumed between them; the second starts once the first consumed 100, so the rebalance happens
/// while the first is mid-way.
async fn two_slow_members<F, Fut>(total: usize, seen: &Seen, member: F) -> (Consumer, Consumer)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Consumer> + Send + 'static,
{
    let count = Arc::new(AtomicUsize::new(0));
    let spawn = |index: usize| {
        let (make, seen, count) = (member(index), seen.clone(), count.clone());
        tokio::spawn(async move {
            let mut c = make.await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while count.load(Ordering::SeqCst) < total && tokio::time::Instant::now() < deadline {
                let batch = c.poll(Duration::from_millis(100)).await.expect("poll");
                count.fetch_add(batch.len(), Ordering::SeqCst);
                seen.lock().unwrap().extend(
                    batch
                        .iter()
                        .map(|r| (index, TopicPartition::new(r.topic(), r.partition()), r.offset())),
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c
        })
    };
    let a = spawn(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::SeqCst) < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first member consumes nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = spawn(1);
    (a.await.unwrap(), b.await.unwrap())
}

/// Polls until `n` records arrived (or `within` passed); returns `(partition, offset)` of each.
async fn consume_n(consumer: &mut Consumer, n: usize, within: Duration) -> Vec<(TopicPartition, i64)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        let batch = consumer.poll(Duration::from_millis(200)).await.expect("poll");
        out.extend(
            batch
                .iter()
                .map(|r| (TopicPartition::new(r.topic(), r.partition()), r.offset())),
        );
    }
    out
}

/// Polls (handing nothing out) until the member is stable with `n` fetching partitions.
async fn wait_owned(consumer: &mut Consumer, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stable = consumer
            .group_state()
            .is_some_and(|s| s.state == MemberState::Stable);
        if stable && consumer.assignment().len() == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stable assignment of {n}: {:?} {:?}",
            consumer.group_state(),
            consumer.assignment()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn one_member_consumes_commits_and_a_successor_resumes() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-one");
    cluster.create_topic(&topic, 3, 1, &[]).unwrap();
    produce(cluster, &topic, 3, 20, "a");
    let group = cluster.unique_topic("g-one");
    let all: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
    rt.block_on(async {
        let timeline: Timeline = Arc::default();
        let mut c = Consumer::new(config(cluster, &group, false)).await.unwrap();
        c.subscribe_with_listener(
            [topic.clone()],
            Recorder {
                member: 0,
                timeline: timeline.clone(),
            },
        )
        .unwrap();
        let got = consume_n(&mut c, 60, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 60, "records");
        let unique: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(unique.len(), 60, "each record once");
        let assigned: BTreeSet<TopicPartition> = timeline
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.1 == Kind::Assigned)
            .flat_map(|e| e.2.clone())
            .collect();
        assert_eq!(assigned, all.iter().cloned().collect(), "listener saw all 3");
        let state = c.group_state().unwrap();
        assert_eq!(state.state, MemberState::Stable);
        assert!(state.generation >= 1 && !state.member_id.is_empty(), "{state:?}");

        c.commit_sync(None).await.unwrap();
        let committed = c.committed(&all).await.unwrap();
        for tp in &all {
            let pos = c.position(tp).await.unwrap();
            assert_eq!(pos, 20);
            let co = committed[tp].as_ref().expect("committed");
            assert_eq!(co.offset, pos, "{tp}");
            assert!(co.leader_epoch.is_some(), "leader epoch committed: {co:?}");
        }
        c.close().await;

        produce(cluster, &topic, 3, 5, "b");
        let mut c2 = Consumer::new(config(cluster, &group, false)).await.unwrap();
        c2.subscribe([topic.clone()]).unwrap();
        let got = consume_n(&mut c2, 15, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 15, "resumed records: {got:?}");
        let per: BTreeMap<TopicPartition, Vec<i64>> = got.iter().fold(BTreeMap::new(), |mut m, (tp, o)| {
            m.entry(tp.clone()).or_insert_with(Vec::new).push(*o);
            m
        });
        for tp in &all {
            assert_eq!(
                per[tp],
                (20..25).collect::<Vec<_>>(),
                "{tp} resumes at the commit"
            );
        }
        // Nothing more (no duplicates).
        let more = consume_n(&mut c2, 1, Duration::from_secs(2)).await;
        assert!(more.is_empty(), "{more:?}");
        c2.close().await;
    });
}

#[test]
fn two_cooperative_members_split_without_overlap() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-two");
    cluster.create_topic(&topic, 3, 1, &[]).unwrap();
    const PER: usize = 400;
    produce(cluster, &topic, 3, PER, "x");
    let total = 3 * PER;
    let group = cluster.unique_topic("g-two");
    let timeline: Timeline = Arc::default();
    let seen = Seen::default();
    rt.block_on(async {
        let (a, b) = two_slow_members(total, &seen, |member| {
            let mut cfg = config(cluster, &group, true);
            cfg.max_poll_records = 20;
            let (timeline, topic) = (timeline.clone(), topic.clone());
            async move {
                let mut c = Consumer::new(cfg).await.unwrap();
                c.subscribe_with_listener([topic], Recorder { member, timeline })
                    .unwrap();
                c
            }
        })
        .await;
        let (na, nb) = (a.assignment().len(), b.assignment().len());
        assert_eq!(na + nb, 3, "split {na}/{nb}");
        assert!(na >= 1 && nb >= 1, "split {na}/{nb}");
        a.close().await;
        b.close().await;
    });
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<(TopicPartition, i64)> = seen.iter().map(|(_, tp, o)| (tp.clone(), *o)).collect();
    assert_eq!(unique.len(), seen.len(), "a record consumed twice");
    assert_eq!(unique.len(), total, "records missing");
    assert!(seen.iter().any(|s| s.0 == 1), "second member consumed nothing");
    // Ownership timeline: a partition is never owned by both members at once.
    let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (member, kind, partitions) in timeline.lock().unwrap().iter() {
        for tp in partitions {
            match kind {
                Kind::Assigned => {
                    if let Some(other) = owner.insert(tp.clone(), *member) {
                        panic!("{tp} assigned to {member} while owned by {other}");
                    }
                }
                Kind::Revoked | Kind::Lost => {
                    assert_eq!(owner.remove(tp), Some(*member), "{tp} released by non-owner");
                }
            }
        }
    }
}

#[test]
fn commit_of_a_partition_not_owned_is_refused() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-owned");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let group = cluster.unique_topic("g-owned");
    rt.block_on(async {
        let mut c = Consumer::new(config(cluster, &group, false)).await.unwrap();
        c.subscribe([topic.clone()]).unwrap();
        wait_owned(&mut c, 1).await;
        let foreign = TopicPartition::new("not-mine", 7);
        let err = c
            .commit_sync(Some(vec![(foreign.clone(), OffsetAndMetadata::new(3))]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::NotOwned { partitions } if partitions == &[foreign]),
            "{err:?}"
        );
        assert!(err.to_string().contains("not-mine-7"), "{err}");
        // Owned partitions still commit.
        c.commit_sync(Some(vec![(
            TopicPartition::new(&topic, 0),
            OffsetAndMetadata::new(0),
        )]))
        .await
        .unwrap();
        c.close().await;
    });
    // Without group.id, subscribe is refused.
    rt.block_on(async {
        let mut cfg = config(cluster, "x", false);
        cfg.group_id = None;
        let mut c = Consumer::new(cfg).await.unwrap();
        assert!(matches!(c.subscribe(["t"]), Err(Error::Config(_))));
    });
}

#[test]
fn auto_commit_commits_what_poll_returned() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-auto");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    produce(cluster, &topic, 2, 10, "auto");
    let group = cluster.unique_topic("g-auto");
    let all: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    rt.block_on(async {
        let mut c = Consumer::new(config(cluster, &group, true)).await.unwrap();
        c.subscribe([topic.clone()]).unwrap();
        let got = consume_n(&mut c, 20, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 20);
        poll_until_committed(&mut c, &all, 10, "not auto-committed").await;
        c.close().await;
    });
}

#[test]
fn fatal_group_error_surfaces_in_poll() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-fatal");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let group = cluster.unique_topic("g-fatal");
    rt.block_on(async {
        // Below the broker's group.min.session.timeout.ms: INVALID_SESSION_TIMEOUT is fatal.
        let mut cfg = config(cluster, &group, false);
        cfg.session_timeout = Duration::from_millis(200);
        cfg.heartbeat_interval = Duration::from_millis(50);
        let mut c = Consumer::new(cfg).await.unwrap();
        c.subscribe([topic.clone()]).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let err = loop {
            match c.poll(Duration::from_millis(200)).await {
                Err(e) => break e,
                Ok(b) => assert!(b.is_empty()),
            }
            assert!(tokio::time::Instant::now() < deadline, "no fatal error");
        };
        assert!(matches!(err, Error::Group(_)), "{err:?}");
        assert_eq!(c.group_state().unwrap().state, MemberState::Fatal);
        assert!(c.commit_sync(None).await.is_err());
    });
}

/// Commits the positions of revoked partitions from `on_revoked` (auto-commit is off).
struct CommitOnRevoke {
    handle: CommitHandle,
    revoked: Arc<Mutex<Vec<TopicPartition>>>,
}

impl RebalanceListener for CommitOnRevoke {
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.revoked.lock().unwrap().extend_from_slice(partitions);
        // Not awaited: the revocation itself waits for it before the partitions move.
        let _pending = self.handle.commit(None).expect("commit from on_revoked");
    }
}

#[test]
fn commit_in_on_revoked_lands_before_the_partition_moves() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-revoke-commit");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    const PER: usize = 1000;
    produce(cluster, &topic, 2, PER, "r");
    let total = 2 * PER;
    let group = cluster.unique_topic("g-revoke-commit");
    let seen = Seen::default();
    let revoked: Arc<Mutex<Vec<TopicPartition>>> = Arc::default();
    rt.block_on(async {
        let (a, b) = two_slow_members(total, &seen, |_| {
            // Auto-commit off: only the listener's commit can tell the next owner where to start.
            let mut cfg = config(cluster, &group, false);
            cfg.max_poll_records = 10;
            let (topic, revoked) = (topic.clone(), revoked.clone());
            async move {
                let mut c = Consumer::new(cfg).await.unwrap();
                let handle = c.commit_handle();
                c.subscribe_with_listener([topic], CommitOnRevoke { handle, revoked })
                    .unwrap();
                c
            }
        })
        .await;
        a.close_with(kafkaroo::CloseMode::Leave).await;
        b.close_with(kafkaroo::CloseMode::Leave).await;
    });
    let seen = seen.lock().unwrap();
    let revoked = revoked.lock().unwrap();
    assert!(!revoked.is_empty(), "the first member gave nothing up");
    assert!(seen.iter().any(|s| s.0 == 1), "second member consumed nothing");
    let unique: BTreeSet<(TopicPartition, i64)> = seen.iter().map(|(_, tp, o)| (tp.clone(), *o)).collect();
    assert_eq!(unique.len(), total, "records missing");
    // Without the commit in on_revoked the second member would start the moved partition at 0.
    assert_eq!(
        unique.len(),
        seen.len(),
        "a record consumed twice: the commit on revoke did not land first"
    );
}

#[test]
fn auto_commit_never_covers_records_of_the_current_poll() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-auto-poll");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    produce(cluster, &topic, 1, 10, "p");
    let group = cluster.unique_topic("g-auto-poll");
    let tp = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        let mut cfg = config(cluster, &group, true);
        cfg.max_poll_records = 5;
        cfg.auto_commit_interval = Duration::from_millis(300);
        let mut c = Consumer::new(cfg).await.unwrap();
        c.subscribe([topic.clone()]).unwrap();
        let first = consume_n(&mut c, 5, Duration::from_secs(30)).await;
        assert_eq!(
            first.iter().map(|r| r.1).collect::<Vec<_>>(),
            (0..5).collect::<Vec<_>>()
        );
        // "Processing" the first batch, longer than the interval, without polling: nothing may be
        // committed of records the application may still be working on.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
        assert_eq!(
            committed[&tp], None,
            "committed while the first batch was processed"
        );
        // The next poll says the first batch is done: its auto-commit covers 0..5, not the batch it returns.
        let second = c.poll(Duration::from_secs(10)).await.unwrap();
        assert_eq!(
            second.iter().map(|r| r.offset()).collect::<Vec<_>>(),
            (5..10).collect::<Vec<_>>()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
            match committed[&tp].as_ref().map(|o| o.offset) {
                Some(5) => break,
                None => assert!(
                    tokio::time::Instant::now() < deadline,
                    "first batch never auto-committed"
                ),
                other => panic!("auto-commit covered the batch still being processed: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Polling again (the second batch is done) lets the commit reach 10.
        poll_until_committed(
            &mut c,
            std::slice::from_ref(&tp),
            10,
            "second batch never auto-committed",
        )
        .await;
        c.close().await;
    });
}

#[test]
fn async_commits_report_their_outcome_and_land_in_order() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-async");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    produce(cluster, &topic, 1, 10, "a");
    let group = cluster.unique_topic("g-async");
    let tp = TopicPartition::new(&topic, 0);
    rt.block_on(async {
        let mut c = Consumer::new(config(cluster, &group, false)).await.unwrap();
        c.subscribe([topic.clone()]).unwrap();
        assert_eq!(consume_n(&mut c, 10, Duration::from_secs(30)).await.len(), 10);
        // Many async commits without waiting: the last started is what stays committed.
        let pending: Vec<_> = (1..=8)
            .map(|o| {
                c.commit_async(Some(vec![(tp.clone(), OffsetAndMetadata::new(o))]))
                    .unwrap()
            })
            .collect();
        for p in pending {
            p.await.expect("async commit outcome");
        }
        let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
        assert_eq!(
            committed[&tp].as_ref().map(|o| o.offset),
            Some(8),
            "an older commit landed last"
        );
        // A refused one reports at once.
        let other = TopicPartition::new(&topic, 7);
        let err = c
            .commit_async(Some(vec![(other, OffsetAndMetadata::new(1))]))
            .unwrap_err();
        assert!(matches!(err, Error::NotOwned { .. }), "{err:?}");
        c.close().await;
    });
}

/// Gives every partition to the member with the smallest member id (eager).
#[derive(Debug)]
struct AllToFirst;

impl kafkaroo::assignor::Assignor for AllToFirst {
    fn name(&self) -> &str {
        "all-to-first"
    }
    fn protocol(&self) -> kafkaroo::assignor::RebalanceProtocol {
        kafkaroo::assignor::RebalanceProtocol::Eager
    }
    fn assign(
        &self,
        members: &[kafkaroo::assignor::MemberSubscription],
        partitions_per_topic: &kafkaroo::assignor::PartitionCounts,
    ) -> Result<kafkaroo::assignor::Assignments, kafkaroo::assignor::AssignError> {
        let mut ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        ids.sort_unstable();
        let mut out: kafkaroo::assignor::Assignments =
            ids.iter().map(|id| ((*id).to_owned(), Vec::new())).collect();
        let first = out.get_mut(ids[0]).expect("a member");
        for (topic, count) in partitions_per_topic {
            first.extend((0..*count).map(|p| TopicPartition::new(topic, p)));
        }
        Ok(out)
    }
}

#[test]
fn a_custom_assignor_decides_the_assignment() {
    let cluster = cluster();
    let rt = runtime();
    let topic = cluster.unique_topic("group-custom");
    cluster.create_topic(&topic, 3, 1, &[]).unwrap();
    let group = cluster.unique_topic("g-custom");
    rt.block_on(async {
        let custom = |group: &str| {
            let mut c = config(cluster, group, true);
            c.partition_assignment_strategy = vec!["all-to-first".into()];
            c.custom_assignors = vec![Arc::new(AllToFirst)];
            c
        };
        let mut a = Consumer::new(custom(&group)).await.unwrap();
        a.subscribe([topic.clone()]).unwrap();
        let mut b = Consumer::new(custom(&group)).await.unwrap();
        b.subscribe([topic.clone()]).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let _ = a.poll(Duration::from_millis(50)).await.unwrap();
            let _ = b.poll(Duration::from_millis(50)).await.unwrap();
            let (sa, sb) = (a.group_state().unwrap(), b.group_state().unwrap());
            let both_stable = sa.state == MemberState::Stable && sb.state == MemberState::Stable;
            if both_stable
                && sa.generation == sb.generation
                && a.assignment().len() + b.assignment().len() == 3
            {
                assert_eq!(sa.protocol.as_deref(), Some("all-to-first"));
                let first = if sa.member_id < sb.member_id { &a } else { &b };
                assert_eq!(
                    first.assignment().len(),
                    3,
                    "the smallest member id has every partition"
                );
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{sa:?} {sb:?}");
        }
        a.close().await;
        b.close().await;
    });
    // The builder registers it as the preferred assignor; an unknown name is refused at build.
    let built = ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .assignor(Arc::new(AllToFirst))
        .build()
        .unwrap();
    assert_eq!(
        built.partition_assignment_strategy,
        ["all-to-first", "cooperative-sticky"]
    );
    let err = ConsumerConfig::from_properties([
        ("bootstrap.servers", cluster.bootstrap()),
        ("partition.assignment.strategy", "all-to-first"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("all-to-first"), "{err}");
}

/// The value of the Prometheus series `name` whose labels include every `key="value"` of `labels`.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?.strip_prefix('{')?;
        labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().expect("a number"))
    })
}

/// The per-partition metrics against a real broker: lag from the position and from the committed offset
/// follow the broker's high watermark and the group's commits, nothing stays buffered once every record
/// was handed out, and the join is counted with its cause. The recorder is local to this test (a
/// current-thread runtime keeps every consumer task on the thread that installed it).
#[test]
fn metrics_follow_the_brokers_watermarks_and_the_groups_commits() {
    use metrics_exporter_prometheus::PrometheusBuilder;

    let cluster = cluster();
    let topic = cluster.unique_topic("group-metrics");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    produce(cluster, &topic, 2, 20, "a");
    let group = cluster.unique_topic("g-metrics");
    let client = cluster.unique_topic("metrics-client");
    let recorder = PrometheusBuilder::new().build_recorder();
    let scrape = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let partition = |p: i32| {
        [
            ("messaging_client_id", client.clone()),
            ("messaging_destination_name", topic.clone()),
            ("messaging_destination_partition_id", p.to_string()),
        ]
    };
    let read = |name: &str, p: i32| {
        let labels = partition(p);
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        series(&scrape.render(), name, &labels)
    };
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let config = ConsumerConfig::builder()
                .bootstrap_servers(cluster.bootstrap())
                .group_id(&group)
                .client_id(&client)
                .auto_offset_reset(kafkaroo::AutoOffsetReset::Earliest)
                .fetch_max_wait(Duration::from_millis(100))
                .set("enable.auto.commit", "false")
                .unwrap()
                .build()
                .unwrap();
            let mut c = Consumer::new(config).await.unwrap();
            c.subscribe([topic.clone()]).unwrap();
            assert_eq!(consume_n(&mut c, 40, Duration::from_secs(30)).await.len(), 40);
            for p in 0..2 {
                assert_eq!(read("messaging_kafka_consumer_lag", p), Some(0.0), "lag of {p}");
                assert_eq!(
                    read("messaging_kafka_consumer_partition_buffered_bytes", p),
                    Some(0.0),
                    "buffered bytes of {p}"
                );
                assert_eq!(
                    read("messaging_kafka_consumer_committed_lag", p),
                    None,
                    "committed lag of {p} before the group has an offset"
                );
            }
            c.commit_sync(None).await.unwrap();
            for p in 0..2 {
                assert_eq!(
                    read("messaging_kafka_consumer_committed_lag", p),
                    Some(0.0),
                    "after the commit, {p}"
                );
            }

            // Five more records into partition 0, handed out but not committed: the broker's watermark
            // moves to 25 while the group's offset stays at 20.
            produce(cluster, &topic, 1, 5, "b");
            assert_eq!(consume_n(&mut c, 5, Duration::from_secs(30)).await.len(), 5);
            assert_eq!(read("messaging_kafka_consumer_lag", 0), Some(0.0));
            assert_eq!(read("messaging_kafka_consumer_committed_lag", 0), Some(5.0));
            assert_eq!(read("messaging_kafka_consumer_committed_lag", 1), Some(0.0));
            assert_eq!(
                read("messaging_kafka_consumer_partition_buffered_bytes", 0),
                Some(0.0)
            );

            let joins = series(
                &scrape.render(),
                "messaging_kafka_consumer_rebalances",
                &[("messaging_client_id", client.as_str()), ("cause", "joining")],
            );
            assert_eq!(joins, Some(1.0), "one rebalance, caused by joining");
            c.close().await;
            for p in 0..2 {
                assert_eq!(
                    read("messaging_kafka_consumer_committed_lag", p),
                    Some(0.0),
                    "{p} after close"
                );
            }
        });
    });
}
