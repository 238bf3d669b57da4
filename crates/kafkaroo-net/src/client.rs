//! The cluster client: bootstrap, metadata, and a pool of connections per broker and purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kafkaroo_wire::StrBytes;
use kafkaroo_wire::messages::metadata_request::MetadataRequestTopic;
use kafkaroo_wire::messages::{MetadataRequest, TopicName};
use kafkaroo_wire::protocol::Request;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::backoff::{Backoff, BackoffConfig};
use crate::connection::{Connection, ConnectionConfig};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::throttle::Throttled;

/// Why a connection exists. Each purpose gets its own connection to a broker, so a fetch that long-polls
/// for `fetch.max.wait.ms` can never sit in front of a heartbeat or a commit (franz-go does the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Metadata, ListOffsets, admin requests.
    General,
    /// Group coordination: FindCoordinator's answer, Join/Sync/Heartbeat/Leave, offset commits.
    Group,
    /// Fetch requests.
    Fetch,
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` addresses to bootstrap from.
    pub bootstrap_servers: Vec<String>,
    /// Settings of each connection.
    pub connection: ConnectionConfig,
    /// Backoff between reconnect attempts to the same broker.
    pub reconnect_backoff: BackoffConfig,
}

impl ClientConfig {
    /// A configuration from a comma-separated `bootstrap.servers` list.
    pub fn new(bootstrap_servers: &str) -> Result<Self> {
        let servers: Vec<String> = bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if servers.is_empty() {
            return Err(Error::Config("bootstrap.servers is empty".to_owned()));
        }
        for s in &servers {
            let port_ok = s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                return Err(Error::Config(format!("bootstrap server {s:?} is not host:port")));
            }
        }
        Ok(Self {
            bootstrap_servers: servers,
            connection: ConnectionConfig::default(),
            reconnect_backoff: BackoffConfig::default(),
        })
    }
}

struct Slot {
    conn: Option<Connection>,
    backoff: Backoff,
    retry_at: Option<Instant>,
}

type SlotMap = HashMap<(i32, Purpose), Arc<tokio::sync::Mutex<Slot>>>;

struct ClientInner {
    config: ClientConfig,
    metadata: Mutex<Arc<Metadata>>,
    slots: Mutex<SlotMap>,
    bootstrap: tokio::sync::Mutex<Option<Connection>>,
}

/// A handle to a Kafka cluster. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap", &self.inner.config.bootstrap_servers)
            .finish()
    }
}

impl Client {
    /// Connects to the first reachable bootstrap server and loads the cluster's broker list.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let client = Self {
            inner: Arc::new(ClientInner {
                config,
                metadata: Mutex::new(Arc::new(Metadata::default())),
                slots: Mutex::new(HashMap::new()),
                bootstrap: tokio::sync::Mutex::new(None),
            }),
        };
        client.refresh_metadata(Some(&[])).await?;
        Ok(client)
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The latest metadata snapshot.
    pub fn metadata(&self) -> Arc<Metadata> {
        self.inner
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A connection for metadata and admin requests: an open one if there is one, else any known broker
    /// or bootstrap server that answers, tried in turn.
    pub async fn any_connection(&self) -> Result<Connection> {
        let mut bootstrap = self.inner.bootstrap.lock().await;
        if let Some(conn) = bootstrap.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let metadata = self.metadata();
        let mut candidates: Vec<(Option<i32>, String)> = metadata
            .brokers
            .values()
            .map(|b| (Some(b.id), b.address()))
            .collect();
        fastrand::shuffle(&mut candidates);
        candidates.extend(
            self.inner
                .config
                .bootstrap_servers
                .iter()
                .map(|a| (None, a.clone())),
        );
        let mut last = None;
        for (id, addr) in &candidates {
            match Connection::connect(addr, *id, self.inner.config.connection.clone()).await {
                Ok(conn) => {
                    *bootstrap = Some(conn.clone());
                    return Ok(conn);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    debug!(server.address = %addr, error = %e, "bootstrap candidate unreachable");
                    last = Some(e);
                }
            }
        }
        let tried = candidates
            .iter()
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::NoBrokerReachable {
            tried,
            last: Box::new(last.unwrap_or_else(|| Error::Config("no broker address known".to_owned()))),
        })
    }

    /// The connection to `broker_id` for `purpose`: the open one, or a new one. After a failed attempt the
    /// next attempt to the same broker and purpose waits out an exponential backoff with jitter.
    ///
    /// Cancellation safe: dropping the future leaves at most an established, pooled connection behind.
    pub async fn connection(&self, broker_id: i32, purpose: Purpose) -> Result<Connection> {
        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry((broker_id, purpose))
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Slot {
                        conn: None,
                        backoff: Backoff::new(self.inner.config.reconnect_backoff),
                        retry_at: None,
                    }))
                })
                .clone()
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        if let Some(at) = slot.retry_at {
            tokio::time::sleep_until(at).await;
        }
        let broker = self
            .metadata()
            .brokers
            .get(&broker_id)
            .cloned()
            .ok_or(Error::UnknownBroker { broker_id })?;
        match Connection::connect(
            &broker.address(),
            Some(broker_id),
            self.inner.config.connection.clone(),
        )
        .await
        {
            Ok(conn) => {
                slot.backoff.reset();
                slot.retry_at = None;
                slot.conn = Some(conn.clone());
                info!(server.address = %broker.address(), broker_id, ?purpose, "connected");
                Ok(conn)
            }
            Err(e) => {
                let delay = slot.backoff.next_delay(fastrand::f64());
                debug!(server.address = %broker.address(), broker_id, ?purpose, error = %e, ?delay, "connect failed");
                slot.retry_at = Some(Instant::now() + delay);
                slot.conn = None;
                Err(e)
            }
        }
    }

    /// Sends a request to a broker over the connection for `purpose`.
    pub async fn send<R>(&self, broker_id: i32, purpose: Purpose, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: Throttled,
    {
        self.connection(broker_id, purpose).await?.send(request).await
    }

    /// Refreshes metadata: `None` for every topic, `Some(&[])` for brokers only, or the named topics.
    /// Merges the answer into the cached snapshot and returns the new snapshot.
    pub async fn refresh_metadata(&self, topics: Option<&[&str]>) -> Result<Arc<Metadata>> {
        let conn = self.any_connection().await?;
        let version = conn.negotiated_version::<MetadataRequest>()?;
        let request = metadata_request_at(topics, version);
        let timeout = self.inner.config.connection.request_timeout;
        let response = conn.send_version(&request, version, timeout).await?;
        let fresh = Metadata::from_response(&response);
        let mut current = self.inner.metadata.lock().unwrap_or_else(|e| e.into_inner());
        let mut merged = if topics.is_none() {
            Metadata::default()
        } else {
            (**current).clone()
        };
        merged.merge(fresh);
        let merged = Arc::new(merged);
        *current = merged.clone();
        Ok(merged)
    }
}

/// A Metadata request for all topics (`None`), brokers only (`Some(&[])`) or the named topics. Never asks
/// the broker to auto-create topics: a consumer must not create what it reads.
pub fn metadata_request(topics: Option<&[&str]>) -> MetadataRequest {
    let topics = topics.map(|names| {
        names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string((*n).to_owned()))))
            })
            .collect()
    });
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false)
}

/// [`metadata_request`] in a form `version` can carry: before v4 there is no way to refuse topic
/// creation (the broker's `auto.create.topics.enable` decides, as for every client of that age), and v0
/// cannot say "all topics" except with an empty list, which also stands for "brokers only" there (the
/// answer then lists every topic, which the merge takes as it takes any).
pub fn metadata_request_at(topics: Option<&[&str]>, version: i16) -> MetadataRequest {
    let mut request = metadata_request(topics);
    if version < 4 {
        request.allow_auto_topic_creation = true;
    }
    if version < 1 && request.topics.is_none() {
        request.topics = Some(Vec::new());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkaroo_wire::protocol::Message;

    #[test]
    fn metadata_requests_encode_at_every_version() {
        for v in MetadataRequest::VERSIONS.min..=MetadataRequest::VERSIONS.max {
            for topics in [None, Some(&[][..]), Some(&["t"][..])] {
                let request = metadata_request_at(topics, v);
                let mut buf = bytes::BytesMut::new();
                kafkaroo_wire::encode_request(&mut buf, 1, Some("c"), v, &request)
                    .unwrap_or_else(|e| panic!("Metadata v{v} {topics:?}: {e}"));
                assert_eq!(request.allow_auto_topic_creation, v < 4, "v{v}");
            }
        }
    }

    #[test]
    fn bootstrap_list_is_validated() {
        assert_eq!(
            ClientConfig::new("a:1, b:2").unwrap().bootstrap_servers,
            vec!["a:1", "b:2"]
        );
        assert!(matches!(ClientConfig::new(" , "), Err(Error::Config(_))));
        let err = ClientConfig::new("localhost").unwrap_err();
        assert!(
            err.to_string().contains("\"localhost\" is not host:port"),
            "{err}"
        );
        assert!(ClientConfig::new("h:99999").is_err());
    }
}
