//! Commit in `on_revoked`: no record processed twice when partitions move to another member.
//!
//! Offsets are stored after each record is processed and committed only now and then (every
//! `COMMIT_INTERVAL_MS`), as a busy consumer does to keep commits cheap. When a rebalance takes
//! partitions away, the listener commits what was stored in `on_revoked`. This is correct because
//! the callback runs inside `poll`, after every record of earlier polls was processed and stored, and
//! the partitions are released to their next owner only after that commit completed: the next owner
//! starts right after the last processed record. `on_lost` commits nothing: the partitions may
//! already belong to someone else (the records since the last commit will be processed again).
//!
//! Run two or more with the same group and watch the partitions move:
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run -p kafkaroo --example commit_on_revoke -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (processed records as `partition offset value` lines; default: stdout),
//! `PROCESS_DELAY_MS` (simulated work per record), `COMMIT_INTERVAL_MS` (default 5000),
//! `MAX_RECORDS` and `IDLE_EXIT_MS` (exit after that many records, or that long without one while
//! partitions are assigned; default: run until SIGTERM or Ctrl-C).

use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, Error, RebalanceContext, RebalanceListener, TopicPartition};

/// Commits the stored offsets of partitions before they are taken away.
struct CommitOnRevoke;

impl RebalanceListener for CommitOnRevoke {
    fn on_assigned_with(&mut self, _ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        eprintln!("assigned {}", names(partitions));
    }

    fn on_revoked_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        eprintln!("revoked {}", names(partitions));
        // The partitions are released only after this commit completed (or failed). There is no
        // need to await the returned `PendingCommit`: dropping it does not cancel the commit.
        match ctx.commit_stored() {
            Ok(Some(_pending)) => eprintln!("commit of the stored offsets started"),
            Ok(None) => {}
            Err(e) => eprintln!("commit on revoke refused: {e}"),
        }
    }

    fn on_lost_with(&mut self, _ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        // Another member may own them already: committing now could overwrite its progress.
        eprintln!("lost {}", names(partitions));
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
    let process_delay = Duration::from_millis(env_parse("PROCESS_DELAY_MS").unwrap_or(0));
    let commit_interval = Duration::from_millis(env_parse("COMMIT_INTERVAL_MS").unwrap_or(5000));
    let max_records: Option<usize> = env_parse("MAX_RECORDS");
    let idle_exit = env_parse("IDLE_EXIT_MS").map(Duration::from_millis);
    let mut output = open_output()?;

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        // Slow processing: smaller batches reach the next poll (and a pending rebalance) sooner.
        ("max.poll.records", "50"),
        ("heartbeat.interval.ms", "1000"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe_with_listener([topic.as_str()], CommitOnRevoke)?;

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut processed = 0usize;
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    loop {
        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(200)) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        if batch.is_empty() {
            if consumer.assignment().is_empty() {
                last_record = Instant::now();
            } else if idle_exit.is_some_and(|idle| last_record.elapsed() >= idle) {
                eprintln!("idle: shutting down");
                break;
            }
        } else {
            last_record = Instant::now();
        }
        for record in batch.iter() {
            tokio::time::sleep(process_delay).await; // the work
            let value = String::from_utf8_lossy(record.value().unwrap_or_default());
            writeln!(output, "{} {} {}", record.partition(), record.offset(), value)?;
        }
        output.flush()?;
        for record in batch.iter() {
            match consumer.store_offset(record) {
                Ok(()) => {}
                // Revoked or lost since this poll: the new owner processes it (again).
                Err(Error::NotOwned { partitions }) => eprintln!("not stored, moved: {partitions:?}"),
                Err(e) => return Err(e.into()),
            }
        }
        processed += batch.len();
        if last_commit.elapsed() >= commit_interval {
            if let Err(e) = consumer.commit_stored().await {
                eprintln!("commit failed (the next one covers it): {e}");
            }
            last_commit = Instant::now();
        }
        if max_records.is_some_and(|max| processed >= max) {
            eprintln!("processed {processed} records: shutting down");
            break;
        }
    }
    // close revokes every partition: `on_revoked` commits what was stored, then the member leaves.
    consumer.close().await;
    Ok(())
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
