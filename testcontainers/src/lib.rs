#![deny(missing_docs)]
//! Real Apache Kafka brokers for kafkaroo's tests, benchmarks and scripts. Synchronous (std only).
//!
//! A [`Cluster`] comes from, in this order:
//! 1. `KAFKAROO_BOOTSTRAP=host:port[,host:port]`: an existing broker; nothing is started.
//! 2. A reachable Docker engine (`docker info` succeeds; `KAFKAROO_DOCKER=0` disables): the official
//!    `apache/kafka:<version>` image (single node).
//! 3. A local KRaft cluster of JVMs from Maven Central jars cached by `scripts/fetch-kafka.sh`.
//!
//! ```no_run
//! use kafkaroo_testcontainers::{Cluster, Compression, ProduceRequest, Producer, TestRecord};
//! let cluster = Cluster::shared();
//! let topic = cluster.unique_topic("demo");
//! cluster.create_topic(&topic, 1, 1, &[]).unwrap();
//! cluster
//!     .produce(&ProduceRequest::new(&topic, vec![TestRecord::new("k", "v")]).compression(Compression::Zstd))
//!     .unwrap();
//! println!("{}", cluster.bootstrap());
//! ```
//!
//! A [`SecuredCluster`] is always a local JVM: one KRaft node with SASL_SSL, SSL (mTLS), SASL_PLAINTEXT and
//! PLAINTEXT listeners, ACLs, and certificates made with the `openssl` CLI; it dereferences to a
//! [`Cluster`] on its PLAINTEXT listener (the super user).
//!
//! No broker JVM outlives the process: every JVM has a watchdog shell that SIGKILLs it when our end of
//! its stdin pipe closes, which the kernel does when this process dies, however it dies.

mod dist;
mod docker;
mod error;
mod helper;
mod jvm;
mod produce;
mod secured;
mod segments;
mod tls;
mod util;
mod wire;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use dist::{DEFAULT_KAFKA_VERSION, KafkaDist, cache_dir, java, kafka_version};
pub use docker::available as docker_available;
pub use error::{Error, Result};
pub use produce::{
    Batching, Compression, ConsumedRecord, Isolation, ProduceRequest, Producer, Reader, RecordPosition,
    TestRecord, TxnRequest, TxnSpec,
};
pub use secured::{
    AclPermission, AclResource, CERT_PRINCIPALS, ClientAuth, KeyFormat, SCRAM_ITERATIONS, SECURED_USERS,
    SaslMechanism, SecuredCluster, SecuredOptions, UNTRUSTED_CERT_PRINCIPAL,
};
pub use segments::BatchInfo;
/// The secured broker's certificates (`ca.pem`, `broker.pem` for `127.0.0.1`, `broker-keystore.pem`...), made
/// in a directory with the `openssl` CLI, for other TLS servers of the tests.
pub use tls::generate as generate_test_certificates;
pub use util::{log_tail, unique_topic};
pub use wire::{BrokerInfo, Metadata, PartitionInfo, TopicInfo};

use helper::Helper;
use util::Watchdog;

/// Where a cluster's brokers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `KAFKAROO_BOOTSTRAP` (or [`Cluster::external`]): someone else's broker.
    External,
    /// An `apache/kafka` container.
    Docker,
    /// Local JVMs.
    Jvm,
}

/// Options of [`Cluster::start`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of combined broker+controller nodes (1 or 3 are the tested ones).
    pub nodes: usize,
    /// Kafka version; `None` = `KAFKAROO_KAFKA_VERSION` or [`DEFAULT_KAFKA_VERSION`].
    pub version: Option<String>,
    /// Extra broker properties, appended to (and overriding) the harness' defaults.
    pub broker_configs: Vec<(String, String)>,
    /// Properties of one node each, appended after `broker_configs`: `node_configs[i]` goes to the node
    /// with `node.id` `i` (e.g. its `broker.rack`); nodes past the end get none. More entries than
    /// `nodes` is an error.
    pub node_configs: Vec<Vec<(String, String)>>,
    /// Full JIT (C2) for the brokers, for benchmarks: slower start. By default brokers run C1 only,
    /// which starts faster and is plenty for functional tests. `KAFKAROO_BROKER_JVM_OPTS` overrides both.
    pub full_jit: bool,
    /// Jars appended to the brokers' classpath (e.g. a metrics reporter compiled with
    /// [`KafkaDist::compile_jar`]). Such a cluster runs as local JVMs, never in Docker or external.
    pub extra_classpath: Vec<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            nodes: 1,
            version: None,
            broker_configs: Vec::new(),
            node_configs: Vec::new(),
            full_jit: false,
            extra_classpath: Vec::new(),
        }
    }
}

enum Backend {
    External,
    Docker(docker::DockerBroker),
    Jvm(jvm::JvmCluster),
}

/// A Kafka cluster: its bootstrap address, node control and test helpers. Dropping it stops the brokers
/// it started and removes their data (unless `KAFKAROO_KEEP_DATA=1`).
pub struct Cluster {
    backend: Backend,
    bootstrap: String,
    version: String,
    dir: PathBuf,
    janitor: Option<Watchdog>,
    helpers: Mutex<Vec<Helper>>,
    helper_count: Mutex<usize>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("source", &self.source())
            .field("bootstrap", &self.bootstrap)
            .field("version", &self.version)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Seconds to wait for brokers to answer: `KAFKAROO_START_TIMEOUT_SECS`, default 90.
fn start_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("KAFKAROO_START_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(90),
    )
}

/// `KAFKAROO_BOOTSTRAP`, when set and not empty.
pub fn env_bootstrap() -> Option<String> {
    std::env::var("KAFKAROO_BOOTSTRAP")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The kcat binary: `KAFKAROO_KCAT`, else `kcat` (or the older name `kafkacat`) from PATH.
pub fn kcat_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KAFKAROO_KCAT").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["kcat", "kafkacat"] {
        if let Some(found) = std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return found;
        }
    }
    PathBuf::from("kcat")
}

impl Cluster {
    /// The single-node cluster shared by every test of this process, started on first use. Panics (with
    /// the log path and tail) when no broker can be provided; see [`Self::try_shared`].
    pub fn shared() -> &'static Self {
        match Self::try_shared() {
            Ok(c) => c,
            Err(e) => panic!("kafkaroo-testcontainers: no shared Kafka cluster: {e}"),
        }
    }

    /// The shared cluster, or the error that prevented it (the same error on every call).
    pub fn try_shared() -> Result<&'static Self, &'static Error> {
        static SHARED: OnceLock<Result<Cluster>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start(ClusterOptions::default()))
            .as_ref()
    }

    /// A dedicated cluster. `KAFKAROO_BOOTSTRAP` is honoured for a single node without extra broker
    /// configs; otherwise Docker (single node) or local JVMs start.
    pub fn start(options: ClusterOptions) -> Result<Self> {
        let version = options.version.clone().unwrap_or_else(kafka_version);
        if options.nodes == 1
            && options.broker_configs.is_empty()
            && options.node_configs.iter().all(Vec::is_empty)
            && options.extra_classpath.is_empty()
            && let Some(bootstrap) = env_bootstrap()
        {
            return Self::external(&bootstrap, &version);
        }
        if options.nodes == 0 {
            return Err(Error::Unsupported("a cluster needs at least one node".into()));
        }
        if options.node_configs.len() > options.nodes {
            return Err(Error::Unsupported(format!(
                "node_configs for {} nodes, but the cluster has {}",
                options.node_configs.len(),
                options.nodes
            )));
        }
        let dir = util::temp_dir("kafkaroo")?;
        let janitor = janitor(&dir)?;
        let docker = options.nodes == 1 && options.extra_classpath.is_empty() && docker::available();
        Self::start_in(dir, janitor, version, &options, docker, &[])
    }

    /// Starts the brokers of `options` (Docker when `docker`, else local JVMs with `extra_listeners`) in
    /// the fresh directory `dir`, guarded by `janitor`. On failure, removes `dir` (or, when the error
    /// points at a broker log, only the data in it).
    pub(crate) fn start_in(
        dir: PathBuf,
        janitor: Option<Watchdog>,
        version: String,
        options: &ClusterOptions,
        docker: bool,
        extra_listeners: &[jvm::ExtraListener],
    ) -> Result<Self> {
        let timeout = start_timeout();
        let built = if docker {
            let configs: Vec<(String, String)> = options
                .broker_configs
                .iter()
                .chain(options.node_configs.iter().flatten())
                .cloned()
                .collect();
            docker::DockerBroker::start(&version, &configs, &dir, timeout).map(|broker| {
                let bootstrap = format!("127.0.0.1:{}", broker.port);
                (Backend::Docker(broker), bootstrap)
            })
        } else {
            KafkaDist::get(&version)
                .and_then(|dist| jvm::JvmCluster::start(dist, options, extra_listeners, &dir, timeout))
                .map(|cluster| {
                    let bootstrap = cluster
                        .nodes
                        .iter()
                        .map(jvm::NodeSpec::address)
                        .collect::<Vec<_>>()
                        .join(",");
                    (Backend::Jvm(cluster), bootstrap)
                })
        };
        match built {
            Ok((backend, bootstrap)) => Ok(Self {
                backend,
                bootstrap,
                version,
                dir,
                janitor,
                helpers: Mutex::new(Vec::new()),
                helper_count: Mutex::new(0),
            }),
            Err(e) => {
                // When the error points at a broker log, keep the logs for inspection (only the data
                // goes); otherwise the error says it all.
                if let Some(j) = janitor {
                    j.disarm();
                }
                if !util::keep_data() {
                    if matches!(e, Error::BrokerExited { .. } | Error::StartTimeout { .. }) {
                        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                            let _ = std::fs::remove_dir_all(entry.path().join("data"));
                        }
                    } else {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
                Err(e)
            }
        }
    }

    /// Someone else's cluster at `bootstrap`; `version` picks the tools' jars.
    pub fn external(bootstrap: &str, version: &str) -> Result<Self> {
        let dir = util::temp_dir("kafkaroo-external")?;
        let janitor = janitor(&dir)?;
        Ok(Self {
            backend: Backend::External,
            bootstrap: bootstrap.to_owned(),
            version: version.to_owned(),
            dir,
            janitor,
            helpers: Mutex::new(Vec::new()),
            helper_count: Mutex::new(0),
        })
    }

    /// `host:port[,host:port...]` of all nodes.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The Kafka version (of the brokers started, or of the tools used against an external cluster).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where this cluster's brokers come from (external, Docker or local JVMs).
    pub fn source(&self) -> Source {
        match self.backend {
            Backend::External => Source::External,
            Backend::Docker(_) => Source::Docker,
            Backend::Jvm(_) => Source::Jvm,
        }
    }

    /// Number of nodes started by this harness (0 for an external cluster).
    pub fn node_count(&self) -> usize {
        match &self.backend {
            Backend::External => 0,
            Backend::Docker(_) => 1,
            Backend::Jvm(c) => c.nodes.len(),
        }
    }

    /// Address of node `id` (node ids are 0..node_count).
    pub fn node_address(&self, id: i32) -> Option<String> {
        match &self.backend {
            Backend::Jvm(c) => c.nodes.get(usize::try_from(id).ok()?).map(jvm::NodeSpec::address),
            Backend::Docker(d) if id == 0 => Some(format!("127.0.0.1:{}", d.port)),
            _ => None,
        }
    }

    /// Address of the extra listener `name` of node `id` (local JVMs started with extra listeners).
    pub(crate) fn listener_address(&self, id: i32, name: &str) -> Option<String> {
        match &self.backend {
            Backend::Jvm(c) => c.nodes.get(usize::try_from(id).ok()?)?.listener_address(name),
            _ => None,
        }
    }

    /// Working directory of this cluster (configs, logs, data), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Log file (stdout, stderr and log4j output) of each node.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        match &self.backend {
            Backend::External => Vec::new(),
            Backend::Docker(d) => vec![d.log.clone()],
            Backend::Jvm(c) => c.nodes.iter().map(|n| n.log.clone()).collect(),
        }
    }

    /// Log file of node 0, if this harness started it.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.log_paths().into_iter().next()
    }

    /// `log.dirs` of each node (local JVMs only), e.g. to copy log segments.
    pub fn data_dirs(&self) -> Vec<PathBuf> {
        match &self.backend {
            Backend::Jvm(c) => c.nodes.iter().map(|n| n.data_dir.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Process id of node `id`'s JVM while it runs.
    pub fn node_pid(&self, id: i32) -> Option<u32> {
        match &self.backend {
            Backend::Jvm(c) => c.pid(id),
            _ => None,
        }
    }

    /// Whether node `id` runs (always false for external and docker clusters).
    pub fn is_node_running(&self, id: i32) -> bool {
        matches!(&self.backend, Backend::Jvm(c) if c.is_running(id))
    }

    fn jvm(&self, what: &str) -> Result<&jvm::JvmCluster> {
        match &self.backend {
            Backend::Jvm(c) => Ok(c),
            _ => Err(Error::Unsupported(format!(
                "{what} needs a local JVM cluster, this one is {:?}",
                self.source()
            ))),
        }
    }

    /// Stops node `id` (SIGTERM: controlled shutdown) and waits until the other nodes no longer list it.
    pub fn stop_node(&self, id: i32) -> Result<()> {
        self.jvm("stop_node")?.stop_node(id)
    }

    /// Restarts node `id` with its config and data, and waits until every live node lists it.
    pub fn start_node(&self, id: i32) -> Result<()> {
        self.jvm("start_node")?.start_node(id)
    }

    /// The cached jars for this cluster's version (fetched when missing).
    pub fn dist(&self) -> Result<KafkaDist> {
        KafkaDist::get(&self.version)
    }

    /// Classpath of Kafka's tools (`org.apache.kafka.tools.VerifiableConsumer`, ...).
    pub fn java_tools_classpath(&self) -> Result<String> {
        Ok(self.dist()?.tools_classpath())
    }

    /// A new unique topic name (does not create it).
    pub fn unique_topic(&self, prefix: &str) -> String {
        unique_topic(prefix)
    }

    /// Metadata as seen by the first node that answers.
    pub fn metadata(&self, topics: Option<&[&str]>) -> Result<Metadata> {
        let mut last = None;
        for addr in self.bootstrap.split(',') {
            match wire::metadata(addr.trim(), topics, Duration::from_secs(5)) {
                Ok(md) => return Ok(md),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Protocol("empty bootstrap".into())))
    }

    /// Leader of a partition according to the first node that answers (-1: none).
    pub fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        let md = self.metadata(Some(&[topic]))?;
        md.topic(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .map(|p| p.leader)
            .ok_or_else(|| Error::Protocol(format!("no metadata for {topic}/{partition}")))
    }

    /// Polls the metadata of every live broker until `accept` holds for all of them.
    fn wait_everywhere(&self, topic: &str, what: &str, accept: impl Fn(&Metadata) -> bool) -> Result<()> {
        let timeout = Duration::from_secs(60);
        util::poll(timeout, Duration::from_millis(50), || -> Result<Option<()>> {
            let md = self.metadata(Some(&[topic]))?;
            for b in &md.brokers {
                let addr = format!("{}:{}", b.host, b.port);
                if !accept(&wire::metadata(&addr, Some(&[topic]), Duration::from_secs(5))?) {
                    return Ok(None);
                }
            }
            Ok((!md.brokers.is_empty()).then_some(()))
        })
        .map_err(|last| match last {
            Some(e) => e,
            None => Error::Timeout {
                what: what.to_owned(),
                secs: timeout.as_secs(),
            },
        })
    }

    /// Creates a topic with the Admin client (Java helper) and waits until every live broker knows it
    /// with a leader for each partition.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let mut req = format!(
            "create\t{name}\t{partitions}\t{replication_factor}\t{}",
            configs.len()
        );
        for (k, v) in configs {
            req.push_str(&format!(
                "\t{}\t{}",
                helper::hex(k.as_bytes()),
                helper::hex(v.as_bytes())
            ));
        }
        self.helper_call(&req, "creating a topic")?;
        let n = usize::try_from(partitions).ok();
        self.wait_everywhere(name, &format!("topic {name} on every broker"), |md| {
            md.topic(name).is_some_and(|t| t.is_ready(n))
        })
    }

    /// Deletes a topic and waits until no live broker knows it.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.helper_call(&format!("delete\t{name}"), "deleting a topic")?;
        self.wait_everywhere(name, &format!("deletion of {name} on every broker"), |md| {
            md.topic(name).is_none_or(|t| t.error_code != 0)
        })
    }

    /// Runs one request on a pooled Java helper (one more helper per concurrent caller).
    fn helper_call(&self, request: &str, what: &str) -> Result<Vec<String>> {
        let pooled = self.helpers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut helper = match pooled {
            Some(h) => h,
            None => {
                let n = {
                    let mut count = self.helper_count.lock().unwrap_or_else(|e| e.into_inner());
                    *count += 1;
                    *count
                };
                Helper::spawn(
                    &self.dist()?,
                    &self.bootstrap,
                    &self.dir.join(format!("helper-{n}.log")),
                )?
            }
        };
        let reply = helper.call(request)?;
        self.helpers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(helper);
        reply.map_err(|stderr| Error::Tool {
            tool: format!("Java helper ({what})"),
            status: "error reply".into(),
            stderr,
        })
    }
}

fn janitor(dir: &Path) -> Result<Option<Watchdog>> {
    if util::keep_data() {
        return Ok(None);
    }
    // Runs when this process dies without dropping the cluster (e.g. the shared one): the node
    // watchdogs SIGKILL the JVMs at the same moment; give them a second before removing their files.
    let dir = dir.to_string_lossy();
    Watchdog::spawn("sleep 2; rm -rf \"$1\"", &[&dir]).map(Some)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.helpers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        match &self.backend {
            Backend::Jvm(c) => c.kill_all(),
            Backend::Docker(_) | Backend::External => {}
        }
        // Fields drop after this body: replace the backend to stop a container now.
        self.backend = Backend::External;
        if let Some(j) = self.janitor.take() {
            j.disarm();
        }
        if !util::keep_data() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
