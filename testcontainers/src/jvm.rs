//! Source 3: a local KRaft cluster of combined broker+controller JVMs, from the cached Maven jars.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::dist::{self, Cds, KafkaDist};
use crate::error::{Error, IoContext, Result};
use crate::util::{self, Watchdog, log_tail, status_text};
use crate::wire;

/// Default broker JVM options (`KAFKAROO_BROKER_JVM_OPTS` replaces them): a modest heap and the serial
/// collector, which starts fastest on small machines.
const DEFAULT_JVM_OPTS: &str =
    "-Xms128m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData";
/// Added unless `full_jit`: C1 only, which cuts the broker's start-up CPU by a third (no C2 compiler
/// threads competing on small machines) at the price of peak throughput.
const QUICK_JIT_OPT: &str = "-XX:TieredStopAtLevel=1";

/// A listener besides the harness' own `PLAINTEXT` (clients, inter-broker traffic, the harness' probes)
/// and `CONTROLLER`, on its own free loopback port on every node, advertised as `127.0.0.1:<port>`.
/// Its settings (`listener.name.<name lowercased>.*`) go into the broker configs.
#[derive(Debug, Clone)]
pub(crate) struct ExtraListener {
    /// Listener name, e.g. `SASL_SSL`.
    pub(crate) name: String,
    /// Security protocol: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub(crate) protocol: String,
}

#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    pub(crate) port: u16,
    /// Port of each [`ExtraListener`], in order, by listener name.
    pub(crate) extra_ports: Vec<(String, u16)>,
    pub(crate) config: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: PathBuf,
}

impl NodeSpec {
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>` of the extra listener `name`.
    pub(crate) fn listener_address(&self, name: &str) -> Option<String> {
        self.extra_ports
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, port)| format!("127.0.0.1:{port}"))
    }
}

struct Running {
    java: Child,
    watchdog: Watchdog,
    /// Set when this JVM records the class-data archive: it must then exit gracefully.
    recording: Option<Cds>,
}

impl Running {
    /// Stops the JVM: SIGTERM and a graceful exit when it records the class-data archive (which it
    /// writes on exit) or when `graceful`, SIGKILL otherwise.
    fn stop(mut self, graceful: bool) {
        self.watchdog.disarm();
        if graceful || self.recording.is_some() {
            let (_, exited) = util::terminate(&mut self.java, Duration::from_secs(60));
            if let Some(cds) = self.recording {
                cds.finish(exited);
            }
        } else {
            let _ = self.java.kill();
            let _ = self.java.wait();
        }
    }
}

pub(crate) struct JvmCluster {
    dist: KafkaDist,
    /// The brokers' classpath: the distribution's jars and `ClusterOptions::extra_classpath`.
    classpath: String,
    pub(crate) nodes: Vec<NodeSpec>,
    running: Mutex<Vec<Option<Running>>>,
    log_args: Vec<String>,
    jvm_opts: Vec<String>,
    /// Whether a launch already took on recording the class-data archive.
    cds_claimed: AtomicBool,
    pub(crate) timeout: Duration,
}

impl JvmCluster {
    /// Writes the configs, formats the storage and starts `options.nodes` nodes under `dir`, each with
    /// the `PLAINTEXT` and `CONTROLLER` listeners plus `extra_listeners`: `options.broker_configs` on
    /// every node, then `options.node_configs` by index; `options.extra_classpath` after the jars.
    pub(crate) fn start(
        dist: KafkaDist,
        options: &crate::ClusterOptions,
        extra_listeners: &[ExtraListener],
        dir: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let count = options.nodes;
        let configs = (&options.broker_configs, &options.node_configs);
        let (extra_classpath, full_jit) = (&options.extra_classpath, options.full_jit);
        let java = dist::java()?;
        // Per node: the PLAINTEXT port, the CONTROLLER port, then one per extra listener.
        let stride = 2 + extra_listeners.len();
        let ports = util::free_ports(stride * count)?;
        let voters = (0..count)
            .map(|i| format!("{i}@127.0.0.1:{}", ports[stride * i + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let log4j2 = dir.join("log4j2.properties");
        let log4j = dir.join("log4j.properties");
        std::fs::write(&log4j2, dist::log4j2_properties("INFO", "SYSTEM_OUT"))
            .context(|| format!("writing {}", log4j2.display()))?;
        std::fs::write(&log4j, dist::log4j_properties("INFO", "System.out"))
            .context(|| format!("writing {}", log4j.display()))?;
        let log_args = vec![
            format!("-Dlog4j2.configurationFile={}", log4j2.display()),
            format!("-Dlog4j.configuration=file:{}", log4j.display()),
        ];
        let replication = count.min(3);
        let min_isr = count.min(2);
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count {
            let node_dir = dir.join(format!("node-{i}"));
            let data_dir = node_dir.join("data");
            std::fs::create_dir_all(&data_dir).context(|| format!("creating {}", data_dir.display()))?;
            let (port, controller_port) = (ports[stride * i], ports[stride * i + 1]);
            let extra_ports: Vec<(String, u16)> = extra_listeners
                .iter()
                .zip(&ports[stride * i + 2..stride * (i + 1)])
                .map(|(l, &p)| (l.name.clone(), p))
                .collect();
            let (mut listeners, mut advertised, mut protocols) = (
                format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
                format!("PLAINTEXT://127.0.0.1:{port}"),
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
            );
            for (l, (_, p)) in extra_listeners.iter().zip(&extra_ports) {
                let _ = write!(listeners, ",{}://127.0.0.1:{p}", l.name);
                let _ = write!(advertised, ",{}://127.0.0.1:{p}", l.name);
                let _ = write!(protocols, ",{}:{}", l.name, l.protocol);
            }
            let mut props = String::new();
            let _ = write!(
                props,
                "process.roles=broker,controller\n\
                 node.id={i}\n\
                 controller.quorum.voters={voters}\n\
                 listeners={listeners}\n\
                 advertised.listeners={advertised}\n\
                 controller.listener.names=CONTROLLER\n\
                 inter.broker.listener.name=PLAINTEXT\n\
                 listener.security.protocol.map={protocols}\n\
                 log.dirs={data}\n\
                 num.partitions=1\n\
                 default.replication.factor=1\n\
                 auto.create.topics.enable=false\n\
                 offsets.topic.replication.factor={replication}\n\
                 offsets.topic.num.partitions=3\n\
                 transaction.state.log.replication.factor={replication}\n\
                 transaction.state.log.min.isr={min_isr}\n\
                 transaction.state.log.num.partitions=3\n\
                 share.coordinator.state.topic.replication.factor={replication}\n\
                 share.coordinator.state.topic.min.isr={min_isr}\n\
                 share.coordinator.state.topic.num.partitions=3\n\
                 group.initial.rebalance.delay.ms=0\n\
                 group.min.session.timeout.ms=1000\n\
                 group.consumer.session.timeout.ms=10000\n\
                 group.consumer.min.session.timeout.ms=6000\n\
                 group.consumer.heartbeat.interval.ms=2000\n\
                 group.consumer.min.heartbeat.interval.ms=1000\n\
                 group.consumer.regex.refresh.interval.ms=10000\n\
                 log.cleaner.dedupe.buffer.size=33554432\n\
                 num.recovery.threads.per.data.dir=1\n",
                data = data_dir.display(),
            );
            let (broker_configs, node_configs) = configs;
            for (k, v) in broker_configs
                .iter()
                .chain(node_configs.get(i).into_iter().flatten())
            {
                let _ = writeln!(props, "{k}={v}");
            }
            let config = node_dir.join("server.properties");
            std::fs::write(&config, props).context(|| format!("writing {}", config.display()))?;
            nodes.push(NodeSpec {
                port,
                extra_ports,
                config,
                data_dir,
                log: node_dir.join("kafka.log"),
            });
        }

        // Format all nodes in parallel (the first one may record the tool's class-data archive).
        let cluster_id = util::cluster_id();
        let classpath = dist.broker_classpath();
        let formats = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let cds = match Cds::new(&dist, &classpath, "kafka.tools.StorageTool", i == 0) {
                    Cds::Create { .. } if i > 0 => Cds::Off,
                    cds => cds,
                };
                let child = Command::new(&java)
                    .args([
                        "-Xmx256m",
                        "-XX:+UseSerialGC",
                        "-XX:TieredStopAtLevel=1",
                        "-XX:-UsePerfData",
                    ])
                    .args(cds.args())
                    .args(&log_args)
                    .arg("-cp")
                    .arg(&classpath)
                    .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
                    .arg(&n.config)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .context(|| "running kafka.tools.StorageTool".into());
                (child, cds)
            })
            .collect::<Vec<_>>();
        let mut failure = None;
        for (child, cds) in formats {
            let out = child?
                .wait_with_output()
                .context(|| "waiting for kafka.tools.StorageTool".into())?;
            cds.finish(out.status.success());
            if !out.status.success() && failure.is_none() {
                failure = Some(Error::Tool {
                    tool: "kafka.tools.StorageTool format".into(),
                    status: status_text(&out.status),
                    stderr: format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                });
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }

        let broker_classpath = std::iter::once(dist.broker_classpath())
            .chain(extra_classpath.iter().map(|p| p.display().to_string()))
            .collect::<Vec<_>>()
            .join(":");
        let cluster = Self {
            classpath: broker_classpath,
            running: Mutex::new((0..count).map(|_| None).collect()),
            dist,
            nodes,
            log_args,
            jvm_opts: match std::env::var("KAFKAROO_BROKER_JVM_OPTS") {
                Ok(opts) if !opts.trim().is_empty() => opts.split_whitespace().map(str::to_owned).collect(),
                _ => DEFAULT_JVM_OPTS
                    .split_whitespace()
                    .chain((!full_jit).then_some(QUICK_JIT_OPT))
                    .map(str::to_owned)
                    .collect(),
            },
            cds_claimed: AtomicBool::new(false),
            timeout,
        };
        {
            let mut running = cluster.lock();
            for i in 0..count {
                running[i] = Some(cluster.launch(i)?);
            }
        }
        let all: Vec<i32> = (0..count as i32).collect();
        cluster.wait_ready(&all, &all)?;
        Ok(cluster)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Running>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn launch(&self, i: usize) -> Result<Running> {
        let node = &self.nodes[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .context(|| format!("opening {}", node.log.display()))?;
        let log2 = log
            .try_clone()
            .context(|| format!("opening {}", node.log.display()))?;
        let classpath = &self.classpath;
        let claimed = self.cds_claimed.load(Ordering::SeqCst);
        let cds = Cds::new(&self.dist, classpath, "kafka.Kafka", !claimed);
        let recording = matches!(cds, Cds::Create { .. }) && !self.cds_claimed.swap(true, Ordering::SeqCst);
        let cds = if matches!(cds, Cds::Create { .. }) && !recording {
            Cds::Off
        } else {
            cds
        };
        let mut java = Command::new(dist::java()?)
            .args(&self.jvm_opts)
            .args(cds.args())
            .args(&self.log_args)
            .arg("-cp")
            .arg(classpath)
            .arg("kafka.Kafka")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .context(|| "starting the Kafka JVM".into())?;
        // When we die: SIGKILL; or, for the JVM recording the class-data archive, SIGTERM and up to 60 s
        // for the broker to shut down and write it, then keep it only if it exited by itself.
        let watchdog = match &cds {
            Cds::Create { tmp, dest } => Watchdog::spawn(
                "kill -TERM \"$1\" 2>/dev/null; i=0; \
                 while kill -0 \"$1\" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
                 if kill -0 \"$1\" 2>/dev/null; then kill -9 \"$1\"; rm -f \"$2\"; \
                 elif [ -s \"$2\" ]; then mv -f \"$2\" \"$3\"; fi",
                &[
                    &java.id().to_string(),
                    &tmp.display().to_string(),
                    &dest.display().to_string(),
                ],
            ),
            _ => Watchdog::spawn("kill -9 \"$1\" 2>/dev/null", &[&java.id().to_string()]),
        };
        match watchdog {
            Ok(watchdog) => Ok(Running {
                java,
                watchdog,
                recording: recording.then_some(cds),
            }),
            Err(e) => {
                let _ = java.kill();
                let _ = java.wait();
                Err(e)
            }
        }
    }

    /// Waits until every node of `ids` answers and sees exactly the brokers `live`, and every node of
    /// `live` sees them too.
    fn wait_ready(&self, ids: &[i32], live: &[i32]) -> Result<()> {
        let start = Instant::now();
        let mut want: Vec<i32> = live.to_vec();
        want.sort_unstable();
        let mut check: Vec<i32> = ids.iter().chain(live).copied().collect();
        check.sort_unstable();
        check.dedup();
        for &id in &check {
            let node = &self.nodes[id as usize];
            let addr = node.address();
            let mut detail;
            loop {
                if let Some(status) = self.lock()[id as usize]
                    .as_mut()
                    .and_then(|r| r.java.try_wait().ok().flatten())
                {
                    return Err(Error::BrokerExited {
                        node: id,
                        status: status_text(&status),
                        log: node.log.clone(),
                        tail: log_tail(&node.log, 40),
                    });
                }
                let probe = Duration::from_secs(2);
                match wire::api_versions(&addr, probe).and_then(|()| wire::metadata(&addr, Some(&[]), probe))
                {
                    Ok(md) => {
                        let mut seen: Vec<i32> = md.brokers.iter().map(|b| b.node_id).collect();
                        seen.sort_unstable();
                        if seen == want {
                            break;
                        }
                        detail = format!("node {id} sees brokers {seen:?}, waiting for {want:?}");
                    }
                    Err(e) => detail = e.to_string(),
                }
                if start.elapsed() > self.timeout {
                    return Err(Error::StartTimeout {
                        node: id,
                        secs: self.timeout.as_secs(),
                        detail,
                        log: node.log.clone(),
                        tail: log_tail(&node.log, 40),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    fn live(&self) -> Vec<i32> {
        self.lock()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_some())
            .map(|(i, _)| i as i32)
            .collect()
    }

    pub(crate) fn is_running(&self, id: i32) -> bool {
        self.lock().get(id as usize).is_some_and(Option::is_some)
    }

    pub(crate) fn pid(&self, id: i32) -> Option<u32> {
        self.lock()
            .get(id as usize)
            .and_then(|r| r.as_ref().map(|r| r.java.id()))
    }

    fn spec(&self, id: i32) -> Result<&NodeSpec> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.nodes.get(i))
            .ok_or_else(|| Error::Unsupported(format!("no node {id} in a cluster of {}", self.nodes.len())))
    }

    /// Stops node `id` with SIGTERM (controlled shutdown; SIGKILL after 60 s) and waits until the other
    /// nodes no longer list it.
    pub(crate) fn stop_node(&self, id: i32) -> Result<()> {
        self.spec(id)?;
        let Some(running) = self.lock()[id as usize].take() else {
            return Ok(());
        };
        running.stop(true);
        let live = self.live();
        if !live.is_empty() {
            self.wait_ready(&[], &live)?;
        }
        Ok(())
    }

    /// Starts node `id` again with the same config and data, and waits until all live nodes see it.
    pub(crate) fn start_node(&self, id: i32) -> Result<()> {
        self.spec(id)?;
        {
            let mut running = self.lock();
            if running[id as usize].is_some() {
                return Ok(());
            }
            running[id as usize] = Some(self.launch(id as usize)?);
        }
        self.wait_ready(&[id], &self.live())
    }

    /// Kills every node at once (SIGKILL).
    pub(crate) fn kill_all(&self) {
        for running in self.lock().iter_mut() {
            if let Some(r) = running.take() {
                r.stop(false);
            }
        }
    }
}

impl Drop for JvmCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
