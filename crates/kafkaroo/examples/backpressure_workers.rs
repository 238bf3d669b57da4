//! Backpressure with worker tasks: pause the partitions while the workers' queues are full, resume
//! when they drained.
//!
//! The polling task hands records to `WORKERS` worker tasks through bounded queues. A partition always
//! goes to the same worker (partition number modulo `WORKERS`), so its records are processed and their
//! offsets stored in order: a store never moves a partition's offset backwards and never covers a
//! record still waiting in a queue. When a queue is full the records left over wait in the polling
//! task, and every assigned partition is paused: the consumer stops fetching (the memory budget is
//! not filled with data nobody can take) but the polling task keeps calling `poll`, so the member
//! stays in the group (`max.poll.interval.ms`) and rebalances run. Partitions assigned while paused
//! are paused in the listener. When the left-over records are queued and every queue is at most half
//! full, the partitions are resumed; what was fetched before the pause is handed out without being
//! fetched again.
//!
//! Workers store offsets through a `CommitHandle` after processing; the polling task commits them
//! every `COMMIT_INTERVAL_MS` and in `on_revoked`. A worker that finishes a record of a partition
//! revoked meanwhile gets `Error::NotOwned` from the store: the record will be processed again by the
//! partition's new owner (at-least-once), so the worker logs it and moves on.
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 WORKERS=4 cargo run -p kafkaroo --example backpressure_workers -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (processed records as `partition offset value` lines; default: stdout),
//! `WORKERS` (default 4), `QUEUE_CAPACITY` (per worker, default 64), `PROCESS_DELAY_MS` (simulated work
//! per record), `COMMIT_INTERVAL_MS` (default 1000), `MAX_RECORDS` and `IDLE_EXIT_MS` (exit after that
//! many records, or when nothing arrived and every worker was idle for that long; default: run until
//! SIGTERM or Ctrl-C).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkaroo::{
    CommitHandle, Consumer, ConsumerConfig, ConsumerRecord, Error, RebalanceContext, RebalanceListener,
    TopicPartition,
};
use tokio::sync::mpsc::{self, error::TrySendError};

type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// Keeps newly assigned partitions paused while the application is paused, and commits the stored
/// offsets of partitions before they are revoked.
struct Listener {
    paused: Arc<AtomicBool>,
}

impl RebalanceListener for Listener {
    fn on_assigned_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        eprintln!("assigned {}", names(partitions));
        if self.paused.load(Ordering::SeqCst) && !partitions.is_empty() {
            ctx.pause(partitions)
                .expect("newly assigned partitions can be paused");
        }
    }

    fn on_revoked_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        eprintln!("revoked {}", names(partitions));
        // Covers what the workers finished; records still queued for these partitions will be
        // refused at the store (NotOwned) and processed again by the new owner.
        if let Err(e) = ctx.commit_stored() {
            eprintln!("commit on revoke refused: {e}");
        }
    }
}

/// Processes the records of its queue in order, storing each offset once the record is processed.
async fn worker(
    id: usize,
    mut queue: mpsc::Receiver<ConsumerRecord>,
    commits: CommitHandle,
    output: Output,
    delay: Duration,
    in_flight: Arc<AtomicUsize>,
    processed: Arc<AtomicUsize>,
) {
    while let Some(record) = queue.recv().await {
        tokio::time::sleep(delay).await; // the work
        {
            let value = String::from_utf8_lossy(record.value().unwrap_or_default());
            let mut out = output.lock().unwrap();
            let written = writeln!(out, "{} {} {}", record.partition(), record.offset(), value)
                .and_then(|()| out.flush());
            if let Err(e) = written {
                // Not processed: not stored. Stop this worker; the record is consumed again later.
                eprintln!("worker {id}: output failed: {e}");
                return;
            }
        }
        match commits.store_offset(&record) {
            Ok(()) => {}
            Err(Error::NotOwned { partitions }) => {
                eprintln!("worker {id}: not stored, revoked meanwhile: {partitions:?}")
            }
            Err(e) => eprintln!("worker {id}: store failed: {e}"),
        }
        processed.fetch_add(1, Ordering::SeqCst);
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topic = args
        .next()
        .or_else(|| std::env::var("TOPIC").ok())
        .ok_or("usage: <topic> <group>")?;
    let group = args
        .next()
        .or_else(|| std::env::var("GROUP").ok())
        .ok_or("usage: <topic> <group>")?;
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let workers: usize = env_parse("WORKERS").unwrap_or(4).max(1);
    let capacity: usize = env_parse("QUEUE_CAPACITY").unwrap_or(64).max(1);
    let process_delay = Duration::from_millis(env_parse("PROCESS_DELAY_MS").unwrap_or(0));
    let commit_interval = Duration::from_millis(env_parse("COMMIT_INTERVAL_MS").unwrap_or(1000));
    let max_records: Option<usize> = env_parse("MAX_RECORDS");
    let idle_exit = env_parse("IDLE_EXIT_MS").map(Duration::from_millis);
    let output: Output = Arc::new(Mutex::new(open_output()?));

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    let paused = Arc::new(AtomicBool::new(false));
    consumer.subscribe_with_listener(
        [topic.as_str()],
        Listener {
            paused: paused.clone(),
        },
    )?;

    let in_flight = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let mut queues = Vec::new();
    let mut tasks = Vec::new();
    for id in 0..workers {
        let (tx, rx) = mpsc::channel(capacity);
        queues.push(tx);
        tasks.push(tokio::spawn(worker(
            id,
            rx,
            consumer.commit_handle(),
            output.clone(),
            process_delay,
            in_flight.clone(),
            processed.clone(),
        )));
    }

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut waiting: VecDeque<ConsumerRecord> = VecDeque::new();
    let mut last_activity = Instant::now();
    let mut last_commit = Instant::now();
    loop {
        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(50)) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        // Records of partitions revoked by this poll's rebalance belong to their new owner now.
        let assignment = consumer.assignment();
        waiting.retain(|r| assignment.contains(&TopicPartition::new(r.topic(), r.partition())));
        // `detach` copies the record out of its fetch response, which would otherwise stay counted
        // against `memory.budget.bytes` while the record waits in a queue.
        waiting.extend(batch.iter().map(ConsumerRecord::detach));
        if !batch.is_empty() || !waiting.is_empty() || in_flight.load(Ordering::SeqCst) > 0 {
            last_activity = Instant::now();
        }
        dispatch(&mut waiting, &queues, &in_flight);

        let drained = queues.iter().all(|q| q.capacity() * 2 >= q.max_capacity());
        if !waiting.is_empty() && !paused.load(Ordering::SeqCst) {
            let assigned = consumer.assignment();
            consumer.pause(&assigned)?;
            paused.store(true, Ordering::SeqCst);
            eprintln!(
                "pause {} partitions ({} records waiting)",
                assigned.len(),
                waiting.len()
            );
        } else if waiting.is_empty() && drained && paused.load(Ordering::SeqCst) {
            let to_resume = consumer.paused();
            consumer.resume(&to_resume)?;
            paused.store(false, Ordering::SeqCst);
            eprintln!("resume {} partitions", to_resume.len());
        }

        if last_commit.elapsed() >= commit_interval {
            if let Err(e) = consumer.commit_stored().await {
                eprintln!("commit failed (the next one covers it): {e}");
            }
            last_commit = Instant::now();
        }
        if max_records.is_some_and(|max| processed.load(Ordering::SeqCst) >= max) {
            eprintln!(
                "processed {} records: shutting down",
                processed.load(Ordering::SeqCst)
            );
            break;
        }
        if consumer.assignment().is_empty() {
            last_activity = Instant::now();
        } else if idle_exit.is_some_and(|idle| last_activity.elapsed() >= idle) {
            eprintln!("idle: shutting down");
            break;
        }
    }
    // Let the workers finish what is queued (records still waiting here are not stored: the next
    // owner gets them), commit what they stored, leave the group.
    drop(queues);
    for task in tasks {
        task.await?;
    }
    if let Err(e) = consumer.commit_stored().await {
        eprintln!("final commit failed: {e}");
    }
    consumer.close().await;
    Ok(())
}

/// Moves waiting records into their worker's queue, in order, until a queue is full.
fn dispatch(
    waiting: &mut VecDeque<ConsumerRecord>,
    queues: &[mpsc::Sender<ConsumerRecord>],
    in_flight: &AtomicUsize,
) {
    while let Some(record) = waiting.pop_front() {
        let queue = &queues[record.partition().unsigned_abs() as usize % queues.len()];
        in_flight.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(record) | TrySendError::Closed(record)) => {
                in_flight.fetch_sub(1, Ordering::SeqCst);
                waiting.push_front(record);
                return;
            }
        }
    }
}

fn names(partitions: &[TopicPartition]) -> String {
    let names: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    format!("[{}]", names.join(", "))
}

/// `OUTPUT_FILE` opened for appending, or stdout.
fn open_output() -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match std::env::var_os("OUTPUT_FILE") {
        Some(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        None => Box::new(std::io::stdout()),
    })
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Completes on Ctrl-C or (on Unix) SIGTERM, what `docker stop` and Kubernetes send. The SIGTERM
/// handler is installed when this is called, not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
