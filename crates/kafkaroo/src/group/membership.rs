//! What the group driver needs of a member, so one driver serves both protocols: the classic
//! [`GroupMember`] and the KIP-848 member ([`super::kip848::Kip848`]). Both report the same
//! [`GroupEvent`]s and [`MemberState`]s; requests and responses of either protocol travel as
//! [`AnyRequest`] / [`AnyResponse`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kafkaroo_group::consumer_protocol as cp;
use kafkaroo_group::member::{
    CloseMode, CommitId, CommitKind, OffsetToCommit, Request, RequestId, Response, Transmit,
};
use kafkaroo_group::{
    GroupError, GroupEvent, GroupMember, MemberState, PartitionCounts, ReplicaRacks, TopicPartition,
};
use kafkaroo_wire::Uuid;

/// A request of either protocol.
pub(crate) enum AnyRequest {
    Classic(Request),
    Consumer(cp::Request),
    /// OffsetFetch naming a KIP-848 member and its epoch (answered as the classic `OffsetFetch`).
    MemberOffsetFetch {
        group_id: String,
        partitions: Vec<TopicPartition>,
        member_id: String,
        member_epoch: i32,
    },
}

impl AnyRequest {
    /// The API's name and how many partitions it names (for its span).
    pub(crate) fn describe(&self) -> (&'static str, usize) {
        match self {
            Self::Classic(Request::OffsetCommit(params)) => ("OffsetCommit", params.offsets.len()),
            Self::Classic(r) => (r.api_name(), 0),
            Self::Consumer(r) => (r.api_name(), 0),
            Self::MemberOffsetFetch { partitions, .. } => ("OffsetFetch", partitions.len()),
        }
    }
}

/// A response of either protocol (a transport failure comes as the request's protocol's `Failed`).
pub(crate) enum AnyResponse {
    Classic(Response),
    Consumer(cp::Response),
}

/// What the metadata says about the subscribed topics: partition counts and replica racks (classic
/// assignors) and topic names by id (KIP-848 assignments name topics by id).
#[derive(Default)]
pub(crate) struct TopicsInfo {
    pub(crate) counts: PartitionCounts,
    /// The racks of each partition's replicas (KIP-881 rack-aware assignors).
    pub(crate) racks: ReplicaRacks,
    pub(crate) names: BTreeMap<Uuid, String>,
    /// With a pattern subscription: the pattern the refresh matched against, and the topics that matched.
    pub(crate) matched: Option<(String, BTreeSet<String>)>,
}

/// The replica racks of every partition in `metadata`. `known` remembers broker racks across refreshes:
/// a broker missing from this refresh (offline) keeps the rack it had, because KIP-881 counts the racks of
/// all replicas, offline ones included, and a broker restart must not look like a rack change that makes
/// the leader rebalance twice (KAFKA-20778).
pub(crate) fn replica_racks(
    metadata: &kafkaroo_net::Metadata,
    known: &mut BTreeMap<i32, String>,
) -> ReplicaRacks {
    for (id, broker) in &metadata.brokers {
        match &broker.rack {
            Some(rack) if !rack.is_empty() => known.insert(*id, rack.clone()),
            _ => known.remove(id),
        };
    }
    metadata
        .topics
        .iter()
        .filter(|(_, t)| !t.partitions.is_empty())
        .map(|(name, t)| {
            // Partition numbers are 0..n; a negative one (a broker bug) is left out.
            let index = |p: i32| usize::try_from(p).ok();
            let count = t
                .partitions
                .keys()
                .filter_map(|&p| index(p))
                .max()
                .map_or(0, |p| p + 1);
            let mut per_partition = vec![BTreeSet::new(); count];
            for (p, partition) in t.partitions.iter().filter_map(|(&p, m)| Some((index(p)?, m))) {
                per_partition[p] = partition
                    .replicas
                    .iter()
                    .filter_map(|id| known.get(id).cloned())
                    .collect();
            }
            (name.clone(), per_partition)
        })
        .collect()
}

/// The inputs and outputs the driver, the callbacks and the commits use.
pub(crate) trait Membership: Send {
    fn state(&self) -> MemberState;
    /// The generation (classic) or member epoch (KIP-848).
    fn generation(&self) -> i32;
    fn member_id(&self) -> &str;
    fn leader_id(&self) -> &str;
    fn protocol_name(&self) -> Option<&str>;
    fn coordinator(&self) -> Option<i32>;
    fn assignment(&self) -> Vec<TopicPartition>;
    fn owns(&self, partition: &TopicPartition) -> bool;
    /// The topics whose metadata the member needs.
    fn metadata_topics(&self) -> Vec<String>;

    /// Topic ids of an assignment that no metadata named yet: the driver refreshes all topics.
    fn unresolved_topics(&self) -> Vec<Uuid> {
        Vec::new()
    }
    /// The broker-side regular expression subscribed to (KIP-848), if any: metadata refreshes then
    /// cover all topics, since the coordinator may assign any of them.
    fn subscription_regex(&self) -> Option<&str> {
        None
    }

    fn subscribe(&mut self, topics: Vec<String>, now: Instant) -> Result<(), GroupError>;
    /// Subscribes by a regular expression the coordinator resolves (KIP-848 only).
    fn subscribe_regex(&mut self, regex: &str, now: Instant) -> Result<(), GroupError> {
        let _ = (regex, now);
        Err(GroupError::Protocol(
            "regular expressions resolved by the coordinator need group.protocol=consumer".into(),
        ))
    }
    fn poll_called(&mut self, now: Instant);
    fn close(&mut self, mode: CloseMode, now: Instant);
    fn handle_timeout(&mut self, now: Instant);
    fn metadata_changed(&mut self, topics: &TopicsInfo, now: Instant);
    fn handle_response(&mut self, now: Instant, id: RequestId, response: AnyResponse);
    fn commit(
        &mut self,
        offsets: Vec<OffsetToCommit>,
        kind: CommitKind,
        now: Instant,
    ) -> Result<CommitId, GroupError>;
    fn revocation_done(&mut self, now: Instant);
    fn assignment_done(&mut self, now: Instant);

    fn poll_transmit(&mut self) -> Option<Transmit<AnyRequest>>;
    fn poll_event(&mut self) -> Option<GroupEvent>;
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Membership for GroupMember {
    fn state(&self) -> MemberState {
        Self::state(self)
    }
    fn generation(&self) -> i32 {
        Self::generation(self)
    }
    fn member_id(&self) -> &str {
        Self::member_id(self)
    }
    fn leader_id(&self) -> &str {
        Self::leader_id(self)
    }
    fn protocol_name(&self) -> Option<&str> {
        Self::protocol_name(self)
    }
    fn coordinator(&self) -> Option<i32> {
        Self::coordinator(self)
    }
    fn assignment(&self) -> Vec<TopicPartition> {
        Self::assignment(self)
    }
    fn owns(&self, partition: &TopicPartition) -> bool {
        Self::owns(self, partition)
    }
    fn metadata_topics(&self) -> Vec<String> {
        self.group_subscription()
    }
    fn subscribe(&mut self, topics: Vec<String>, now: Instant) -> Result<(), GroupError> {
        Self::subscribe(self, topics, now)
    }
    fn poll_called(&mut self, now: Instant) {
        Self::poll_called(self, now);
    }
    fn close(&mut self, mode: CloseMode, now: Instant) {
        Self::close(self, mode, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
    fn metadata_changed(&mut self, topics: &TopicsInfo, now: Instant) {
        Self::metadata_with_racks_changed(self, &topics.counts, &topics.racks, now);
    }
    fn handle_response(&mut self, now: Instant, id: RequestId, response: AnyResponse) {
        let response = match response {
            AnyResponse::Classic(r) => r,
            // Never asked for: answer as a lost response rather than leave the member waiting.
            AnyResponse::Consumer(_) => {
                Response::Failed(kafkaroo_group::member::TransportFailure::Disconnected)
            }
        };
        Self::handle_response(self, now, id, response);
    }
    fn commit(
        &mut self,
        offsets: Vec<OffsetToCommit>,
        kind: CommitKind,
        now: Instant,
    ) -> Result<CommitId, GroupError> {
        Self::commit(self, offsets, kind, now)
    }
    fn revocation_done(&mut self, now: Instant) {
        Self::revocation_done(self, now);
    }
    fn assignment_done(&mut self, now: Instant) {
        Self::assignment_done(self, now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit<AnyRequest>> {
        Self::poll_transmit(self).map(|t| Transmit {
            id: t.id,
            target: t.target,
            request: AnyRequest::Classic(t.request),
            timeout: t.timeout,
        })
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        Self::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
}

#[cfg(test)]
mod tests {
    use kafkaroo_wire::StrBytes;
    use kafkaroo_wire::messages::MetadataResponse;
    use kafkaroo_wire::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    use super::*;

    /// Brokers `(id, rack)`; topic `t` with one partition per replica list.
    fn metadata(brokers: &[(i32, Option<&str>)], replicas: &[&[i32]]) -> kafkaroo_net::Metadata {
        let brokers = brokers
            .iter()
            .map(|&(id, rack)| {
                MetadataResponseBroker::default()
                    .with_node_id(id.into())
                    .with_host(StrBytes::from_static_str("localhost"))
                    .with_port(9092)
                    .with_rack(rack.map(|r| StrBytes::from_string(r.to_owned())))
            })
            .collect();
        let partitions = replicas
            .iter()
            .enumerate()
            .map(|(p, rs)| {
                MetadataResponsePartition::default()
                    .with_partition_index(p as i32)
                    .with_leader_id(rs[0].into())
                    .with_replica_nodes(rs.iter().map(|&r| r.into()).collect())
            })
            .collect();
        let topic = MetadataResponseTopic::default()
            .with_name(Some(kafkaroo_wire::messages::TopicName(
                StrBytes::from_static_str("t"),
            )))
            .with_partitions(partitions);
        kafkaroo_net::Metadata::from_response(
            &MetadataResponse::default()
                .with_brokers(brokers)
                .with_topics(vec![topic]),
        )
    }

    fn racks(names: &[&[&str]]) -> Vec<BTreeSet<String>> {
        names
            .iter()
            .map(|rs| rs.iter().map(|r| (*r).to_owned()).collect())
            .collect()
    }

    #[test]
    fn replica_racks_remember_brokers_gone_offline() {
        let mut known = BTreeMap::new();
        let all = metadata(
            &[(1, Some("a")), (2, Some("b")), (3, None)],
            &[&[1, 2], &[2, 3], &[3]],
        );
        let expected = racks(&[&["a", "b"], &["b"], &[]]);
        assert_eq!(replica_racks(&all, &mut known)["t"], expected);
        // Broker 2 is offline, so missing from the broker list: its replicas keep rack b.
        let without_2 = metadata(&[(1, Some("a")), (3, None)], &[&[1, 2], &[2, 3], &[3]]);
        assert_eq!(replica_racks(&without_2, &mut known)["t"], expected);
        // A broker that comes back without rack loses it; an empty rack counts as none.
        let changed = metadata(
            &[(1, Some("")), (2, None), (3, Some("c"))],
            &[&[1, 2], &[2, 3], &[3]],
        );
        assert_eq!(
            replica_racks(&changed, &mut known)["t"],
            racks(&[&[], &["c"], &["c"]])
        );
    }
}
