//! A kafkaroo group member that reports what it does the way Kafka's Java
//! `org.apache.kafka.tools.VerifiableConsumer` does: one JSON object a line on stdout, with Java's event
//! names and fields (`startup_complete`, `partitions_assigned`, `partitions_revoked`, `records_consumed`
//! with per-partition `minOffset`/`maxOffset`/`count`, `offsets_committed` with `success`,
//! `shutdown_complete`), plus kafkaroo-only lines: `partitions_lost` (Java reports lost partitions as
//! revoked), `group_state` (generation, member id, leader id; printed whenever it changes) and `error`
//! (an error `poll` or a commit returned). Every line carries `timestamp` (wall clock, ms).
//!
//! It commits like VerifiableConsumer: `commit_sync` of what each poll returned, right after the poll.
//! With `--auto-commit-interval-ms` it also turns `enable.auto.commit` on, which commits positions when
//! partitions are revoked and on close (the per-batch commits go on).
//!
//! SIGTERM or SIGINT close the consumer cleanly (revoke, commit, LeaveGroup); it runs in its own process so
//! that a test can also SIGKILL it.
//!
//! ```text
//! kafkaroo-verifiable-consumer --bootstrap-server HOST:PORT --topic T --group-id G [--client-id ID]
//!     [--session-timeout MS] [--heartbeat-interval MS] [--assignment-strategy NAME]
//!     [--reset-policy earliest|latest|none] [--auto-commit-interval-ms MS] [--property KEY=VALUE]...
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkaroo::{Consumer, ConsumerConfig, GroupState, OffsetAndMetadata, RebalanceListener, TopicPartition};
use serde_json::{Value, json};

const USAGE: &str = "usage: kafkaroo-verifiable-consumer --bootstrap-server HOST:PORT --topic TOPIC \
--group-id GROUP [--client-id ID] [--session-timeout MS] [--heartbeat-interval MS] \
[--assignment-strategy NAME] [--reset-policy earliest|latest|none] [--auto-commit-interval-ms MS] \
[--property KEY=VALUE]...";

/// Command line: the consumer properties it builds, and the topic.
#[derive(Debug)]
struct Args {
    topic: String,
    properties: Vec<(String, String)>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut topic = None;
        let mut properties: Vec<(String, String)> = vec![
            (
                "partition.assignment.strategy".into(),
                "cooperative-sticky".into(),
            ),
            ("auto.offset.reset".into(), "earliest".into()),
            ("enable.auto.commit".into(), "false".into()),
        ];
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            let property = match flag.as_str() {
                "--topic" => {
                    topic = Some(value()?);
                    continue;
                }
                "--property" => {
                    let kv = value()?;
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("--property {kv:?}: expected KEY=VALUE"))?;
                    properties.push((k.to_owned(), v.to_owned()));
                    continue;
                }
                "--auto-commit-interval-ms" => {
                    properties.push(("enable.auto.commit".into(), "true".into()));
                    "auto.commit.interval.ms"
                }
                "--bootstrap-server" => "bootstrap.servers",
                "--group-id" => "group.id",
                "--client-id" => "client.id",
                "--session-timeout" => "session.timeout.ms",
                "--heartbeat-interval" => "heartbeat.interval.ms",
                "--assignment-strategy" => "partition.assignment.strategy",
                "--reset-policy" => "auto.offset.reset",
                other => return Err(format!("unknown argument {other:?}")),
            };
            properties.push((property.to_owned(), value()?));
        }
        let topic = topic.ok_or("--topic is required")?;
        for required in ["bootstrap.servers", "group.id"] {
            if !properties.iter().any(|(k, _)| k == required) {
                return Err(format!("{required} is required (see the flags)"));
            }
        }
        Ok(Self { topic, properties })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Prints one event a line (whole lines, so the listener on the group task and the poll loop never mix).
fn emit(name: &str, at_ms: u64, mut fields: Value) {
    let obj = fields.as_object_mut().expect("event fields are an object");
    obj.insert("timestamp".into(), json!(at_ms));
    obj.insert("name".into(), json!(name));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{fields}");
    let _ = out.flush();
}

fn partitions_json(partitions: &[TopicPartition]) -> Value {
    partitions
        .iter()
        .map(|tp| json!({"topic": tp.topic, "partition": tp.partition}))
        .collect()
}

/// Reports ownership changes as they happen (inside `poll`), and marks that the group state must be
/// reported again after them: the state the driver already moved to may have been reported before the
/// callback of the same rebalance ran, and a reader pairs each callback with a state line after it.
struct Reporter(Arc<AtomicBool>);

impl RebalanceListener for Reporter {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0.store(true, Ordering::SeqCst);
        emit(
            "partitions_assigned",
            now_ms(),
            json!({"partitions": partitions_json(partitions)}),
        );
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0.store(true, Ordering::SeqCst);
        emit(
            "partitions_revoked",
            now_ms(),
            json!({"partitions": partitions_json(partitions)}),
        );
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.0.store(true, Ordering::SeqCst);
        emit(
            "partitions_lost",
            now_ms(),
            json!({"partitions": partitions_json(partitions)}),
        );
    }
}

fn report_group_state(state: &GroupState) {
    emit(
        "group_state",
        now_ms(),
        json!({
            "state": format!("{:?}", state.state),
            "generation": state.generation,
            "member_id": state.member_id,
            "leader_id": state.leader_id,
            "protocol": state.protocol,
        }),
    );
}

/// Prints `records_consumed` for one poll (stamped with the time poll returned) and returns the offsets
/// to commit: after the last record of each partition, with its leader epoch.
fn report_batch(batch: &kafkaroo::PollBatch, at_ms: u64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    let mut summaries = Vec::new();
    let mut offsets = Vec::new();
    for (tp, records) in batch.partitions() {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            continue;
        };
        summaries.push(json!({
            "topic": tp.topic,
            "partition": tp.partition,
            "count": records.len(),
            "minOffset": first.offset(),
            "maxOffset": last.offset(),
        }));
        let epoch = last.leader_epoch();
        offsets.push((
            tp.clone(),
            OffsetAndMetadata {
                offset: last.offset() + 1,
                leader_epoch: (epoch >= 0).then_some(epoch),
                metadata: None,
            },
        ));
    }
    emit(
        "records_consumed",
        at_ms,
        json!({"count": batch.len(), "partitions": summaries}),
    );
    offsets
}

async fn commit(consumer: &mut Consumer, offsets: Vec<(TopicPartition, OffsetAndMetadata)>) {
    let listed: Value = offsets
        .iter()
        .map(|(tp, o)| json!({"topic": tp.topic, "partition": tp.partition, "offset": o.offset}))
        .collect();
    match consumer.commit_sync(Some(offsets)).await {
        Ok(()) => emit(
            "offsets_committed",
            now_ms(),
            json!({"offsets": listed, "success": true}),
        ),
        Err(e) => emit(
            "offsets_committed",
            now_ms(),
            json!({"offsets": listed, "success": false, "error": e.to_string()}),
        ),
    }
}

/// Sets `stop` on SIGTERM or SIGINT.
fn stop_on_signal() -> Result<Arc<AtomicBool>, std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = Arc::new(AtomicBool::new(false));
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let flag = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        flag.store(true, Ordering::SeqCst);
    });
    Ok(stop)
}

async fn run(args: Args) -> Result<(), String> {
    let config = ConsumerConfig::from_properties(args.properties.iter().map(|(k, v)| (k, v)))
        .map_err(|e| format!("configuration: {e}"))?;
    let stop = stop_on_signal().map_err(|e| format!("installing signal handlers: {e}"))?;
    let mut consumer = Consumer::new(config)
        .await
        .map_err(|e| format!("starting the consumer: {e}"))?;
    emit("startup_complete", now_ms(), json!({}));
    let rebalanced = Arc::new(AtomicBool::new(false));
    consumer
        .subscribe_with_listener([args.topic.as_str()], Reporter(rebalanced.clone()))
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut reported: Option<GroupState> = None;
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(200)).await {
            Ok(batch) if batch.is_empty() => {}
            Ok(batch) => {
                let offsets = report_batch(&batch, now_ms());
                drop(batch);
                commit(&mut consumer, offsets).await;
            }
            Err(e) => {
                emit("error", now_ms(), json!({"error": e.to_string()}));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let state = consumer.group_state();
        let after_callback = rebalanced.swap(false, Ordering::SeqCst);
        if state.is_some() && (state != reported || after_callback) {
            if let Some(s) = &state {
                report_group_state(s);
            }
            reported = state;
        }
    }
    consumer.close().await;
    emit("shutdown_complete", now_ms(), json!({}));
    Ok(())
}

fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kafkaroo-verifiable-consumer: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafkaroo-verifiable-consumer: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkaroo-verifiable-consumer: {e}");
            ExitCode::FAILURE
        }
    }
}
