//! The group as the broker sees it, read by a kafkaroo consumer that has the group's `group.id` but never
//! subscribes (so it is not a member): DescribeGroups (members, their client ids and assignments) of a
//! classic group, ConsumerGroupDescribe of a KIP-848 (`group.protocol=consumer`) group, the committed
//! offsets (OffsetFetch), and the topic's end offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_group::Assignment;
use kafkaroo_net::{Purpose, Throttled};
use kafkaroo_wire::StrBytes;
use kafkaroo_wire::messages::describe_configs_request::DescribeConfigsResource;
use kafkaroo_wire::messages::{
    ConsumerGroupDescribeRequest, DescribeConfigsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    GroupId, ListGroupsRequest,
};
use kafkaroo_wire::protocol::Request;

use super::members::now_ms;

/// One member in a DescribeGroups or ConsumerGroupDescribe answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub client_id: String,
    /// Its assigned partitions of the observed topic.
    pub partitions: Vec<i32>,
    /// ConsumerGroupDescribe v1+: `Some(true)` for a member speaking the consumer protocol, `Some(false)`
    /// for a classic member in a consumer-protocol group (during an online upgrade); `None` from
    /// DescribeGroups or ConsumerGroupDescribe v0.
    pub upgraded: Option<bool>,
}

/// A DescribeGroups or ConsumerGroupDescribe answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// `Stable` when settled; for a consumer-protocol group that means every member reached its target
    /// assignment (the others: `Empty`, `Assigning`, `Reconciling`, `Dead`).
    pub state: String,
    /// The selected assignor (the broker-side one of a consumer-protocol group).
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

/// The committed offsets at one moment (partitions without a commit are absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedSample {
    pub at_ms: u64,
    pub offsets: BTreeMap<i32, i64>,
}

pub struct Observer {
    consumer: Consumer,
    group: String,
    topic: String,
    partitions: Vec<TopicPartition>,
}

impl Observer {
    pub async fn new(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        let config = ConsumerConfig::builder()
            .bootstrap_servers(bootstrap)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .group_id(group)
            .set("client.id", "interop-observer")?
            .build()?;
        Ok(Self {
            consumer: Consumer::new(config).await?,
            group: group.to_owned(),
            topic: topic.to_owned(),
            partitions: (0..partitions).map(|p| TopicPartition::new(topic, p)).collect(),
        })
    }

    /// The group's committed offsets (OffsetFetch).
    pub async fn committed(&self) -> anyhow::Result<CommittedSample> {
        let answer = self.consumer.committed(&self.partitions).await?;
        let at_ms = now_ms();
        Ok(CommittedSample {
            at_ms,
            offsets: answer
                .into_iter()
                .filter_map(|(tp, o)| Some((tp.partition, o?.offset)))
                .collect(),
        })
    }

    /// The high watermark of every partition.
    pub async fn end_offsets(&self) -> anyhow::Result<BTreeMap<i32, i64>> {
        Ok(self
            .consumer
            .end_offsets(&self.partitions)
            .await?
            .into_iter()
            .map(|(tp, o)| (tp.partition, o))
            .collect())
    }

    /// The coordinator's node id (FindCoordinator).
    async fn coordinator(&self) -> anyhow::Result<i32> {
        let client = self.consumer.client();
        let conn = client.any_connection().await?;
        let v = conn.negotiated_version::<FindCoordinatorRequest>()?;
        let mut req = FindCoordinatorRequest::default();
        if v >= 4 {
            req.coordinator_keys = vec![StrBytes::from_string(self.group.clone())];
        } else {
            req.key = StrBytes::from_string(self.group.clone());
        }
        let resp = conn.send(&req).await?;
        let (code, node) = match resp.coordinators.first() {
            Some(c) if v >= 4 => (c.error_code, c.node_id.0),
            None if v >= 4 => bail!("FindCoordinator v{v}: no coordinator in the answer"),
            _ => (resp.error_code, resp.node_id.0),
        };
        if code != 0 {
            bail!("FindCoordinator for {}: error code {code}", self.group);
        }
        client.refresh_metadata(Some(&[])).await?;
        Ok(node)
    }

    /// Sends `request` to the group's coordinator.
    async fn to_coordinator<R>(&self, request: &R) -> anyhow::Result<R::Response>
    where
        R: Request,
        R::Response: Throttled,
    {
        let node = self.coordinator().await?;
        Ok(self
            .consumer
            .client()
            .send(node, Purpose::General, request)
            .await?)
    }

    /// DescribeGroups of the group.
    pub async fn describe(&self) -> anyhow::Result<GroupView> {
        let req = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(self.group.clone()))]);
        let resp = self.to_coordinator(&req).await?;
        let g = resp
            .groups
            .first()
            .context("DescribeGroups: no group in the answer")?;
        if g.error_code != 0 {
            bail!("DescribeGroups {}: error code {}", self.group, g.error_code);
        }
        let mut members = Vec::new();
        for m in &g.members {
            let assignment = Assignment::decode(m.member_assignment.clone())
                .with_context(|| format!("decoding the assignment of {}", m.member_id))?;
            members.push(DescribedMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                partitions: assignment
                    .partitions
                    .iter()
                    .filter(|tp| tp.topic == self.topic)
                    .map(|tp| tp.partition)
                    .collect(),
                upgraded: None,
            });
        }
        Ok(GroupView {
            state: g.group_state.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    /// ConsumerGroupDescribe (API 69) of the group, a `group.protocol=consumer` one (DescribeGroups does
    /// not describe those): each member's current assignment of the observed topic.
    pub async fn describe_consumer_group(&self) -> anyhow::Result<GroupView> {
        let req = ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(StrBytes::from_string(self.group.clone()))]);
        let resp = self.to_coordinator(&req).await?;
        let g = resp
            .groups
            .first()
            .context("ConsumerGroupDescribe: no group in the answer")?;
        if g.error_code != 0 {
            bail!(
                "ConsumerGroupDescribe {}: error code {} ({:?})",
                self.group,
                g.error_code,
                g.error_message
            );
        }
        let members = g
            .members
            .iter()
            .map(|m| DescribedMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                partitions: m
                    .assignment
                    .topic_partitions
                    .iter()
                    .filter(|t| t.topic_name.0.as_str() == self.topic)
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect(),
                upgraded: (m.member_type != -1).then_some(m.member_type == 1),
            })
            .collect();
        Ok(GroupView {
            state: g.group_state.to_string(),
            protocol: g.assignor_name.to_string(),
            members,
        })
    }
}

impl Observer {
    /// The group's type as its coordinator lists it (ListGroups v5+ `group_type`: `classic` or
    /// `consumer`); `None` when the coordinator does not list the group or is older than v5.
    pub async fn group_type(&self) -> anyhow::Result<Option<String>> {
        let resp = self.to_coordinator(&ListGroupsRequest::default()).await?;
        if resp.error_code != 0 {
            bail!("ListGroups: error code {}", resp.error_code);
        }
        Ok(resp
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == self.group)
            .map(|g| g.group_type.to_string())
            .filter(|t| !t.is_empty()))
    }

    /// The value of broker config `name` on the group's coordinator (DescribeConfigs of the BROKER
    /// resource); `None` when the broker does not know the config.
    pub async fn coordinator_config(&self, name: &str) -> anyhow::Result<Option<String>> {
        let node = self.coordinator().await?;
        let req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_string(node.to_string()))
                .with_configuration_keys(Some(vec![StrBytes::from_string(name.to_owned())])),
        ]);
        let resp = self.to_coordinator(&req).await?;
        let r = resp.results.first().context("DescribeConfigs: no result")?;
        if r.error_code != 0 {
            bail!(
                "DescribeConfigs broker {node}: error code {} ({:?})",
                r.error_code,
                r.error_message
            );
        }
        Ok(r.configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .and_then(|c| c.value.as_ref().map(|v| v.to_string())))
    }
}

/// Samples the committed offsets every `every` until `stop` is set; the samples collect in the returned
/// list. Failed samples are skipped (the broker may be busy), the count of failures is kept.
pub fn sample_committed(
    observer: Arc<Observer>,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (tokio::task::JoinHandle<usize>, Arc<Mutex<Vec<CommittedSample>>>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    let task = tokio::spawn(async move {
        let mut failures = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match observer.committed().await {
                Ok(s) => out.lock().unwrap().push(s),
                Err(_) => failures += 1,
            }
            tokio::time::sleep(every).await;
        }
        failures
    });
    (task, samples)
}
