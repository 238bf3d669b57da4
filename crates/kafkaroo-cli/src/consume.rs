//! `kafkaroo consume`: kcat's consume mode (`kcat -C`) on the kafkaroo consumer.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use kafkaroo::{Consumer, ConsumerConfig, TopicPartition};

use crate::format::{Format, Renderer, parse_delim};
use crate::offset::{OffsetSpec, Start, tail_offset};
use crate::props;

/// `max.poll.records` unless `-X` sets it: large polls keep the per-poll overhead out of the way.
const DEFAULT_MAX_POLL_RECORDS: &str = "10000";
/// How long one `poll` waits; output is flushed when it returns nothing.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Output is written when this much is buffered...
const FLUSH_BYTES: usize = 128 * 1024;
/// ...or when the oldest buffered record waited this long.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
#[command(
    about = "Print records of a topic (kcat -C compatible flags)",
    after_help = "Format string tokens (-f), as kcat:\n  \
        %s value  %S value length (-1 for null)  %R value length as 32-bit big-endian binary\n  \
        %k key  %K key length (-1 for null)  %t topic  %p partition  %o offset\n  \
        %T timestamp (ms)  %h headers (n=v,n2=v2)  %% percent sign\n  \
        \\n \\r \\t \\\\ \\0 \\xNN escapes\n\
        JSON (-J): {\"topic\":..,\"partition\":..,\"offset\":..,\"tstype\":\"create|logappend\",\"ts\":..,\
        \"broker\":..,\"headers\":[\"name\",\"value\",..],\"key\":..,\"payload\":..}\n\
        -X keys: bootstrap.servers, client.id, auto.offset.reset, isolation.level, fetch.min.bytes,\n  \
        fetch.max.bytes, fetch.max.wait.ms (fetch.wait.max.ms), max.partition.fetch.bytes\n  \
        (fetch.message.max.bytes), max.poll.records, check.crcs, fetch.sessions.enable,\n  \
        memory.budget.bytes, max.decompressed.batch.bytes, request.timeout.ms,\n  \
        socket.connection.setup.timeout.ms, reconnect.backoff.ms, reconnect.backoff.max.ms,\n  \
        retry.backoff.ms, metadata.max.age.ms, receive.message.max.bytes, client.rack\n\
        Exit status: 0 done (count, end of partitions, Ctrl-C), 1 runtime error, 2 usage error."
)]
pub(crate) struct ConsumeArgs {
    /// Bootstrap broker(s): host:port[,host:port...]
    #[arg(short = 'b', value_name = "brokers")]
    brokers: Option<String>,
    /// Topic to consume from
    #[arg(short = 't', value_name = "topic")]
    topic: String,
    /// Partition (default: all partitions of the topic)
    #[arg(short = 'p', value_name = "partition")]
    partition: Option<i32>,
    /// Start offset: beginning (default) | end | stored | <N> (absolute) | -<N> (N before the end, per
    /// partition) | s@<timestamp ms> (first record at or after) | e@<timestamp ms> (stop at, not included)
    #[arg(short = 'o', value_name = "offset", allow_hyphen_values = true)]
    offsets: Vec<String>,
    /// Exit after printing this many records
    #[arg(short = 'c', value_name = "count")]
    count: Option<u64>,
    /// Exit when every partition reached its end
    #[arg(short = 'e')]
    exit_eof: bool,
    /// Output format string (see below); takes precedence over -D and -K
    #[arg(short = 'f', value_name = "fmt")]
    format: Option<String>,
    /// One JSON object per record (followed by the -D delimiter)
    #[arg(short = 'J', conflicts_with = "format")]
    json: bool,
    /// Consumer property key=value (Java/librdkafka names; see below)
    #[arg(short = 'X', value_name = "key=value")]
    props: Vec<String>,
    /// Record delimiter: text with \n \t \xNN escapes
    #[arg(short = 'D', value_name = "delim", default_value = "\\n")]
    delim: String,
    /// Print keys before values, followed by this delimiter
    #[arg(short = 'K', value_name = "delim")]
    key_delim: Option<String>,
    /// Print null (and empty) keys and values as NULL
    #[arg(short = 'Z')]
    null: bool,
    /// Unbuffered output: write every record at once
    #[arg(short = 'u')]
    unbuffered: bool,
    /// Quiet: no informational messages on stderr
    #[arg(short = 'q')]
    quiet: bool,
    /// More log output (repeat for more; RUST_LOG overrides)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Accepted for kcat compatibility (consume mode is implied)
    #[arg(short = 'C', hide = true)]
    consume_mode: bool,
    /// Consumer groups: not available yet
    #[arg(short = 'G', value_name = "group", hide = true)]
    group: Option<String>,
}

/// A usage error: exit status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// Everything checked before connecting.
struct Plan {
    config: ConsumerConfig,
    topic: String,
    partition: Option<i32>,
    offsets: OffsetSpec,
    renderer: Renderer,
    count: Option<u64>,
    exit_eof: bool,
    quiet: bool,
    unbuffered: bool,
}

fn plan(args: ConsumeArgs) -> anyhow::Result<Plan> {
    if args.group.is_some() {
        return Err(usage("-G (consumer groups) is not available yet"));
    }
    let offsets =
        OffsetSpec::parse(args.offsets.iter().map(String::as_str)).map_err(|e| usage(e.to_string()))?;
    if offsets.start == Start::Stored {
        return Err(usage(
            "offset 'stored' needs -G (consumer groups), not available yet",
        ));
    }
    if let Some(p) = args.partition
        && p < 0
    {
        return Err(usage(format!("invalid partition {p}")));
    }
    if args.topic.is_empty() {
        return Err(usage("-t <topic> must not be empty"));
    }
    let delim = parse_delim(&args.delim).map_err(|e| usage(e.to_string()))?;
    let renderer = if args.json {
        Renderer::Json { delim }
    } else {
        let format = match &args.format {
            Some(f) => Format::parse(f.as_bytes()).map_err(|e| usage(e.to_string()))?,
            None => {
                let key_delim = args
                    .key_delim
                    .as_deref()
                    .map(parse_delim)
                    .transpose()
                    .map_err(|e| usage(e.to_string()))?;
                Format::default_for(&delim, key_delim.as_deref())
            }
        };
        Renderer::Format {
            format,
            null: args.null.then(|| b"NULL".to_vec()),
        }
    };

    let mut builder = ConsumerConfig::builder()
        .client_id("kafkaroo-cli")
        // kcat (librdkafka) resets an out-of-range -o <N> to the end, as does this default.
        .auto_offset_reset(kafkaroo::AutoOffsetReset::Latest);
    if !props::sets(&args.props, "max.poll.records") {
        builder = builder
            .set("max.poll.records", DEFAULT_MAX_POLL_RECORDS)
            .map_err(|e| usage(e.to_string()))?;
    }
    for prop in &args.props {
        builder = props::apply(builder, prop).map_err(usage)?;
    }
    match &args.brokers {
        Some(b) => builder = builder.bootstrap_servers(b),
        None if props::sets(&args.props, "bootstrap.servers")
            || props::sets(&args.props, "metadata.broker.list") => {}
        None => return Err(usage("-b <brokers> missing")),
    }
    let config = builder.build().map_err(|e| usage(e.to_string()))?;
    Ok(Plan {
        config,
        topic: args.topic,
        partition: args.partition,
        offsets,
        renderer,
        count: args.count,
        exit_eof: args.exit_eof,
        quiet: args.quiet,
        unbuffered: args.unbuffered,
    })
}

fn init_logging(quiet: bool, verbose: u8) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            match (quiet, verbose) {
                (true, _) => "off",
                (false, 0) => "warn",
                (false, 1) => "info",
                (false, 2) => "debug",
                _ => "trace",
            }
            .to_owned()
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(io::stderr)
        .try_init();
}

/// Buffered stdout: records are rendered into `buf`, which goes to the file descriptor in large writes.
struct Output {
    buf: Vec<u8>,
    sink: Box<dyn Write>,
    last_flush: Instant,
}

impl Output {
    fn stdout() -> Self {
        // Our own handle on fd 1: Rust's `Stdout` is line-buffered, which would split large writes.
        let sink: Box<dyn Write> = match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(std::fs::File::from(fd)),
            Err(_) => Box::new(io::stdout()),
        };
        Self {
            buf: Vec::with_capacity(FLUSH_BYTES + 64 * 1024),
            sink,
            last_flush: Instant::now(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.last_flush = Instant::now();
        self.sink.flush()
    }

    #[inline]
    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()
        } else {
            Ok(())
        }
    }
}

/// Informational messages on stderr (kcat's `% ...` lines), unless `-q`.
macro_rules! info {
    ($plan:expr, $($arg:tt)*) => {
        if !$plan.quiet {
            eprintln!("% {}", format_args!($($arg)*));
        }
    };
}

#[derive(Default, Clone, Copy)]
struct PartitionProgress {
    /// Reported at end; cleared by the next record.
    at_eof: bool,
    /// No longer consumed (`-e` at end, or `e@` reached).
    stopped: bool,
    /// Leader id (for `-J`'s `broker`).
    leader: i32,
}

/// Where each partition starts, resolved before anything is assigned: a seek after the engine started
/// fetching would race with fetches already in flight.
enum Positions {
    Beginning,
    End,
    Timestamp(i64),
    Exact(Vec<i64>),
}

async fn resolve_positions(
    consumer: &Consumer,
    parts: &[TopicPartition],
    start: Start,
) -> anyhow::Result<Positions> {
    Ok(match start {
        Start::Beginning => Positions::Beginning,
        Start::End => Positions::End,
        Start::Timestamp(ts) => Positions::Timestamp(ts),
        Start::Absolute(offset) => Positions::Exact(vec![offset; parts.len()]),
        Start::Tail(n) => {
            let ends = consumer
                .end_offsets(parts)
                .await
                .context("looking up end offsets")?;
            let starts = consumer
                .beginning_offsets(parts)
                .await
                .context("looking up start offsets")?;
            let mut offsets = Vec::with_capacity(parts.len());
            for tp in parts {
                let end = *ends.get(tp).ok_or_else(|| anyhow!("no end offset for {tp}"))?;
                let begin = starts.get(tp).copied().unwrap_or(0);
                offsets.push(tail_offset(begin, end, n));
            }
            Positions::Exact(offsets)
        }
        Start::Stored => unreachable!("refused by plan()"),
    })
}

/// Assigns `parts` and positions them, with no await in between.
fn assign_at(consumer: &mut Consumer, parts: &[TopicPartition], positions: &Positions) -> anyhow::Result<()> {
    consumer.assign(parts.iter().cloned())?;
    match positions {
        Positions::Beginning => consumer.seek_to_beginning(parts)?,
        Positions::End => consumer.seek_to_end(parts)?,
        Positions::Timestamp(ts) => consumer.seek_to_timestamp(parts, *ts)?,
        Positions::Exact(offsets) => {
            for (tp, offset) in parts.iter().zip(offsets) {
                consumer.seek(tp, *offset)?;
            }
        }
    }
    Ok(())
}

/// The partitions to consume (all of the topic's, or `-p`'s) and their leaders.
async fn partitions(consumer: &Consumer, plan: &Plan) -> anyhow::Result<Vec<(TopicPartition, i32)>> {
    let topic = plan.topic.as_str();
    let metadata = consumer
        .client()
        .refresh_metadata(Some(&[topic]))
        .await
        .with_context(|| format!("looking up topic {topic}"))?;
    let t = metadata
        .topics
        .get(topic)
        .ok_or_else(|| anyhow!("topic {topic:?} does not exist"))?;
    if t.partitions.is_empty() {
        if t.error.is_ok() || t.error.0 == 3 {
            anyhow::bail!("topic {topic:?} does not exist");
        }
        anyhow::bail!("topic {topic:?}: {}", t.error);
    }
    let all: Vec<(TopicPartition, i32)> = t
        .partitions
        .iter()
        .map(|(p, m)| (TopicPartition::new(topic, *p), m.leader))
        .collect();
    match plan.partition {
        None => Ok(all),
        Some(p) => {
            let one: Vec<_> = all.iter().filter(|(tp, _)| tp.partition == p).cloned().collect();
            if one.is_empty() {
                anyhow::bail!(
                    "Topic {topic} (with partitions 0..{}): partition {p} does not exist",
                    all.len().saturating_sub(1)
                );
            }
            Ok(one)
        }
    }
}

/// Why the loop ended without an error.
enum End {
    Done,
    Interrupted,
    BrokenPipe,
}

async fn run(plan: &Plan, out: &mut Output) -> anyhow::Result<End> {
    let bootstrap = plan.config.bootstrap_servers.join(",");
    let mut consumer = Consumer::new(plan.config.clone())
        .await
        .with_context(|| format!("cannot connect to {bootstrap}"))?;
    let found = partitions(&consumer, plan).await?;
    let parts: Vec<TopicPartition> = found.iter().map(|(tp, _)| tp.clone()).collect();
    let positions = resolve_positions(&consumer, &parts, plan.offsets.start).await?;
    assign_at(&mut consumer, &parts, &positions)?;

    let max_partition = parts.iter().map(|tp| tp.partition).max().unwrap_or(0);
    let mut progress = vec![PartitionProgress::default(); usize::try_from(max_partition).unwrap_or(0) + 1];
    for (tp, leader) in &found {
        progress[tp.partition as usize].leader = *leader;
    }
    let mut active = parts.len();
    let mut printed: u64 = 0;

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;

    let end = 'outer: loop {
        let polled = tokio::select! {
            biased;
            _ = &mut ctrl_c => break End::Interrupted,
            _ = sigterm.recv() => break End::Interrupted,
            r = consumer.poll(POLL_TIMEOUT) => r,
        };
        let batch = match polled {
            Ok(b) => b,
            Err(e) => {
                let _ = out.flush();
                return Err(anyhow::Error::new(e).context(format!("consuming {}", plan.topic)));
            }
        };
        let mut io_result = Ok(());
        if batch.is_empty() {
            io_result = out.flush();
        }
        let mut to_stop: Vec<TopicPartition> = Vec::new();
        for (tp, records) in batch.partitions() {
            let state = &mut progress[tp.partition as usize];
            if state.stopped {
                continue;
            }
            state.at_eof = false;
            let leader = state.leader;
            for r in records {
                if let Some(stop) = plan.offsets.stop_timestamp
                    && r.timestamp() >= stop
                {
                    state.stopped = true;
                    active -= 1;
                    to_stop.push(tp.clone());
                    info!(
                        plan,
                        "Reached stop timestamp for topic {} [{}] at offset {}{}",
                        tp.topic,
                        tp.partition,
                        r.offset(),
                        if active == 0 { ": exiting" } else { "" }
                    );
                    break;
                }
                plan.renderer.render(r, leader, &mut out.buf);
                printed += 1;
                if plan.unbuffered {
                    io_result = io_result.and_then(|()| out.flush());
                } else {
                    io_result = io_result.and_then(|()| out.maybe_flush());
                }
                if plan.count == Some(printed) {
                    io_result?;
                    break 'outer End::Done;
                }
            }
        }
        match io_result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break End::BrokenPipe,
            Err(e) => return Err(anyhow::Error::new(e).context("writing output")),
            Ok(()) => {}
        }
        if !out.buf.is_empty() && out.last_flush.elapsed() >= FLUSH_INTERVAL {
            match out.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break End::BrokenPipe,
                Err(e) => return Err(anyhow::Error::new(e).context("writing output")),
                Ok(()) => {}
            }
        }
        // End of partition: the position reached the high watermark (last stable offset under
        // read_committed) reported by the latest fetch.
        for tp in &parts {
            let state = &mut progress[tp.partition as usize];
            if state.stopped || state.at_eof || consumer.lag(tp) != Some(0) {
                continue;
            }
            state.at_eof = true;
            let at = consumer.position(tp).await.unwrap_or(-1);
            if plan.exit_eof {
                state.stopped = true;
                active -= 1;
                to_stop.push(tp.clone());
            }
            info!(
                plan,
                "Reached end of topic {} [{}] at offset {at}{}",
                tp.topic,
                tp.partition,
                if active == 0 { ": exiting" } else { "" }
            );
        }
        if active == 0 {
            break End::Done;
        }
        if !to_stop.is_empty() {
            consumer.pause(&to_stop)?;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), consumer.close()).await;
    Ok(end)
}

pub(crate) fn main(args: ConsumeArgs) -> ExitCode {
    init_logging(args.quiet, args.verbose);
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("% ERROR: {e:#}");
            return ExitCode::from(2);
        }
    };
    // One worker for the fetch engine's network I/O; decoding and printing happen on this thread.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kafkaroo-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("% ERROR: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = Output::stdout();
    let result = runtime.block_on(run(&plan, &mut out));
    let flushed = out.flush();
    // Don't wait for the I/O worker's tasks: everything is printed.
    runtime.shutdown_background();
    match result {
        Ok(End::BrokenPipe) => ExitCode::SUCCESS,
        Ok(End::Done | End::Interrupted) => match flushed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("% ERROR: writing output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            let code = if e.downcast_ref::<Usage>().is_some() { 2 } else { 1 };
            eprintln!("% ERROR: {e:#}");
            ExitCode::from(code)
        }
    }
}
