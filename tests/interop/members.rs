//! Group members of three clients as child processes, and what they report, parsed into one event list
//! per member:
//! - kafkaroo: `kafkaroo-verifiable-consumer` (this crate's binary), JSON lines on stdout;
//! - Java: Kafka's `org.apache.kafka.tools.VerifiableConsumer`, JSON lines on stdout;
//! - kcat (librdkafka): `kcat -G` with stdout and stderr on one pipe, so that its rebalance lines
//!   (stderr) and its record lines (stdout, unbuffered with `-u`) keep their program order.
//!
//! Each event carries a wall-clock time in ms: the time the member printed it for the JSON members (their
//! `timestamp` field), the time the line was read for kcat (its lines carry no time). Every raw line also
//! goes to `<dir>/<name>.log`.
//!
//! The group runs the classic protocol (cooperative-sticky) or, for kafkaroo and Java only, the consumer
//! protocol of KIP-848 ([`MemberSettings::group_protocol`]).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use kafkaroo::GroupProtocol;
use kafkaroo_testcontainers::Cluster;
use serde_json::Value;

/// Which client a member runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientKind {
    Kafkaroo,
    Java,
    Kcat,
}

impl ClientKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Kafkaroo => "kafkaroo",
            Self::Java => "java",
            Self::Kcat => "kcat",
        }
    }
}

/// What a member reported (or, for `Killed`/`Exited`, what the test did or saw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    /// Lost without a clean revoke (kafkaroo's `partitions_lost`, kcat's "assignment lost"; Java
    /// reports lost partitions as revoked).
    Lost(Vec<i32>),
    /// Records of one partition handed out by one poll: offsets `min..=max`, `count` records.
    Consumed {
        partition: i32,
        min: i64,
        max: i64,
        count: i64,
    },
    /// A commit's outcome: `(partition, next offset)` pairs.
    Committed {
        success: bool,
        offsets: Vec<(i32, i64)>,
        error: Option<String>,
    },
    /// kafkaroo's group view.
    GroupState {
        state: String,
        generation: i32,
        member_id: String,
        leader_id: String,
    },
    /// kcat's own member id (from its rebalance lines).
    MemberId(String),
    /// Java joined generation `generation` as `member_id` (its coordinator's INFO log).
    Joined {
        generation: i32,
        member_id: String,
    },
    /// Java computed the assignment of `generation`: it led it (its coordinator's INFO log).
    Led {
        generation: i32,
    },
    /// An error the member reported (kafkaroo's `error` lines).
    Error(String),
    ShutdownComplete,
    /// SIGKILLed by the test; stamped once the process is gone.
    Killed,
    /// The process exited (after a SIGTERM or on its own); stamped once it is gone.
    Exited {
        status: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ms: u64,
    pub kind: EventKind,
}

/// Everything one member reported, in its order.
#[derive(Debug, Clone)]
pub struct MemberLog {
    pub name: String,
    pub kind: ClientKind,
    pub events: Vec<Event>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Records per poll for the kafkaroo and Java members: small, so that they poll and commit often (kcat's
/// librdkafka hands out one record per poll anyway).
const MAX_POLL_RECORDS: usize = 100;

/// What every member is told.
#[derive(Debug, Clone)]
pub struct MemberSettings {
    pub bootstrap: String,
    pub topic: String,
    pub group: String,
    /// With [`GroupProtocol::Classic`] only: under KIP-848 the broker sets the session timeout and
    /// the heartbeat interval (`group.consumer.*`), and Java refuses both properties.
    pub session_timeout_ms: u32,
    pub heartbeat_interval_ms: u32,
    /// `group.protocol`: classic (cooperative-sticky, kafkaroo, Java and kcat) or consumer (KIP-848,
    /// kafkaroo and Java).
    pub group_protocol: GroupProtocol,
    /// Where raw logs and config files go.
    pub dir: PathBuf,
    /// The kafkaroo member binary.
    pub kafkaroo_binary: PathBuf,
    /// Extra consumer properties of the kafkaroo members (`--property KEY=VALUE`), e.g. `security.protocol`
    /// and `sasl.*`.
    pub kafkaroo_properties: Vec<(String, String)>,
    /// Extra consumer properties of the Java members (their `--consumer.config` file), e.g. what
    /// `SecuredCluster::java_client_configs` gives.
    pub java_properties: Vec<(String, String)>,
}

/// `key=value` as a line of a Java properties file (`\`, line breaks and a leading space escaped).
fn java_property_line(key: &str, value: &str) -> String {
    let escape = |s: &str| {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                ' ' if i == 0 => out.push_str("\\ "),
                c => out.push(c),
            }
        }
        out
    };
    format!(
        "{}={}\n",
        escape(key).replace('=', "\\=").replace(':', "\\:"),
        escape(value)
    )
}

/// A running member process and the events parsed from its output so far.
pub struct MemberProcess {
    pub name: String,
    pub kind: ClientKind,
    child: Child,
    events: Arc<Mutex<Vec<Event>>>,
    readers: Vec<JoinHandle<()>>,
    raw_log: PathBuf,
}

impl MemberProcess {
    /// Starts member `name` (also its `client.id`).
    pub fn spawn(
        cluster: &Cluster,
        kind: ClientKind,
        name: &str,
        settings: &MemberSettings,
    ) -> anyhow::Result<Self> {
        let raw_log = settings.dir.join(format!("{name}.log"));
        let log = Arc::new(Mutex::new(
            std::fs::File::create(&raw_log).with_context(|| format!("creating {}", raw_log.display()))?,
        ));
        let events = Arc::new(Mutex::new(Vec::new()));
        let session = settings.session_timeout_ms.to_string();
        let heartbeat = settings.heartbeat_interval_ms.to_string();
        let classic = settings.group_protocol == GroupProtocol::Classic;
        let mut readers = Vec::new();
        let child = match kind {
            ClientKind::Kafkaroo | ClientKind::Java => {
                let mut cmd = if kind == ClientKind::Kafkaroo {
                    let mut cmd = Command::new(&settings.kafkaroo_binary);
                    cmd.args(["--client-id", name])
                        // Auto-commit for its commit on revoke and close; the interval keeps it out of
                        // the way otherwise (the per-batch commits are the ones reported).
                        .args(["--auto-commit-interval-ms", "600000"])
                        .args(["--property", &format!("max.poll.records={MAX_POLL_RECORDS}")]);
                    if classic {
                        cmd.args(["--heartbeat-interval", &heartbeat, "--session-timeout", &session]);
                    } else {
                        cmd.args(["--property", "group.protocol=consumer"]);
                    }
                    for (k, v) in &settings.kafkaroo_properties {
                        cmd.args(["--property", &format!("{k}={v}")]);
                    }
                    cmd
                } else {
                    let config = settings.dir.join(format!("{name}.properties"));
                    let mut text = format!("client.id={name}\nmax.poll.records={MAX_POLL_RECORDS}\n");
                    let mut cmd = java_tool_with_coordinator_logs(cluster, &settings.dir)?;
                    if classic {
                        text.push_str(&format!("heartbeat.interval.ms={heartbeat}\n"));
                        cmd.args(["--group-protocol", "classic", "--session-timeout", &session])
                            .args([
                                "--assignment-strategy",
                                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                            ]);
                    } else {
                        cmd.args(["--group-protocol", "consumer"]);
                    }
                    for (k, v) in &settings.java_properties {
                        text.push_str(&java_property_line(k, v));
                    }
                    std::fs::write(&config, text)?;
                    cmd.arg("--consumer.config").arg(&config);
                    cmd
                };
                cmd.args(["--bootstrap-server", &settings.bootstrap])
                    .args(["--topic", &settings.topic, "--group-id", &settings.group])
                    .args(["--reset-policy", "earliest"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
                let stdout = child.stdout.take().expect("piped stdout");
                let stderr = child.stderr.take().expect("piped stderr");
                readers.push(read_lines(stdout, log.clone(), "out", {
                    let events = events.clone();
                    move |line, at| {
                        let parsed = parse_json_line(line, at);
                        events.lock().unwrap().extend(parsed);
                    }
                }));
                readers.push(read_lines(stderr, log, "err", {
                    let events = events.clone();
                    move |line, at| {
                        if let Some(kind) = parse_java_coordinator_log(line) {
                            events.lock().unwrap().push(Event { at_ms: at, kind });
                        }
                    }
                }));
                child
            }
            ClientKind::Kcat => {
                if !classic {
                    bail!("{name}: the kcat member runs the classic protocol only");
                }
                let (reader, writer) = std::io::pipe()?;
                let mut cmd = Command::new(kafkaroo_testcontainers::kcat_path());
                cmd.args(["-b", &settings.bootstrap, "-G", &settings.group])
                    .args(["-X", &format!("client.id={name}")])
                    .args(["-X", "partition.assignment.strategy=cooperative-sticky"])
                    .args(["-X", &format!("session.timeout.ms={session}")])
                    .args(["-X", &format!("heartbeat.interval.ms={heartbeat}")])
                    // No `-o`: kcat's incremental assign callback overwrites every assigned
                    // partition's start offset with `-o`'s, which would ignore committed offsets.
                    .args(["-X", "auto.offset.reset=earliest"])
                    .args([
                        "-X",
                        "enable.auto.commit=true",
                        "-X",
                        "auto.commit.interval.ms=1000",
                    ])
                    .args(["-u", "-f", "REC %p %o\\n"])
                    .arg(&settings.topic)
                    .stdin(Stdio::null())
                    .stdout(writer.try_clone()?)
                    .stderr(writer);
                let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
                // The command (holding our copies of the pipe's write end) is dropped here, so the
                // reader sees EOF when kcat exits.
                drop(cmd);
                let mut parser = KcatParser::default();
                let events = events.clone();
                readers.push(read_lines(reader, log, "", move |line, at| {
                    let parsed = parser.line(line, at);
                    events.lock().unwrap().extend(parsed);
                }));
                child
            }
        };
        Ok(Self {
            name: name.to_owned(),
            kind,
            child,
            events,
            readers,
            raw_log,
        })
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn raw_log(&self) -> &Path {
        &self.raw_log
    }

    /// Clean leave: SIGTERM, then waits for the exit (SIGKILL and an error after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} ({}) failed: {status}", self.child.id(), self.name);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.finish_readers();
                self.push(EventKind::Exited {
                    status: status.to_string(),
                });
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.finish_readers();
                self.push(EventKind::Killed);
                bail!(
                    "{} did not exit within {timeout:?} of SIGTERM (killed; log {})",
                    self.name,
                    self.raw_log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Hard failure: SIGKILL, and waits until the process is gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("SIGKILL")?;
        self.child.wait()?;
        self.finish_readers();
        self.push(EventKind::Killed);
        Ok(())
    }

    /// Waits for the output readers (the process is gone, so they reach EOF).
    fn finish_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    fn push(&self, kind: EventKind) {
        self.events.lock().unwrap().push(Event {
            at_ms: now_ms(),
            kind,
        });
    }

    /// The final report (the process must be gone).
    pub fn into_log(mut self) -> MemberLog {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.push(EventKind::Killed);
        }
        self.finish_readers();
        MemberLog {
            name: self.name.clone(),
            kind: self.kind,
            events: self.events(),
        }
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kafka's `VerifiableConsumer` with the tools' classpath, logging warnings and its group coordinator's
/// INFO lines (joins, and the assignments it computes as leader; under KIP-848 its membership manager's
/// state changes, for the raw log only) to stderr, for log4j2 (Kafka 4) and reload4j (Kafka 3).
fn java_tool_with_coordinator_logs(cluster: &Cluster, dir: &Path) -> anyhow::Result<Command> {
    const COORDINATORS: [&str; 4] = [
        "org.apache.kafka.clients.consumer.internals.ConsumerCoordinator",
        "org.apache.kafka.clients.consumer.internals.AbstractCoordinator",
        "org.apache.kafka.clients.consumer.internals.AbstractMembershipManager",
        "org.apache.kafka.clients.consumer.internals.ConsumerMembershipManager",
    ];
    let log4j2 = dir.join("java-log4j2.properties");
    let mut text = "status = warn\n\
                    appender.err.type = Console\n\
                    appender.err.name = ERR\n\
                    appender.err.target = SYSTEM_ERR\n\
                    appender.err.layout.type = PatternLayout\n\
                    appender.err.layout.pattern = [%d] %p %m (%c)%n\n\
                    rootLogger.level = WARN\n\
                    rootLogger.appenderRef.err.ref = ERR\n"
        .to_owned();
    for (i, logger) in COORDINATORS.iter().enumerate() {
        text.push_str(&format!(
            "logger.c{i}.name = {logger}\nlogger.c{i}.level = INFO\n"
        ));
    }
    std::fs::write(&log4j2, text)?;
    let log4j = dir.join("java-log4j.properties");
    let mut text = "log4j.rootLogger=WARN, err\n\
                    log4j.appender.err=org.apache.log4j.ConsoleAppender\n\
                    log4j.appender.err.Target=System.err\n\
                    log4j.appender.err.layout=org.apache.log4j.PatternLayout\n\
                    log4j.appender.err.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        .to_owned();
    for logger in COORDINATORS {
        text.push_str(&format!("log4j.logger.{logger}=INFO\n"));
    }
    std::fs::write(&log4j, text)?;
    let mut cmd = Command::new(kafkaroo_testcontainers::java()?);
    cmd.arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
        .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
        .arg("-cp")
        .arg(cluster.java_tools_classpath()?)
        .arg("org.apache.kafka.tools.VerifiableConsumer");
    Ok(cmd)
}

/// Java's coordinator lines "Successfully joined group with generation Generation{generationId=N,
/// memberId='M', ...}" and "Finished assignment for group at generation N: ..." (leader only).
pub fn parse_java_coordinator_log(line: &str) -> Option<EventKind> {
    let number = |s: &str| -> Option<i32> {
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    if let Some(rest) = line.split("Finished assignment for group at generation ").nth(1) {
        return Some(EventKind::Led {
            generation: number(rest)?,
        });
    }
    let rest = line
        .split("Successfully joined group with generation Generation{generationId=")
        .nth(1)?;
    let member_id = rest.split("memberId='").nth(1)?.split('\'').next()?;
    Some(EventKind::Joined {
        generation: number(rest)?,
        member_id: member_id.to_owned(),
    })
}

/// Reads `input` line by line on a thread: each line goes to the raw log (with the time read and
/// `stream`) and to `on_line` with the time read (ms, never going backwards).
fn read_lines(
    input: impl Read + Send + 'static,
    log: Arc<Mutex<std::fs::File>>,
    stream: &'static str,
    mut on_line: impl FnMut(&str, u64) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        for line in BufReader::new(input).lines() {
            let Ok(line) = line else { break };
            let at = now_ms().max(last);
            last = at;
            let _ = writeln!(log.lock().unwrap(), "{at} {stream} {line}");
            on_line(&line, at);
        }
    })
}

fn partition_list(v: &Value) -> Vec<i32> {
    v["partitions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["partition"].as_i64().map(|p| p as i32))
                .collect()
        })
        .unwrap_or_default()
}

/// Events of one VerifiableConsumer-format JSON line (none for other lines).
pub fn parse_json_line(line: &str, read_at: u64) -> Vec<Event> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let at_ms = v["timestamp"].as_u64().unwrap_or(read_at);
    let event = |kind| Event { at_ms, kind };
    let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
    match v["name"].as_str().unwrap_or_default() {
        "partitions_assigned" => vec![event(EventKind::Assigned(partition_list(&v)))],
        "partitions_revoked" => vec![event(EventKind::Revoked(partition_list(&v)))],
        "partitions_lost" => vec![event(EventKind::Lost(partition_list(&v)))],
        "records_consumed" => v["partitions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                event(EventKind::Consumed {
                    partition: s["partition"].as_i64().unwrap_or(-1) as i32,
                    min: s["minOffset"].as_i64().unwrap_or(-1),
                    max: s["maxOffset"].as_i64().unwrap_or(-1),
                    count: s["count"].as_i64().unwrap_or(-1),
                })
            })
            .collect(),
        "offsets_committed" => vec![event(EventKind::Committed {
            success: v["success"].as_bool().unwrap_or(false),
            offsets: v["offsets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    (
                        o["partition"].as_i64().unwrap_or(-1) as i32,
                        o["offset"].as_i64().unwrap_or(-1),
                    )
                })
                .collect(),
            error: v["error"].as_str().map(str::to_owned),
        })],
        "group_state" => vec![event(EventKind::GroupState {
            state: text("state"),
            generation: v["generation"].as_i64().unwrap_or(-1) as i32,
            member_id: text("member_id"),
            leader_id: text("leader_id"),
        })],
        "error" => vec![event(EventKind::Error(text("error")))],
        "shutdown_complete" => vec![event(EventKind::ShutdownComplete)],
        _ => Vec::new(),
    }
}

/// kcat's consumer output: `REC <partition> <offset>` lines (our `-f`), and its rebalance lines
/// `% Group G rebalanced: incremental assignment|revoke of N partition(s) (memberid M[, assignment
/// lost], COOPERATIVE rebalance protocol): T [0], T [1]`. The partition list is written piecewise; a
/// librdkafka log line written from another thread meanwhile would split it, so a list shorter than N
/// continues on the next line that is not a log line.
#[derive(Debug, Default)]
pub struct KcatParser {
    /// A rebalance line still missing partitions: (kind, expected count, partitions so far, time).
    pending: Option<(RebalanceKind, usize, Vec<i32>, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RebalanceKind {
    Assigned,
    Revoked,
    Lost,
}

fn bracketed_partitions(text: &str) -> Vec<i32> {
    text.split('[')
        .skip(1)
        .filter_map(|s| s.split(']').next()?.trim().parse().ok())
        .collect()
}

impl KcatParser {
    pub fn line(&mut self, line: &str, at: u64) -> Vec<Event> {
        let mut out = Vec::new();
        // A librdkafka log line ("%7|<time>|FAC|..."), possibly after a fragment of a rebalance list.
        let (fragment, _log) = match line.find("%") {
            Some(i) if i > 0 && line.as_bytes().get(i + 2) == Some(&b'|') => (&line[..i], &line[i..]),
            _ => (line, ""),
        };
        if let Some((kind, n, mut got, started)) = self.pending.take() {
            let continues = !fragment.starts_with('%') && !fragment.starts_with("REC ");
            if continues {
                got.extend(bracketed_partitions(fragment));
                self.finish(kind, n, got, started, &mut out);
                return out;
            }
            // Not a continuation after all: report what arrived.
            out.push(rebalance_event(kind, got, started));
        }
        if let Some(rest) = fragment.strip_prefix("REC ") {
            let mut it = rest.split_whitespace().map(str::parse::<i64>);
            if let (Some(Ok(p)), Some(Ok(o))) = (it.next(), it.next()) {
                out.push(Event {
                    at_ms: at,
                    kind: EventKind::Consumed {
                        partition: p as i32,
                        min: o,
                        max: o,
                        count: 1,
                    },
                });
            }
            return out;
        }
        if let Some(idx) = fragment.find(" rebalanced: incremental ") {
            let rest = &fragment[idx + " rebalanced: incremental ".len()..];
            let kind = if rest.starts_with("assignment") {
                RebalanceKind::Assigned
            } else if rest.contains("assignment lost") {
                RebalanceKind::Lost
            } else {
                RebalanceKind::Revoked
            };
            let n: usize = rest
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Some(m) = rest.split("(memberid ").nth(1) {
                let id: String = m.chars().take_while(|c| *c != ',' && *c != ')').collect();
                out.push(Event {
                    at_ms: at,
                    kind: EventKind::MemberId(id),
                });
            }
            let list = rest.split_once("): ").map_or("", |(_, l)| l);
            self.finish(kind, n, bracketed_partitions(list), at, &mut out);
        }
        out
    }

    fn finish(&mut self, kind: RebalanceKind, n: usize, got: Vec<i32>, at: u64, out: &mut Vec<Event>) {
        if got.len() < n {
            self.pending = Some((kind, n, got, at));
        } else {
            out.push(rebalance_event(kind, got, at));
        }
    }
}

fn rebalance_event(kind: RebalanceKind, partitions: Vec<i32>, at_ms: u64) -> Event {
    let kind = match kind {
        RebalanceKind::Assigned => EventKind::Assigned(partitions),
        RebalanceKind::Revoked => EventKind::Revoked(partitions),
        RebalanceKind::Lost => EventKind::Lost(partitions),
    };
    Event { at_ms, kind }
}

/// The partitions a member owns at the end of its events (assigned minus revoked/lost).
pub fn owned_now(events: &[Event]) -> BTreeSet<i32> {
    let mut owned = BTreeSet::new();
    for e in events {
        match &e.kind {
            EventKind::Assigned(ps) => owned.extend(ps),
            EventKind::Revoked(ps) | EventKind::Lost(ps) => {
                for p in ps {
                    owned.remove(p);
                }
            }
            EventKind::Killed | EventKind::Exited { .. } => owned.clear(),
            _ => {}
        }
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_rebalance_and_record_lines() {
        let mut p = KcatParser::default();
        let ev = p.line(
            "% Group g rebalanced: incremental assignment of 2 partition(s) (memberid m-1, \
             COOPERATIVE rebalance protocol): t [3], t [5]",
            10,
        );
        assert_eq!(ev[0].kind, EventKind::MemberId("m-1".into()));
        assert_eq!(ev[1].kind, EventKind::Assigned(vec![3, 5]));
        let ev = p.line("REC 3 17", 11);
        assert_eq!(
            ev[0].kind,
            EventKind::Consumed {
                partition: 3,
                min: 17,
                max: 17,
                count: 1
            }
        );
        let ev = p.line(
            "% Group g rebalanced: incremental revoke of 1 partition(s) (memberid m-1, assignment \
             lost, COOPERATIVE rebalance protocol): t [3]",
            12,
        );
        assert_eq!(ev[1].kind, EventKind::Lost(vec![3]));
    }

    #[test]
    fn kcat_list_split_by_a_log_line() {
        let mut p = KcatParser::default();
        let ev = p.line(
            "% Group g rebalanced: incremental revoke of 3 partition(s) (memberid m, COOPERATIVE \
             rebalance protocol): t [0], %4|1.2|FAC|rdkafka#consumer-1| [thrd:main]: something",
            5,
        );
        assert_eq!(ev.len(), 1, "only the member id so far: {ev:?}");
        let ev = p.line("t [1], t [2]", 6);
        assert_eq!(
            ev,
            vec![Event {
                at_ms: 5,
                kind: EventKind::Revoked(vec![0, 1, 2])
            }]
        );
    }

    #[test]
    fn java_json_lines() {
        let ev = parse_json_line(
            r#"{"timestamp":7,"name":"records_consumed","count":3,"partitions":[{"topic":"t","partition":1,"count":3,"minOffset":4,"maxOffset":6}]}"#,
            99,
        );
        assert_eq!(
            ev,
            vec![Event {
                at_ms: 7,
                kind: EventKind::Consumed {
                    partition: 1,
                    min: 4,
                    max: 6,
                    count: 3
                }
            }]
        );
        let ev = parse_json_line(
            r#"{"timestamp":8,"name":"offsets_committed","offsets":[{"topic":"t","partition":1,"offset":7}],"error":"boom","success":false}"#,
            99,
        );
        assert_eq!(
            ev[0].kind,
            EventKind::Committed {
                success: false,
                offsets: vec![(1, 7)],
                error: Some("boom".into())
            }
        );
        assert!(parse_json_line("[main] WARN something", 1).is_empty());
    }

    #[test]
    fn java_property_lines_are_escaped() {
        assert_eq!(java_property_line("a.b", "c d"), "a.b=c d\n");
        assert_eq!(
            java_property_line("sasl.jaas.config", r#"M required username="a\b" x=y;"#),
            "sasl.jaas.config=M required username=\"a\\\\b\" x=y;\n"
        );
        assert_eq!(java_property_line("k", " lead\nx"), "k=\\ lead\\nx\n");
    }

    #[test]
    fn java_coordinator_lines() {
        assert_eq!(
            parse_java_coordinator_log(
                "[2026-01-01 00:00:00,000] INFO [Consumer clientId=java-1, groupId=g] Successfully joined \
                 group with generation Generation{generationId=6, memberId='java-1-ab-cd', \
                 protocol='cooperative-sticky'} (org.apache.kafka.clients.consumer.internals.AbstractCoordinator)"
            ),
            Some(EventKind::Joined {
                generation: 6,
                member_id: "java-1-ab-cd".into()
            })
        );
        assert_eq!(
            parse_java_coordinator_log(
                "[x] INFO [Consumer clientId=java-1, groupId=g] Finished assignment for group at generation \
                 12: {java-1-ab=Assignment(partitions=[t-0])} (x)"
            ),
            Some(EventKind::Led { generation: 12 })
        );
        assert_eq!(parse_java_coordinator_log("[x] INFO something else"), None);
    }
}
