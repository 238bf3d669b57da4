//! Source 2: the official `apache/kafka` image through the docker CLI (single node).
//!
//! Not exercised by this crate's tests (the development machine has no Docker engine): kept small on
//! purpose. Disable it with `KAFKAROO_DOCKER=0`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::util::{self, Watchdog, log_tail, status_text};
use crate::wire;

/// Whether `docker info` succeeds (checked once per process), unless `KAFKAROO_DOCKER=0`.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var("KAFKAROO_DOCKER").is_ok_and(|v| v == "0" || v == "false") {
            return false;
        }
        Command::new("docker")
            .arg("info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `log.dirs` → `KAFKA_LOG_DIRS` following the image's convention (`.`→`_`, `_`→`__`, `-`→`___`).
fn env_name(config: &str) -> String {
    let mut out = String::from("KAFKA_");
    for c in config.chars() {
        match c {
            '.' => out.push('_'),
            '_' => out.push_str("__"),
            '-' => out.push_str("___"),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

pub(crate) struct DockerBroker {
    name: String,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
    logs: Option<Child>,
    watchdog: Option<Watchdog>,
}

impl DockerBroker {
    pub(crate) fn start(
        version: &str,
        broker_configs: &[(String, String)],
        dir: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let port = util::free_ports(1)?[0];
        let name = format!(
            "kafkaroo-{}-{:08x}",
            std::process::id(),
            util::random_u64() as u32
        );
        let mut configs: Vec<(String, String)> = [
            ("node.id", "1".to_owned()),
            ("process.roles", "broker,controller".to_owned()),
            ("listeners", format!("PLAINTEXT://:{port},CONTROLLER://:9093")),
            ("advertised.listeners", format!("PLAINTEXT://127.0.0.1:{port}")),
            ("controller.listener.names", "CONTROLLER".to_owned()),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
            ),
            ("controller.quorum.voters", "1@localhost:9093".to_owned()),
            ("offsets.topic.replication.factor", "1".to_owned()),
            ("offsets.topic.num.partitions", "3".to_owned()),
            ("transaction.state.log.replication.factor", "1".to_owned()),
            ("transaction.state.log.min.isr", "1".to_owned()),
            ("share.coordinator.state.topic.replication.factor", "1".to_owned()),
            ("share.coordinator.state.topic.min.isr", "1".to_owned()),
            ("group.initial.rebalance.delay.ms", "0".to_owned()),
            ("group.min.session.timeout.ms", "1000".to_owned()),
            ("group.consumer.session.timeout.ms", "10000".to_owned()),
            ("group.consumer.min.session.timeout.ms", "6000".to_owned()),
            ("group.consumer.heartbeat.interval.ms", "2000".to_owned()),
            ("group.consumer.min.heartbeat.interval.ms", "1000".to_owned()),
            ("group.consumer.regex.refresh.interval.ms", "10000".to_owned()),
            ("auto.create.topics.enable", "false".to_owned()),
            ("num.partitions", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        configs.extend(broker_configs.iter().cloned());
        let mut cmd = Command::new("docker");
        cmd.args([
            "run",
            "-d",
            "--rm",
            "--name",
            &name,
            "-p",
            &format!("127.0.0.1:{port}:{port}"),
        ]);
        for (k, v) in &configs {
            cmd.arg("-e").arg(format!("{}={v}", env_name(k)));
        }
        let out = cmd
            .arg(format!("apache/kafka:{version}"))
            .stdin(Stdio::null())
            .output()
            .context(|| "running docker".into())?;
        if !out.status.success() {
            return Err(Error::Tool {
                tool: "docker run".into(),
                status: status_text(&out.status),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let watchdog = Watchdog::spawn("docker rm -f \"$1\" >/dev/null 2>&1", &[&name]).ok();
        let log = dir.join("kafka.log");
        let logs = File::create(&log).ok().and_then(|f| {
            let f2 = f.try_clone().ok()?;
            Command::new("docker")
                .args(["logs", "-f", &name])
                .stdin(Stdio::null())
                .stdout(f)
                .stderr(f2)
                .spawn()
                .ok()
        });
        let broker = Self {
            name,
            port,
            log,
            logs,
            watchdog,
        };
        let addr = format!("127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            let probe = Duration::from_secs(2);
            let detail = match wire::api_versions(&addr, probe)
                .and_then(|()| wire::metadata(&addr, Some(&[]), probe))
            {
                Ok(md) if !md.brokers.is_empty() => return Ok(broker),
                Ok(_) => "no broker registered yet".to_owned(),
                Err(e) => e.to_string(),
            };
            if start.elapsed() > timeout {
                return Err(Error::StartTimeout {
                    node: 1,
                    secs: timeout.as_secs(),
                    detail,
                    log: broker.log.clone(),
                    tail: log_tail(&broker.log, 40),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for DockerBroker {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.disarm();
        }
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut logs) = self.logs.take() {
            let _ = logs.kill();
            let _ = logs.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn broker_configs_map_to_the_image_environment_convention() {
        assert_eq!(super::env_name("log.dirs"), "KAFKA_LOG_DIRS");
        assert_eq!(
            super::env_name("group.initial.rebalance.delay.ms"),
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"
        );
        assert_eq!(super::env_name("a_b-c"), "KAFKA_A__B___C");
    }
}
