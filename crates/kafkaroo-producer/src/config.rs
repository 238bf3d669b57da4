//! Producer configuration, by the property names of the Java client and librdkafka. Unknown keys and
//! bad values are errors naming the key. Security properties (`security.protocol`, `ssl.*`, `sasl.*`)
//! go to kafkaroo-net's [`SecurityOptions`], the same parser the consumer uses.

use std::time::Duration;

use kafkaroo_net::{BackoffConfig, SecurityConfig, SecurityOptions, SecurityProtocol, properties};
use kafkaroo_records::Compression;

use crate::error::Error;

/// `acks`: how many replicas must have the batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// Every in-sync replica (`all`, `-1`): nothing acknowledged is lost while one in-sync replica lives.
    #[default]
    All,
    /// The leader only (`1`).
    Leader,
}

impl Acks {
    pub(crate) fn wire(self) -> i16 {
        match self {
            Self::All => -1,
            Self::Leader => 1,
        }
    }
}

/// Producer settings. Build with [`ProducerConfig::builder`] or [`ProducerConfig::from_properties`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `acks`.
    pub acks: Acks,
    /// `enable.idempotence`: producer id and sequence numbers, so retries never duplicate or reorder.
    pub enable_idempotence: bool,
    /// `linger.ms`: how long a batch waits for more records before it is sent.
    pub linger: Duration,
    /// `batch.size`: a batch is sent once its records reach this many bytes (before compression).
    pub batch_size: usize,
    /// `max.in.flight.requests.per.connection` (at most 5 with idempotence).
    pub max_in_flight: usize,
    /// `delivery.timeout.ms`: a record's whole budget from `send` to its acknowledgement, retries included.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `retries`: attempts after the first, within `delivery.timeout.ms`.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `buffer.memory`: hard bound on the bytes of records waiting to be acknowledged; `send` waits
    /// (up to `max.block.ms`) for room.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` may wait for buffer room or the topic's metadata.
    pub max_block: Duration,
    /// `max.request.size`: the largest Produce request, and so the largest record.
    pub max_request_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `receive.message.max.bytes`.
    pub max_frame_size: usize,
    /// TLS and SASL, with their files read.
    pub security: SecurityConfig,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        // The Java producer's defaults (linger.ms 5 since Kafka 4.0, KIP-1030).
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "kafkaroo".to_owned(),
            acks: Acks::All,
            enable_idempotence: true,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            max_in_flight: 5,
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            buffer_memory: 32 << 20,
            max_block: Duration::from_secs(60),
            max_request_size: 1 << 20,
            compression: Compression::None,
            metadata_max_age: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            max_frame_size: kafkaroo_wire::DEFAULT_MAX_FRAME_SIZE,
            security: SecurityConfig::default(),
        }
    }
}

impl ProducerConfig {
    /// A builder with the defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// A configuration from `(property, value)` pairs.
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut builder = Self::builder();
        for (k, v) in properties {
            builder = builder.set(k, v)?;
        }
        builder.build()
    }

    pub(crate) fn client_config(&self) -> kafkaroo_net::ClientConfig {
        kafkaroo_net::ClientConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            connection: kafkaroo_net::ConnectionConfig {
                client_id: self.client_id.clone(),
                max_frame_size: self.max_frame_size,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
                security: self.security.clone(),
                // Settings the producer has no property for keep kafkaroo-net's defaults.
                ..kafkaroo_net::ConnectionConfig::default()
            },
            reconnect_backoff: BackoffConfig {
                initial: self.reconnect_backoff,
                max: self.reconnect_backoff_max,
            },
        }
    }

    pub(crate) fn retry_backoff_config(&self) -> BackoffConfig {
        BackoffConfig {
            initial: self.retry_backoff,
            max: self.retry_backoff_max,
        }
    }
}

/// Builder for [`ProducerConfig`]; `build()` validates.
#[derive(Debug, Clone, Default)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    security: SecurityOptions,
    /// `bootstrap.servers` as given.
    bootstrap: String,
    /// Whether `enable.idempotence` was set: Java lowers a defaulted idempotence instead of refusing it.
    idempotence_set: bool,
}

impl ProducerConfigBuilder {
    /// `bootstrap.servers`: comma-separated `host:port` list (checked in `build`).
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.bootstrap = servers.to_owned();
        self
    }

    /// `compression.type`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// `linger.ms`.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// `security.protocol`.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.security.set_protocol(protocol);
        self
    }

    /// Sets one property by its Java or librdkafka name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, Error> {
        let c = &mut self.config;
        match key {
            "bootstrap.servers" | "metadata.broker.list" => return Ok(self.bootstrap_servers(value)),
            "client.id" => c.client_id = value.to_owned(),
            "acks" | "request.required.acks" => {
                c.acks = match value.trim() {
                    "all" | "-1" => Acks::All,
                    "1" => Acks::Leader,
                    "0" => {
                        return Err(Error::Config(
                            "acks=0 is not supported: use acks=1 or all".to_owned(),
                        ));
                    }
                    _ => return Err(bad(key, value, "all, -1 or 1")),
                };
            }
            "enable.idempotence" => {
                c.enable_idempotence = parse_bool(key, value)?;
                self.idempotence_set = true;
            }
            "linger.ms" | "queue.buffering.max.ms" => c.linger = parse_ms(key, value)?,
            "batch.size" => c.batch_size = parse_num(key, value)?,
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                c.max_in_flight = parse_num(key, value)?
            }
            "delivery.timeout.ms" | "message.timeout.ms" => c.delivery_timeout = parse_ms(key, value)?,
            "request.timeout.ms" => c.request_timeout = parse_ms(key, value)?,
            "retries" | "message.send.max.retries" => c.retries = parse_num(key, value)?,
            "retry.backoff.ms" => c.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => c.retry_backoff_max = parse_ms(key, value)?,
            "buffer.memory" => c.buffer_memory = parse_num(key, value)?,
            "max.block.ms" => c.max_block = parse_ms(key, value)?,
            "max.request.size" | "message.max.bytes" => c.max_request_size = parse_num(key, value)?,
            "compression.type" | "compression.codec" => c.compression = parse_compression(key, value)?,
            "metadata.max.age.ms" | "topic.metadata.refresh.interval.ms" => {
                c.metadata_max_age = parse_ms(key, value)?
            }
            "socket.connection.setup.timeout.ms" => c.connect_timeout = parse_ms(key, value)?,
            "reconnect.backoff.ms" => c.reconnect_backoff = parse_ms(key, value)?,
            "reconnect.backoff.max.ms" => c.reconnect_backoff_max = parse_ms(key, value)?,
            "receive.message.max.bytes" => c.max_frame_size = parse_num(key, value)?,
            // What kafkaroo does anyway: Java's murmur2 for keys (librdkafka's murmur2_random),
            // sticky for records without a key.
            "partitioner" if value.trim() == "murmur2_random" => {}
            "partitioner" => {
                return Err(bad(
                    key,
                    value,
                    "murmur2_random (Java's partitioner, the only one kafkaroo has)",
                ));
            }
            _ => {
                let ours = self.security.set(key, value).map_err(config_error)?;
                if !ours {
                    return Err(Error::Config(format!("unknown producer property {key:?}")));
                }
            }
        }
        Ok(self)
    }

    /// Validates and returns the configuration.
    pub fn build(mut self) -> Result<ProducerConfig, Error> {
        let c = &mut self.config;
        if self.bootstrap.trim().is_empty() {
            return Err(Error::Config("bootstrap.servers is required".to_owned()));
        }
        c.bootstrap_servers = kafkaroo_net::ClientConfig::new(&self.bootstrap)
            .map_err(config_error)?
            .bootstrap_servers;
        if c.enable_idempotence {
            // Java: an explicit conflict is an error; a defaulted idempotence gives way.
            let conflict = if c.acks != Acks::All {
                Some("acks must be all")
            } else if c.max_in_flight > 5 {
                Some("max.in.flight.requests.per.connection must be at most 5")
            } else {
                None
            };
            if let Some(reason) = conflict {
                if self.idempotence_set {
                    return Err(Error::Config(format!(
                        "enable.idempotence=true: {reason}; change it or set enable.idempotence=false"
                    )));
                }
                tracing::info!(reason, "idempotence disabled by the other settings");
                c.enable_idempotence = false;
            }
        }
        if c.max_in_flight == 0 || c.batch_size == 0 || c.buffer_memory == 0 {
            return Err(Error::Config(
                "max.in.flight.requests.per.connection, batch.size and buffer.memory must be positive"
                    .to_owned(),
            ));
        }
        if c.delivery_timeout < c.linger + c.request_timeout {
            return Err(Error::Config(format!(
                "delivery.timeout.ms ({}) must be at least linger.ms + request.timeout.ms ({})",
                c.delivery_timeout.as_millis(),
                (c.linger + c.request_timeout).as_millis()
            )));
        }
        if c.max_request_size < 1024 {
            return Err(Error::Config("max.request.size must be at least 1024".to_owned()));
        }
        c.security = self.security.build().map_err(|e| Error::Config(e.to_string()))?;
        Ok(self.config)
    }
}

fn bad(key: &str, value: &str, expected: &str) -> Error {
    Error::Config(format!("{key}: {value:?} is not {expected}"))
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Error> {
    properties::parse_num(key, value).map_err(config_error)
}

fn parse_ms(key: &str, value: &str) -> Result<Duration, Error> {
    properties::parse_ms(key, value).map_err(config_error)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, Error> {
    properties::parse_bool(key, value).map_err(config_error)
}

/// kafkaroo-net's configuration errors, as the producer's.
fn config_error(e: kafkaroo_net::Error) -> Error {
    match e {
        kafkaroo_net::Error::Config(reason) => Error::Config(reason),
        other => Error::Config(other.to_string()),
    }
}

fn parse_compression(key: &str, value: &str) -> Result<Compression, Error> {
    Ok(match value.trim() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return Err(bad(key, value, "none, gzip, snappy, lz4 or zstd")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_and_librdkafka_names() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1,b:2"),
            ("compression.codec", "zstd"),
            ("queue.buffering.max.ms", "20"),
            ("message.timeout.ms", "60000"),
            ("batch.size", "1000"),
            ("partitioner", "murmur2_random"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, ["a:1", "b:2"]);
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.delivery_timeout, Duration::from_secs(60));
        assert_eq!(
            (c.batch_size, c.acks, c.enable_idempotence),
            (1000, Acks::All, true)
        );
    }

    #[test]
    fn idempotence_conflicts_as_in_java() {
        let c = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("acks", "1")]).unwrap();
        assert!(!c.enable_idempotence, "defaulted idempotence gives way");
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "6"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("at most 5"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("linger.ms", "soon")])
            .unwrap_err();
        assert!(e.to_string().contains("linger.ms: \"soon\""), "{e}");
        let e =
            ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("lingr.ms", "1")]).unwrap_err();
        assert!(
            e.to_string().contains("unknown producer property \"lingr.ms\""),
            "{e}"
        );
        let e = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("acks", "0")]).unwrap_err();
        assert!(e.to_string().contains("acks=0"), "{e}");
        let e = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("security.protocol", "TLS")])
            .unwrap_err();
        assert!(e.to_string().contains("security.protocol"), "{e}");
        assert!(ProducerConfig::from_properties([("acks", "all")]).is_err());
    }
}
