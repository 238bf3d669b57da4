//! Where the demo's broker comes from, in this order: `KAFKAROO_BOOTSTRAP`; a real Kafka broker through
//! kafkaroo-testcontainers when this machine can start one (Docker, or a JDK with the Kafka jars cached or
//! Maven to fetch them); otherwise kafkaroo-testkit's in-process cluster, so that the README's first
//! command works on a machine with nothing but Rust. `--broker` overrides the choice.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use kafkaroo_testcontainers::{
    Cluster, ClusterOptions, RecordPosition, Source, TestRecord, cache_dir, docker_available, env_bootstrap,
    java, kafka_version,
};

use super::say;

/// `--broker`: which broker the demo runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BrokerChoice {
    /// `KAFKAROO_BOOTSTRAP`, else a real broker when this machine can start one, else in-process
    Auto,
    /// A real Apache Kafka broker (`KAFKAROO_BOOTSTRAP`, Docker, or a local JVM from Maven jars)
    Real,
    /// kafkaroo-testkit's in-process fake cluster (no Java, no Docker)
    InProcess,
}

/// The broker the demo produces to and its group consumes from.
pub(crate) enum DemoBroker {
    /// Real Apache Kafka, through the harness.
    Real(Box<Cluster>),
    /// The in-process cluster, served by its own runtime (kept alive as long as the broker).
    InProcess {
        cluster: kafkaroo_testkit::Cluster,
        _runtime: tokio::runtime::Runtime,
    },
}

/// Whether a real broker can be had here without asking the user for anything: Docker, or a JDK with
/// the jars cached or Maven on the `PATH` to fetch them. The reason when not.
fn real_broker_possible(version: &str) -> Result<(), String> {
    if docker_available() {
        return Ok(());
    }
    java().map_err(|e| format!("no Docker and no JDK ({e})"))?;
    if cache_dir()
        .join(format!("kafka-{version}"))
        .join(".complete")
        .exists()
    {
        return Ok(());
    }
    let maven = Command::new("mvn")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if maven {
        Ok(())
    } else {
        Err(format!(
            "no Docker, and the Kafka {version} jars are not cached and Maven (mvn) is not installed to fetch them"
        ))
    }
}

impl DemoBroker {
    /// Chooses and starts the broker, saying which and why.
    pub(crate) fn start(choice: BrokerChoice) -> anyhow::Result<Self> {
        let version = kafka_version();
        let real = match (choice, env_bootstrap()) {
            (BrokerChoice::InProcess, _) => false,
            (_, Some(bootstrap)) => {
                say(&format!("using the broker at {bootstrap} (KAFKAROO_BOOTSTRAP)"));
                true
            }
            (BrokerChoice::Real, None) => true,
            (BrokerChoice::Auto, None) => match real_broker_possible(&version) {
                Ok(()) => true,
                Err(why) => {
                    say(&format!(
                        "no real Kafka broker can be started here: {why}; using kafkaroo-testkit's \
                         in-process cluster instead (--broker real insists on a real one)"
                    ));
                    false
                }
            },
        };
        if real {
            return Ok(Self::Real(Box::new(start_real(&version)?)));
        }
        say(
            "starting kafkaroo-testkit's in-process Kafka cluster: the real wire protocol and a classic \
             group coordinator written for tests, not Apache Kafka (rebalance timing, log storage and \
             replication differ; KAFKAROO_BOOTSTRAP or a JDK with Maven give the real thing)",
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kafkaroo-mock")
            .enable_all()
            .build()
            .context("starting the in-process cluster's runtime")?;
        let cluster = runtime
            .block_on(kafkaroo_testkit::Cluster::builder().build())
            .context("starting the in-process cluster")?;
        say(&format!("  in-process cluster up at {}", cluster.bootstrap()));
        Ok(Self::InProcess {
            cluster,
            _runtime: runtime,
        })
    }

    /// What to give `bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> String {
        match self {
            Self::Real(c) => c.bootstrap().to_owned(),
            Self::InProcess { cluster, .. } => cluster.bootstrap(),
        }
    }

    /// Whether the demo started this broker (and stops it at the end).
    pub(crate) fn started_here(&self) -> bool {
        match self {
            Self::Real(c) => c.source() != Source::External,
            Self::InProcess { .. } => true,
        }
    }

    /// How the producer side writes: named in the demo's progress lines.
    pub(crate) fn producer_name(&self) -> &'static str {
        match self {
            Self::Real(_) => "the Java producer",
            Self::InProcess { .. } => "the in-process cluster's append API",
        }
    }

    pub(crate) fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        match self {
            Self::Real(c) => c.create_topic(topic, partitions, 1, &[]).map(drop)?,
            Self::InProcess { cluster, .. } => cluster.create_topic(topic, partitions).map(drop)?,
        }
        Ok(())
    }

    /// Writes `records` to `topic`, keyed records partitioned by key (one customer's orders stay in
    /// order on one partition), and returns where each landed.
    pub(crate) fn produce(
        &self,
        topic: &str,
        records: Vec<TestRecord>,
    ) -> anyhow::Result<Vec<RecordPosition>> {
        match self {
            Self::Real(c) => Ok(c.produce(&kafkaroo_testcontainers::ProduceRequest::new(topic, records))?),
            Self::InProcess { cluster, .. } => produce_in_process(cluster, topic, records),
        }
    }
}

fn start_real(version: &str) -> anyhow::Result<Cluster> {
    if env_bootstrap().is_none() {
        say(&format!(
            "starting a local Kafka {version} broker through kafkaroo-testcontainers \
             (KAFKAROO_BOOTSTRAP=host:port uses yours instead)..."
        ));
    }
    super::fetch_jars(version)?;
    let started = Instant::now();
    let cluster = Cluster::start(ClusterOptions::default()).context("starting the Kafka broker")?;
    if cluster.source() != Source::External {
        say(&format!(
            "  broker up at {} in {:.1} s ({:?})",
            cluster.bootstrap(),
            started.elapsed().as_secs_f64(),
            cluster.source()
        ));
    }
    Ok(cluster)
}

/// FNV-1a: a stable key hash for the in-process cluster's partitioning (not Java's murmur2, which only
/// matters when other clients share the topic; here only the demo writes).
fn key_hash(key: &[u8]) -> u32 {
    key.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn produce_in_process(
    cluster: &kafkaroo_testkit::Cluster,
    topic: &str,
    records: Vec<TestRecord>,
) -> anyhow::Result<Vec<RecordPosition>> {
    let partitions = cluster.partition_count(topic)?;
    let mut by_partition: Vec<Vec<kafkaroo_testkit::TestRecord>> = vec![Vec::new(); partitions as usize];
    for record in &records {
        let key = record.key.as_deref().unwrap_or_default();
        let p = (key_hash(key) % partitions as u32) as usize;
        let delta = by_partition[p].len() as i32;
        by_partition[p].push(kafkaroo_testkit::TestRecord::new(
            delta,
            record.key.as_deref(),
            record.value.as_deref(),
        ));
    }
    let mut positions = Vec::with_capacity(records.len());
    for (p, batch) in by_partition.into_iter().enumerate() {
        if batch.is_empty() {
            continue;
        }
        let range = cluster.append(topic, p as i32, kafkaroo_testkit::TestBatch::new(0, batch))?;
        positions.extend(range.map(|offset| RecordPosition {
            partition: p as i32,
            offset,
        }));
    }
    Ok(positions)
}
