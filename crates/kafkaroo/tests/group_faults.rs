//! Consumer-group faults against a real Apache Kafka broker: a static member restarting within the
//! session timeout, `max.poll.interval.ms` exceeded, and the group coordinator's broker stopped in a
//! three-node cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkaroo::{CloseMode, Consumer, ConsumerConfig, Error, MemberState, RebalanceListener, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ClusterOptions};

mod common;

use common::{init_tracing, produce, runtime};

fn config(bootstrap: &str, group: &str) -> ConsumerConfig {
    common::group_config(bootstrap, group, 10_000, true)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

#[derive(Clone, Default)]
struct Changes(Arc<Mutex<Vec<Change>>>);

impl Changes {
    fn list(&self) -> Vec<Change> {
        self.0.lock().unwrap().clone()
    }
}

impl RebalanceListener for Changes {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(Change::Assigned(partitions.to_vec()));
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(Change::Revoked(partitions.to_vec()));
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(Change::Lost(partitions.to_vec()));
    }
}

/// Polls `c` until `done(c)` holds (records returned are appended to `seen`); panics with `what`
/// after `within`.
async fn poll_until(
    c: &mut Consumer,
    seen: &mut Vec<(TopicPartition, i64)>,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&Consumer, &[(TopicPartition, i64)]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !done(c, seen) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: state {:?}, assignment {:?}",
            c.group_state(),
            c.assignment()
        );
        let batch = c.poll(Duration::from_millis(100)).await.expect("poll");
        seen.extend(
            batch
                .iter()
                .map(|r| (TopicPartition::new(r.topic(), r.partition()), r.offset())),
        );
    }
}

/// One short poll; the records go to `seen`.
async fn poll_once(c: &mut Consumer, seen: &mut Vec<(TopicPartition, i64)>) {
    let batch = c.poll(Duration::from_millis(50)).await.expect("poll");
    seen.extend(
        batch
            .iter()
            .map(|r| (TopicPartition::new(r.topic(), r.partition()), r.offset())),
    );
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable) && c.assignment().len() == n
}

/// KIP-345: a static member closed without leaving and restarted within `session.timeout.ms` gets
/// its partitions back in the same generation; the other member sees no rebalance.
#[test]
fn static_member_restart_keeps_generation_and_partitions() {
    init_tracing();
    let cluster = Cluster::shared();
    let rt = runtime();
    let topic = cluster.unique_topic("static-restart");
    cluster.create_topic(&topic, 4, 1, &[]).unwrap();
    produce(cluster, &topic, 4, 50, "s");
    let group = cluster.unique_topic("g-static");
    rt.block_on(async {
        let static_config = |instance: &str| {
            let mut c = config(cluster.bootstrap(), &group);
            c.group_instance_id = Some(instance.to_owned());
            c
        };
        let (a_changes, b_changes) = (Changes::default(), Changes::default());
        let mut a = Consumer::new(static_config("member-a")).await.unwrap();
        a.subscribe_with_listener([topic.clone()], a_changes.clone())
            .unwrap();
        let mut b = Consumer::new(static_config("member-b")).await.unwrap();
        b.subscribe_with_listener([topic.clone()], b_changes.clone())
            .unwrap();
        let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
        // Both stable with two partitions each, and every record consumed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(stable_with(&a, 2) && stable_with(&b, 2) && seen_a.len() + seen_b.len() >= 200) {
            assert!(tokio::time::Instant::now() < deadline, "no stable 2/2 split");
            poll_once(&mut a, &mut seen_a).await;
            poll_once(&mut b, &mut seen_b).await;
        }
        let generation = b.group_state().unwrap().generation;
        assert_eq!(a.group_state().unwrap().generation, generation);
        let a_partitions: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
        let b_changes_before = b_changes.list();
        // Restart a: close without LeaveGroup (a static member's default), come back at once.
        a.close_with(CloseMode::Default).await;
        produce(cluster, &topic, 4, 10, "t");
        let a2_changes = Changes::default();
        let mut a2 = Consumer::new(static_config("member-a")).await.unwrap();
        a2.subscribe_with_listener([topic.clone()], a2_changes.clone())
            .unwrap();
        let mut seen_a2 = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(stable_with(&a2, 2) && seen_a.len() + seen_a2.len() + seen_b.len() >= 200 + 40) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "restarted member never resumed: {:?} {:?}, consumed {}+{}+{} of 240, a2 changes {:?}",
                a2.group_state(),
                a2.assignment(),
                seen_a.len(),
                seen_a2.len(),
                seen_b.len(),
                a2_changes.list()
            );
            poll_once(&mut a2, &mut seen_a2).await;
            poll_once(&mut b, &mut seen_b).await;
        }
        let a2_state = a2.group_state().unwrap();
        assert_eq!(a2_state.generation, generation, "the restart caused a rebalance");
        assert_eq!(
            b.group_state().unwrap().generation,
            generation,
            "the other member rebalanced"
        );
        let a2_partitions: BTreeSet<TopicPartition> = a2.assignment().into_iter().collect();
        assert_eq!(
            a2_partitions, a_partitions,
            "the restarted member got other partitions"
        );
        assert_eq!(
            b_changes.list(),
            b_changes_before,
            "the other member saw a rebalance"
        );
        assert_eq!(
            a2_changes.list(),
            vec![Change::Assigned(a_partitions.iter().cloned().collect())]
        );
        // The restarted member resumed where the first left: every record once.
        let all: Vec<_> = seen_a.iter().chain(&seen_a2).chain(&seen_b).cloned().collect();
        let unique: BTreeSet<_> = all.iter().cloned().collect();
        assert_eq!(unique.len(), 240, "records missing");
        assert_eq!(
            unique.len(),
            all.len(),
            "records consumed twice across the restart"
        );
        a2.close_with(CloseMode::Leave).await;
        b.close_with(CloseMode::Leave).await;
    });
}

/// A member that stops polling for longer than `max.poll.interval.ms` leaves the group proactively:
/// its partitions are lost (not revoked, nothing committed for them), the other member takes them, a
/// commit for them is refused, and the next poll rejoins.
#[test]
fn max_poll_interval_exceeded_loses_partitions_and_next_poll_rejoins() {
    init_tracing();
    let cluster = Cluster::shared();
    let rt = runtime();
    let topic = cluster.unique_topic("max-poll");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    produce(cluster, &topic, 2, 20, "m");
    let group = cluster.unique_topic("g-max-poll");
    rt.block_on(async {
        let mut cfg = config(cluster.bootstrap(), &group);
        cfg.max_poll_interval = Duration::from_secs(3);
        let (a_changes, b_changes) = (Changes::default(), Changes::default());
        let mut a = Consumer::new(cfg.clone()).await.unwrap();
        a.subscribe_with_listener([topic.clone()], a_changes.clone())
            .unwrap();
        let mut b = Consumer::new(cfg).await.unwrap();
        b.subscribe_with_listener([topic.clone()], b_changes.clone())
            .unwrap();
        let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(stable_with(&a, 1) && stable_with(&b, 1) && seen_a.len() + seen_b.len() >= 40) {
            assert!(tokio::time::Instant::now() < deadline, "no stable 1/1 split");
            poll_once(&mut a, &mut seen_a).await;
            poll_once(&mut b, &mut seen_b).await;
        }
        let a_partition = a.assignment()[0].clone();
        // `a` stalls; `b` keeps polling and ends up with both partitions.
        poll_until(
            &mut b,
            &mut seen_b,
            Duration::from_secs(60),
            "b never took over",
            |c, _| stable_with(c, 2),
        )
        .await;
        assert!(
            a.assignment().is_empty(),
            "the stalled member still fetches {:?}",
            a.assignment()
        );
        let err = a
            .commit_sync(Some(vec![(
                a_partition.clone(),
                kafkaroo::OffsetAndMetadata::new(1),
            )]))
            .await
            .expect_err("commit for a partition lost to max.poll.interval.ms");
        assert!(matches!(err, Error::NotOwned { .. } | Error::Group(_)), "{err:?}");
        // The next poll runs on_lost, then rejoins; the group splits again.
        produce(cluster, &topic, 2, 10, "n");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(stable_with(&a, 1) && stable_with(&b, 1)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stalled member never rejoined"
            );
            poll_once(&mut a, &mut seen_a).await;
            poll_once(&mut b, &mut seen_b).await;
        }
        let a_list = a_changes.list();
        let lost_at = a_list
            .iter()
            .position(|c| *c == Change::Lost(vec![a_partition.clone()]))
            .unwrap_or_else(|| panic!("no on_lost for {a_partition}: {a_list:?}"));
        // Since it was last assigned, the stalled member's partition was lost, never revoked.
        let assigned_at = a_list[..lost_at]
            .iter()
            .rposition(|c| matches!(c, Change::Assigned(p) if p.contains(&a_partition)))
            .unwrap_or_else(|| panic!("{a_partition} lost but never assigned: {a_list:?}"));
        assert!(
            !a_list[assigned_at..lost_at]
                .iter()
                .any(|c| matches!(c, Change::Revoked(p) if p.contains(&a_partition))),
            "revoked (as if still owned) before lost: {a_list:?}"
        );
        assert!(
            b_changes
                .list()
                .iter()
                .any(|c| matches!(c, Change::Assigned(p) if p.contains(&a_partition))),
            "b never got {a_partition}"
        );
        // No record lost: everything produced was consumed by someone (duplicates are allowed for
        // a lost partition: its last records were never committed).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let unique: BTreeSet<_> = seen_a.iter().chain(&seen_b).cloned().collect();
            if unique.len() == 60 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "records missing: {}",
                unique.len()
            );
            poll_once(&mut a, &mut seen_a).await;
            poll_once(&mut b, &mut seen_b).await;
        }
        a.close_with(CloseMode::Leave).await;
        b.close_with(CloseMode::Leave).await;
    });
}

/// Stopping the broker that coordinates the group moves the coordinator; the member finds the new
/// one and goes on in the same generation (no rebalance, no loss, no duplicate), and commits reach
/// the new coordinator.
#[test]
fn coordinator_stopped_member_moves_on_in_the_same_generation() {
    init_tracing();
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        ..ClusterOptions::default()
    })
    .expect("three-node cluster");
    let rt = runtime();
    let topic = cluster.unique_topic("coordinator-move");
    cluster
        .create_topic(&topic, 3, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    produce(&cluster, &topic, 3, 100, "before");
    let group = cluster.unique_topic("g-coordinator");
    let changes = Changes::default();
    rt.block_on(async {
        let mut c = Consumer::new(config(cluster.bootstrap(), &group)).await.unwrap();
        c.subscribe_with_listener([topic.clone()], changes.clone())
            .unwrap();
        let mut seen = Vec::new();
        poll_until(&mut c, &mut seen, Duration::from_secs(60), "first 300", |c, s| {
            stable_with(c, 3) && s.len() >= 300
        })
        .await;
        c.commit_sync(None).await.unwrap();
        let before = c.group_state().unwrap();
        let coordinator = before.coordinator.expect("coordinator known");
        tokio::task::block_in_place(|| {
            cluster.stop_node(coordinator).unwrap();
            produce(&cluster, &topic, 3, 50, "after");
        });
        poll_until(
            &mut c,
            &mut seen,
            Duration::from_secs(90),
            "records after the stop",
            |c, s| {
                s.len() >= 450
                    && c.group_state().is_some_and(|g| {
                        g.state == MemberState::Stable && g.coordinator.is_some_and(|n| n != coordinator)
                    })
            },
        )
        .await;
        let after = c.group_state().unwrap();
        assert_eq!(
            after.generation, before.generation,
            "the coordinator move caused a rebalance"
        );
        assert_eq!(after.member_id, before.member_id);
        assert_eq!(
            changes.list().len(),
            1,
            "rebalance callbacks: {:?}",
            changes.list()
        );
        // Commits go to the new coordinator.
        c.commit_sync(None).await.expect("commit after the move");
        let all: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
        let committed = c.committed(&all).await.unwrap();
        for tp in &all {
            assert_eq!(committed[tp].as_ref().map(|o| o.offset), Some(150), "{tp}");
        }
        let unique: BTreeMap<(TopicPartition, i64), usize> = seen.iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.clone()).or_default() += 1;
            m
        });
        assert_eq!(unique.len(), 450, "records missing");
        assert_eq!(seen.len(), 450, "records delivered twice");
        c.close().await;
    });
}

/// Two processes with one `group.instance.id`: the newer one fences the older, whose next poll
/// fails with the fatal FENCED_INSTANCE_ID (it must not rejoin and steal the partitions back).
#[test]
fn duplicate_static_member_is_fenced_fatally() {
    init_tracing();
    let cluster = Cluster::shared();
    let rt = runtime();
    let topic = cluster.unique_topic("static-fenced");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    produce(cluster, &topic, 2, 10, "f");
    let group = cluster.unique_topic("g-fenced");
    rt.block_on(async {
        let mut cfg = config(cluster.bootstrap(), &group);
        cfg.group_instance_id = Some("the-one".to_owned());
        let mut old = Consumer::new(cfg.clone()).await.unwrap();
        old.subscribe([topic.clone()]).unwrap();
        let mut seen = Vec::new();
        poll_until(
            &mut old,
            &mut seen,
            Duration::from_secs(60),
            "first member",
            |c, s| stable_with(c, 2) && s.len() == 20,
        )
        .await;
        let mut new = Consumer::new(cfg).await.unwrap();
        new.subscribe([topic.clone()]).unwrap();
        let mut seen_new = Vec::new();
        poll_until(
            &mut new,
            &mut seen_new,
            Duration::from_secs(60),
            "second member",
            |c, _| stable_with(c, 2),
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let err = loop {
            match old.poll(Duration::from_millis(200)).await {
                Err(e) => break e,
                Ok(b) => assert!(b.is_empty(), "the fenced member still got records"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the old member was never fenced"
            );
        };
        assert!(matches!(err, Error::Group(_)), "{err:?}");
        assert!(err.to_string().to_lowercase().contains("fenced"), "{err}");
        assert_eq!(old.group_state().unwrap().state, MemberState::Fatal);
        assert!(old.assignment().is_empty(), "fenced member still fetches");
        // The survivor keeps both partitions.
        poll_until(
            &mut new,
            &mut seen_new,
            Duration::from_secs(5),
            "survivor",
            |c, _| stable_with(c, 2),
        )
        .await;
        new.close_with(CloseMode::Leave).await;
    });
}
