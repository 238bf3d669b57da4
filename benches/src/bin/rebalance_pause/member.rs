//! One kafkaroo consumer-group member: the same loop and output as `benches/java/RebalanceMember.java`
//! (see there for the line format), so both clients are measured the same way.

use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kafkaroo::{Consumer, ConsumerConfig, RebalanceListener, TopicPartition};

use crate::now_micros;

/// How long one `poll` waits, as in the Java member.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Listener events, stamped when the callback ran (on the group task) and printed by the poll loop.
#[derive(Clone, Default)]
struct EventLog(Arc<Mutex<Vec<String>>>);

impl EventLog {
    fn push(&self, kind: char, partitions: &[TopicPartition]) {
        let mut list: Vec<i32> = partitions.iter().map(|tp| tp.partition).collect();
        list.sort_unstable();
        let list = if list.is_empty() {
            "-".to_owned()
        } else {
            list.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        };
        let line = format!("{kind} {} {list}", now_micros());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl RebalanceListener for EventLog {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.push('A', partitions);
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.push('V', partitions);
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.push('L', partitions);
    }
}

/// Consumes `topic` with `properties` (Java property names) until stdin reaches end of file.
pub(crate) fn run(topic: &str, properties: &[(String, String)]) -> anyhow::Result<()> {
    // RUST_LOG=kafkaroo=debug,kafkaroo_group=debug: the member's log (stderr, kept as member-N.log).
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let config = ConsumerConfig::from_properties(properties.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .context("consumer properties")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(consume(config, topic, &stop))
}

async fn consume(config: ConsumerConfig, topic: &str, stop: &AtomicBool) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut consumer = Consumer::new(config).await.context("creating the consumer")?;
    let events = EventLog::default();
    writeln!(out, "S {}", now_micros())?;
    consumer.subscribe_with_listener([topic], events.clone())?;
    let mut last_group = None;
    while !stop.load(Ordering::Relaxed) {
        let batch = consumer.poll(POLL_TIMEOUT).await?;
        let t = now_micros();
        for line in events.take() {
            writeln!(out, "{line}")?;
        }
        for record in batch.iter() {
            writeln!(
                out,
                "R {t} {} {} {}",
                record.partition(),
                record.offset(),
                record.timestamp()
            )?;
        }
        if let Some(state) = consumer.group_state() {
            let seen = (state.generation, state.state);
            if last_group != Some(seen) {
                writeln!(out, "G {t} {} {:?}", state.generation, state.state)?;
                last_group = Some(seen);
            }
        }
        out.flush()?;
    }
    consumer.close().await;
    for line in events.take() {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "X {}", now_micros())?;
    out.flush()?;
    Ok(())
}
