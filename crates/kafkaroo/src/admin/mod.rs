//! Consumer-group administration: list the cluster's groups, describe one (state, members and the
//! partitions each owns), its committed offsets and its lag per partition, the numbers
//! `kafka-consumer-groups.sh --describe` shows.
//!
//! A group of the consumer protocol (KIP-848) is described with ConsumerGroupDescribe
//! (`consumer_group.rs`, which also says when DescribeGroups is asked instead).
//!
//! Requests go to the group's coordinator (FindCoordinator first) at the highest version both sides
//! speak. Coordinator errors that mean "ask again" (`COORDINATOR_LOAD_IN_PROGRESS`,
//! `COORDINATOR_NOT_AVAILABLE`, `NOT_COORDINATOR`) and lost connections are retried a bounded number of
//! times, finding the coordinator again each time; everything else is an [`AdminError`] naming the cause.
//!
//! Operations that change a group, as `kafka-consumer-groups.sh` performs them: resetting committed
//! offsets (`reset.rs`: the plan is a pure function of the group's offsets and the logs' offsets), and
//! deleting a group or some of its offsets (`delete.rs`).

mod consumer_group;
mod delete;
mod reset;

pub use consumer_group::{ConsumerMemberDetails, GroupEpochs};
pub use delete::PartitionDeletion;
pub use reset::{Adjustment, PlannedOffset, ResetFacts, ResetSpec, TopicSelection, plan_reset};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use kafkaroo_group::Assignment;
use kafkaroo_group::member::{Request, Response, Target, TransportFailure};
use kafkaroo_net::{BackoffConfig, Client, Connection, Purpose};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::{DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetFetchRequest};
use tracing::debug;

use crate::commit::OffsetAndMetadata;
use crate::config::ConsumerConfig;
use crate::coordinator::codec::{self, sb};
use crate::coordinator::{self, is_coordinator_error};
use crate::record::TopicPartition;
use crate::retry::{Attempt, Budget, GaveUp};

/// How often a request is sent when the answer says "ask again" (coordinator loading or moved, broker
/// unreachable), waiting by the one backoff (`retry.backoff.ms` doubling up to `retry.backoff.max.ms`)
/// in between.
const MAX_ATTEMPTS: u32 = 8;

/// The `protocol_type` of groups whose members speak the embedded consumer protocol.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// ListOffsets' timestamps for the log end and the log start.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// Why an admin call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The coordinator knows no such group (or only a dead one).
    #[error("consumer group {group:?} does not exist{}", detail_suffix(.detail))]
    GroupNotFound {
        /// The group id.
        group: String,
        /// The broker's message, when it sent one (e.g. a group of another type with that id).
        detail: Option<String>,
    },
    /// The broker refused: the client lacks an ACL for the group, a topic or the cluster.
    #[error("not authorized: {api} for {resource} failed with {code}")]
    NotAuthorized {
        /// The API that was refused.
        api: &'static str,
        /// What it was about: `group "g"`, `topic "t"`, `broker 1`.
        resource: String,
        /// `GROUP_AUTHORIZATION_FAILED`, `TOPIC_AUTHORIZATION_FAILED`, `CLUSTER_AUTHORIZATION_FAILED`.
        code: ErrorCode,
    },
    /// The broker answered with another error code.
    #[error("{api} for {resource} failed with {code}{}", detail_suffix(.detail))]
    Broker {
        /// The API.
        api: &'static str,
        /// What it was about.
        resource: String,
        /// The Kafka error code.
        code: ErrorCode,
        /// The broker's message, when the API carries one.
        detail: Option<String>,
    },
    /// A request got no answer (connection lost or timed out).
    #[error("{api} for {resource} got no answer ({reason})")]
    NoAnswer {
        /// The API.
        api: &'static str,
        /// What it was about.
        resource: String,
        /// What happened to the request.
        reason: String,
    },
    /// A retriable condition persisted through every attempt.
    #[error("{what}: still failing after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The operation.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<Self>,
    },
    /// The group has active members, so its offsets cannot be reset (Java's tool refuses the same way).
    #[error(
        "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
    )]
    GroupActive {
        /// The group id.
        group: String,
        /// Its state (`Stable`, `PreparingRebalance`...).
        state: String,
    },
    /// A topic or partition named in a request does not exist.
    #[error("{what} does not exist")]
    UnknownPartition {
        /// `topic "t"` or `partition t-3`.
        what: String,
    },
    /// A reset cannot be planned for a partition (e.g. `--shift-by` without a committed offset).
    #[error("{0}")]
    Plan(String),
    /// A connection-layer error (unreachable cluster, no common protocol version...).
    #[error(transparent)]
    Net(#[from] kafkaroo_net::Error),
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] crate::Error),
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| format!(" (broker: {d})"))
        .unwrap_or_default()
}

impl AdminError {
    /// Whether asking again (after finding the coordinator again) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Broker { code, .. } => is_coordinator_error(*code) || code.is_retriable(),
            Self::NoAnswer { .. } => true,
            Self::Net(e) => e.is_retriable(),
            _ => false,
        }
    }

    /// Maps a non-zero error code of `api` about `resource`.
    fn from_code(api: &'static str, resource: String, code: ErrorCode, detail: Option<String>) -> Self {
        match code {
            ErrorCode::GROUP_AUTHORIZATION_FAILED
            | ErrorCode::TOPIC_AUTHORIZATION_FAILED
            | ErrorCode::CLUSTER_AUTHORIZATION_FAILED => Self::NotAuthorized { api, resource, code },
            code => Self::Broker {
                api,
                resource,
                code,
                detail,
            },
        }
    }
}

fn group_resource(group: &str) -> String {
    format!("group {group:?}")
}

/// A partition of a group's offsets, as errors name it.
fn partition_resource(group: &str, topic: &str, partition: i32) -> String {
    format!("{}, partition {topic}-{partition}", group_resource(group))
}

/// One group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `consumer` for consumer groups; empty for groups that only hold committed offsets.
    pub protocol_type: String,
    /// `Stable`, `Empty`, `PreparingRebalance`... (ListGroups v4+; `None` from older brokers).
    pub state: Option<String>,
    /// `classic` or `consumer` (ListGroups v5+; `None` from older brokers).
    pub group_type: Option<String>,
    /// The coordinator's node id.
    pub coordinator: i32,
}

/// The partitions a member owns, decoded from its SyncGroup assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberAssignment {
    /// A consumer protocol assignment (v0–v3), partitions sorted.
    Partitions(Vec<TopicPartition>),
    /// Bytes that are not a consumer protocol assignment (another protocol type, or malformed), and why.
    Undecodable {
        /// Why they could not be read.
        reason: String,
    },
}

impl MemberAssignment {
    /// The assigned partitions (none when undecodable).
    pub fn partitions(&self) -> &[TopicPartition] {
        match self {
            Self::Partitions(p) => p,
            Self::Undecodable { .. } => &[],
        }
    }

    fn decode(protocol_type: &str, bytes: bytes::Bytes) -> Self {
        if protocol_type != CONSUMER_PROTOCOL_TYPE {
            return Self::Undecodable {
                reason: format!(
                    "protocol type {protocol_type:?} is not the consumer protocol ({} bytes)",
                    bytes.len()
                ),
            };
        }
        let len = bytes.len();
        match Assignment::decode(bytes) {
            Ok(a) => {
                let mut partitions = a.partitions;
                partitions.sort();
                Self::Partitions(partitions)
            }
            Err(e) => Self::Undecodable {
                reason: format!("invalid consumer protocol assignment ({len} bytes): {e}"),
            },
        }
    }
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The `client.id` it connected with.
    pub client_id: String,
    /// Its address as the coordinator saw it (`/127.0.0.1`).
    pub host: String,
    /// What it owns.
    pub assignment: MemberAssignment,
    /// Epoch, subscriptions and target assignment of a member of a consumer-protocol group (KIP-848);
    /// `None` in a classic group.
    pub consumer: Option<ConsumerMemberDetails>,
}

/// A group as DescribeGroups, or ConsumerGroupDescribe for a consumer-protocol group, reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance`; for a consumer-protocol group
    /// `Stable`, `Empty`, `Assigning`, `Reconciling`.
    pub state: String,
    /// `consumer` for consumer groups; empty for a group without members.
    pub protocol_type: String,
    /// The selected protocol: for consumer groups, the assignor (`range`, `cooperative-sticky`...; the
    /// broker's `uniform` or `range` for a consumer-protocol group).
    pub protocol: String,
    /// The coordinator's node id.
    pub coordinator: i32,
    /// Its members, in the coordinator's order.
    pub members: Vec<MemberDescription>,
    /// The epochs of a consumer-protocol group (KIP-848, described by ConsumerGroupDescribe); `None` for
    /// a classic group.
    pub epochs: Option<GroupEpochs>,
}

/// Committed offset, log end and lag of one partition a group consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The group's committed offset (`None`: nothing committed).
    pub committed: Option<i64>,
    /// The partition's end (high watermark; `None` when it could not be looked up, e.g. a deleted topic).
    pub log_end: Option<i64>,
    /// `log_end - committed`, when both are known.
    pub lag: Option<i64>,
    /// The member id of the member that owns it (`None` for a partition with a committed offset but no
    /// owner).
    pub owner: Option<String>,
}

/// A group's description and its partitions' lag, in `kafka-consumer-groups.sh --describe`'s order:
/// members by number of partitions (most first), each member's partitions sorted, then the partitions
/// with a committed offset but no owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLag {
    /// The group.
    pub description: GroupDescription,
    /// One row per partition.
    pub partitions: Vec<PartitionLag>,
}

/// Consumer-group administration over one cluster connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), kafkaroo::admin::AdminError> {
/// use kafkaroo::ConsumerConfig;
/// use kafkaroo::admin::GroupAdmin;
///
/// let config = ConsumerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?;
/// let admin = GroupAdmin::connect(&config).await?;
/// for row in admin.group_lag("orders-app").await?.partitions {
///     println!("{} committed {:?} lag {:?}", row.partition, row.committed, row.lag);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GroupAdmin {
    client: Client,
    request_timeout: Duration,
    retry_backoff: BackoffConfig,
}

impl GroupAdmin {
    /// Connects to the cluster with the connection settings of `config` (bootstrap servers, client id,
    /// timeouts); its consumer settings are not used.
    pub async fn connect(config: &ConsumerConfig) -> Result<Self, AdminError> {
        config.validate()?;
        let client = Client::connect(config.client_config()).await?;
        Ok(Self::with_client(client, config))
    }

    /// Uses an existing cluster client (e.g. [`Consumer::client`](crate::Consumer::client)), with the
    /// timeouts of `config`.
    pub fn with_client(client: Client, config: &ConsumerConfig) -> Self {
        Self {
            client,
            request_timeout: config.request_timeout,
            retry_backoff: config.retry_backoff_config(),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or fails retriably [`MAX_ATTEMPTS`] times
    /// (the coordinator's one retry loop, `crate::coordinator::retrying`).
    async fn retrying<T, Fut>(
        &self,
        what: impl Fn() -> String,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, AdminError>
    where
        Fut: Future<Output = Result<T, AdminError>>,
    {
        let what = &what;
        let result = crate::retry::retrying(self.retry_backoff, Budget::Attempts(MAX_ATTEMPTS), || {
            let attempt = attempt();
            async move {
                match attempt.await {
                    Ok(t) => Attempt::Done(t),
                    Err(e) if e.is_retriable() => {
                        debug!(operation = %what(), error = %e, "retrying");
                        Attempt::Retry(e)
                    }
                    Err(e) => Attempt::Fail(e),
                }
            }
        })
        .await;
        result.map_err(|gave_up| match gave_up {
            GaveUp::Failed(e) => e,
            GaveUp::Exhausted { attempts, last } => AdminError::RetriesExhausted {
                what: what(),
                attempts,
                last: Box::new(last.expect("an attempts budget ends with an attempt")),
            },
        })
    }

    /// A connection to `broker` for admin requests, refreshing the broker list once if it is unknown.
    async fn broker_connection(&self, broker: i32) -> Result<Connection, AdminError> {
        match self.client.connection(broker, Purpose::General).await {
            Err(kafkaroo_net::Error::UnknownBroker { .. }) => {
                self.client.refresh_metadata(Some(&[])).await?;
                Ok(self.client.connection(broker, Purpose::General).await?)
            }
            other => Ok(other?),
        }
    }

    /// FindCoordinator for `group`: the coordinator's node id and a connection to it.
    async fn coordinator(&self, group: &str) -> Result<(i32, Connection), AdminError> {
        let find = Request::FindCoordinator {
            group_id: group.to_owned(),
        };
        let node =
            match coordinator::execute(&self.client, Target::AnyBroker, &find, self.request_timeout).await {
                Response::FindCoordinator {
                    error_code: 0,
                    node_id,
                } => node_id,
                Response::FindCoordinator { error_code, .. } => {
                    return Err(AdminError::from_code(
                        "FindCoordinator",
                        group_resource(group),
                        ErrorCode(error_code),
                        None,
                    ));
                }
                Response::Failed(failure) => {
                    return Err(AdminError::NoAnswer {
                        api: "FindCoordinator",
                        resource: group_resource(group),
                        reason: match failure {
                            TransportFailure::TimedOut => "timed out".to_owned(),
                            TransportFailure::Disconnected => "no broker connection".to_owned(),
                        },
                    });
                }
                other => {
                    return Err(AdminError::NoAnswer {
                        api: "FindCoordinator",
                        resource: group_resource(group),
                        reason: format!("unexpected answer {other:?}"),
                    });
                }
            };
        Ok((node, self.broker_connection(node).await?))
    }

    /// Every group of the cluster: ListGroups to each broker (each lists the groups it coordinates),
    /// sorted by group id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, AdminError> {
        let metadata = self.client.refresh_metadata(Some(&[])).await?;
        let mut out: BTreeMap<String, GroupListing> = BTreeMap::new();
        for &broker in metadata.brokers.keys() {
            let listed = self
                .retrying(
                    || format!("ListGroups on broker {broker}"),
                    || self.list_groups_on(broker),
                )
                .await?;
            for g in listed {
                out.insert(g.group_id.clone(), g);
            }
        }
        Ok(out.into_values().collect())
    }

    async fn list_groups_on(&self, broker: i32) -> Result<Vec<GroupListing>, AdminError> {
        let conn = self.broker_connection(broker).await?;
        let v = conn.negotiated_version::<ListGroupsRequest>()?;
        let resp = conn
            .send_version(&ListGroupsRequest::default(), v, self.request_timeout)
            .await?;
        if resp.error_code != 0 {
            return Err(AdminError::from_code(
                "ListGroups",
                format!("broker {broker}"),
                ErrorCode(resp.error_code),
                None,
            ));
        }
        Ok(resp
            .groups
            .into_iter()
            .map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: (v >= 4).then(|| g.group_state.to_string()),
                group_type: (v >= 5).then(|| g.group_type.to_string()),
                coordinator: broker,
            })
            .collect())
    }

    /// The group's state, protocol and members with their assignments: ConsumerGroupDescribe for a
    /// group of the consumer protocol (KIP-848), DescribeGroups for a classic one (the rule is in
    /// `consumer_group.rs`). [`AdminError::GroupNotFound`] when the coordinator knows no such group.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, AdminError> {
        self.retrying(
            || format!("describing group {group:?}"),
            || self.describe_any_once(group),
        )
        .await
    }

    /// DescribeGroups of `group` on its coordinator.
    async fn describe_classic_on(
        &self,
        group: &str,
        coordinator: i32,
        conn: &Connection,
    ) -> Result<GroupDescription, AdminError> {
        let v = conn.negotiated_version::<DescribeGroupsRequest>()?;
        let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]);
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        let Some(g) = resp.groups.into_iter().find(|g| g.group_id.0.as_str() == group) else {
            return Err(AdminError::NoAnswer {
                api: "DescribeGroups",
                resource: group_resource(group),
                reason: "the response does not name the group".to_owned(),
            });
        };
        let detail = g.error_message.as_deref().map(str::to_owned);
        match ErrorCode(g.error_code) {
            ErrorCode::NONE => {}
            ErrorCode::GROUP_ID_NOT_FOUND => {
                return Err(AdminError::GroupNotFound {
                    group: group.to_owned(),
                    detail,
                });
            }
            code => {
                return Err(AdminError::from_code(
                    "DescribeGroups",
                    group_resource(group),
                    code,
                    detail,
                ));
            }
        }
        // Before v6 an unknown group is described as Dead rather than refused.
        if g.group_state.as_str() == "Dead" {
            return Err(AdminError::GroupNotFound {
                group: group.to_owned(),
                detail: None,
            });
        }
        let protocol_type = g.protocol_type.to_string();
        let members = g
            .members
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_deref().map(str::to_owned),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: MemberAssignment::decode(&protocol_type, m.member_assignment),
                consumer: None,
            })
            .collect();
        Ok(GroupDescription {
            group_id: group.to_owned(),
            state: g.group_state.to_string(),
            protocol_type,
            protocol: g.protocol_data.to_string(),
            coordinator,
            members,
            epochs: None,
        })
    }

    /// The group's committed offsets, for every partition it committed one for (OffsetFetch of all
    /// topics). Empty for a group that committed nothing, or that does not exist.
    pub async fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        self.retrying(
            || format!("fetching the committed offsets of group {group:?}"),
            || self.committed_once(group),
        )
        .await
    }

    async fn committed_once(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let v = conn.negotiated_version::<OffsetFetchRequest>()?;
        // `topics: null` asks for every topic: v2+ (Kafka 0.10.2).
        if v < 2 {
            return Err(AdminError::Broker {
                api: "OffsetFetch",
                resource: group_resource(group),
                code: ErrorCode::UNSUPPORTED_VERSION,
                detail: Some(format!(
                    "listing all committed offsets needs OffsetFetch v2+, the broker speaks v{v}"
                )),
            });
        }
        let req = codec::offset_fetch(group, None, false, v);
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        let Some((error_code, rows)) = codec::offset_fetch_answer(resp, v) else {
            return Err(AdminError::NoAnswer {
                api: "OffsetFetch",
                resource: group_resource(group),
                reason: "the response names no group".to_owned(),
            });
        };
        match ErrorCode(error_code) {
            ErrorCode::NONE => {}
            ErrorCode::GROUP_ID_NOT_FOUND => return Ok(BTreeMap::new()),
            code => {
                return Err(AdminError::from_code(
                    "OffsetFetch",
                    group_resource(group),
                    code,
                    None,
                ));
            }
        }
        let mut committed = Vec::with_capacity(rows.len());
        for row in rows {
            match ErrorCode(row.error_code) {
                ErrorCode::NONE => committed.push(row),
                // The topic was deleted since: its offsets are not the group's to show.
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {}
                code => {
                    let tp = &row.partition;
                    return Err(AdminError::from_code(
                        "OffsetFetch",
                        format!("group {group:?}, topic {:?} partition {}", tp.topic, tp.partition),
                        code,
                        None,
                    ));
                }
            }
        }
        Ok(coordinator::committed_offsets(committed)
            .filter_map(|(tp, offset)| Some((tp, offset?)))
            .collect())
    }

    /// The end offsets (high watermarks) of `partitions` (ListOffsets latest, read_uncommitted as
    /// `kafka-consumer-groups.sh` uses). Partitions whose end cannot be looked up (deleted topic, no
    /// leader) are left out.
    pub async fn log_end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        self.list_offsets(partitions, LATEST).await
    }

    /// The log start offsets of `partitions` (ListOffsets earliest), as [`log_end_offsets`](Self::log_end_offsets).
    pub async fn log_start_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        self.list_offsets(partitions, EARLIEST).await
    }

    /// Per partition, the offset of the first record with a timestamp at or after `timestamp_ms`
    /// (ListOffsets by time); `-1` where there is none.
    pub async fn offsets_for_timestamp(
        &self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        self.list_offsets(partitions, timestamp_ms).await
    }

    /// ListOffsets with one `timestamp` (`-1` latest, `-2` earliest, or a time) for every partition.
    async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        self.retrying(
            || "looking up offsets".to_owned(),
            || self.list_offsets_once(partitions, timestamp),
        )
        .await
    }

    async fn list_offsets_once(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        let topics: BTreeSet<&str> = partitions.iter().map(|tp| tp.topic.as_str()).collect();
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let names: Vec<&str> = topics.into_iter().collect();
        let metadata = self.client.refresh_metadata(Some(&names)).await?;
        let mut by_leader: HashMap<i32, BTreeSet<&TopicPartition>> = HashMap::new();
        for tp in partitions {
            let leader = metadata
                .topics
                .get(&tp.topic)
                .and_then(|t| t.partitions.get(&tp.partition))
                .map_or(-1, |p| p.leader);
            if leader >= 0 {
                by_leader.entry(leader).or_default().insert(tp);
            }
        }
        let mut out = BTreeMap::new();
        for (leader, tps) in by_leader {
            let queries = tps.into_iter().map(|tp| (tp, timestamp, -1));
            let answers =
                crate::engine::list_offsets(&self.client, leader, queries, 0, self.request_timeout).await?;
            for (tp, (code, offset, _)) in answers {
                match code {
                    ErrorCode::NONE => {
                        out.insert(tp, offset);
                    }
                    code if code.is_retriable() => {
                        return Err(AdminError::from_code("ListOffsets", tp.to_string(), code, None));
                    }
                    ErrorCode::TOPIC_AUTHORIZATION_FAILED => {
                        return Err(AdminError::from_code(
                            "ListOffsets",
                            format!("topic {:?}", tp.topic),
                            code,
                            None,
                        ));
                    }
                    code => debug!(partition = %tp, %code, "no offset"),
                }
            }
        }
        Ok(out)
    }

    /// The partitions `selections` name: the listed ones, or every partition of a topic given without
    /// partitions (from the cluster's metadata). [`AdminError::UnknownPartition`] for a topic or
    /// partition that does not exist.
    pub async fn resolve_partitions(
        &self,
        selections: &[TopicSelection],
    ) -> Result<Vec<TopicPartition>, AdminError> {
        let names: Vec<&str> = selections
            .iter()
            .map(|s| s.topic.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let metadata = self.client.refresh_metadata(Some(&names)).await?;
        let mut out = BTreeSet::new();
        for s in selections {
            let topic = metadata
                .topics
                .get(&s.topic)
                .filter(|t| t.error == ErrorCode::NONE || !t.partitions.is_empty());
            let Some(topic) = topic else {
                if let Some(t) = metadata.topics.get(&s.topic)
                    && t.error == ErrorCode::TOPIC_AUTHORIZATION_FAILED
                {
                    return Err(AdminError::from_code(
                        "Metadata",
                        format!("topic {:?}", s.topic),
                        t.error,
                        None,
                    ));
                }
                return Err(AdminError::UnknownPartition {
                    what: format!("topic {:?}", s.topic),
                });
            };
            match &s.partitions {
                None => out.extend(
                    topic
                        .partitions
                        .keys()
                        .map(|p| TopicPartition::new(s.topic.as_str(), *p)),
                ),
                Some(ps) => {
                    for p in ps {
                        if !topic.partitions.contains_key(p) {
                            return Err(AdminError::UnknownPartition {
                                what: format!("partition {}-{p}", s.topic),
                            });
                        }
                        out.insert(TopicPartition::new(s.topic.as_str(), *p));
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// `host:port` of broker `node`, when the cluster metadata lists it.
    pub async fn broker_address(&self, node: i32) -> Result<Option<String>, AdminError> {
        let metadata = self.client.refresh_metadata(Some(&[])).await?;
        Ok(metadata
            .brokers
            .get(&node)
            .map(|b| format!("{}:{}", b.host, b.port)))
    }

    /// Describes `group` and computes, per partition it owns or committed an offset for, committed
    /// offset, log end and lag (`log end - committed`).
    pub async fn group_lag(&self, group: &str) -> Result<GroupLag, AdminError> {
        let description = self.describe_group(group).await?;
        let committed = self.committed_offsets(group).await?;
        let mut owned: Vec<(&MemberDescription, &[TopicPartition])> = description
            .members
            .iter()
            .map(|m| (m, m.assignment.partitions()))
            .filter(|(_, parts)| !parts.is_empty())
            .collect();
        // Most partitions first, as kafka-consumer-groups.sh; the sort is stable, so ties keep the
        // coordinator's order.
        owned.sort_by_key(|(_, parts)| std::cmp::Reverse(parts.len()));
        let mut rows: Vec<(TopicPartition, Option<String>)> = Vec::new();
        let mut seen: BTreeSet<&TopicPartition> = BTreeSet::new();
        for (member, parts) in &owned {
            for tp in *parts {
                seen.insert(tp);
                rows.push((tp.clone(), Some(member.member_id.clone())));
            }
        }
        for tp in committed.keys().filter(|tp| !seen.contains(tp)) {
            rows.push((tp.clone(), None));
        }
        let all: Vec<TopicPartition> = rows.iter().map(|(tp, _)| tp.clone()).collect();
        let ends = self.log_end_offsets(&all).await?;
        let partitions = rows
            .into_iter()
            .map(|(tp, owner)| {
                let committed = committed.get(&tp).map(|o| o.offset);
                let log_end = ends.get(&tp).copied();
                PartitionLag {
                    lag: committed.zip(log_end).map(|(c, e)| e - c),
                    partition: tp,
                    committed,
                    log_end,
                    owner,
                }
            })
            .collect();
        Ok(GroupLag {
            description,
            partitions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode_or_say_why_not() {
        let bytes = Assignment::new(vec![TopicPartition::new("t", 2), TopicPartition::new("t", 0)])
            .encode()
            .unwrap();
        assert_eq!(
            MemberAssignment::decode("consumer", bytes.clone()),
            MemberAssignment::Partitions(vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)])
        );
        assert_eq!(
            MemberAssignment::decode("consumer", bytes::Bytes::new()),
            MemberAssignment::Partitions(vec![]),
            "the broker sends members left out of the assignment an empty one"
        );
        let truncated = bytes.slice(..bytes.len() - 3);
        let MemberAssignment::Undecodable { reason } = MemberAssignment::decode("consumer", truncated) else {
            panic!("a truncated assignment decoded");
        };
        assert!(
            reason.contains("invalid consumer protocol assignment"),
            "{reason}"
        );
        let MemberAssignment::Undecodable { reason } = MemberAssignment::decode("connect", bytes) else {
            panic!("a connect assignment decoded as a consumer one");
        };
        assert!(reason.contains("\"connect\""), "{reason}");
    }

    #[test]
    fn errors_name_their_cause() {
        let e = AdminError::from_code(
            "DescribeGroups",
            group_resource("g"),
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
            None,
        );
        assert!(matches!(e, AdminError::NotAuthorized { .. }) && !e.is_retriable());
        assert!(e.to_string().contains("GROUP_AUTHORIZATION_FAILED"), "{e}");
        for code in [
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::NOT_COORDINATOR,
        ] {
            assert!(AdminError::from_code("OffsetFetch", group_resource("g"), code, None).is_retriable());
        }
        let missing = AdminError::GroupNotFound {
            group: "g".into(),
            detail: Some("Group g is not a classic group.".into()),
        };
        assert_eq!(
            missing.to_string(),
            "consumer group \"g\" does not exist (broker: Group g is not a classic group.)"
        );
    }
}
