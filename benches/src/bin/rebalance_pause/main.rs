//! Rebalance pause benchmark: 3 group members (cooperative-sticky) consume a 12-partition topic that a
//! steady producer writes to; a 4th joins. For kafkaroo and for Java's consumer, one after the other
//! against the same broker, measures how long the partitions that moved to the new member went without
//! records, and whether the partitions that stayed paused at all. See benches/README.md.
//!
//! `rebalance_pause run [options]`   the benchmark (starts a broker unless KAFKAROO_BOOTSTRAP is set)
//! `rebalance_pause analyze DIR...`  re-reads the logs of runs kept by `run`
//! `rebalance_pause member ...`      one kafkaroo member (started by `run`)

mod analysis;
mod member;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kafkaroo_testcontainers::{Cluster, ClusterOptions, KafkaDist};

use analysis::{RunReport, Window};

const PARTITIONS: i32 = 12;
/// Members before the join; one more joins.
const INITIAL_MEMBERS: usize = 3;

#[derive(Parser)]
#[command(about = "Rebalance pause: kafkaroo vs Java, 3 members + 12 partitions, a 4th joins")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the benchmark.
    Run(RunArgs),
    /// Analyses the logs of runs kept by `run` (directories holding meta.txt and member-N.out).
    Analyze { dirs: Vec<PathBuf> },
    /// One kafkaroo member: consumes TOPIC until stdin closes, printing what it got.
    Member {
        topic: String,
        /// Consumer properties (Java names), key=value.
        properties: Vec<String>,
    },
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// Clients, in the order of the first run; later runs alternate the order.
    #[arg(long, value_delimiter = ',', default_value = "kafkaroo,java")]
    clients: Vec<Client>,
    /// Group protocols: `classic` (cooperative-sticky, chosen by the members) and/or `consumer`
    /// (KIP-848: the broker assigns with its default `uniform` assignor); each client runs with each.
    #[arg(long, value_delimiter = ',', default_value = "classic")]
    protocols: Vec<Protocol>,
    /// Runs per client.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Records per second the producer writes (over all partitions).
    #[arg(long, default_value_t = 3000)]
    rate: u32,
    /// The baseline window starts once no member had a rebalance callback for this many seconds (so
    /// that the first members' own rebalances and catching up are over).
    #[arg(long, default_value_t = 8)]
    settle_secs: u64,
    /// Seconds of steady state before the join, for the normal delivery gaps.
    #[arg(long, default_value_t = 10)]
    baseline_secs: u64,
    /// Seconds from the joiner's subscribe to stopping the members.
    #[arg(long, default_value_t = 15)]
    after_secs: u64,
    /// The measured window ends this long after the group is stable again.
    #[arg(long, default_value_t = 2000)]
    margin_ms: u64,
    /// Where the members' logs are kept (default: a new directory under $TMPDIR).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// The result table is written here as well.
    #[arg(long)]
    results: Option<PathBuf>,
    /// The results as JSON (every run's per-partition pauses; benches/report.sh plots them).
    #[arg(long)]
    results_json: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Client {
    Kafkaroo,
    Java,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Classic,
    Consumer,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Consumer => "consumer",
        }
    }
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Self::Kafkaroo => "kafkaroo",
            Self::Java => "java",
        }
    }
}

/// Microseconds since the Unix epoch: the clock both members' logs use.
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Member { topic, properties } => {
            parse_properties(&properties).and_then(|p| member::run(&topic, &p))
        }
        Cmd::Analyze { dirs } => analyze_dirs(&dirs),
        Cmd::Run(args) => run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rebalance_pause: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse_properties(list: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    list.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("{kv:?}: expected key=value"))
        })
        .collect()
}

/// The settings both clients run with (Java property names); the protocol's own settings and the
/// assignor come per protocol and client.
fn common_properties(bootstrap: &str, group: &str, client_id: &str) -> Vec<String> {
    [
        ("bootstrap.servers", bootstrap),
        ("group.id", group),
        ("client.id", client_id),
        ("auto.offset.reset", "latest"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "5000"),
        ("max.poll.interval.ms", "300000"),
        ("max.poll.records", "500"),
        ("fetch.min.bytes", "1"),
        ("fetch.max.wait.ms", "500"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={v}"))
    .collect()
}

/// What starting a member needs besides its client.
struct Setup {
    cluster: Cluster,
    /// Directory with the compiled Java member, when Java runs.
    java_classes: Option<PathBuf>,
    dist: KafkaDist,
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    if args.clients.is_empty() || args.runs == 0 {
        bail!("nothing to run: give --clients and --runs > 0");
    }
    let out_dir = match &args.out_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("rebalance-pause-{}", std::process::id())),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    eprintln!("## starting a broker");
    let cluster = Cluster::start(ClusterOptions {
        full_jit: true,
        ..ClusterOptions::default()
    })
    .context("starting a broker")?;
    eprintln!("## bootstrap {} ({:?})", cluster.bootstrap(), cluster.source());
    let dist = cluster.dist()?;
    // Writes the tools' log configuration (WARN to stderr), which the Java member uses too.
    cluster.java_tool_command("org.apache.kafka.tools.VerifiableProducer")?;
    let java_classes = if args.clients.contains(&Client::Java) {
        Some(compile_java_member(&dist, &out_dir)?)
    } else {
        None
    };
    let setup = Setup {
        cluster,
        java_classes,
        dist,
    };
    let mut rows = Vec::new();
    let mut json_runs = Vec::new();
    for run in 1..=args.runs {
        let mut order = args.clients.clone();
        if run % 2 == 0 {
            order.reverse();
        }
        for (protocol, client) in args
            .protocols
            .iter()
            .flat_map(|&p| order.iter().map(move |&c| (p, c)))
        {
            let dir = out_dir.join(format!("run{run}-{}-{}", client.name(), protocol.name()));
            measure_once(&setup, args, client, protocol, &dir)?;
            let (meta, report) = analyze_dir(&dir)?;
            eprint!("{}", report.details());
            rows.push(table_row(&format!("{run}"), &meta, &report));
            json_runs.push(json_run(run, client, protocol, &meta, &report));
        }
    }
    let table = render_table(args, &rows);
    println!("{table}");
    if let Some(path) = &args.results {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.results_json {
        let json = serde_json::json!({
            "benchmark": "rebalance",
            "partitions": PARTITIONS,
            "initial_members": INITIAL_MEMBERS,
            "rate": args.rate,
            "baseline_secs": args.baseline_secs,
            "settle_secs": args.settle_secs,
            "margin_ms": args.margin_ms,
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "runs": json_runs,
        });
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("## member logs kept in {}", out_dir.display());
    Ok(())
}

/// One run as JSON: the pause of every moved partition (the distribution the report plots) and the
/// table's other columns.
fn json_run(run: usize, client: Client, protocol: Protocol, meta: &Meta, r: &RunReport) -> serde_json::Value {
    serde_json::json!({
        "run": run,
        "client": client.name(),
        "protocol": protocol.name(),
        "load": meta.get("load").ok().and_then(|l| l.parse::<f64>().ok()),
        "rebalance_ms": r.rebalance_ms,
        "generations": r.rounds,
        "moved_pause_ms": r.moved_latencies(),
        "moved_gap_ms": r.moved_gaps(),
        "moved_never_resumed": r.moved.iter().filter(|p| p.never_resumed).count(),
        "retained_max_latency_ms": r.retained.iter().map(|p| p.max_latency_ms).collect::<Vec<_>>(),
        "retained_paused": r.retained_paused(),
        "steady_latency_p99_ms": r.baseline_latency_p99_ms,
        "steady_latency_max_ms": r.baseline_latency_max_ms,
        "duplicates": r.duplicates,
    })
}

/// Compiles benches/java/RebalanceMember.java against the Kafka tools' jars.
fn compile_java_member(dist: &KafkaDist, out_dir: &Path) -> anyhow::Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/RebalanceMember.java");
    let classes = out_dir.join("java-classes");
    std::fs::create_dir_all(&classes)?;
    let javac = kafkaroo_testcontainers::java()?.with_file_name("javac");
    let javac = if javac.exists() {
        javac
    } else {
        PathBuf::from("javac")
    };
    let out = Command::new(&javac)
        .arg("-nowarn")
        .arg("-d")
        .arg(&classes)
        .arg("-cp")
        .arg(dist.tools_classpath())
        .arg(&source)
        .output()
        .with_context(|| format!("running {}", javac.display()))?;
    if !out.status.success() {
        bail!(
            "javac {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(classes)
}

/// A started process and its stdin: closing stdin asks it to stop.
struct Process {
    name: String,
    child: Child,
}

impl Process {
    /// Closes stdin and waits up to `grace` for the exit, then kills it.
    fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    eprintln!("   {} exited with {status}", self.name);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("   {} did not stop within {grace:?}: killed", self.name);
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Starts member `k` of `client`, its stdout (the measurements) and stderr (logs) going to `dir`.
fn start_member(
    setup: &Setup,
    client: Client,
    protocol: Protocol,
    topic: &str,
    k: usize,
    dir: &Path,
) -> anyhow::Result<Process> {
    let name = format!("member-{k}");
    // The group is named after the topic (one per run).
    let mut properties = common_properties(setup.cluster.bootstrap(), topic, &name);
    if protocol == Protocol::Classic {
        // With the consumer protocol the broker owns session, heartbeat and assignor (Java refuses
        // these properties there).
        properties.extend([
            "session.timeout.ms=45000".into(),
            "heartbeat.interval.ms=3000".into(),
        ]);
    }
    properties.push(format!("group.protocol={}", protocol.name()));
    let mut cmd = match client {
        Client::Kafkaroo => {
            if protocol == Protocol::Classic {
                properties.push("partition.assignment.strategy=cooperative-sticky".into());
            }
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.arg("member").arg(topic);
            cmd
        }
        Client::Java => {
            if protocol == Protocol::Classic {
                properties.push(
                    "partition.assignment.strategy=org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
                        .into(),
                );
            }
            let classes = setup
                .java_classes
                .as_ref()
                .context("the Java member was not compiled")?;
            let conf = setup.dist.dir.join("conf");
            // REBALANCE_JAVA_LOG4J2=<file>: another log configuration (e.g. the coordinator at INFO),
            // instead of the tools' WARN-to-stderr.
            let log4j2 = std::env::var_os("REBALANCE_JAVA_LOG4J2")
                .map_or_else(|| conf.join("tools-log4j2.properties"), PathBuf::from);
            let mut cmd = Command::new(kafkaroo_testcontainers::java()?);
            cmd.arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
                .arg(format!(
                    "-Dlog4j.configuration=file:{}",
                    conf.join("tools-log4j.properties").display()
                ))
                .arg("-cp")
                .arg(format!("{}:{}", classes.display(), setup.dist.tools_classpath()))
                .arg("RebalanceMember")
                .arg(topic);
            cmd
        }
    };
    let stdout = File::create(dir.join(format!("{name}.out")))?;
    let stderr = File::create(dir.join(format!("{name}.log")))?;
    let child = cmd
        .args(&properties)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Process { name, child })
}

/// Starts Kafka's VerifiableProducer at `rate` records/s and waits for its first acknowledged record.
/// Keys cycle over 1200 values so that every partition receives records all the time (without keys the
/// sticky partitioner fills one partition at a time).
fn start_producer(cluster: &Cluster, topic: &str, rate: u32) -> anyhow::Result<Process> {
    let mut child = cluster
        .java_tool_command("org.apache.kafka.tools.VerifiableProducer")?
        .args(["--bootstrap-server", cluster.bootstrap(), "--topic", topic])
        .args(["--throughput", &rate.to_string(), "--repeating-keys", "1200"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting VerifiableProducer")?;
    let stdout = child.stdout.take().context("producer stdout")?;
    let (acked, first_ack) = std::sync::mpsc::channel();
    // Reads (and drops) the per-record JSON lines for the producer's whole life.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("producer_send_success") {
                let _ = acked.send(());
            }
        }
    });
    let mut producer = Process {
        name: "producer".into(),
        child,
    };
    if first_ack.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = producer.child.kill();
        bail!("VerifiableProducer acknowledged nothing within 60 s");
    }
    Ok(producer)
}

/// One run of one client: 3 members, steady state, a 4th joins; logs and meta.txt go to `dir`.
fn measure_once(
    setup: &Setup,
    args: &RunArgs,
    client: Client,
    protocol: Protocol,
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cluster = &setup.cluster;
    let topic = cluster.unique_topic(&format!("rebalance-{}", client.name()));
    eprintln!("## {}: topic {topic}", dir.display());
    cluster.create_topic(&topic, PARTITIONS, 1, &[])?;
    let producer = start_producer(cluster, &topic, args.rate)?;
    let mut members = Vec::new();
    for k in 1..=INITIAL_MEMBERS {
        members.push(start_member(setup, client, protocol, &topic, k, dir)?);
    }
    wait_for_output(dir, INITIAL_MEMBERS, Duration::from_secs(180), |logs| {
        let all_assigned = logs.iter().all(|log| log.lines().any(|l| l.starts_with("A ")));
        let last_callback = logs
            .iter()
            .flat_map(|log| log.lines())
            .filter(|l| l.starts_with(['A', 'V', 'L']))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .max();
        let settled =
            last_callback.is_some_and(|t| now_micros().saturating_sub(t) >= args.settle_secs * 1_000_000);
        all_assigned && settled
    })
    .context("the first members did not settle")?;
    std::thread::sleep(Duration::from_secs(args.baseline_secs));
    let load_at_join = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "   member {} joins (load {})",
        INITIAL_MEMBERS + 1,
        load_at_join.trim()
    );
    members.push(start_member(
        setup,
        client,
        protocol,
        &topic,
        INITIAL_MEMBERS + 1,
        dir,
    )?);
    // A JVM may take seconds to start on a loaded machine: the time counts from the joiner's subscribe.
    wait_for_output(dir, INITIAL_MEMBERS + 1, Duration::from_secs(120), |logs| {
        logs.last().is_some_and(|log| log.starts_with("S "))
    })
    .context("the joining member did not subscribe")?;
    std::thread::sleep(Duration::from_secs(args.after_secs));
    let stop_us = now_micros();
    // Stop the members all at once, then the producer.
    for m in &mut members {
        drop(m.child.stdin.take());
    }
    for m in members {
        m.stop(Duration::from_secs(30))?;
    }
    producer.stop(Duration::ZERO)?;
    let load = load_at_join.split_whitespace().next().unwrap_or("?");
    let meta = format!(
        "client={} {}\nrate={}\nbaseline_secs={}\nmargin_ms={}\nstop_us={stop_us}\nload={load}\n",
        client.name(),
        protocol.name(),
        args.rate,
        args.baseline_secs,
        args.margin_ms
    );
    std::fs::write(dir.join("meta.txt"), meta)?;
    Ok(())
}

/// Re-reads the output of members 1..=`members` every half second until `done` holds for them.
fn wait_for_output(
    dir: &Path,
    members: usize,
    timeout: Duration,
    done: impl Fn(&[String]) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let logs: Vec<String> = (1..=members)
            .map(|k| std::fs::read_to_string(dir.join(format!("member-{k}.out"))).unwrap_or_default())
            .collect();
        if done(&logs) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("not within {timeout:?} (member logs in {})", dir.display());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// meta.txt of a run: key=value lines.
struct Meta(Vec<(String, String)>);

impl Meta {
    fn get(&self, key: &str) -> anyhow::Result<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("meta.txt has no {key}"))
    }

    fn number(&self, key: &str) -> anyhow::Result<u64> {
        self.get(key)?
            .parse()
            .with_context(|| format!("meta.txt: {key} is not a number"))
    }
}

fn analyze_dir(dir: &Path) -> anyhow::Result<(Meta, RunReport)> {
    let path = dir.join("meta.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let meta = Meta(
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    );
    let window = Window {
        baseline_us: meta.number("baseline_secs")? * 1_000_000,
        margin_us: meta.number("margin_ms")? * 1000,
        stop_us: meta.number("stop_us")?,
    };
    let members = analysis::load_run(dir, INITIAL_MEMBERS + 1)?;
    let report =
        analysis::analyze(&members, window).with_context(|| format!("analysing {}", dir.display()))?;
    Ok((meta, report))
}

fn analyze_dirs(dirs: &[PathBuf]) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for dir in dirs {
        let (meta, report) = analyze_dir(dir)?;
        eprintln!("## {}", dir.display());
        eprint!("{}", report.details());
        rows.push(table_row(&dir.display().to_string(), &meta, &report));
    }
    println!("{}", table_header());
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn table_header() -> &'static str {
    "| run | client | load | rebalance ms (generations) | moved (n): pause median / max ms | moved: delivery gap median ms | retained (n): max latency / max gap ms | steady latency p99 / max ms | steady gap p99 ms | retained paused | duplicates |\n\
     |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}

fn table_row(run: &str, meta: &Meta, r: &RunReport) -> String {
    let moved = r.moved_latencies();
    let moved_max = moved.iter().copied().fold(0.0, f64::max);
    let never = r
        .moved
        .iter()
        .chain(&r.retained)
        .filter(|p| p.never_resumed)
        .count();
    format!(
        "| {run} | {} | {} | {:.0} ({}) | ({}) {:.0} / {:.0}{} | {:.0} | ({}) {:.0} / {:.0} | {:.0} / {:.0} | {:.0} | {} | {} |",
        meta.get("client").unwrap_or("?"),
        meta.get("load").unwrap_or("?"),
        r.rebalance_ms,
        r.rounds,
        moved.len(),
        analysis::median(&moved),
        moved_max,
        if never > 0 {
            format!(" ({never} never resumed)")
        } else {
            String::new()
        },
        analysis::median(&r.moved_gaps()),
        r.retained.len(),
        r.retained_max_latency_ms(),
        r.retained_max_gap_ms(),
        r.baseline_latency_p99_ms,
        r.baseline_latency_max_ms,
        r.baseline_p99_ms,
        r.retained_paused(),
        r.duplicates,
    )
}

fn render_table(args: &RunArgs, rows: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{PARTITIONS} partitions, {} records/s, {INITIAL_MEMBERS} members + 1 joining; baseline {} s before the join (after {} s without rebalance callbacks), window until {} ms after the last assignment; {} core(s)",
        args.rate,
        args.baseline_secs,
        args.settle_secs,
        args.margin_ms,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", table_header());
    for row in rows {
        let _ = writeln!(s, "{row}");
    }
    s
}
