//! `kafkaroo produce`: kcat's produce mode (`kcat -P`) on kafkaroo's producer. Messages come from stdin
//! (split by `-D`, a newline by default), or from files: each file one message, or split like stdin with
//! `-l`. Keys by `-K` (split off each message) or `-k` (one key for all), headers by `-H`.

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use kafkaroo_producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

use crate::consume::{init_logging, io_runtime};
use crate::format::parse_delim;

/// How long closing may take: what is queued is delivered first.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
#[command(
    about = "Send messages to a topic (kcat -P compatible flags)",
    after_help = "Keys land on the partition Java's producer picks (librdkafka's partitioner=murmur2_random);\n\
        messages without a key use the sticky partitioner. Idempotence and acks=all are on by default.\n\
        -X keys: the Java/librdkafka producer properties (bootstrap.servers, client.id, acks,\n  \
        enable.idempotence, linger.ms (queue.buffering.max.ms), batch.size,\n  \
        max.in.flight.requests.per.connection, delivery.timeout.ms (message.timeout.ms),\n  \
        request.timeout.ms, retries, retry.backoff.ms, retry.backoff.max.ms, buffer.memory,\n  \
        max.block.ms, max.request.size (message.max.bytes), compression.type (compression.codec),\n  \
        metadata.max.age.ms, partitioner=murmur2_random) and the security.*, sasl.*, ssl.* ones.\n\
        Exit status: 0 every message acknowledged, 1 some failed or a runtime error, 2 usage error."
)]
pub(crate) struct ProduceArgs {
    /// Bootstrap broker(s): host:port[,host:port...]
    #[arg(short = 'b', value_name = "brokers")]
    brokers: Option<String>,
    /// Topic to produce to
    #[arg(short = 't', value_name = "topic")]
    topic: String,
    /// Partition (default, or -1: the partitioner chooses)
    #[arg(short = 'p', value_name = "partition", allow_hyphen_values = true)]
    partition: Option<i32>,
    /// Message delimiter: text with \n \t \xNN escapes
    #[arg(short = 'D', value_name = "delim", default_value = "\\n")]
    delim: String,
    /// Key delimiter: each message is key<delim>value (no delimiter: no key, or -k)
    #[arg(short = 'K', value_name = "delim")]
    key_delim: Option<String>,
    /// The key of every message (a key split off by -K takes precedence)
    #[arg(short = 'k', value_name = "key")]
    key: Option<String>,
    /// Header name=value for every message (repeatable; order kept; no '=' means a null value)
    #[arg(short = 'H', value_name = "name=value")]
    headers: Vec<String>,
    /// Compression: none, gzip, snappy, lz4 or zstd
    #[arg(short = 'z', value_name = "codec")]
    codec: Option<String>,
    /// Split the file into messages by -D, as stdin (one file only)
    #[arg(short = 'l')]
    lines: bool,
    /// Echo every message sent to stdout, like tee
    #[arg(short = 'T')]
    tee: bool,
    /// Exit after producing this many messages
    #[arg(short = 'c', value_name = "count")]
    count: Option<u64>,
    /// Send empty messages as null values (without -Z they are skipped, as kcat does)
    #[arg(short = 'Z')]
    null: bool,
    /// Producer property key=value (Java/librdkafka names; see below)
    #[arg(short = 'X', value_name = "key=value")]
    props: Vec<String>,
    /// Quiet: no informational messages on stderr
    #[arg(short = 'q')]
    quiet: bool,
    /// More log output (repeat for more; RUST_LOG overrides)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Accepted for kcat compatibility (produce mode is implied)
    #[arg(short = 'P', hide = true)]
    produce_mode: bool,
    /// Files to send: each one message (the whole file), or split by -D with -l
    #[arg(value_name = "file")]
    files: Vec<String>,
}

/// What to send, decided from the arguments before anything connects.
struct Plan {
    config: ProducerConfig,
    topic: String,
    partition: Option<i32>,
    delim: Vec<u8>,
    key_delim: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    args: ProduceArgs,
}

fn plan(args: ProduceArgs) -> anyhow::Result<Plan> {
    let mut builder = ProducerConfig::builder();
    for prop in &args.props {
        let (key, value) = crate::props::split(prop).map_err(|e| anyhow!(e))?;
        let key = key.strip_prefix("topic.").unwrap_or(key);
        builder = builder.set(key, value).map_err(|e| anyhow!("-X {key}: {e}"))?;
    }
    if let Some(codec) = &args.codec {
        builder = builder
            .set("compression.type", codec)
            .map_err(|e| anyhow!("-z: {e}"))?;
    }
    if let Some(b) = &args.brokers {
        builder = builder.bootstrap_servers(b);
    }
    let config = builder.build().map_err(|e| anyhow!("{e}"))?;
    if args.lines && args.files.len() > 1 {
        return Err(anyhow!("-l takes one file only"));
    }
    let delim = parse_delim(&args.delim).map_err(|e| anyhow!("-D: {e}"))?;
    if delim.is_empty() {
        return Err(anyhow!("-D: the delimiter is empty"));
    }
    let key_delim = match &args.key_delim {
        Some(d) => Some(parse_delim(d).map_err(|e| anyhow!("-K: {e}"))?).filter(|d| !d.is_empty()),
        None => None,
    };
    let headers = args
        .headers
        .iter()
        .map(|h| match h.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.as_bytes().to_vec())),
            None => (h.clone(), None),
        })
        .collect();
    Ok(Plan {
        config,
        topic: args.topic.clone(),
        partition: args.partition.filter(|p| *p >= 0),
        delim,
        key_delim,
        key: args.key.as_ref().map(|k| k.as_bytes().to_vec()),
        headers,
        args,
    })
}

pub(crate) fn main(args: ProduceArgs) -> ExitCode {
    init_logging(args.quiet, args.verbose);
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("% ERROR: {e:#}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = io_runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run(&plan)) {
        Ok((sent, 0)) => {
            if !plan.args.quiet {
                eprintln!("% {sent} messages produced to {}", plan.topic);
            }
            ExitCode::SUCCESS
        }
        Ok((sent, failed)) => {
            eprintln!("% ERROR: {failed} of {sent} messages were not delivered");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("% ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends every message; returns how many were sent and how many failed.
async fn run(plan: &Plan) -> anyhow::Result<(u64, u64)> {
    let producer = Producer::new(plan.config.clone())
        .await
        .context("starting the producer")?;
    // Deliveries are awaited in order on their own task, so reading and sending never wait for them.
    let (tx, mut rx) = mpsc::unbounded_channel::<DeliveryFuture>();
    let quiet = plan.args.quiet;
    let waiter = tokio::spawn(async move {
        let mut failed = 0u64;
        while let Some(delivery) = rx.recv().await {
            if let Err(e) = delivery.await {
                failed += 1;
                if !quiet {
                    eprintln!("% ERROR: delivery failed: {e}");
                }
            }
        }
        failed
    });
    let mut sender = Sender {
        plan,
        producer: &producer,
        tx,
        sent: 0,
        stdout: io::stdout().lock(),
    };
    let result = sender.send_inputs().await;
    let _ = sender.stdout.flush();
    let sent = sender.sent;
    drop(sender);
    producer.close(CLOSE_TIMEOUT).await;
    let failed = waiter.await.unwrap_or(sent);
    result.map(|()| (sent, failed))
}

struct Sender<'a> {
    plan: &'a Plan,
    producer: &'a Producer,
    tx: mpsc::UnboundedSender<DeliveryFuture>,
    sent: u64,
    stdout: io::StdoutLock<'static>,
}

impl Sender<'_> {
    async fn send_inputs(&mut self) -> anyhow::Result<()> {
        let files = self.plan.args.files.clone();
        if files.is_empty() {
            return self.send_stream(io::stdin().lock()).await;
        }
        for path in &files {
            let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
            if self.plan.args.lines {
                self.send_stream(io::BufReader::new(file)).await?;
            } else {
                let mut whole = Vec::new();
                io::BufReader::new(file)
                    .read_to_end(&mut whole)
                    .with_context(|| format!("reading {path}"))?;
                if !self.send(&whole).await? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Splits `input` by the delimiter and sends each message (a last one without a delimiter too).
    async fn send_stream(&mut self, mut input: impl BufRead) -> anyhow::Result<()> {
        let delim = self.plan.delim.clone();
        let last = *delim.last().unwrap_or(&b'\n');
        let mut buf = Vec::new();
        let mut message = Vec::new();
        loop {
            buf.clear();
            let n = input.read_until(last, &mut buf).context("reading input")?;
            if n == 0 {
                if !message.is_empty() {
                    self.send(&message).await?;
                }
                return Ok(());
            }
            message.extend_from_slice(&buf);
            if message.ends_with(&delim) {
                message.truncate(message.len() - delim.len());
                if !self.send(&message).await? {
                    return Ok(());
                }
                message.clear();
            }
        }
    }

    /// Sends one message; `false` once `-c` messages were sent.
    async fn send(&mut self, message: &[u8]) -> anyhow::Result<bool> {
        let plan = self.plan;
        if plan.args.count.is_some_and(|c| self.sent >= c) {
            return Ok(false);
        }
        // kcat skips empty messages (empty lines), unless -Z sends them as null.
        if message.is_empty() && !plan.args.null {
            return Ok(true);
        }
        let (key, value) = match plan
            .key_delim
            .as_deref()
            .and_then(|d| find(message, d).map(|at| (at, d.len())))
        {
            Some((at, len)) => (Some(&message[..at]), &message[at + len..]),
            None => (plan.key.as_deref(), message),
        };
        let headers: Vec<(&str, Option<&[u8]>)> = plan
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let mut record = ProducerRecord::new(&plan.topic).headers(&headers);
        record.key = key;
        record.value = (!(plan.args.null && value.is_empty())).then_some(value);
        record.partition = plan.partition;
        let delivery = self
            .producer
            .send(record)
            .await
            .map_err(|e| anyhow!("sending message {}: {e}", self.sent + 1))?;
        let _ = self.tx.send(delivery);
        self.sent += 1;
        if plan.args.tee {
            self.stdout.write_all(message)?;
            self.stdout.write_all(&plan.delim)?;
        }
        Ok(plan.args.count.is_none_or(|c| self.sent < c))
    }
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_delimiter_is_found_once() {
        assert_eq!(find(b"k1:v:1", b":"), Some(2));
        assert_eq!(find(b"no key", b"::"), None);
        assert_eq!(find(b"a::b", b"::"), Some(1));
    }
}
