//! Commit after the side effect: at-least-once processing.
//!
//! Each polled batch is processed first (here: a line `partition offset value` appended to a file,
//! flushed), and only then are its offsets stored and committed. The rule: a committed offset never
//! covers a record whose side effect has not completed, so a crash at any point loses nothing; at
//! worst the records processed since the last commit are processed again by the next owner.
//! Auto-commit is off (`enable.auto.commit=false`) so nothing else commits behind the application's
//! back.
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 OUTPUT_FILE=out.txt \
//!     cargo run -p kafkaroo --example commit_after_processing -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (default: stdout), `MAX_RECORDS` and `IDLE_EXIT_MS` (exit after that
//! many records, or that long without one while partitions are assigned; default: run until SIGTERM or Ctrl-C).

use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, Error};

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
    let max_records: Option<usize> = env_parse("MAX_RECORDS");
    let idle_exit = env_parse("IDLE_EXIT_MS").map(Duration::from_millis);
    let mut output = open_output()?;

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe([topic.as_str()])?;

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut processed = 0usize;
    let mut last_record = Instant::now();
    loop {
        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(200)) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        if batch.is_empty() {
            if consumer.assignment().is_empty() {
                last_record = Instant::now(); // not idle while waiting for partitions
            } else if idle_exit.is_some_and(|idle| last_record.elapsed() >= idle) {
                eprintln!("idle: shutting down");
                break;
            }
            continue;
        }
        last_record = Instant::now();
        // 1. The side effect, made durable (flushed) before anything is committed.
        for record in batch.iter() {
            let value = String::from_utf8_lossy(record.value().unwrap_or_default());
            writeln!(output, "{} {} {}", record.partition(), record.offset(), value)?;
        }
        output.flush()?;
        // 2. Only now: mark the records processed and commit them.
        for record in batch.iter() {
            match consumer.store_offset(record) {
                Ok(()) => {}
                // Revoked or lost since this poll: the new owner processes it (again).
                Err(Error::NotOwned { partitions }) => eprintln!("not stored, moved: {partitions:?}"),
                Err(e) => return Err(e.into()),
            }
        }
        if let Err(e) = consumer.commit_stored().await {
            // Not fatal: the offsets stay stored and the next commit covers them; at worst these
            // records are processed again after a restart.
            eprintln!("commit failed: {e}");
        }
        processed += batch.len();
        if max_records.is_some_and(|max| processed >= max) {
            eprintln!("processed {processed} records: shutting down");
            break;
        }
    }
    // Everything processed is committed already (retried here if the last commit failed); close
    // leaves the group.
    if let Err(e) = consumer.commit_stored().await {
        eprintln!("final commit failed: {e}");
    }
    consumer.close().await;
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
