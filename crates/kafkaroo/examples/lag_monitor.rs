//! Lag monitoring: per assigned partition, the lag from the consumer's position and the lag from the
//! group's committed offset, printed every `LAG_INTERVAL_MS` while consuming.
//!
//! Two numbers, because they answer two questions. `Consumer::lag` counts from the position (the next
//! record `poll` hands out) to the high watermark (the last stable offset under `read_committed`):
//! how far fetching is behind the log, 0 as soon as `poll` handed out the last record, even if the
//! application has not processed it yet. The committed lag counts from the group's committed offset
//! (`Consumer::committed`) to the same watermark: what a restart would consume again, what
//! `kafka-consumer-groups.sh --describe` shows, the number to alert on. Both use the watermark of the
//! last fetch (`Consumer::watermarks`, no request); the committed offsets are one OffsetFetch per report.
//!
//! Records are processed (a `partition offset value` line each), stored, and committed every
//! `COMMIT_INTERVAL_MS`, so the committed lag trails the position's lag by up to that interval.
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run -p kafkaroo --example lag_monitor -- <topic> <group>
//! ```
//!
//! Report lines (stderr): `lag partition=P position=N high=N lag=N committed=N committed_lag=N`, with
//! `-` for what is not known yet.
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `TOPIC` and `GROUP` (or the two
//! arguments), `OUTPUT_FILE` (processed records; default: stdout), `LAG_INTERVAL_MS` (default 5000),
//! `COMMIT_INTERVAL_MS` (default 1000), `PROCESS_DELAY_MS` (simulated work per record),
//! `MAX_RECORDS` and `IDLE_EXIT_MS` (exit after that many records, or that long without one while
//! partitions are assigned; default: run until SIGTERM or Ctrl-C).

use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, Error, TopicPartition};

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
    let lag_interval = Duration::from_millis(env_parse("LAG_INTERVAL_MS").unwrap_or(5000));
    let commit_interval = Duration::from_millis(env_parse("COMMIT_INTERVAL_MS").unwrap_or(1000));
    let process_delay = Duration::from_millis(env_parse("PROCESS_DELAY_MS").unwrap_or(0));
    let max_records: Option<usize> = env_parse("MAX_RECORDS");
    let idle_exit = env_parse("IDLE_EXIT_MS").map(Duration::from_millis);
    let mut output = open_output()?;

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        // Small batches, so the loop comes back to report often while records are processed.
        ("max.poll.records", "50"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe([topic.as_str()])?;

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut processed = 0usize;
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_report = Instant::now();
    loop {
        if last_report.elapsed() >= lag_interval {
            report(&consumer).await;
            last_report = Instant::now();
        }
        let batch = tokio::select! {
            batch = consumer.poll(lag_interval.min(Duration::from_millis(200))) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        if !batch.is_empty() || consumer.assignment().is_empty() {
            last_record = Instant::now();
        } else if idle_exit.is_some_and(|idle| last_record.elapsed() >= idle) {
            eprintln!("idle: shutting down");
            break;
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
    if let Err(e) = consumer.commit_stored().await {
        eprintln!("final commit failed: {e}");
    }
    report(&consumer).await;
    consumer.close().await;
    Ok(())
}

/// One line per assigned partition: lag from the position, and from the committed offset.
async fn report(consumer: &Consumer) {
    let mut assignment = consumer.assignment();
    if assignment.is_empty() {
        return;
    }
    assignment.sort();
    let committed = match consumer.committed(&assignment).await {
        Ok(committed) => committed,
        Err(e) => {
            eprintln!("lag: committed offsets unavailable: {e}");
            Default::default()
        }
    };
    for tp in &assignment {
        // The high watermark as of the last fetch (the last stable offset would be the end under
        // read_committed); -1 until a fetch reported it.
        let high = consumer.watermarks(tp).map(|w| w.high).filter(|h| *h >= 0);
        let committed = committed.get(tp).cloned().flatten().map(|o| o.offset);
        let committed_lag = high.zip(committed).map(|(h, c)| (h - c).max(0));
        eprintln!(
            "lag partition={} position={} high={} lag={} committed={} committed_lag={}",
            tp.partition,
            show(position(consumer, tp).await),
            show(high),
            show(consumer.lag(tp)),
            show(committed),
            show(committed_lag),
        );
    }
}

/// The position, without waiting for one that is not known yet.
async fn position(consumer: &Consumer, tp: &TopicPartition) -> Option<i64> {
    tokio::time::timeout(Duration::from_millis(100), consumer.position(tp))
        .await
        .ok()
        .and_then(Result::ok)
}

fn show(value: Option<i64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
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
