//! The shared cluster state: [`State`] (brokers, topics with their partition logs, the brokers' fetch
//! sessions, the group coordinators and the idempotent producers) and [`Inner`], which holds it behind
//! a lock together with the controls, the request log and the wake-ups. Every broker task and each
//! [`Cluster`](crate::Cluster) handle share one `Inner`; the API handlers read and change the `State`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use kafkaroo_wire::Uuid;
use kafkaroo_wire::messages::ApiKey;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::debug;

use crate::consumer_group::{ConsumerGroups, Topics};
use crate::control::{Action, Control, ControlId, RequestInfo};
use crate::coordinator::Coordinator;
use crate::error::Error;
use crate::log::{Cut, PartitionLog};
use crate::messages::{Request, TopicRef};
use crate::producers::Producers;

pub(crate) struct PartitionState {
    pub(crate) leader: i32,
    pub(crate) epoch: i32,
    pub(crate) replicas: Vec<i32>,
    /// The replica the leader names as `preferred_read_replica` to consumers (KIP-392), which then
    /// serves their fetches from the same log ([`Cluster::prefer_read_replica`](crate::Cluster::prefer_read_replica)).
    pub(crate) read_replica: Option<i32>,
    pub(crate) log: PartitionLog,
}

pub(crate) struct TopicState {
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<PartitionState>,
}

/// One partition held by a broker-side fetch session (KIP-227).
#[derive(Debug, Clone)]
pub(crate) struct SessionEntry {
    /// `None`: a topic id (Fetch 13+) the cluster does not know.
    pub(crate) topic: Option<String>,
    pub(crate) topic_id: Uuid,
    pub(crate) partition: i32,
    pub(crate) fetch_offset: i64,
    pub(crate) max_bytes: i32,
    pub(crate) current_leader_epoch: i32,
    pub(crate) last_fetched_epoch: i32,
    /// `(high watermark, last stable offset, log start)` last sent, to omit unchanged partitions.
    pub(crate) sent: Option<(i64, i64, i64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct FetchSession {
    /// The epoch the next incremental request must carry.
    pub(crate) epoch: i32,
    pub(crate) entries: Vec<SessionEntry>,
}

#[derive(Default)]
pub(crate) struct Sessions {
    pub(crate) next_id: i32,
    pub(crate) map: HashMap<i32, FetchSession>,
}

pub(crate) struct State {
    pub(crate) brokers: BTreeMap<i32, SocketAddr>,
    pub(crate) topics: BTreeMap<String, TopicState>,
    pub(crate) sessions: BTreeMap<i32, Sessions>,
    pub(crate) coordinator: Coordinator,
    pub(crate) producers: Producers,
    pub(crate) consumer_groups: ConsumerGroups,
    next_topic_id: u128,
}

impl State {
    /// The state of a new cluster of `brokers`: no topics, no fetch sessions, no producers.
    pub(crate) fn new(
        brokers: BTreeMap<i32, SocketAddr>,
        coordinator: Coordinator,
        consumer_groups: ConsumerGroups,
    ) -> Self {
        Self {
            brokers,
            topics: BTreeMap::new(),
            sessions: BTreeMap::new(),
            coordinator,
            producers: Default::default(),
            consumer_groups,
            next_topic_id: 0,
        }
    }

    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Result<&PartitionState, Error> {
        let t = self
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    /// Creates a topic that does not exist yet, each partition led by the next broker in turn.
    pub(crate) fn create_topic(&mut self, name: &str, partitions: i32) -> TopicRef {
        self.next_topic_id += 1;
        let id = Uuid::from_u128(0x6b61_666b_6172_6f6f_0000_0000_0000_0000 | self.next_topic_id);
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let partitions = (0..partitions.max(1) as usize)
            .map(|i| {
                let replicas: Vec<i32> = (0..ids.len().min(3)).map(|k| ids[(i + k) % ids.len()]).collect();
                let mut log = PartitionLog::default();
                log.assign_epoch(0, 0);
                PartitionState {
                    leader: replicas[0],
                    epoch: 0,
                    replicas,
                    read_replica: None,
                    log,
                }
            })
            .collect();
        self.topics.insert(name.to_owned(), TopicState { id, partitions });
        TopicRef {
            name: name.to_owned(),
            id,
        }
    }

    pub(crate) fn partition_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<&mut PartitionState, Error> {
        let t = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get_mut(i))
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    pub(crate) fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.as_str())
    }

    /// Every topic's id and partition count by name, as the KIP-848 coordinator assigns them.
    pub(crate) fn topic_table(&self) -> Topics {
        self.topics
            .iter()
            .map(|(name, t)| (name.clone(), (t.id, t.partitions.len() as i32)))
            .collect()
    }
}

/// A request as the cluster received it (see [`Cluster::requests`](crate::Cluster::requests)).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    /// The broker that received it.
    pub broker: i32,
    /// The connection it came on (numbered from 1 per cluster).
    pub connection: u64,
    /// The API version.
    pub version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The decoded request.
    pub request: Request,
}

impl LoggedRequest {
    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        self.request.api_key()
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) versions: BTreeMap<i16, (i16, i16)>,
    pub(crate) cut: Cut,
    pub(crate) controls: Mutex<Vec<Arc<Control>>>,
    /// Every control ever added, for [`Cluster::fired`](crate::Cluster::fired).
    pub(crate) all_controls: Mutex<BTreeMap<ControlId, Arc<Control>>>,
    pub(crate) next_control: AtomicU64,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    /// Wakes `wait_for` callers: a request was logged.
    pub(crate) logged: Notify,
    /// Wakes long-polling fetches: data appended, leaders moved, topics changed.
    pub(crate) changed: Notify,
    pub(crate) next_connection: AtomicU64,
    pub(crate) connections: Mutex<BTreeMap<i32, u64>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Inner {
    /// Holds `state` for brokers advertising `versions` and reading with `cut`: no controls, an empty
    /// request log, no tasks yet.
    pub(crate) fn new(state: State, versions: BTreeMap<i16, (i16, i16)>, cut: Cut) -> Self {
        Self {
            state: Mutex::new(state),
            versions,
            cut,
            controls: Mutex::new(Vec::new()),
            all_controls: Mutex::new(BTreeMap::new()),
            next_control: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
            logged: Notify::new(),
            changed: Notify::new(),
            next_connection: AtomicU64::new(0),
            connections: Mutex::new(BTreeMap::new()),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn track(&self, task: AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Aborts every tracked task: the listeners, the connections and the coordinator clock.
    pub(crate) fn abort_tasks(&self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
    }

    pub(crate) fn accepted(&self, broker: i32) -> u64 {
        *self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(broker)
            .or_default() += 1;
        self.next_connection.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Logs the request and asks the controls what to do with it.
    pub(crate) fn on_request(&self, info: &RequestInfo<'_>) -> Option<Action> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(LoggedRequest {
                broker: info.broker,
                connection: info.connection,
                version: info.version,
                correlation_id: info.correlation_id,
                request: info.request.clone(),
            });
        self.logged.notify_waiters();
        let controls: Vec<Arc<Control>> = self.controls.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for c in controls {
            let (action, used_up) = c.run(info);
            if used_up {
                self.controls
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|x| x.id != c.id);
            }
            if let Some(action) = action {
                debug!(broker = info.broker, api = ?info.api_key(), control = c.id.0, ?action, "control fired");
                self.logged.notify_waiters();
                return Some(action);
            }
        }
        None
    }
}
