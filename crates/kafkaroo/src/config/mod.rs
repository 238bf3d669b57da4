//! Consumer configuration: a typed builder, and Java/librdkafka-style string properties for users who
//! carry configuration over from those clients. Unknown keys and bad values are errors that name the key.

mod foreign;
mod versions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafkaroo_group::{
    Assignor, CooperativeStickyAssignor, MemberConfig, RangeAssignor, RoundRobinAssignor, StickyAssignor,
};
use kafkaroo_net::sasl::{Mechanism, Secret, TokenProvider};
use kafkaroo_net::{SecurityConfig, SecurityOptions, SecurityProtocol};

use crate::error::Error;

/// What to do when a partition has no valid position (no committed offset, or the position fell out of
/// the log): `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// Start from the log start offset.
    Earliest,
    /// Start from the end (only records produced from now on).
    #[default]
    Latest,
    /// Report an error naming the partition; the application decides.
    None,
}

/// The group membership protocol: `group.protocol` (Java's property and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup with client-side assignors (`partition.assignment.strategy`).
    #[default]
    Classic,
    /// KIP-848's ConsumerGroupHeartbeat: the broker assigns (`group.remote.assignor`); Kafka 4.0+.
    Consumer,
}

/// Which records are visible: `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, including records of open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed records, up to the last stable offset; aborted transactions filtered out.
    ReadCommitted,
}

impl IsolationLevel {
    pub(crate) fn wire(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// Consumer settings. Build with [`ConsumerConfig::builder`] or [`ConsumerConfig::from_properties`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `group.id` (used by group membership).
    pub group_id: Option<String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `fetch.min.bytes`: the broker waits for this much data (or `fetch_max_wait`).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: the most one fetch response may carry (KIP-74: at least one batch always comes).
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records`: the most records one `poll` returns.
    pub max_poll_records: usize,
    /// `check.crcs`: verify every batch's CRC-32C.
    pub check_crcs: bool,
    /// `fetch.sessions.enable` (kafkaroo): incremental fetch sessions, KIP-227.
    pub fetch_sessions: bool,
    /// `memory.budget.bytes` (kafkaroo): hard cap on fetched data held by the consumer (see the crate docs).
    pub memory_budget_bytes: usize,
    /// `max.decompressed.batch.bytes` (kafkaroo): a batch inflating beyond this is an error (decompression bombs).
    pub max_decompressed_batch_bytes: usize,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms`: wait between retries of failed requests and metadata refreshes; doubles with
    /// each failure in a row, up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the cap of the retry backoff (below `retry_backoff`, a constant backoff).
    pub retry_backoff_max: Duration,
    /// `metadata.max.age.ms`: refresh metadata at least this often.
    pub metadata_max_age: Duration,
    /// `statistics.interval.ms`: how often `poll` logs [`Consumer::statistics`](crate::Consumer::statistics)
    /// as JSON (a `tracing` event of target `kafkaroo::statistics`); zero (the default) never.
    pub statistics_interval: Duration,
    /// `enable.metrics.push` (default true, as in Java): push the consumer's metrics to brokers that
    /// subscribe to them (KIP-714, GetTelemetrySubscriptions/PushTelemetry).
    pub enable_metrics_push: bool,
    /// `receive.message.max.bytes`: largest response frame accepted.
    pub max_frame_size: usize,
    /// `client.rack`.
    pub client_rack: Option<String>,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    pub max_poll_interval: Duration,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `partition.assignment.strategy`, in order of preference: built-in names (`range`, `roundrobin`,
    /// `sticky`, `cooperative-sticky`) or names of `custom_assignors`.
    pub partition_assignment_strategy: Vec<String>,
    /// `group.protocol`: `classic` (default) or `consumer` (KIP-848).
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor` (with `group.protocol=consumer`): the broker-side assignor, e.g.
    /// `uniform` or `range`; `None` lets the broker choose.
    pub group_remote_assignor: Option<String>,
    /// Assignors of your own (see [`ConsumerConfigBuilder::assignor`]), found by their name.
    pub custom_assignors: Vec<Arc<dyn Assignor>>,
    /// `security.protocol` with the TLS and SASL settings (`ssl.*`, `sasl.*`), files already read.
    /// Every connection of the consumer uses it. Its `Debug` shows no secret.
    pub security: SecurityConfig,
    /// `kafkaroo.api.version.max` (kafkaroo): highest version per API key, for a broker whose newest
    /// version of an API misbehaves; empty: the highest both sides speak.
    pub api_version_max: BTreeMap<i16, i16>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "kafkaroo".to_owned(),
            group_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1_048_576,
            max_poll_records: 500,
            check_crcs: true,
            fetch_sessions: true,
            memory_budget_bytes: 256 * 1024 * 1024,
            max_decompressed_batch_bytes: kafkaroo_records::DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            statistics_interval: Duration::ZERO,
            enable_metrics_push: true,
            max_frame_size: kafkaroo_wire::DEFAULT_MAX_FRAME_SIZE,
            client_rack: None,
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            partition_assignment_strategy: vec!["cooperative-sticky".to_owned()],
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            custom_assignors: Vec::new(),
            security: SecurityConfig::default(),
            api_version_max: BTreeMap::new(),
        }
    }
}

impl ConsumerConfig {
    /// A builder starting from the defaults (which follow the Java client's).
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: Self::default(),
            security: SecurityOptions::default(),
        }
    }

    /// Reads Java/librdkafka-style properties such as `bootstrap.servers`, `auto.offset.reset`,
    /// `fetch.max.bytes`. librdkafka's aliases (`fetch.wait.max.ms`, `fetch.message.max.bytes`,
    /// `smallest`/`largest`...) are accepted. An unknown key or an invalid value is an error naming it.
    pub fn from_properties<K, V>(properties: impl IntoIterator<Item = (K, V)>) -> Result<Self, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut builder = Self::builder();
        for (key, value) in properties {
            builder = builder.set(key.as_ref(), value.as_ref())?;
        }
        builder.build()
    }

    /// Checks values that only make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.partition_assignment_strategy.is_empty() {
            return bad("partition.assignment.strategy must name at least one assignor".into());
        }
        for s in &self.partition_assignment_strategy {
            let custom = self.custom_assignors.iter().any(|a| a.name() == s);
            if !custom && built_in_assignor(s).is_none() {
                return bad(format!(
                    "partition.assignment.strategy: unknown assignor {s:?} (range, roundrobin, sticky, \
                     cooperative-sticky, or one registered with ConsumerConfigBuilder::assignor)"
                ));
            }
        }
        if self.bootstrap_servers.is_empty() {
            return bad("bootstrap.servers must name at least one broker".into());
        }
        for s in &self.bootstrap_servers {
            let ok = s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return bad(format!("bootstrap.servers entry {s:?} is not host:port"));
            }
        }
        if self.fetch_max_bytes <= 0 || self.max_partition_fetch_bytes <= 0 || self.fetch_min_bytes < 0 {
            return bad(
                "fetch.max.bytes and max.partition.fetch.bytes must be positive, fetch.min.bytes >= 0".into(),
            );
        }
        if self.max_poll_records == 0 {
            return bad("max.poll.records must be at least 1".into());
        }
        if self.memory_budget_bytes < 64 * 1024 {
            return bad(format!(
                "memory.budget.bytes {} is below the minimum of 65536",
                self.memory_budget_bytes
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return bad(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                self.heartbeat_interval.as_millis(),
                self.session_timeout.as_millis()
            ));
        }
        if self.max_frame_size < 1024 {
            return bad("receive.message.max.bytes must be at least 1024".into());
        }
        Ok(())
    }

    /// The cluster client settings (client id, frame limit, timeouts, reconnect backoff) these imply.
    pub(crate) fn client_config(&self) -> kafkaroo_net::ClientConfig {
        kafkaroo_net::ClientConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            connection: kafkaroo_net::ConnectionConfig {
                client_id: self.client_id.clone(),
                max_frame_size: self.max_frame_size,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
                security: self.security.clone(),
                max_versions: self.api_version_max.clone(),
            },
            reconnect_backoff: kafkaroo_net::BackoffConfig {
                initial: self.reconnect_backoff,
                max: self.reconnect_backoff_max,
            },
        }
    }

    /// The backoff of retried requests: `retry.backoff.ms` doubling up to `retry.backoff.max.ms`.
    pub(crate) fn retry_backoff_config(&self) -> kafkaroo_net::BackoffConfig {
        kafkaroo_net::BackoffConfig {
            initial: self.retry_backoff,
            max: self.retry_backoff_max,
        }
    }
}

/// Builder for [`ConsumerConfig`]; `build()` validates.
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
    /// Security settings as given; their files are read in `build`.
    security: SecurityOptions,
}

/// A security setting the connection layer refused: a configuration error of the consumer.
fn net_config_error(error: kafkaroo_net::Error) -> Error {
    match error {
        kafkaroo_net::Error::Config(message) => Error::Config(message),
        other => Error::Net(other),
    }
}

// The property-value parsers are kafkaroo-net's, shared with the producer; these map their error.
fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Error> {
    kafkaroo_net::properties::parse_num(key, value).map_err(net_config_error)
}

fn parse_ms(key: &str, value: &str) -> Result<Duration, Error> {
    kafkaroo_net::properties::parse_ms(key, value).map_err(net_config_error)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, Error> {
    kafkaroo_net::properties::parse_bool(key, value).map_err(net_config_error)
}

impl ConsumerConfigBuilder {
    /// `bootstrap.servers`, comma-separated `host:port` list.
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.config.bootstrap_servers = servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        self
    }
    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }
    /// `group.id`.
    pub fn group_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_id = Some(id.into());
        self
    }
    /// `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, policy: AutoOffsetReset) -> Self {
        self.config.auto_offset_reset = policy;
        self
    }
    /// `isolation.level`.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.config.isolation_level = level;
        self
    }
    /// `fetch.min.bytes`.
    pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
        self.config.fetch_min_bytes = bytes;
        self
    }
    /// `fetch.max.bytes`.
    pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
        self.config.fetch_max_bytes = bytes;
        self
    }
    /// `fetch.max.wait.ms`.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.config.fetch_max_wait = wait;
        self
    }
    /// `max.partition.fetch.bytes`.
    pub fn max_partition_fetch_bytes(mut self, bytes: i32) -> Self {
        self.config.max_partition_fetch_bytes = bytes;
        self
    }
    /// `max.poll.records`.
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.config.max_poll_records = records;
        self
    }
    /// `check.crcs`.
    pub fn check_crcs(mut self, check: bool) -> Self {
        self.config.check_crcs = check;
        self
    }
    /// `enable.metrics.push`: KIP-714 client metrics push, on by default.
    pub fn enable_metrics_push(mut self, enabled: bool) -> Self {
        self.config.enable_metrics_push = enabled;
        self
    }
    /// Incremental fetch sessions (KIP-227), on by default.
    pub fn fetch_sessions(mut self, enabled: bool) -> Self {
        self.config.fetch_sessions = enabled;
        self
    }
    /// Hard cap on the bytes of fetched data the consumer holds.
    pub fn memory_budget_bytes(mut self, bytes: usize) -> Self {
        self.config.memory_budget_bytes = bytes;
        self
    }
    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }
    /// `retry.backoff.ms`.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.config.retry_backoff = backoff;
        self
    }
    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(mut self, max: Duration) -> Self {
        self.config.retry_backoff_max = max;
        self
    }

    /// Sets one property by its Java/librdkafka name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, Error> {
        let c = &mut self.config;
        match key {
            "bootstrap.servers" | "metadata.broker.list" => return Ok(self.bootstrap_servers(value)),
            "client.id" => c.client_id = value.to_owned(),
            "group.id" => c.group_id = Some(value.to_owned()),
            "group.instance.id" => c.group_instance_id = Some(value.to_owned()),
            "auto.offset.reset" => {
                c.auto_offset_reset = match value {
                    "earliest" | "smallest" | "beginning" => AutoOffsetReset::Earliest,
                    "latest" | "largest" | "end" => AutoOffsetReset::Latest,
                    "none" | "error" => AutoOffsetReset::None,
                    _ => {
                        return Err(Error::Config(format!(
                            "auto.offset.reset: {value:?} is not earliest, latest or none"
                        )));
                    }
                }
            }
            "isolation.level" => {
                c.isolation_level = match value {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(Error::Config(format!(
                            "isolation.level: {value:?} is not read_uncommitted or read_committed"
                        )));
                    }
                }
            }
            "fetch.min.bytes" => c.fetch_min_bytes = parse_num(key, value)?,
            "fetch.max.bytes" => c.fetch_max_bytes = parse_num(key, value)?,
            "fetch.max.wait.ms" | "fetch.wait.max.ms" => c.fetch_max_wait = parse_ms(key, value)?,
            "max.partition.fetch.bytes" | "fetch.message.max.bytes" => {
                c.max_partition_fetch_bytes = parse_num(key, value)?
            }
            "max.poll.records" => c.max_poll_records = parse_num(key, value)?,
            "check.crcs" => c.check_crcs = parse_bool(key, value)?,
            "fetch.sessions.enable" => c.fetch_sessions = parse_bool(key, value)?,
            "memory.budget.bytes" => c.memory_budget_bytes = parse_num(key, value)?,
            "max.decompressed.batch.bytes" => c.max_decompressed_batch_bytes = parse_num(key, value)?,
            "request.timeout.ms" => c.request_timeout = parse_ms(key, value)?,
            "socket.connection.setup.timeout.ms" => c.connect_timeout = parse_ms(key, value)?,
            "reconnect.backoff.ms" => c.reconnect_backoff = parse_ms(key, value)?,
            "reconnect.backoff.max.ms" => c.reconnect_backoff_max = parse_ms(key, value)?,
            "retry.backoff.ms" => c.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => c.retry_backoff_max = parse_ms(key, value)?,
            "statistics.interval.ms" => c.statistics_interval = parse_ms(key, value)?,
            "enable.metrics.push" => c.enable_metrics_push = parse_bool(key, value)?,
            "metadata.max.age.ms" | "topic.metadata.refresh.interval.ms" => {
                c.metadata_max_age = parse_ms(key, value)?
            }
            "receive.message.max.bytes" => c.max_frame_size = parse_num(key, value)?,
            "client.rack" => c.client_rack = Some(value.to_owned()),
            "session.timeout.ms" => c.session_timeout = parse_ms(key, value)?,
            "heartbeat.interval.ms" => c.heartbeat_interval = parse_ms(key, value)?,
            "max.poll.interval.ms" => c.max_poll_interval = parse_ms(key, value)?,
            "enable.auto.commit" | "auto.commit.enable" => c.enable_auto_commit = parse_bool(key, value)?,
            "auto.commit.interval.ms" => c.auto_commit_interval = parse_ms(key, value)?,
            versions::KEY => c.api_version_max = versions::parse(value)?,
            "group.protocol" => {
                c.group_protocol = match value.trim().to_ascii_lowercase().as_str() {
                    "classic" => GroupProtocol::Classic,
                    "consumer" => GroupProtocol::Consumer,
                    _ => {
                        return Err(Error::Config(format!(
                            "group.protocol: {value:?} is not classic or consumer"
                        )));
                    }
                }
            }
            "group.remote.assignor" => c.group_remote_assignor = Some(value.to_owned()),
            "partition.assignment.strategy" => {
                let strategies: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                // Names are checked in `validate`: a custom assignor may be registered later.
                c.partition_assignment_strategy = strategies;
            }
            _ => {
                let ours = self.security.set(key, value).map_err(net_config_error)?;
                if !ours {
                    match foreign::check(key, value) {
                        Some(Ok(())) => {}
                        Some(Err(reason)) => return Err(Error::Config(reason)),
                        None => {
                            return Err(Error::Config(format!(
                                "unknown configuration property {key:?} (docs/configuration.md lists them)"
                            )));
                        }
                    }
                }
            }
        }
        Ok(self)
    }

    /// `security.protocol`: TLS, SASL, both or neither.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.security.set_protocol(protocol);
        self
    }

    /// SASL with a user name and password: `mechanism` is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Set
    /// `security_protocol` to `SaslSsl` (or `SaslPlaintext`) as well.
    pub fn sasl_credentials(
        mut self,
        mechanism: Mechanism,
        username: &str,
        password: impl Into<Secret>,
    ) -> Self {
        self.security
            .set_sasl_credentials(mechanism, username, password.into());
        self
    }

    /// SASL/OAUTHBEARER with tokens from `provider` (called on every connection and re-authentication).
    pub fn oauthbearer_token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.security.set_token_provider(provider);
        self
    }

    /// Full control over TLS: this rustls configuration is used as it is, and the other `ssl.*`
    /// settings are ignored. Build it with [`crate::security::crypto_provider`] to use the same
    /// crypto as the rest of the client.
    pub fn tls_client_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.security.tls.custom_config(config);
        self
    }

    /// Registers an assignor of your own (the [`Assignor`] trait of `kafkaroo-group`, re-exported as
    /// [`crate::assignor`]). Unless `partition.assignment.strategy` names it already, it becomes the
    /// most preferred one. Every member of a group must offer a common assignor.
    pub fn assignor(mut self, assignor: Arc<dyn Assignor>) -> Self {
        let name = assignor.name().to_owned();
        let c = &mut self.config;
        c.custom_assignors.retain(|a| a.name() != name);
        c.custom_assignors.push(assignor);
        if !c.partition_assignment_strategy.contains(&name) {
            c.partition_assignment_strategy.insert(0, name);
        }
        self
    }

    /// Validates and returns the configuration.
    pub fn build(mut self) -> Result<ConsumerConfig, Error> {
        self.config.security = self.security.build().map_err(net_config_error)?;
        self.config.validate()?;
        Ok(self.config)
    }
}

/// The state machine's configuration from the consumer's.
pub(crate) fn member_config(config: &ConsumerConfig, group_id: &str) -> Result<MemberConfig, crate::Error> {
    let mut m = MemberConfig::new(group_id);
    m.group_instance_id = config.group_instance_id.clone();
    m.session_timeout = config.session_timeout;
    m.heartbeat_interval = config.heartbeat_interval;
    m.max_poll_interval = config.max_poll_interval;
    m.request_timeout = config.request_timeout;
    m.retry_backoff = config.retry_backoff;
    m.retry_backoff_max = config.retry_backoff_max;
    m.rack_id = config.client_rack.clone();
    m.jitter_seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut assignors: Vec<Arc<dyn Assignor>> = Vec::new();
    for name in &config.partition_assignment_strategy {
        if let Some(custom) = config.custom_assignors.iter().find(|a| a.name() == name) {
            assignors.push(custom.clone());
            continue;
        }
        let a = built_in_assignor(name).ok_or_else(|| {
            crate::Error::Config(format!(
                "partition.assignment.strategy: unknown assignor {name:?}"
            ))
        })?;
        assignors.push(a);
    }
    m.assignors = assignors;
    Ok(m)
}

/// The assignor `partition.assignment.strategy` names without registering one.
pub(crate) fn built_in_assignor(name: &str) -> Option<Arc<dyn Assignor>> {
    Some(match name {
        "cooperative-sticky" => Arc::new(CooperativeStickyAssignor),
        "sticky" => Arc::new(StickyAssignor),
        "range" => Arc::new(RangeAssignor),
        "roundrobin" => Arc::new(RoundRobinAssignor),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_map_to_typed_fields() {
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1,b:2"),
            ("auto.offset.reset", "smallest"),
            ("fetch.wait.max.ms", "50"),
            ("fetch.message.max.bytes", "4096"),
            ("isolation.level", "read_committed"),
            ("check.crcs", "false"),
            ("memory.budget.bytes", "1048576"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Earliest);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(50));
        assert_eq!(c.max_partition_fetch_bytes, 4096);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert!(!c.check_crcs);
        assert_eq!(c.memory_budget_bytes, 1 << 20);
    }

    #[test]
    fn api_version_caps_reach_the_connections() {
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("kafkaroo.api.version.max", "Fetch:12,OffsetCommit:8"),
        ])
        .unwrap();
        let caps = BTreeMap::from([(1, 12), (8, 8)]);
        assert_eq!(c.api_version_max, caps);
        assert_eq!(c.client_config().connection.max_versions, caps);
        let err = ConsumerConfig::from_properties([("kafkaroo.api.version.max", "Fetch:new")]).unwrap_err();
        assert!(err.to_string().contains("kafkaroo.api.version.max"), "{err}");
        let doc = include_str!("../../../../docs/configuration.md");
        assert!(doc.contains("`kafkaroo.api.version.max`"), "documented");
    }

    #[test]
    fn retry_backoff_max_caps_the_retry_backoff() {
        let c = ConsumerConfig::from_properties([("bootstrap.servers", "a:1")]).unwrap();
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max, Duration::from_secs(1), "Java's default");
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.ms", "20"),
            ("retry.backoff.max.ms", "300"),
        ])
        .unwrap();
        assert_eq!(c.retry_backoff_max, Duration::from_millis(300));
        let backoff = c.retry_backoff_config();
        assert_eq!(backoff.delay(1, 0.5), Duration::from_millis(20));
        assert_eq!(backoff.delay(4, 0.5), Duration::from_millis(160));
        assert_eq!(backoff.delay(5, 0.5), Duration::from_millis(300), "capped");
        let built = ConsumerConfig::builder()
            .bootstrap_servers("a:1")
            .retry_backoff_max(Duration::from_millis(50))
            .build()
            .unwrap();
        assert_eq!(built.retry_backoff_max, Duration::from_millis(50));
        let err = ConsumerConfig::from_properties([("retry.backoff.max.ms", "soon")]).unwrap_err();
        assert!(err.to_string().contains("retry.backoff.max.ms"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = ConsumerConfig::from_properties([("bootstrap.servers", "a:1"), ("fetch.max.byte", "1")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: unknown configuration property \"fetch.max.byte\" (docs/configuration.md lists them)"
        );
        let err = ConsumerConfig::from_properties([("fetch.max.bytes", "lots")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("fetch.max.bytes: \"lots\" is not a valid number"),
            "{err}"
        );
        let err = ConsumerConfig::from_properties([("auto.offset.reset", "middle")]).unwrap_err();
        assert!(err.to_string().contains("auto.offset.reset"), "{err}");
        let err = ConsumerConfig::from_properties([("bootstrap.servers", "nohost")]).unwrap_err();
        assert!(err.to_string().contains("\"nohost\" is not host:port"), "{err}");
        let err = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("session.timeout.ms", "1000"),
            ("heartbeat.interval.ms", "3000"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("heartbeat.interval.ms"), "{err}");
    }
}
