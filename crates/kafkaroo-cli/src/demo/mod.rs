//! `kafkaroo demo`: the README's first command. It needs no broker beforehand: it starts one through
//! kafkaroo-testcontainers (or uses `KAFKAROO_BOOTSTRAP`), produces sample order events with the Java
//! producer, and runs a three-member kafkaroo group with cooperative-sticky while a fourth member joins
//! and one of the first three leaves, showing per-partition progress, lag and each rebalance.

mod broker;
mod member;
mod orders;
mod report;
mod state;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use kafkaroo_testcontainers::{KafkaDist, cache_dir, unique_topic};

use broker::{BrokerChoice, DemoBroker};
use member::{GroupSpec, Member};
use orders::BackgroundProducer;
use report::{Display, EndOwners, Labels, Mode};
use state::Demo;

/// Members that start the group; one more joins, then one of these leaves.
const FIRST_MEMBERS: usize = 3;
/// How often the script checks the group and the display refreshes.
const TICK: Duration = Duration::from_millis(250);
/// A group counts as settled once it stayed in one generation, fully owned, this long.
const SETTLE_HOLD: Duration = Duration::from_secs(1);
/// How long past its scheduled end a step may wait for the group to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the group may take to work off the lag once the producer stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);
/// How long closing members (final commit, LeaveGroup) and the producer may take; after Ctrl-C less.
const CLOSE_WAIT: Duration = Duration::from_secs(20);
const INTERRUPTED_CLOSE_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
#[command(
    about = "Start a local Kafka broker and watch a cooperative-sticky group of kafkaroo consumers \
             work through order events while a member joins and another leaves",
    after_help = "No broker needed: one starts through kafkaroo-testcontainers (Docker, or a local JVM from \
        Kafka jars that Maven fetches into ~/.cache/kafkaroo on first use) and stops at the end, Ctrl-C \
        included. KAFKAROO_BOOTSTRAP=host:port uses an existing broker instead (a fresh topic and group are \
        created on it); KAFKAROO_KAFKA_VERSION picks the Kafka version.\n\
        Script: 3 members start; a 4th joins after a quarter of --duration; member-1 leaves (close) after \
        55%; at the end the producer stops, the group works off the lag, and a summary follows.\n\
        Exit status: 0 every order consumed exactly once, 1 otherwise or on an error, 130 interrupted."
)]
pub(crate) struct DemoArgs {
    /// How long the script runs before the producer stops, e.g. 30s, 2m, 45
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "time")]
    duration: Duration,
    /// Partitions of the demo topic
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(i32).range(1..=1000))]
    partitions: i32,
    /// Orders per second the background producer adds while the script runs
    #[arg(long, default_value_t = 400, value_name = "orders/s",
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    rate: u32,
    /// Orders produced before the members start: the backlog they work off
    #[arg(long, default_value_t = 3000, value_name = "orders",
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    initial: u64,
    /// Simulated processing time per order, in milliseconds (what makes lag visible)
    #[arg(long, default_value_t = 5, value_name = "ms", value_parser = clap::value_parser!(u64).range(0..=1000))]
    process_ms: u64,
    /// Periodic plain lines instead of a table redrawn in place (the default when stdout is not a terminal)
    #[arg(long)]
    plain: bool,
    /// Which broker: a real one when this machine can start it, else the in-process cluster
    #[arg(long, value_enum, default_value_t = BrokerChoice::Auto)]
    broker: BrokerChoice,
}

/// `30s`, `500ms`, `2m` or plain seconds; at least 5 s, so that the join and the leave fit.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, ""), |i| text.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (use ms, s or m)")),
    };
    if !(5.0..=86_400.0).contains(&seconds) {
        return Err(format!(
            "{text:?}: the demo needs between 5 s and a day (a member joins and another leaves in between)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub(super) fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// How a run ended.
enum Outcome {
    /// Finished; whether every order was consumed exactly once without errors.
    Done {
        clean: bool,
    },
    Interrupted,
}

pub(crate) fn main(args: DemoArgs) -> ExitCode {
    init_logging();
    match run(&args) {
        Ok(Outcome::Done { clean: true }) => ExitCode::SUCCESS,
        Ok(Outcome::Done { clean: false }) => {
            eprintln!("kafkaroo demo: not every order was consumed exactly once, see the summary");
            ExitCode::FAILURE
        }
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("kafkaroo demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The Kafka jars are needed for the harness' producer (and a local broker). Their first download takes
/// minutes with no output of its own, so say what is happening meanwhile.
pub(super) fn fetch_jars(version: &str) -> anyhow::Result<()> {
    let dir = cache_dir().join(format!("kafka-{version}"));
    if dir.join(".complete").exists() {
        return Ok(());
    }
    say(&format!(
        "fetching the Kafka {version} jars from Maven Central with Maven into {} (first run only; can take a few minutes)...",
        dir.display()
    ));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = {
        let done = done.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= Duration::from_secs(15) {
                    last = Instant::now();
                    say(&format!(
                        "  still fetching ({:.0} s)",
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
        })
    };
    let started = Instant::now();
    let fetched = KafkaDist::get(version);
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    fetched.context("fetching the Kafka jars (needs Maven and network access to Maven Central)")?;
    say(&format!("  fetched in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// Everything the asynchronous part needs.
struct Plan {
    mode: Mode,
    labels: Labels,
    spec: GroupSpec,
    rate: u32,
    /// The first order id of the background producer.
    next_order: u64,
}

fn run(args: &DemoArgs) -> anyhow::Result<Outcome> {
    let mode = if args.plain || !std::io::stdout().is_terminal() {
        Mode::Plain
    } else {
        Mode::Live
    };
    let cluster = Arc::new(DemoBroker::start(args.broker)?);
    let topic = unique_topic("demo-orders");
    let group = unique_topic("kafkaroo-demo");
    say(&format!(
        "creating topic {topic} with {} partitions",
        args.partitions
    ));
    cluster
        .create_topic(&topic, args.partitions)
        .with_context(|| format!("creating topic {topic}"))?;
    say(&format!(
        "producing {} orders ({{\"order_id\",\"customer\",\"amount\"}} JSON keyed by customer) with {}...",
        args.initial,
        cluster.producer_name()
    ));
    let started = Instant::now();
    let first_batch = if args.initial > 0 {
        orders::produce_orders(&cluster, &topic, 0, args.initial).context("producing the first orders")?
    } else {
        Vec::new()
    };
    say(&format!("  done in {:.1} s", started.elapsed().as_secs_f64()));

    let plan = Plan {
        mode,
        labels: Labels {
            topic: topic.clone(),
            group: group.clone(),
            bootstrap: cluster.bootstrap(),
            duration: args.duration,
        },
        spec: GroupSpec {
            bootstrap: cluster.bootstrap(),
            group,
            topic,
            cost_per_record: Duration::from_millis(args.process_ms),
        },
        rate: args.rate,
        next_order: args.initial,
    };
    say(&format!(
        "group {}: {FIRST_MEMBERS} kafkaroo consumers with cooperative-sticky, {} ms per order; \
         the producer adds {} orders/s for {:.0} s",
        plan.spec.group,
        args.process_ms,
        args.rate,
        args.duration.as_secs_f64()
    ));
    let demo = Arc::new(Demo::new(args.partitions));
    demo.record_produced(&first_batch);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kafkaroo-demo")
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let outcome = runtime.block_on(run_group(&plan, &cluster, &demo));
    runtime.shutdown_timeout(Duration::from_secs(2));
    if cluster.started_here() {
        say("stopping the broker");
    }
    // Dropping the last handle stops the broker; a producer thread still running keeps it until exit,
    // when the harness' watchdogs stop it.
    drop(cluster);
    outcome
}

/// The script, under Ctrl-C and SIGTERM: both stop it early, close the members briefly and still print
/// the summary.
async fn run_group(plan: &Plan, cluster: &Arc<DemoBroker>, demo: &Arc<Demo>) -> anyhow::Result<Outcome> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut display = Display::new(plan.mode, plan.labels.clone());
    let mut producer = Some(
        BackgroundProducer::spawn(
            cluster.clone(),
            plan.spec.topic.clone(),
            plan.rate,
            plan.next_order,
            demo.clone(),
        )
        .context("starting the producer thread")?,
    );
    let mut members: Vec<Member> = Vec::new();
    if plan.mode == Mode::Live {
        print!("\x1b[?25l");
    }
    let finished = tokio::select! {
        end = script(plan, demo, &mut members, &mut producer, &mut display) => Some(end),
        _ = tokio::signal::ctrl_c() => None,
        _ = sigterm.recv() => None,
    };
    let interrupted = finished.is_none();
    if interrupted {
        demo.interrupt();
        demo.note("interrupted: closing the members".to_owned());
    }
    let close_wait = if interrupted {
        INTERRUPTED_CLOSE_WAIT
    } else {
        CLOSE_WAIT
    };
    let end = finished.unwrap_or_else(|| EndOwners::capture(&demo.lock()));
    if let Some(producer) = producer.take() {
        producer.stop(close_wait).await;
    }
    demo.begin_phase("shutdown", false);
    let leaving: Vec<_> = members
        .drain(..)
        .map(|m| tokio::spawn(m.leave(demo.clone(), close_wait)))
        .collect();
    for handle in leaving {
        let _ = handle.await;
    }
    display.finish(demo);
    if plan.mode == Mode::Live {
        print!("\x1b[?25h");
    }
    let st = demo.lock();
    say(&report::summary(&st, &plan.labels, &end, interrupted));
    if interrupted {
        return Ok(Outcome::Interrupted);
    }
    let clean = st.errors.is_empty()
        && st.duplicates() == 0
        && st.consumed_distinct() == st.produced
        && st.overlaps == 0;
    Ok(Outcome::Done { clean })
}

/// Start three members, let a fourth join, let the first leave, stop producing, work off the lag.
/// Returns who owned each partition at the end.
async fn script(
    plan: &Plan,
    demo: &Arc<Demo>,
    members: &mut Vec<Member>,
    producer: &mut Option<BackgroundProducer>,
    display: &mut Display,
) -> EndOwners {
    let duration = plan.labels.duration;
    let at = |fraction: f64| demo.started + duration.mul_f64(fraction);

    demo.begin_phase("start", true);
    for _ in 0..FIRST_MEMBERS {
        members.push(Member::spawn(&plan.spec, demo));
    }
    run_phase(demo, display, at(0.25)).await;

    // The phase begins before the member exists, so that everything its joining causes is counted in it.
    let joining = demo.lock().members.len() + 1;
    demo.begin_phase(&format!("join member-{joining}"), true);
    members.push(Member::spawn(&plan.spec, demo));
    run_phase(demo, display, at(0.55)).await;

    let leaving = members.remove(0);
    demo.begin_phase(&format!("leave member-{}", leaving.index + 1), true);
    let left = tokio::spawn(leaving.leave(demo.clone(), CLOSE_WAIT));
    run_phase(demo, display, at(1.0)).await;
    let _ = left.await;

    demo.begin_phase("drain", false);
    demo.note("the producer stops; the group works off the lag".to_owned());
    if let Some(producer) = producer.take() {
        producer.stop(CLOSE_WAIT).await;
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        display.tick(demo);
        let (produced, consumed) = {
            let st = demo.lock();
            (st.produced, st.consumed_distinct())
        };
        if consumed >= produced {
            demo.note(format!("all {produced} orders consumed"));
            break;
        }
        if Instant::now() >= deadline {
            demo.error(format!(
                "{} of {produced} orders still unconsumed after {DRAIN_TIMEOUT:?}",
                produced - consumed
            ));
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    display.tick(demo);
    EndOwners::capture(&demo.lock())
}

/// Runs until `until`, and past it until the group settled (at most [`SETTLE_TIMEOUT`] more), marking
/// the phase settled as soon as it is.
async fn run_phase(demo: &Demo, display: &mut Display, until: Instant) {
    let mut candidate: Option<(i32, Instant)> = None;
    let mut settled = false;
    loop {
        display.tick(demo);
        let now = Instant::now();
        let settled_generation = demo.lock().settled_generation();
        match settled_generation {
            Some(generation) => match candidate {
                Some((g, since)) if g == generation => {
                    if !settled && now.duration_since(since) >= SETTLE_HOLD {
                        settled = true;
                        demo.phase_settled(generation);
                    }
                }
                _ => candidate = Some((generation, now)),
            },
            None => candidate = None,
        }
        if now >= until && (settled || now >= until + SETTLE_TIMEOUT) {
            if !settled {
                demo.error(format!(
                    "the group did not settle within {SETTLE_TIMEOUT:?} after the step's time"
                ));
            }
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7500ms"), Ok(Duration::from_millis(7500)));
        assert!(parse_duration("1s").unwrap_err().contains("between 5 s"));
        assert!(parse_duration("10h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
    }
}
