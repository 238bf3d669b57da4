//! Poison records: retry a failing record with backoff by seeking back to it, then skip it as a dead
//! letter after `MAX_ATTEMPTS`.
//!
//! When a record fails, its partition is sought back to the record and paused for the backoff
//! (`RETRY_BACKOFF_MS`, doubling each attempt); the rest of that partition's batch is left alone, so
//! records after the failing one are not processed out of order, and other partitions go on meanwhile.
//! After the backoff the partition is resumed and the record comes back from `poll`. When the last
//! attempt fails the record is logged as a dead letter (a real application would produce it to a
//! dead-letter topic first) and its offset is stored like any processed record, so the commit moves
//! past it. The rule: an offset is stored only once its record is dealt with, processed or dead
//! lettered, and records of a partition are dealt with in order; a crash during the retries consumes
//! the failing record again, never skips it.
//!
//! Processing fails here for records whose value contains `POISON_MARKER` (default `poison`),
//! standing for a record your processing rejects.
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run -p kafkaroo --example poison_records -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (processed records as `partition offset value` lines; default: stdout),
//! `MAX_ATTEMPTS` (default 3), `RETRY_BACKOFF_MS` (default 500), `POISON_MARKER`, `MAX_RECORDS` and
//! `IDLE_EXIT_MS` (exit after that many records, or that long without one while partitions are
//! assigned and none is waiting for a retry; default: run until SIGTERM or Ctrl-C).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, ConsumerRecord, Error, TopicPartition};

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
    let max_attempts: u32 = env_parse("MAX_ATTEMPTS").unwrap_or(3).max(1);
    let backoff = Duration::from_millis(env_parse("RETRY_BACKOFF_MS").unwrap_or(500));
    let marker = std::env::var("POISON_MARKER").unwrap_or_else(|_| "poison".into());
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

    // Failed attempts of the record a partition is stuck on, and when its partition is resumed.
    let mut attempts: HashMap<(TopicPartition, i64), u32> = HashMap::new();
    let mut retry_at: HashMap<TopicPartition, Instant> = HashMap::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut processed = 0usize;
    let mut last_record = Instant::now();
    'consume: loop {
        // Partitions revoked meanwhile are gone (with their pause); resume those whose backoff is over.
        let assignment = consumer.assignment();
        retry_at.retain(|tp, _| assignment.contains(tp));
        let due: Vec<TopicPartition> = retry_at
            .iter()
            .filter(|(_, at)| **at <= Instant::now())
            .map(|(tp, _)| tp.clone())
            .collect();
        if !due.is_empty() {
            consumer.resume(&due)?;
            for tp in &due {
                retry_at.remove(tp);
            }
        }

        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(100)) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        if !batch.is_empty() || !retry_at.is_empty() || consumer.assignment().is_empty() {
            last_record = Instant::now();
        } else if idle_exit.is_some_and(|idle| last_record.elapsed() >= idle) {
            eprintln!("idle: shutting down");
            break;
        }
        for (tp, records) in batch.partitions() {
            for record in records {
                let key = (tp.clone(), record.offset());
                match process(record, &marker) {
                    Ok(value) => {
                        writeln!(output, "{} {} {value}", record.partition(), record.offset())?;
                        output.flush()?;
                        attempts.remove(&key);
                    }
                    Err(reason) => {
                        let attempt = attempts.entry(key.clone()).or_insert(0);
                        *attempt += 1;
                        eprintln!(
                            "failed partition {} offset {} attempt {attempt}/{max_attempts}: {reason}",
                            tp.partition,
                            record.offset()
                        );
                        if *attempt < max_attempts {
                            // Back to this record after the backoff; the rest of this partition's
                            // batch is dropped (it comes again after the record).
                            let wait = backoff * 2u32.saturating_pow(*attempt - 1);
                            consumer.seek(tp, record.offset())?;
                            consumer.pause(std::slice::from_ref(tp))?;
                            retry_at.insert(tp.clone(), Instant::now() + wait);
                            break;
                        }
                        attempts.remove(&key);
                        let value = String::from_utf8_lossy(record.value().unwrap_or_default());
                        eprintln!(
                            "dead-letter partition {} offset {} value {value:?}: {reason}",
                            tp.partition,
                            record.offset()
                        );
                    }
                }
                // Processed or dead-lettered: the commit may move past it.
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
        }
        if !batch.is_empty()
            && let Err(e) = consumer.commit_stored().await
        {
            eprintln!("commit failed (the next one covers it): {e}");
        }
    }
    if let Err(e) = consumer.commit_stored().await {
        eprintln!("final commit failed: {e}");
    }
    consumer.close().await;
    Ok(())
}

/// The processing that can fail for a record (here: parsing its value), returning what is written.
fn process(record: &ConsumerRecord, marker: &str) -> Result<String, String> {
    let value = String::from_utf8_lossy(record.value().unwrap_or_default());
    if value.contains(marker) {
        return Err(format!("value contains {marker:?}"));
    }
    Ok(value.into_owned())
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
