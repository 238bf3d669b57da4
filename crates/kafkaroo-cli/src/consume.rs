//! `kafkaroo consume`: kcat's consume mode (`kcat -C`) and balanced consumer group mode (`kcat -G`) on
//! the kafkaroo consumer.

use std::collections::{HashMap, HashSet};
use std::io;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use kafkaroo::{Consumer, ConsumerConfig, ConsumerRecord, GroupState, PollBatch, TopicPartition};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::format::{Format, Renderer, parse_delim};
use crate::offset::{OffsetSpec, Start, tail_offset};
use crate::output::{Commits, FlushThenCommit, Output, Rebalance, SharedOutput};
use crate::props;

/// `max.poll.records` unless `-X` sets it: large polls keep the per-poll overhead out of the way.
const DEFAULT_MAX_POLL_RECORDS: &str = "10000";
/// How long one `poll` waits; output is flushed when it returns nothing.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// How long closing may take: a group member commits and leaves the group.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// kcat's (librdkafka's) assignors in -G mode, so kafkaroo and kcat members can share a group.
const KCAT_ASSIGNORS: &str = "range,roundrobin";

#[derive(Debug, Args)]
#[command(
    about = "Print records of a topic (kcat -C compatible flags), or as a group member (kcat -G)",
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
        retry.backoff.ms, retry.backoff.max.ms, metadata.max.age.ms, receive.message.max.bytes, client.rack,\n  \
        kafkaroo.api.version.max (e.g. Fetch:12,OffsetCommit:8: highest protocol version per API)\n  \
        security: security.protocol, sasl.mechanism(s), sasl.username, sasl.password,\n  \
        sasl.jaas.config, sasl.oauthbearer.config, ssl.ca.location, ssl.ca.pem,\n  \
        ssl.certificate.location, ssl.key.location, ssl.key.password,\n  \
        ssl.endpoint.identification.algorithm, enable.ssl.certificate.verification\n\
        Group mode (-G <group> <topic>...), as kcat -G: the group assigns partitions (assignors range,roundrobin\n  \
        like librdkafka unless -X partition.assignment.strategy=...); they start from the committed offset,\n  \
        else auto.offset.reset (default latest); -o beginning|end|<N>|-<N> restarts every partition\n  \
        assigned there instead, as kcat does. Offsets of printed records are committed once their lines\n  \
        are written out (every auto.commit.interval.ms, on revocation, and at exit); -e exits when\n  \
        every assigned partition reached its end.\n\
        Exit status: 0 done (count, end of partitions, Ctrl-C), 1 runtime error, 2 usage error."
)]
pub(crate) struct ConsumeArgs {
    /// Bootstrap broker(s): host:port[,host:port...]
    #[arg(short = 'b', value_name = "brokers")]
    brokers: Option<String>,
    /// Topic to consume from (with -G: one more topic to subscribe to)
    #[arg(short = 't', value_name = "topic")]
    topic: Option<String>,
    /// Partition (default: all partitions of the topic)
    #[arg(short = 'p', value_name = "partition")]
    partition: Option<i32>,
    /// Start offset: beginning (default) | end | stored (the committed offset of -X group.id) | <N>
    /// (absolute) | -<N> (N before the end, per partition) | s@<timestamp ms> (first record at or after) |
    /// e@<timestamp ms> (stop at, not included)
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
    /// Balanced consumer group mode: join <group> and consume the topics given as arguments
    #[arg(short = 'G', value_name = "group")]
    group: Option<String>,
    /// With -G: the topics to subscribe to, or one regular expression starting with ^ (kcat's
    /// convention; with -X group.protocol=consumer the group coordinator resolves it)
    #[arg(value_name = "topic")]
    topics: Vec<String>,
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

/// What to consume.
enum Source {
    /// `-t` (and `-p`): the topic's partitions, assigned directly.
    Topic { topic: String, partition: Option<i32> },
    /// `-G`: a member of `group` subscribed to `topics`; `restart` is where kcat's `-o` restarts every
    /// partition the group assigns (`None`: the committed offset).
    Group {
        group: String,
        topics: Vec<String>,
        restart: Option<Start>,
    },
}

/// Everything checked before connecting.
struct Plan {
    config: ConsumerConfig,
    source: Source,
    offsets: OffsetSpec,
    renderer: Renderer,
    count: Option<u64>,
    exit_eof: bool,
    quiet: bool,
    unbuffered: bool,
    /// Whether printed offsets are committed (a group id, and auto-commit not turned off).
    commit: bool,
    /// `auto.commit.interval.ms`: how often printed offsets are committed.
    commit_interval: Duration,
}

/// What `-t`, `-p`, `-G`, the topic arguments and `-o` ask for.
fn source(args: &ConsumeArgs, offsets: &OffsetSpec) -> anyhow::Result<Source> {
    let Some(group) = &args.group else {
        if !args.topics.is_empty() {
            return Err(usage(format!(
                "topics as arguments ({}) need -G <group>; without it use -t <topic>",
                args.topics.join(" ")
            )));
        }
        let topic = args.topic.clone().ok_or_else(|| usage("-t <topic> missing"))?;
        if topic.is_empty() {
            return Err(usage("-t <topic> must not be empty"));
        }
        if let Some(p) = args.partition
            && p < 0
        {
            return Err(usage(format!("invalid partition {p}")));
        }
        return Ok(Source::Topic {
            topic,
            partition: args.partition,
        });
    };
    if group.is_empty() {
        return Err(usage("-G <group> must not be empty"));
    }
    if args.partition.is_some() {
        return Err(usage(
            "-p cannot be used with -G: the group assigns the partitions",
        ));
    }
    let topics: Vec<String> = args.topic.iter().chain(&args.topics).cloned().collect();
    if topics.is_empty() {
        return Err(usage(format!(
            "-G {group} needs the topics to subscribe to: kafkaroo consume -G {group} <topic>..."
        )));
    }
    if topics.iter().any(String::is_empty) {
        return Err(usage("empty topic names can't be subscribed to"));
    }
    if topics.len() > 1 && topics.iter().any(|t| t.starts_with('^')) {
        return Err(usage(format!(
            "-G {group}: give either topic names or one ^regex, not both ({})",
            topics.join(" ")
        )));
    }
    if matches!(offsets.start, Start::Timestamp(_)) || offsets.stop_timestamp.is_some() {
        return Err(usage("-o s@/e@ timestamps can't be used with -G"));
    }
    let restart = match offsets.start {
        _ if args.offsets.is_empty() => None,
        Start::Stored => None,
        start => Some(start),
    };
    Ok(Source::Group {
        group: group.clone(),
        topics,
        restart,
    })
}

fn plan(args: ConsumeArgs) -> anyhow::Result<Plan> {
    let offsets =
        OffsetSpec::parse(args.offsets.iter().map(String::as_str)).map_err(|e| usage(e.to_string()))?;
    let source = source(&args, &offsets)?;
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
        .auto_offset_reset(kafkaroo::AutoOffsetReset::Latest)
        .set("max.poll.records", DEFAULT_MAX_POLL_RECORDS)
        .map_err(|e| usage(e.to_string()))?;
    if let Source::Group { group, .. } = &source {
        builder = builder
            .set("group.id", group)
            .and_then(|b| b.set("partition.assignment.strategy", KCAT_ASSIGNORS))
            .map_err(|e| usage(e.to_string()))?;
    }
    let mut config = props::build_config(builder, args.brokers.as_deref(), &args.props).map_err(usage)?;
    // The CLI commits what it wrote out itself (see output.rs); the library's auto-commit would also
    // cover lines still in the output buffer. `-X enable.auto.commit=false` turns commits off.
    let commit = config.group_id.is_some() && config.enable_auto_commit;
    let commit_interval = config.auto_commit_interval;
    config.enable_auto_commit = false;
    match &source {
        // -G names the group, whatever -X group.id says.
        Source::Group { group, .. } => config.group_id = Some(group.clone()),
        Source::Topic { .. } if offsets.start == Start::Stored && config.group_id.is_none() => {
            return Err(usage(
                "-o stored needs -X group.id=<group>: the group whose committed offsets to start from",
            ));
        }
        Source::Topic { .. } => {}
    }
    Ok(Plan {
        config,
        source,
        offsets,
        renderer,
        count: args.count,
        exit_eof: args.exit_eof,
        quiet: args.quiet,
        unbuffered: args.unbuffered,
        commit,
        commit_interval,
    })
}

pub(crate) fn init_logging(quiet: bool, verbose: u8) {
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
        // Colour only for a person at a terminal, never into a log file or a pipe.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}

/// Informational messages on stderr (kcat's `% ...` lines), unless `-q`.
macro_rules! info {
    ($plan:expr, $($arg:tt)*) => {
        if !$plan.quiet {
            eprintln!("% {}", format_args!($($arg)*));
        }
    };
}

/// SIGINT and SIGTERM: stop cleanly (in -G mode: commit and leave the group).
struct Interrupts {
    interrupt: Signal,
    terminate: Signal,
}

impl Interrupts {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// The next batch of records, or `None` when a signal came first.
    async fn poll(&mut self, consumer: &mut Consumer) -> Result<Option<PollBatch>, kafkaroo::Error> {
        tokio::select! {
            biased;
            _ = self.interrupt.recv() => Ok(None),
            _ = self.terminate.recv() => Ok(None),
            batch = consumer.poll(POLL_TIMEOUT) => batch.map(Some),
        }
    }
}

/// `-X statistics.interval.ms`: the consumer's statistics as one line of JSON on stderr per interval,
/// shaped after librdkafka's (what kcat prints for the same property).
struct StatisticsPrinter {
    interval: Duration,
    due: std::time::Instant,
}

impl StatisticsPrinter {
    fn new(consumer: &Consumer) -> Option<Self> {
        let interval = consumer.config().statistics_interval;
        (!interval.is_zero()).then(|| Self {
            interval,
            due: std::time::Instant::now() + interval,
        })
    }

    fn tick(this: &mut Option<Self>, consumer: &Consumer) {
        let Some(printer) = this else { return };
        let now = std::time::Instant::now();
        if now >= printer.due {
            printer.due = now + printer.interval;
            eprintln!("{}", consumer.statistics().to_json());
        }
    }
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
    /// Per partition; `None` (no committed offset for `-o stored`) leaves it to `auto.offset.reset`.
    Exact(Vec<Option<i64>>),
}

/// `-o -N`: N records before each partition's end, not before its start.
async fn tail_offsets(consumer: &Consumer, parts: &[TopicPartition], n: i64) -> anyhow::Result<Vec<i64>> {
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
    Ok(offsets)
}

impl Positions {
    /// The position of the `i`th partition alone.
    fn nth(&self, i: usize) -> Self {
        match self {
            Self::Beginning => Self::Beginning,
            Self::End => Self::End,
            Self::Timestamp(ts) => Self::Timestamp(*ts),
            Self::Exact(offsets) => Self::Exact(vec![offsets[i]]),
        }
    }
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
        Start::Absolute(offset) => Positions::Exact(vec![Some(offset); parts.len()]),
        Start::Tail(n) => Positions::Exact(
            tail_offsets(consumer, parts, n)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        ),
        Start::Stored => {
            let committed = consumer
                .committed(parts)
                .await
                .context("looking up the group's committed offsets")?;
            Positions::Exact(
                parts
                    .iter()
                    .map(|tp| committed.get(tp).cloned().flatten().map(|o| o.offset))
                    .collect(),
            )
        }
    })
}

/// Positions `parts` (which must be assigned) with no await in between.
fn seek_all(
    consumer: &mut Consumer,
    parts: &[TopicPartition],
    positions: &Positions,
) -> Result<(), kafkaroo::Error> {
    match positions {
        Positions::Beginning => consumer.seek_to_beginning(parts),
        Positions::End => consumer.seek_to_end(parts),
        Positions::Timestamp(ts) => consumer.seek_to_timestamp(parts, *ts),
        Positions::Exact(offsets) => {
            for (tp, offset) in parts.iter().zip(offsets) {
                if let Some(offset) = offset {
                    consumer.seek(tp, *offset)?;
                }
            }
            Ok(())
        }
    }
}

/// The partitions of `topic` and their leaders.
async fn topic_partitions(consumer: &Consumer, topic: &str) -> anyhow::Result<Vec<(TopicPartition, i32)>> {
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
    Ok(t.partitions
        .iter()
        .map(|(p, m)| (TopicPartition::new(topic, *p), m.leader))
        .collect())
}

/// The partitions to consume (all of the topic's, or `-p`'s) and their leaders.
async fn partitions(
    consumer: &Consumer,
    topic: &str,
    partition: Option<i32>,
) -> anyhow::Result<Vec<(TopicPartition, i32)>> {
    let all = topic_partitions(consumer, topic).await?;
    match partition {
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
#[derive(PartialEq, Eq)]
enum End {
    Done,
    Interrupted,
    BrokenPipe,
}

async fn connect(plan: &Plan) -> anyhow::Result<Consumer> {
    let bootstrap = plan.config.bootstrap_servers.join(",");
    Consumer::new(plan.config.clone())
        .await
        .with_context(|| format!("cannot connect to {bootstrap}"))
}

fn consuming_error(e: kafkaroo::Error, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("consuming {what}"))
}

/// `-t`: assigns the topic's partitions (or `-p`'s) and prints until done.
async fn run(plan: &Plan, topic: &str, partition: Option<i32>, shared: &SharedOutput) -> anyhow::Result<End> {
    let mut consumer = connect(plan).await?;
    // With a group.id, what was printed is committed (as kcat does), after it was written out.
    let mut commits = Commits::new(plan.commit, plan.commit_interval);
    let handle = consumer.commit_handle();
    let found = partitions(&consumer, topic, partition).await?;
    let parts: Vec<TopicPartition> = found.iter().map(|(tp, _)| tp.clone()).collect();
    let positions = resolve_positions(&consumer, &parts, plan.offsets.start).await?;
    consumer.assign(parts.iter().cloned())?;
    seek_all(&mut consumer, &parts, &positions)?;

    let max_partition = parts.iter().map(|tp| tp.partition).max().unwrap_or(0);
    let mut progress = vec![PartitionProgress::default(); usize::try_from(max_partition).unwrap_or(0) + 1];
    for (tp, leader) in &found {
        progress[tp.partition as usize].leader = *leader;
    }
    let mut active = parts.len();
    let mut printed: u64 = 0;
    let mut interrupts = Interrupts::install()?;
    let mut statistics = StatisticsPrinter::new(&consumer);

    let end = 'outer: loop {
        let batch = match interrupts.poll(&mut consumer).await {
            Ok(Some(b)) => b,
            Ok(None) => break End::Interrupted,
            Err(e) => {
                let _ = shared.lock().flush();
                return Err(consuming_error(e, topic));
            }
        };
        StatisticsPrinter::tick(&mut statistics, &consumer);
        let mut to_stop: Vec<TopicPartition> = Vec::new();
        let mut count_reached = false;
        // The output is locked while the batch is rendered, never across an await.
        {
            let mut out = shared.lock();
            let mut written = Ok(());
            if batch.is_empty() {
                written = out.flush();
            }
            'batch: for (tp, records) in batch.partitions() {
                let state = &mut progress[tp.partition as usize];
                if state.stopped {
                    continue;
                }
                state.at_eof = false;
                let leader = state.leader;
                let mut last_printed = None;
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
                    written =
                        written.and_then(|()| out.record(&plan.renderer, plan.unbuffered, tp, r, leader));
                    last_printed = Some(r);
                    printed += 1;
                    if plan.count == Some(printed) {
                        count_reached = true;
                        break;
                    }
                }
                if let Some(last) = last_printed {
                    out.printed(tp, last);
                }
                if count_reached {
                    break 'batch;
                }
            }
            if out.settle(written)? {
                break End::BrokenPipe;
            }
            commits.on_interval(&handle, &mut out);
        }
        if count_reached {
            break End::Done;
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
            break 'outer End::Done;
        }
        if !to_stop.is_empty() {
            consumer.pause(&to_stop)?;
        }
    };
    if end != End::BrokenPipe {
        commits
            .last(&handle, shared)
            .await
            .context("committing the printed offsets")?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), consumer.close()).await;
    Ok(end)
}

/// kcat's line for a rebalance (without the `% `): eager assignors list the whole new assignment,
/// cooperative ones the increment.
fn rebalance_line(group: &str, state: Option<&GroupState>, event: &Rebalance) -> String {
    let member = state.map_or("", |s| s.member_id.as_str());
    let cooperative = state.and_then(|s| s.protocol.as_deref()) == Some("cooperative-sticky");
    let (parts, assigned, lost) = match event {
        Rebalance::Assigned(p) => (p, true, false),
        Rebalance::Revoked(p) => (p, false, false),
        Rebalance::Lost(p) => (p, false, true),
    };
    let list = parts
        .iter()
        .map(|tp| format!("{} [{}]", tp.topic, tp.partition))
        .collect::<Vec<_>>()
        .join(", ");
    if cooperative {
        format!(
            "Group {group} rebalanced: incremental {} of {} partition(s) (memberid {member}{}, COOPERATIVE rebalance protocol): {list}",
            if assigned { "assignment" } else { "revoke" },
            parts.len(),
            if lost { ", assignment lost" } else { "" },
        )
    } else {
        format!(
            "Group {group} rebalanced (memberid {member}): {}: {list}",
            if assigned { "assigned" } else { "revoked" }
        )
    }
}

/// kcat's `-o` in -G mode: every newly assigned partition restarts at `start` instead of the committed
/// offset. Partitions revoked meanwhile are skipped.
async fn restart_partitions(
    consumer: &mut Consumer,
    parts: &[TopicPartition],
    start: Start,
) -> anyhow::Result<()> {
    let positions = resolve_positions(consumer, parts, start).await?;
    for (i, tp) in parts.iter().enumerate() {
        match seek_all(consumer, std::slice::from_ref(tp), &positions.nth(i)) {
            // Revoked while the offsets were looked up.
            Err(kafkaroo::Error::NotAssigned { .. }) | Ok(()) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("restarting {tp}"))),
        }
    }
    Ok(())
}

/// Records of a partition not printed (after `-c` was reached) go back to the log, so the commit at
/// close covers exactly what was printed.
fn give_back(
    consumer: &mut Consumer,
    tp: &TopicPartition,
    first_unprinted: Option<&ConsumerRecord>,
) -> anyhow::Result<()> {
    let Some(r) = first_unprinted else {
        return Ok(());
    };
    match consumer.seek(tp, r.offset()) {
        Err(kafkaroo::Error::NotAssigned { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("rewinding {tp}"))),
    }
}

/// `-G`: joins the group, prints what it assigns until done, commits what was printed.
async fn run_group(
    plan: &Plan,
    group: &str,
    topics: &[String],
    restart: Option<Start>,
    shared: &SharedOutput,
) -> anyhow::Result<End> {
    let mut consumer = connect(plan).await?;
    let mut commits = Commits::new(plan.commit, plan.commit_interval);
    let handle = consumer.commit_handle();
    let mut leaders: HashMap<TopicPartition, i32> = HashMap::new();
    // kcat's (librdkafka's) convention: a topic starting with ^ is a regular expression.
    let regex = topics.first().filter(|t| t.starts_with('^'));
    if regex.is_none() {
        for topic in topics {
            leaders.extend(topic_partitions(&consumer, topic).await?);
        }
    }
    let (tx, rebalances) = mpsc::channel();
    let listener = FlushThenCommit {
        events: tx,
        out: shared.clone(),
        handle: handle.clone(),
        commit: plan.commit,
    };
    match regex {
        // With the consumer protocol the coordinator resolves it (as librdkafka does with KIP-848).
        Some(regex) if consumer.config().group_protocol == kafkaroo::GroupProtocol::Consumer => {
            consumer.subscribe_broker_regex_with_listener(regex, listener)
        }
        Some(regex) => consumer.subscribe_pattern_with_listener(regex, listener),
        None => consumer.subscribe_with_listener(topics.iter().cloned(), listener),
    }
    .with_context(|| format!("joining group {group}"))?;
    info!(plan, "Waiting for group rebalance");
    let mut interrupts = Interrupts::install()?;
    let mut at_eof: HashSet<TopicPartition> = HashSet::new();
    let mut printed: u64 = 0;
    let what = format!("group {group}");
    let mut statistics = StatisticsPrinter::new(&consumer);

    let end = 'outer: loop {
        let batch = match interrupts.poll(&mut consumer).await {
            Ok(Some(b)) => b,
            Ok(None) => break End::Interrupted,
            Err(e) => {
                let _ = shared.lock().flush();
                return Err(consuming_error(e, &what));
            }
        };
        StatisticsPrinter::tick(&mut statistics, &consumer);
        // Assignment changes happened before any record of theirs was handed out.
        let mut restarted: HashSet<TopicPartition> = HashSet::new();
        for event in rebalances.try_iter() {
            info!(
                plan,
                "{}",
                rebalance_line(group, consumer.group_state().as_ref(), &event)
            );
            match event {
                Rebalance::Assigned(parts) => {
                    if let Some(start) = restart {
                        restart_partitions(&mut consumer, &parts, start).await?;
                        restarted.extend(parts);
                    }
                }
                Rebalance::Revoked(parts) | Rebalance::Lost(parts) => {
                    for tp in &parts {
                        at_eof.remove(tp);
                    }
                }
            }
        }
        let mut count_reached = false;
        // The output is locked while the batch is rendered, never across an await (the rebalance
        // listener, which runs inside `poll`, needs it).
        {
            let mut out = shared.lock();
            let mut written = if batch.is_empty() { out.flush() } else { Ok(()) };
            for (tp, records) in batch.partitions() {
                // Fetched from the committed offset before `-o` restarted the partition.
                if restarted.contains(tp) {
                    continue;
                }
                if count_reached {
                    give_back(&mut consumer, tp, records.first())?;
                    continue;
                }
                at_eof.remove(tp);
                let leader = leaders.get(tp).copied().unwrap_or(-1);
                let mut last_printed = None;
                for (i, r) in records.iter().enumerate() {
                    written =
                        written.and_then(|()| out.record(&plan.renderer, plan.unbuffered, tp, r, leader));
                    last_printed = Some(r);
                    printed += 1;
                    if plan.count == Some(printed) {
                        count_reached = true;
                        give_back(&mut consumer, tp, records.get(i + 1))?;
                        break;
                    }
                }
                if let Some(last) = last_printed {
                    out.printed(tp, last);
                }
            }
            if out.settle(written)? {
                break End::BrokenPipe;
            }
            commits.on_interval(&handle, &mut out);
        }
        if count_reached {
            break End::Done;
        }
        let assigned = consumer.assignment();
        let reached: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !at_eof.contains(*tp) && consumer.lag(tp) == Some(0))
            .cloned()
            .collect();
        at_eof.extend(reached.iter().cloned());
        let all_done = plan.exit_eof && !assigned.is_empty() && assigned.iter().all(|tp| at_eof.contains(tp));
        for (i, tp) in reached.iter().enumerate() {
            let at = consumer.position(tp).await.unwrap_or(-1);
            info!(
                plan,
                "Reached end of topic {} [{}] at offset {at}{}",
                tp.topic,
                tp.partition,
                if all_done && i + 1 == reached.len() {
                    ": exiting"
                } else {
                    ""
                }
            );
        }
        if all_done {
            break 'outer End::Done;
        }
    };
    let state = consumer.group_state();
    // What was printed is written out and committed, then the member leaves (its final revocation
    // finds nothing more to commit).
    if end != End::BrokenPipe
        && let Err(e) = commits.last(&handle, shared).await
    {
        tracing::warn!(group, error = %e, "committing the printed offsets failed");
    }
    if tokio::time::timeout(CLOSE_TIMEOUT, consumer.close())
        .await
        .is_err()
    {
        tracing::warn!(
            group,
            "closing the group member timed out; offsets may not be committed"
        );
    }
    for event in rebalances.try_iter() {
        info!(plan, "{}", rebalance_line(group, state.as_ref(), &event));
    }
    Ok(end)
}

/// The commands' runtime: one I/O worker thread; the command's own work runs on the main thread.
pub(crate) fn io_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kafkaroo-io")
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("% ERROR: cannot start the runtime: {e}");
            None
        }
    }
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
    let Some(runtime) = io_runtime() else {
        return ExitCode::FAILURE;
    };
    let out = SharedOutput::new(Output::stdout());
    let result = runtime.block_on(async {
        match &plan.source {
            Source::Topic { topic, partition } => run(&plan, topic, *partition, &out).await,
            Source::Group {
                group,
                topics,
                restart,
            } => run_group(&plan, group, topics, *restart, &out).await,
        }
    });
    let flushed = out.lock().flush();
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
