//! A snapshot of cluster metadata: brokers, topics, partitions, leaders, leader epochs and topic ids.

use std::collections::BTreeMap;

use kafkaroo_wire::messages::MetadataResponse;
use kafkaroo_wire::{ErrorCode, Uuid};

/// A broker as the cluster advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`, ready to connect to.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Error for this partition (e.g. LEADER_NOT_AVAILABLE during an election).
    pub error: ErrorCode,
    /// The leader's node id, or -1 when there is none.
    pub leader: i32,
    /// The leader epoch (KIP-320), or -1 when the broker does not send it.
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (Metadata v10+; nil otherwise).
    pub id: Uuid,
    /// Error for the whole topic (e.g. UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED).
    pub error: ErrorCode,
    /// Whether it is an internal topic such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// What a Metadata response said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// Cluster id (Metadata v2+).
    pub cluster_id: Option<String>,
    /// The controller's node id (-1 if unknown).
    pub controller_id: i32,
    /// Brokers by node id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name (topics the response named; with a full refresh, all visible topics).
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl Metadata {
    /// Builds the snapshot from a response.
    pub fn from_response(response: &MetadataResponse) -> Self {
        let brokers = response
            .brokers
            .iter()
            .map(|b| {
                let info = BrokerInfo {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                };
                (info.id, info)
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let pm = PartitionMetadata {
                            partition: p.partition_index,
                            error: ErrorCode(p.error_code),
                            leader: p.leader_id.0,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                            isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                            offline_replicas: p.offline_replicas.iter().map(|n| n.0).collect(),
                        };
                        (pm.partition, pm)
                    })
                    .collect();
                let tm = TopicMetadata {
                    name: name.clone(),
                    id: t.topic_id,
                    error: ErrorCode(t.error_code),
                    is_internal: t.is_internal,
                    partitions,
                };
                Some((name, tm))
            })
            .collect();
        Self {
            cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: response.controller_id.0,
            brokers,
            topics,
        }
    }

    /// The partition's metadata, if the topic and partition are known.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// The leader of a partition, if it has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&BrokerInfo> {
        let p = self.partition(topic, partition)?;
        self.brokers.get(&p.leader)
    }

    /// Merges a newer partial snapshot (a refresh of some topics) into this one.
    pub fn merge(&mut self, newer: Self) {
        self.cluster_id = newer.cluster_id.or_else(|| self.cluster_id.take());
        self.controller_id = newer.controller_id;
        if !newer.brokers.is_empty() {
            self.brokers = newer.brokers;
        }
        self.topics.extend(newer.topics);
    }
}
