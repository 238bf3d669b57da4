//! Graceful shutdown on SIGTERM or Ctrl-C: stop polling, commit what was processed, leave the group.
//!
//! A signal sets a flag; the loop checks it between records, so the record in hand is finished and
//! the rest of the batch is left alone (it was not stored, so the next owner gets it). Then the
//! offsets of everything processed are committed, synchronously, and `close()` sends LeaveGroup, so
//! the partitions move to the other members at once instead of after `session.timeout.ms`. The rule:
//! commit exactly what was processed before leaving; nothing is lost and nothing is processed twice.
//! This is what `docker stop` and a Kubernetes pod termination need (they send SIGTERM, then SIGKILL
//! after a grace period: keep the final commit well within it).
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run -p kafkaroo --example graceful_shutdown -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (processed records as `partition offset value` lines; default: stdout),
//! `PROCESS_DELAY_MS` (simulated work per record), `COMMIT_INTERVAL_MS` (default 5000),
//! `MAX_RECORDS` and `IDLE_EXIT_MS` (exit after that many records, or that long without one while
//! partitions are assigned; default: run until SIGTERM or Ctrl-C).

use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, Error};
use tokio::sync::watch;

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

    // The signal handler only flips a flag; the consuming loop decides where to stop.
    let (stop_tx, mut stop) = watch::channel(false);
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        eprintln!("signal: shutting down");
        let _ = stop_tx.send(true);
    });

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe([topic.as_str()])?;

    let mut processed = 0usize;
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    'consume: while !*stop.borrow() {
        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(200)) => batch?,
            _ = stop.changed() => break,
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
            if *stop.borrow() {
                // Records not processed are not stored: the next owner of the partition gets them.
                break 'consume;
            }
            tokio::time::sleep(process_delay).await; // the work
            let value = String::from_utf8_lossy(record.value().unwrap_or_default());
            writeln!(output, "{} {} {}", record.partition(), record.offset(), value)?;
            output.flush()?;
            match consumer.store_offset(record) {
                Ok(()) => {}
                Err(Error::NotOwned { partitions }) => eprintln!("not stored, moved: {partitions:?}"),
                Err(e) => return Err(e.into()),
            }
            processed += 1;
            if max_records.is_some_and(|max| processed >= max) {
                eprintln!("processed {processed} records: shutting down");
                break 'consume;
            }
        }
        if last_commit.elapsed() >= commit_interval {
            if let Err(e) = consumer.commit_stored().await {
                eprintln!("commit failed (the next one covers it): {e}");
            }
            last_commit = Instant::now();
        }
    }

    // Stop: commit what was processed (waiting for the outcome), then leave the group.
    match consumer.commit_stored().await {
        Ok(()) => eprintln!("committed {processed} processed records"),
        Err(e) => eprintln!("final commit failed: {e}"),
    }
    consumer.close().await;
    eprintln!("left the group");
    Ok(())
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
