//! Interop against the real broker: one cooperative-sticky consumer group whose members are kafkaroo
//! (`kafkaroo-verifiable-consumer`), Kafka's Java `VerifiableConsumer` and kcat (librdkafka), while
//! members join, leave cleanly and are killed, and records are produced throughout (in the background). The script makes
//! each client the group leader at least once (in the classic protocol the first member of an empty group
//! leads, and the leader keeps leading while it stays; a member left alone leads).
//!
//! Checked from what the members reported (`kafkaroo_tests::interop::checks`): no partition owned by
//! two members at once, every produced record consumed, no delivery outside ownership or backwards within
//! one, commits never going backwards (per member and the group's committed offsets sampled throughout),
//! duplicates only above the last commit of a killed member, and each client led a generation (from the
//! kafkaroo members' `group_state` leader ids, mapped to clients with DescribeGroups).
//!
//! Raw member output goes to `<target>/tmp/group-interop-<topic>/`. `--nocapture` prints the script and
//! the summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};
use kafkaroo_tests::interop::checks::{self, RunFacts};
use kafkaroo_tests::interop::members::{
    ClientKind, EventKind, MemberLog, MemberProcess, MemberSettings, owned_now,
};
use kafkaroo_tests::interop::observer::{GroupView, Observer, sample_committed};

const PARTITIONS: i32 = 8;
/// Small, so that a killed member is noticed quickly; big enough that a loaded machine does not expire
/// live members.
const SESSION_TIMEOUT_MS: u32 = 10_000;
const HEARTBEAT_INTERVAL_MS: u32 = 1_000;
/// How long the group may take to settle after a step (liveness, not a measurement).
const SETTLE: Duration = Duration::from_secs(180);

/// Produces batches of `BATCH` records every `PAUSE` on a thread until stopped; `pause` waits for the
/// batch in flight, so that the group can catch up.
struct BackgroundProducer {
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<Mutex<()>>,
    produced: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl BackgroundProducer {
    const BATCH: usize = 50;
    const PAUSE: Duration = Duration::from_millis(200);

    fn start(cluster: &'static Cluster, topic: String, produced: Arc<AtomicUsize>) -> Self {
        let paused = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(Mutex::new(()));
        let thread = {
            let (paused, stop, in_flight, produced) =
                (paused.clone(), stop.clone(), in_flight.clone(), produced.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    {
                        let _busy = in_flight.lock().unwrap();
                        if !paused.load(Ordering::SeqCst) {
                            produce(cluster, &topic, &produced, Self::BATCH)?;
                        }
                    }
                    std::thread::sleep(Self::PAUSE);
                }
                Ok(())
            })
        };
        Self {
            paused,
            stop,
            in_flight,
            produced,
            thread: Some(thread),
        }
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        drop(self.in_flight.lock().unwrap());
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    fn stop(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("producer thread")
                .unwrap_or_else(|e| panic!("background producer: {e}"));
        }
        self.produced.load(Ordering::SeqCst)
    }
}

/// Produces `count` records with unique keys and values (numbered after what `produced` counts).
fn produce(cluster: &Cluster, topic: &str, produced: &AtomicUsize, count: usize) -> Result<(), String> {
    let first = produced.load(Ordering::SeqCst);
    let records = (first..first + count)
        .map(|i| TestRecord::new(format!("k{i}"), format!("v{i}")))
        .collect();
    cluster
        .produce(&ProduceRequest::new(topic, records))
        .map_err(|e| e.to_string())?;
    produced.fetch_add(count, Ordering::SeqCst);
    Ok(())
}

struct Run {
    cluster: &'static Cluster,
    runtime: tokio::runtime::Runtime,
    settings: MemberSettings,
    observer: Arc<Observer>,
    running: BTreeMap<String, MemberProcess>,
    finished: Vec<MemberLog>,
    started: BTreeMap<ClientKind, usize>,
    produced: Arc<AtomicUsize>,
    producer: Option<BackgroundProducer>,
    committed_at_kill: BTreeMap<String, BTreeMap<i32, i64>>,
    member_names: BTreeMap<String, String>,
    script: Vec<String>,
    began: Instant,
}

impl Run {
    fn new(cluster: &'static Cluster) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let topic = cluster.unique_topic("interop");
        cluster.create_topic(&topic, PARTITIONS, 1, &[]).unwrap();
        let group = format!("{topic}-group");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("group-interop-{topic}"));
        std::fs::create_dir_all(&dir).unwrap();
        let observer = runtime
            .block_on(Observer::new(cluster.bootstrap(), &group, &topic, PARTITIONS))
            .unwrap();
        let settings = MemberSettings {
            bootstrap: cluster.bootstrap().to_owned(),
            topic,
            group,
            session_timeout_ms: SESSION_TIMEOUT_MS,
            heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
            dir,
            kafkaroo_binary: PathBuf::from(env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer")),
        };
        Self {
            cluster,
            runtime,
            settings,
            observer: Arc::new(observer),
            running: BTreeMap::new(),
            finished: Vec::new(),
            started: BTreeMap::new(),
            produced: Arc::new(AtomicUsize::new(0)),
            producer: None,
            committed_at_kill: BTreeMap::new(),
            member_names: BTreeMap::new(),
            script: Vec::new(),
            began: Instant::now(),
        }
    }

    fn note(&mut self, what: String) {
        let line = format!("{:>6.1}s {what}", self.began.elapsed().as_secs_f64());
        println!("group_interop: {line}");
        self.script.push(line);
    }

    fn start(&mut self, kind: ClientKind) -> String {
        let n = self.started.entry(kind).or_default();
        *n += 1;
        let name = format!("{}-{n}", kind.label());
        let member = MemberProcess::spawn(self.cluster, kind, &name, &self.settings)
            .unwrap_or_else(|e| panic!("starting {name}: {e:#}"));
        self.running.insert(name.clone(), member);
        self.note(format!("start {name}"));
        name
    }

    fn produce(&mut self, count: usize) {
        produce(self.cluster, &self.settings.topic, &self.produced, count).unwrap();
        self.note(format!("produced {count} (total {})", self.produced()));
    }

    fn produced(&self) -> usize {
        self.produced.load(Ordering::SeqCst)
    }

    fn start_producing(&mut self) {
        let producer =
            BackgroundProducer::start(self.cluster, self.settings.topic.clone(), self.produced.clone());
        self.producer = Some(producer);
        self.note(format!(
            "producing {} records every {:?} from here on",
            BackgroundProducer::BATCH,
            BackgroundProducer::PAUSE
        ));
    }

    fn pause_producing(&mut self) {
        if let Some(p) = &self.producer {
            p.pause();
        }
        self.note(format!("producer paused (total {})", self.produced()));
    }

    fn resume_producing(&mut self) {
        if let Some(p) = &self.producer {
            p.resume();
        }
        self.note("producer resumed".into());
    }

    fn stop_producing(&mut self) {
        if let Some(mut p) = self.producer.take() {
            p.stop();
        }
        self.note(format!("producer stopped (total {})", self.produced()));
    }

    /// Clean leave (SIGTERM: revoke, commit, LeaveGroup).
    fn leave(&mut self, name: &str) {
        let mut member = self.running.remove(name).expect("running member");
        member
            .terminate(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.finished.push(member.into_log());
        self.note(format!("{name} left cleanly"));
    }

    /// Hard failure (SIGKILL); records the group's committed offsets right after, while the partitions
    /// cannot have moved yet (the session has not expired).
    fn kill(&mut self, name: &str) {
        let mut member = self.running.remove(name).expect("running member");
        member.kill().unwrap();
        let committed = self.runtime.block_on(self.observer.committed()).unwrap();
        self.committed_at_kill.insert(name.to_owned(), committed.offsets);
        self.finished.push(member.into_log());
        self.note(format!("{name} killed"));
    }

    /// Waits until the group is Stable with exactly `expected` (client ids) as members and every
    /// partition assigned to one of them (so a cooperative follow-up rebalance is done too).
    fn wait_stable(&mut self, expected: &[&str]) -> GroupView {
        let deadline = Instant::now() + SETTLE;
        let mut want: Vec<&str> = expected.to_vec();
        want.sort_unstable();
        let mut last = None;
        loop {
            for name in expected {
                let member = self.running.get_mut(*name).expect("expected members are running");
                if !member.is_running() {
                    panic!("{name} exited unexpectedly; see {}", member.raw_log().display());
                }
            }
            match self.runtime.block_on(self.observer.describe()) {
                Ok(view) => {
                    for m in &view.members {
                        self.member_names.insert(m.member_id.clone(), m.client_id.clone());
                    }
                    let mut clients: Vec<&str> = view.members.iter().map(|m| m.client_id.as_str()).collect();
                    clients.sort_unstable();
                    let mut assigned: Vec<i32> = view
                        .members
                        .iter()
                        .flat_map(|m| m.partitions.iter().copied())
                        .collect();
                    assigned.sort_unstable();
                    if view.state == "Stable"
                        && clients == want
                        && view.members.iter().all(|m| !m.partitions.is_empty())
                        && assigned == (0..PARTITIONS).collect::<Vec<_>>()
                    {
                        let layout: Vec<String> = view
                            .members
                            .iter()
                            .map(|m| format!("{} {:?}", m.client_id, m.partitions))
                            .collect();
                        self.note(format!("stable ({}): {}", view.protocol, layout.join(", ")));
                        return view;
                    }
                    last = Some(view);
                }
                Err(e) => println!("group_interop: DescribeGroups failed (retrying): {e:#}"),
            }
            assert!(
                Instant::now() < deadline,
                "the group did not settle with members {want:?} within {SETTLE:?}; last view: {last:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The leader of the current generation as kafkaroo member `reporter` reports it, once its report
    /// matches the settled group `view` (Stable, owning what the broker lists for it).
    fn leader_seen_by(&mut self, reporter: &str, view: &GroupView) -> String {
        let deadline = Instant::now() + SETTLE;
        loop {
            let events = self.running[reporter].events();
            // Every completed rebalance reports an assignment (possibly empty); the state line must be
            // newer than the last one, or it may still name the previous generation.
            let since_assignment = events
                .iter()
                .rposition(|e| matches!(e.kind, EventKind::Assigned(_)))
                .map_or(&events[..], |i| &events[i..]);
            let state = since_assignment.iter().rev().find_map(|e| match &e.kind {
                EventKind::GroupState {
                    state,
                    generation,
                    member_id,
                    leader_id,
                } => Some((state.clone(), *generation, member_id.clone(), leader_id.clone())),
                _ => None,
            });
            if let Some((state, generation, member_id, leader_id)) = state {
                let listed = view.members.iter().find(|m| m.member_id == member_id);
                let owned: Vec<i32> = owned_now(&events).into_iter().collect();
                if state == "Stable"
                    && let Some(listed) = listed
                    && {
                        let mut p = listed.partitions.clone();
                        p.sort_unstable();
                        p == owned
                    }
                {
                    let leader = self
                        .member_names
                        .get(&leader_id)
                        .cloned()
                        .unwrap_or_else(|| format!("unknown member {leader_id}"));
                    self.note(format!(
                        "generation {generation}: {reporter} reports leader {leader}"
                    ));
                    return leader;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{reporter} did not report the settled generation within {SETTLE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no member has anything left to read (the producer must be paused or stopped): every
    /// partition's current owner consumed up to the high watermark, or the group's committed offset is
    /// there. (Not "committed = high watermark": VerifiableConsumer commits only the partitions of each
    /// poll's records, so a commit that failed during a rebalance stays behind until more records come.)
    fn wait_caught_up(&mut self) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let end = self.runtime.block_on(self.observer.end_offsets()).unwrap();
            let committed = self.runtime.block_on(self.observer.committed()).unwrap();
            let mut read_up_to: BTreeMap<i32, i64> = BTreeMap::new();
            for member in self.running.values() {
                let events = member.events();
                for p in owned_now(&events) {
                    let max = events.iter().filter_map(|e| match e.kind {
                        EventKind::Consumed { partition, max, .. } if partition == p => Some(max + 1),
                        _ => None,
                    });
                    read_up_to.insert(p, max.max().unwrap_or(0));
                }
            }
            let behind: Vec<i32> = end
                .iter()
                .filter(|&(p, e)| {
                    let owner_read = read_up_to.get(p).copied();
                    let committed = committed.offsets.get(p).copied().unwrap_or(0);
                    owner_read.is_none() || (owner_read < Some(*e) && committed < *e)
                })
                .map(|(p, _)| *p)
                .collect();
            let total: i64 = end.values().sum();
            if total as usize == self.produced() && behind.is_empty() {
                self.note(format!(
                    "caught up: every owner read to the end ({total} records)"
                ));
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the group did not read everything within {SETTLE:?}: partitions {behind:?} behind; end \
                 {end:?}, owners read to {read_up_to:?}, committed {:?}",
                committed.offsets
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn kind_of(name: &str) -> ClientKind {
    [ClientKind::Kafkaroo, ClientKind::Java, ClientKind::Kcat]
        .into_iter()
        .find(|k| name.starts_with(k.label()))
        .unwrap_or_else(|| panic!("{name} is no member of this run"))
}

/// The kcat member needs incremental (cooperative) assignment: kcat 1.7+ built with librdkafka 1.6+.
fn require_incremental_kcat() {
    let kcat = kafkaroo_testcontainers::kcat_path();
    let out = std::process::Command::new(&kcat)
        .arg("-V")
        .output()
        .unwrap_or_else(|e| panic!("running {} -V: {e}", kcat.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("IncrementalAssign"),
        "{} does not support cooperative rebalancing (no IncrementalAssign in `kcat -V`): {version}",
        kcat.display()
    );
}

#[test]
fn kafkaroo_java_and_kcat_members_share_a_cooperative_group() {
    require_incremental_kcat();
    let cluster = Cluster::shared();
    let mut run = Run::new(cluster);
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let (sampler, samples) = {
        let _guard = run.runtime.enter();
        sample_committed(
            run.observer.clone(),
            Duration::from_millis(250),
            stop_sampling.clone(),
        )
    };
    run.note(format!(
        "Kafka {} at {}, topic {} ({PARTITIONS} partitions), group {}",
        cluster.version(),
        cluster.bootstrap(),
        run.settings.topic,
        run.settings.group
    ));

    // kcat founds the group and leads while it stays.
    run.produce(1600);
    let kcat1 = run.start(ClientKind::Kcat);
    run.wait_stable(&[&kcat1]);
    run.start_producing();
    let roo1 = run.start(ClientKind::Kafkaroo);
    let view = run.wait_stable(&[&kcat1, &roo1]);
    run.leader_seen_by(&roo1, &view);
    let java1 = run.start(ClientKind::Java);
    let view = run.wait_stable(&[&kcat1, &roo1, &java1]);
    run.leader_seen_by(&roo1, &view);

    // The leader dies: the coordinator picks one of the others.
    run.kill(&kcat1);
    let view = run.wait_stable(&[&roo1, &java1]);
    let leader = run.leader_seen_by(&roo1, &view);
    // The current leader leaves cleanly; the one left alone leads, and keeps leading when a new member
    // of the other client joins (which, if kafkaroo, reports it).
    let (java, roo) = if kind_of(&leader) == ClientKind::Java {
        run.leave(&java1);
        run.wait_stable(&[&roo1]);
        let java2 = run.start(ClientKind::Java);
        let view = run.wait_stable(&[&roo1, &java2]);
        run.leader_seen_by(&roo1, &view);
        (java2, roo1)
    } else {
        run.leave(&roo1);
        run.wait_stable(&[&java1]);
        let roo2 = run.start(ClientKind::Kafkaroo);
        let view = run.wait_stable(&[&java1, &roo2]);
        run.leader_seen_by(&roo2, &view);
        (java1, roo2)
    };
    let kcat2 = run.start(ClientKind::Kcat);
    let view = run.wait_stable(&[&roo, &java, &kcat2]);
    run.leader_seen_by(&roo, &view);

    // Java dies and is replaced.
    run.kill(&java);
    let view = run.wait_stable(&[&roo, &kcat2]);
    run.leader_seen_by(&roo, &view);
    let java3 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo, &kcat2, &java3]);

    // kafkaroo dies; its replacement joins before the session of the dead one expired.
    run.kill(&roo);
    let roo3 = run.start(ClientKind::Kafkaroo);
    let view = run.wait_stable(&[&kcat2, &java3, &roo3]);
    run.leader_seen_by(&roo3, &view);

    // kcat leaves only once the group caught up: after its SIGTERM, kcat drops (does not print) a record
    // its last poll returned, but librdkafka already stored its offset and commits it on close.
    run.pause_producing();
    run.wait_caught_up();
    run.leave(&kcat2);
    run.resume_producing();
    let view = run.wait_stable(&[&java3, &roo3]);
    run.leader_seen_by(&roo3, &view);
    run.leave(&java3);
    run.wait_stable(&[&roo3]);
    run.stop_producing();
    run.wait_caught_up();
    run.leave(&roo3);

    // The facts the checks need besides the reports.
    let final_committed = run.runtime.block_on(run.observer.committed()).unwrap();
    let end_offsets = run.runtime.block_on(run.observer.end_offsets()).unwrap();
    stop_sampling.store(true, Ordering::SeqCst);
    let failed_samples = run.runtime.block_on(sampler).unwrap();
    let samples = samples.lock().unwrap().clone();
    let logs = std::mem::take(&mut run.finished);
    let mut member_names = run.member_names.clone();
    for log in &logs {
        for e in &log.events {
            match &e.kind {
                EventKind::GroupState { member_id, .. }
                | EventKind::MemberId(member_id)
                | EventKind::Joined { member_id, .. }
                    if !member_id.is_empty() =>
                {
                    member_names.insert(member_id.clone(), log.name.clone());
                }
                _ => {}
            }
        }
    }
    let facts = RunFacts {
        partitions: PARTITIONS,
        end_offsets: end_offsets.clone(),
        committed_samples: samples.clone(),
        committed_at_kill: run.committed_at_kill.clone(),
        final_committed: final_committed.offsets.clone(),
        member_names,
    };
    let verdict = checks::check(&logs, &facts);

    println!("group_interop: script");
    for line in &run.script {
        println!("  {line}");
    }
    println!(
        "group_interop: leaders by generation (kafkaroo members' reports, Java's own): {:?}",
        verdict.leaders
    );
    if let Some((gap, where_)) = &verdict.closest_handover {
        println!("group_interop: closest handover {gap} ms ({where_})");
    }
    for line in &verdict.summary {
        println!("  {line}");
    }
    println!(
        "group_interop: produced {}, high watermarks {:?}; {} deliveries of records; duplicates: {} after \
         kills (above the commit at the kill), {} after lost partitions, {} after a member's failed \
         commit; {} committed-offset samples ({failed_samples} failed); raw output in {}; {:.0}s",
        run.produced(),
        end_offsets,
        verdict.consumed_records,
        verdict.duplicates_after_kill,
        verdict.duplicates_after_loss,
        verdict.duplicates_after_failed_commit,
        samples.len(),
        run.settings.dir.display(),
        run.began.elapsed().as_secs_f64(),
    );
    assert_eq!(
        end_offsets.values().sum::<i64>() as usize,
        run.produced(),
        "the topic holds what was produced"
    );
    assert!(
        verdict.violations.is_empty(),
        "{} violations (raw member output in {}):\n{}",
        verdict.violations.len(),
        run.settings.dir.display(),
        verdict.violations.join("\n")
    );
}
