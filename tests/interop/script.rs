//! Driving a group run: a topic and a group on a broker, members started, stopped cleanly and killed by
//! name, a background producer, waits until the group settles or caught up (seen through the
//! [`Observer`]), and at the end the facts and the [`checks`] verdict. The group interop tests
//! (`tests/group_interop.rs`, `tests/group_interop_secured.rs`, `tests/group_interop_kip848.rs`,
//! `tests/group_interop_upgrade.rs`) are scripts over [`Run`], with the classic protocol, KIP-848's
//! consumer protocol, or (the last) both: a classic group rolled member by member to the consumer protocol
//! ([`Run::start_with`]).
//!
//! The topic, the records and the observer always use the harness' listener ([`Cluster::bootstrap`], the
//! super user on a `SecuredCluster`); the members use [`RunOptions::member_bootstrap`] with their extra
//! properties.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkaroo::GroupProtocol;
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

use super::checks::{self, RunFacts, Verdict};
use super::members::{ClientKind, EventKind, MemberLog, MemberProcess, MemberSettings, owned_now};
use super::observer::{CommittedSample, GroupView, Observer, sample_committed};

/// How the group settles: how long it may take after a step (liveness, not a measurement).
pub const SETTLE: Duration = Duration::from_secs(180);

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

/// What a [`Run`] sets up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Prefix of every printed line (`<tag>: ...`) and of the raw output directory.
    pub tag: &'static str,
    /// The topic is `Cluster::unique_topic(topic_prefix)`, the group `<topic>-group`.
    pub topic_prefix: &'static str,
    pub partitions: i32,
    /// Small, so that a killed member is noticed quickly; big enough that a loaded machine does not
    /// expire live members. Classic protocol only (see [`MemberSettings::session_timeout_ms`]).
    pub session_timeout_ms: u32,
    pub heartbeat_interval_ms: u32,
    /// `group.protocol` of every member: classic (the default) or consumer (KIP-848; kafkaroo and Java
    /// members only, and the group view comes from ConsumerGroupDescribe).
    pub group_protocol: GroupProtocol,
    /// The listener the members connect to; `None`: the harness' ([`Cluster::bootstrap`]).
    pub member_bootstrap: Option<String>,
    /// Extra consumer properties of the kafkaroo members.
    pub kafkaroo_properties: Vec<(String, String)>,
    /// Extra consumer properties of the Java members.
    pub java_properties: Vec<(String, String)>,
    /// The test's `CARGO_TARGET_TMPDIR`: raw member output goes to `<it>/<tag>-<topic>/`.
    pub tmp_dir: PathBuf,
    /// The test's `CARGO_BIN_EXE_kafkaroo-verifiable-consumer`.
    pub kafkaroo_binary: PathBuf,
}

impl RunOptions {
    /// A plain run: members on the harness' listener, no extra properties. `tmp_dir` and
    /// `kafkaroo_binary`: the test's `env!("CARGO_TARGET_TMPDIR")` and
    /// `env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer")` (Cargo sets them for integration tests only).
    pub fn new(
        tag: &'static str,
        topic_prefix: &'static str,
        partitions: i32,
        tmp_dir: &str,
        kafkaroo_binary: &str,
    ) -> Self {
        Self {
            tag,
            topic_prefix,
            partitions,
            tmp_dir: PathBuf::from(tmp_dir),
            kafkaroo_binary: PathBuf::from(kafkaroo_binary),
            session_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            group_protocol: GroupProtocol::Classic,
            member_bootstrap: None,
            kafkaroo_properties: Vec::new(),
            java_properties: Vec::new(),
        }
    }
}

/// The task sampling the group's committed offsets (its result: how many samples failed) and the samples.
type Sampler = (tokio::task::JoinHandle<usize>, Arc<Mutex<Vec<CommittedSample>>>);

/// One group run: its members (running and finished), its producer, and what the test noted.
pub struct Run {
    cluster: &'static Cluster,
    pub runtime: tokio::runtime::Runtime,
    pub settings: MemberSettings,
    tag: &'static str,
    partitions: i32,
    pub observer: Arc<Observer>,
    running: BTreeMap<String, MemberProcess>,
    /// The `group.protocol` of each running member.
    protocols: BTreeMap<String, GroupProtocol>,
    finished: Vec<MemberLog>,
    started: BTreeMap<ClientKind, usize>,
    produced: Arc<AtomicUsize>,
    producer: Option<BackgroundProducer>,
    committed_at_kill: BTreeMap<String, BTreeMap<i32, i64>>,
    member_names: BTreeMap<String, String>,
    script: Vec<String>,
    began: Instant,
    stop_sampling: Arc<AtomicBool>,
    sampler: Option<Sampler>,
}

/// What a run ends with: the verdict of the checks and the facts they used.
pub struct Finished {
    pub tag: &'static str,
    pub verdict: Verdict,
    pub facts: RunFacts,
    pub logs: Vec<MemberLog>,
    pub produced: usize,
    /// Raw member output.
    pub dir: PathBuf,
}

impl Finished {
    /// Fails unless the topic holds what was produced and no check was violated.
    pub fn assert_passed(&self) {
        assert_eq!(
            self.facts.end_offsets.values().sum::<i64>() as usize,
            self.produced,
            "the topic holds what was produced"
        );
        assert!(
            self.verdict.violations.is_empty(),
            "{} violations (raw member output in {}):\n{}",
            self.verdict.violations.len(),
            self.dir.display(),
            self.verdict.violations.join("\n")
        );
    }
}

impl Run {
    /// Creates the topic (`options.partitions`, RF 1) and the observer, and starts sampling the group's
    /// committed offsets every 250 ms.
    pub fn new(cluster: &'static Cluster, options: RunOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let topic = cluster.unique_topic(options.topic_prefix);
        cluster.create_topic(&topic, options.partitions, 1, &[]).unwrap();
        let group = format!("{topic}-group");
        let dir = options
            .tmp_dir
            .join(format!("{}-{topic}", options.tag.replace('_', "-")));
        std::fs::create_dir_all(&dir).unwrap();
        let observer = runtime
            .block_on(Observer::new(
                cluster.bootstrap(),
                &group,
                &topic,
                options.partitions,
            ))
            .unwrap();
        let observer = Arc::new(observer);
        let stop_sampling = Arc::new(AtomicBool::new(false));
        let sampler = {
            let _guard = runtime.enter();
            sample_committed(
                observer.clone(),
                Duration::from_millis(250),
                stop_sampling.clone(),
            )
        };
        let settings = MemberSettings {
            bootstrap: options
                .member_bootstrap
                .clone()
                .unwrap_or_else(|| cluster.bootstrap().to_owned()),
            topic,
            group,
            session_timeout_ms: options.session_timeout_ms,
            heartbeat_interval_ms: options.heartbeat_interval_ms,
            group_protocol: options.group_protocol,
            dir,
            kafkaroo_binary: options.kafkaroo_binary,
            kafkaroo_properties: options.kafkaroo_properties,
            java_properties: options.java_properties,
        };
        let mut run = Self {
            cluster,
            runtime,
            settings,
            tag: options.tag,
            partitions: options.partitions,
            observer,
            running: BTreeMap::new(),
            protocols: BTreeMap::new(),
            finished: Vec::new(),
            started: BTreeMap::new(),
            produced: Arc::new(AtomicUsize::new(0)),
            producer: None,
            committed_at_kill: BTreeMap::new(),
            member_names: BTreeMap::new(),
            script: Vec::new(),
            began: Instant::now(),
            stop_sampling,
            sampler: Some(sampler),
        };
        run.note(format!(
            "Kafka {} at {} (members at {}), topic {} ({} partitions), group {}",
            cluster.version(),
            cluster.bootstrap(),
            run.settings.bootstrap,
            run.settings.topic,
            run.partitions,
            run.settings.group
        ));
        run
    }

    /// Prints `what` with the time since the start, and keeps it for the summary.
    pub fn note(&mut self, what: String) {
        let line = format!("{:>6.1}s {what}", self.began.elapsed().as_secs_f64());
        println!("{}: {line}", self.tag);
        self.script.push(line);
    }

    /// Starts a member of `kind` with the run's `group.protocol`, named `<kind>-<n>` (also its client
    /// id); returns the name.
    pub fn start(&mut self, kind: ClientKind) -> String {
        self.start_with(kind, self.settings.group_protocol)
    }

    /// Starts a member of `kind` with `group.protocol` `protocol`, which may differ from the run's (an
    /// online upgrade of a classic group rolls its members to the consumer protocol one by one).
    pub fn start_with(&mut self, kind: ClientKind, protocol: GroupProtocol) -> String {
        let n = self.started.entry(kind).or_default();
        *n += 1;
        let name = format!("{}-{n}", kind.label());
        let settings = MemberSettings {
            group_protocol: protocol,
            ..self.settings.clone()
        };
        let member = MemberProcess::spawn(self.cluster, kind, &name, &settings)
            .unwrap_or_else(|e| panic!("starting {name}: {e:#}"));
        self.running.insert(name.clone(), member);
        self.protocols.insert(name.clone(), protocol);
        if protocol == self.settings.group_protocol {
            self.note(format!("start {name}"));
        } else {
            self.note(format!("start {name} (group.protocol {protocol:?})"));
        }
        name
    }

    /// Whether the group is one of the consumer protocol now: the run's protocol is, or some running
    /// member speaks it (a classic group is converted when the first such member joins, and converted
    /// back, under the `bidirectional` migration policy, when the last one left).
    fn consumer_group(&self) -> bool {
        self.settings.group_protocol == GroupProtocol::Consumer
            || self.protocols.values().any(|p| *p == GroupProtocol::Consumer)
    }

    /// The group's type as its coordinator lists it (ListGroups v5+: `classic` or `consumer`).
    pub fn group_type(&mut self) -> Option<String> {
        let t = self
            .runtime
            .block_on(self.observer.group_type())
            .unwrap_or_else(|e| panic!("listing groups: {e:#}"));
        self.note(format!("group type (ListGroups): {t:?}"));
        t
    }

    /// Produces `count` records now.
    pub fn produce(&mut self, count: usize) {
        produce(self.cluster, &self.settings.topic, &self.produced, count).unwrap();
        self.note(format!("produced {count} (total {})", self.produced()));
    }

    pub fn produced(&self) -> usize {
        self.produced.load(Ordering::SeqCst)
    }

    pub fn start_producing(&mut self) {
        let producer =
            BackgroundProducer::start(self.cluster, self.settings.topic.clone(), self.produced.clone());
        self.producer = Some(producer);
        self.note(format!(
            "producing {} records every {:?} from here on",
            BackgroundProducer::BATCH,
            BackgroundProducer::PAUSE
        ));
    }

    pub fn pause_producing(&mut self) {
        if let Some(p) = &self.producer {
            p.pause();
        }
        self.note(format!("producer paused (total {})", self.produced()));
    }

    pub fn resume_producing(&mut self) {
        if let Some(p) = &self.producer {
            p.resume();
        }
        self.note("producer resumed".into());
    }

    pub fn stop_producing(&mut self) {
        if let Some(mut p) = self.producer.take() {
            p.stop();
        }
        self.note(format!("producer stopped (total {})", self.produced()));
    }

    /// Clean leave (SIGTERM: revoke, commit, LeaveGroup).
    pub fn leave(&mut self, name: &str) {
        let mut member = self.running.remove(name).expect("running member");
        self.protocols.remove(name);
        member
            .terminate(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.finished.push(member.into_log());
        self.note(format!("{name} left cleanly"));
    }

    /// Hard failure (SIGKILL); records the group's committed offsets right after, while the partitions
    /// cannot have moved yet (the session has not expired).
    pub fn kill(&mut self, name: &str) {
        let mut member = self.running.remove(name).expect("running member");
        self.protocols.remove(name);
        member.kill().unwrap();
        let committed = self.runtime.block_on(self.observer.committed()).unwrap();
        self.committed_at_kill.insert(name.to_owned(), committed.offsets);
        self.finished.push(member.into_log());
        self.note(format!("{name} killed"));
    }

    /// Waits until the group is Stable with exactly `expected` (client ids) as members and every
    /// partition assigned to one of them (so a cooperative follow-up rebalance is done too). Under the
    /// consumer protocol the view is ConsumerGroupDescribe's (Stable: every member reached its target
    /// assignment), and every member must also report owning just what the broker lists for it. That
    /// holds for a group mixing classic and consumer-protocol members too (an online upgrade): it is a
    /// consumer-protocol group, which ConsumerGroupDescribe describes with its classic members.
    pub fn wait_stable(&mut self, expected: &[&str]) -> GroupView {
        let consumer_protocol = self.consumer_group();
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
            let described = if consumer_protocol {
                self.runtime.block_on(self.observer.describe_consumer_group())
            } else {
                self.runtime.block_on(self.observer.describe())
            };
            match described {
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
                        && assigned == (0..self.partitions).collect::<Vec<_>>()
                        && (!consumer_protocol || self.members_report(&view))
                    {
                        let layout: Vec<String> = view
                            .members
                            .iter()
                            .map(|m| {
                                let kind = match m.upgraded {
                                    Some(false) => " (classic)",
                                    _ => "",
                                };
                                format!("{}{kind} {:?}", m.client_id, m.partitions)
                            })
                            .collect();
                        self.note(format!("stable ({}): {}", view.protocol, layout.join(", ")));
                        return view;
                    }
                    last = Some(view);
                }
                Err(e) => println!("{}: describing the group failed (retrying): {e:#}", self.tag),
            }
            assert!(
                Instant::now() < deadline,
                "the group did not settle with members {want:?} within {SETTLE:?}; last view: {last:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether every member of `view` reports owning just the partitions the view lists for it.
    fn members_report(&self, view: &GroupView) -> bool {
        view.members.iter().all(|m| {
            let mut listed = m.partitions.clone();
            listed.sort_unstable();
            self.running
                .get(&m.client_id)
                .is_some_and(|member| owned_now(&member.events()).into_iter().collect::<Vec<_>>() == listed)
        })
    }

    /// The leader of the current generation as kafkaroo member `reporter` reports it, once its report
    /// matches the settled group `view` (Stable, owning what the broker lists for it).
    pub fn leader_seen_by(&mut self, reporter: &str, view: &GroupView) -> String {
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

    /// Waits until running member `name` reports an error (kafkaroo's `error` lines) containing `needle`,
    /// and returns it.
    pub fn wait_error(&mut self, name: &str, needle: &str) -> String {
        let deadline = Instant::now() + SETTLE;
        loop {
            let member = &self.running[name];
            let found = member.events().into_iter().find_map(|e| match e.kind {
                EventKind::Error(msg) if msg.contains(needle) => Some(msg),
                _ => None,
            });
            if let Some(msg) = found {
                self.note(format!("{name} reported: {msg}"));
                return msg;
            }
            assert!(
                Instant::now() < deadline,
                "{name} reported no error containing {needle:?} within {SETTLE:?}; see {}",
                member.raw_log().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until each of the running members `names` consumed at least `records` more records than it
    /// had when called (the producer must be running).
    pub fn wait_each_consumes(&mut self, names: &[&str], records: i64) {
        let consumed = |member: &MemberProcess| -> i64 {
            member
                .events()
                .iter()
                .map(|e| match e.kind {
                    EventKind::Consumed { count, .. } => count,
                    _ => 0,
                })
                .sum()
        };
        let before: Vec<i64> = names.iter().map(|n| consumed(&self.running[*n])).collect();
        let deadline = Instant::now() + SETTLE;
        loop {
            let now: Vec<i64> = names.iter().map(|n| consumed(&self.running[*n])).collect();
            if now.iter().zip(&before).all(|(n, b)| n - b >= records) {
                let counts: Vec<String> = names
                    .iter()
                    .zip(now.iter().zip(&before))
                    .map(|(name, (n, b))| format!("{name} +{}", n - b))
                    .collect();
                self.note(format!("consumed meanwhile: {}", counts.join(", ")));
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{names:?} did not each consume {records} records within {SETTLE:?} (before {before:?}, \
                 now {now:?})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no member has anything left to read (the producer must be paused or stopped): every
    /// partition's current owner consumed up to the high watermark, or the group's committed offset is
    /// there. (Not "committed = high watermark": VerifiableConsumer commits only the partitions of each
    /// poll's records, so a commit that failed during a rebalance stays behind until more records come.)
    pub fn wait_caught_up(&mut self) {
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

    /// After every member left: stops sampling, reads the final committed and end offsets, runs the
    /// checks (with `leaders_required`: the clients of which a member must have led a generation), and
    /// prints the script and the summary.
    pub fn finish(mut self, leaders_required: &[ClientKind]) -> Finished {
        assert!(
            self.running.is_empty(),
            "finish with members still running: {:?}",
            self.running.keys().collect::<Vec<_>>()
        );
        if self.producer.is_some() {
            self.stop_producing();
        }
        let final_committed = self.runtime.block_on(self.observer.committed()).unwrap();
        let end_offsets = self.runtime.block_on(self.observer.end_offsets()).unwrap();
        self.stop_sampling.store(true, Ordering::SeqCst);
        let (sampler, samples) = self.sampler.take().expect("the sampler runs until finish");
        let failed_samples = self.runtime.block_on(sampler).unwrap();
        let samples = samples.lock().unwrap().clone();
        let logs = std::mem::take(&mut self.finished);
        let mut member_names = self.member_names.clone();
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
            partitions: self.partitions,
            end_offsets: end_offsets.clone(),
            committed_samples: samples.clone(),
            committed_at_kill: self.committed_at_kill.clone(),
            final_committed: final_committed.offsets.clone(),
            member_names,
            leaders_required: leaders_required.to_vec(),
        };
        let verdict = checks::check(&logs, &facts);

        let tag = self.tag;
        println!("{tag}: script");
        for line in &self.script {
            println!("  {line}");
        }
        if self.settings.group_protocol == GroupProtocol::Classic {
            println!(
                "{tag}: leaders by generation (kafkaroo members' reports, Java's own): {:?}",
                verdict.leaders
            );
        }
        if let Some((gap, where_)) = &verdict.closest_handover {
            println!("{tag}: closest handover {gap} ms ({where_})");
        }
        for line in &verdict.summary {
            println!("  {line}");
        }
        println!(
            "{tag}: produced {}, high watermarks {:?}, committed {:?}; {} deliveries of records; \
             duplicates: {} after kills (above the commit at the kill), {} after lost partitions, {} after \
             a member's failed commit; {} committed-offset samples ({failed_samples} failed); raw output \
             in {}; {:.0}s",
            self.produced(),
            end_offsets,
            final_committed.offsets,
            verdict.consumed_records,
            verdict.duplicates_after_kill,
            verdict.duplicates_after_loss,
            verdict.duplicates_after_failed_commit,
            samples.len(),
            self.settings.dir.display(),
            self.began.elapsed().as_secs_f64(),
        );
        Finished {
            tag,
            verdict,
            facts,
            logs,
            produced: self.produced(),
            dir: self.settings.dir.clone(),
        }
    }
}

/// Which client a member name (`<kind>-<n>`) belongs to.
pub fn kind_of(name: &str) -> ClientKind {
    [ClientKind::Kafkaroo, ClientKind::Java, ClientKind::Kcat]
        .into_iter()
        .find(|k| name.starts_with(k.label()))
        .unwrap_or_else(|| panic!("{name} is no member of this run"))
}
