//! Describing a group of the consumer group protocol (KIP-848, `group.protocol=consumer`) with
//! ConsumerGroupDescribe (API 69): DescribeGroups does not describe such a group (the coordinator
//! answers `GROUP_ID_NOT_FOUND`, "Group g is not a classic group.").
//!
//! Which API describes a group, as Java's `Admin.describeConsumerGroups`: ConsumerGroupDescribe first,
//! then DescribeGroups on the same coordinator when the broker says the group is not a consumer-protocol
//! group (`GROUP_ID_NOT_FOUND`) or does not support the API (not listed in ApiVersions, or
//! `UNSUPPORTED_VERSION`). One request for consumer-protocol groups, two for classic ones, and the same
//! answer Java's tool shows; asking ListGroups for the group's type first would cost a request to every
//! broker, and the group could change type between the two requests.

use kafkaroo_net::Connection;
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::consumer_group_describe_response::{Assignment, DescribedGroup};
use kafkaroo_wire::messages::{ConsumerGroupDescribeRequest, GroupId};

use super::{
    AdminError, CONSUMER_PROTOCOL_TYPE, GroupAdmin, GroupDescription, MemberAssignment, MemberDescription,
    group_resource,
};
use crate::coordinator::codec::sb;
use crate::record::TopicPartition;

const API: &str = "ConsumerGroupDescribe";

/// A consumer-protocol group's epochs (KIP-848).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEpochs {
    /// The group epoch: bumped by every change of members or subscriptions.
    pub group_epoch: i32,
    /// The epoch of the target assignment (`kafka-consumer-groups.sh` calls it TARGET-ASSIGNMENT-EPOCH);
    /// below the group epoch while the assignor has not caught up.
    pub assignment_epoch: i32,
}

/// What ConsumerGroupDescribe tells about a member beyond DescribeGroups' columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDetails {
    /// The member's epoch: equal to the group's assignment epoch once it reconciled its assignment.
    pub member_epoch: i32,
    /// `client.rack`, when set.
    pub rack: Option<String>,
    /// The topics it subscribed to by name.
    pub subscribed_topic_names: Vec<String>,
    /// The regular expression it subscribed with (server-side regex, KIP-848).
    pub subscribed_topic_regex: Option<String>,
    /// The partitions the coordinator means it to own; the current ones are
    /// [`MemberDescription::assignment`]. Sorted.
    pub target_assignment: Vec<TopicPartition>,
    /// `Some(true)` for a member speaking the consumer protocol, `Some(false)` for a classic member in a
    /// consumer-protocol group (during an upgrade), `None` from brokers that do not say
    /// (ConsumerGroupDescribe v0).
    pub upgraded: Option<bool>,
}

/// Why a ConsumerGroupDescribe answer does not describe the group, when DescribeGroups may.
pub(super) struct NotConsumerGroup(AdminError);

impl GroupAdmin {
    /// Describes a group of the consumer group protocol (KIP-848) with ConsumerGroupDescribe: state,
    /// epochs, assignor and members with their epochs, subscriptions, current and target assignments.
    /// [`AdminError::GroupNotFound`] (with the broker's "not a consumer group" message) for a classic
    /// group or none; `UNSUPPORTED_VERSION` from a broker without the API (before Kafka 3.7, or with the
    /// protocol disabled). [`describe_group`](Self::describe_group) describes a group of either kind.
    pub async fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription, AdminError> {
        self.retrying(
            || format!("describing consumer group {group:?} (ConsumerGroupDescribe)"),
            || async {
                let (coordinator, conn) = self.coordinator(group).await?;
                match self.consumer_describe_on(group, coordinator, &conn).await? {
                    Ok(d) => Ok(d),
                    Err(NotConsumerGroup(e)) => Err(e),
                }
            },
        )
        .await
    }

    /// One attempt of [`describe_group`](Self::describe_group): ConsumerGroupDescribe, then
    /// DescribeGroups when the group is not a consumer-protocol group.
    pub(super) async fn describe_any_once(&self, group: &str) -> Result<GroupDescription, AdminError> {
        let (coordinator, conn) = self.coordinator(group).await?;
        match self.consumer_describe_on(group, coordinator, &conn).await? {
            Ok(d) => Ok(d),
            Err(NotConsumerGroup(why)) => {
                tracing::debug!(group, reason = %why, "describing the group with DescribeGroups");
                match self.describe_classic_on(group, coordinator, &conn).await {
                    // ConsumerGroupDescribe's message ("Group g not found.") is the clearer one.
                    Err(AdminError::GroupNotFound { group, detail: None }) => {
                        let detail = match why {
                            AdminError::GroupNotFound { detail, .. } => detail,
                            _ => None,
                        };
                        Err(AdminError::GroupNotFound { group, detail })
                    }
                    other => other,
                }
            }
        }
    }

    /// ConsumerGroupDescribe of `group` on its coordinator: the description, or why DescribeGroups
    /// should be asked instead, or an error.
    async fn consumer_describe_on(
        &self,
        group: &str,
        coordinator: i32,
        conn: &Connection,
    ) -> Result<Result<GroupDescription, NotConsumerGroup>, AdminError> {
        let v = match conn.negotiated_version::<ConsumerGroupDescribeRequest>() {
            Ok(v) => v,
            Err(e) => return Ok(Err(unsupported(group, e.to_string()))),
        };
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        let Some(g) = resp.groups.into_iter().find(|g| g.group_id.0.as_str() == group) else {
            return Err(AdminError::NoAnswer {
                api: API,
                resource: group_resource(group),
                reason: "the response does not name the group".to_owned(),
            });
        };
        let detail = g.error_message.as_deref().map(str::to_owned);
        match ErrorCode(g.error_code) {
            ErrorCode::NONE => {}
            ErrorCode::GROUP_ID_NOT_FOUND => {
                return Ok(Err(NotConsumerGroup(AdminError::GroupNotFound {
                    group: group.to_owned(),
                    detail,
                })));
            }
            ErrorCode::UNSUPPORTED_VERSION => {
                let why = detail.unwrap_or_else(|| "the consumer group protocol is not enabled".to_owned());
                return Ok(Err(unsupported(group, why)));
            }
            code => return Err(AdminError::from_code(API, group_resource(group), code, detail)),
        }
        if state_name(&g.group_state) == "Dead" {
            return Ok(Err(NotConsumerGroup(AdminError::GroupNotFound {
                group: group.to_owned(),
                detail: None,
            })));
        }
        let names = self.unnamed_topics(&g).await?;
        Ok(Ok(description(group, coordinator, g, &names)))
    }

    /// Names of the topics an answer gives by id only (a broker sends names too; this is for one that
    /// does not), from the cluster's metadata. Empty when every topic is named.
    async fn unnamed_topics(
        &self,
        g: &DescribedGroup,
    ) -> Result<std::collections::HashMap<kafkaroo_wire::Uuid, String>, AdminError> {
        let unnamed = g
            .members
            .iter()
            .flat_map(|m| {
                m.assignment
                    .topic_partitions
                    .iter()
                    .chain(&m.target_assignment.topic_partitions)
            })
            .any(|t| t.topic_name.0.is_empty());
        if !unnamed {
            return Ok(Default::default());
        }
        let metadata = self.client.refresh_metadata(None).await?;
        Ok(metadata.topics.values().map(|t| (t.id, t.name.clone())).collect())
    }
}

/// A broker that does not describe consumer-protocol groups, and why.
fn unsupported(group: &str, why: String) -> NotConsumerGroup {
    NotConsumerGroup(AdminError::Broker {
        api: API,
        resource: group_resource(group),
        code: ErrorCode::UNSUPPORTED_VERSION,
        detail: Some(format!(
            "{why}; consumer-protocol groups need Kafka 4.0+, or 3.7+ with `consumer` in \
             group.coordinator.rebalance.protocols"
        )),
    })
}

/// Java's spelling of a group state (`GroupState.parse` is case-insensitive): `Stable`, `Empty`,
/// `Assigning`, `Reconciling`, `NotReady`, `Dead`...
fn state_name(state: &str) -> String {
    const KNOWN: [&str; 8] = [
        "Empty",
        "Stable",
        "Assigning",
        "Reconciling",
        "NotReady",
        "Dead",
        "PreparingRebalance",
        "CompletingRebalance",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(state))
        .map_or_else(|| state.to_owned(), |k| (*k).to_owned())
}

/// An assignment's partitions, sorted; a topic without a name is named from `names`, or by its id.
fn partitions(
    a: &Assignment,
    names: &std::collections::HashMap<kafkaroo_wire::Uuid, String>,
) -> Vec<TopicPartition> {
    let mut out: Vec<TopicPartition> = a
        .topic_partitions
        .iter()
        .flat_map(|t| {
            let name = if t.topic_name.0.is_empty() {
                names
                    .get(&t.topic_id)
                    .cloned()
                    .unwrap_or_else(|| t.topic_id.to_string())
            } else {
                t.topic_name.0.to_string()
            };
            t.partitions
                .iter()
                .map(move |p| TopicPartition::new(name.as_str(), *p))
        })
        .collect();
    out.sort();
    out
}

fn description(
    group: &str,
    coordinator: i32,
    g: DescribedGroup,
    names: &std::collections::HashMap<kafkaroo_wire::Uuid, String>,
) -> GroupDescription {
    let members = g
        .members
        .iter()
        .map(|m| MemberDescription {
            member_id: m.member_id.to_string(),
            group_instance_id: m.instance_id.as_deref().map(str::to_owned),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: MemberAssignment::Partitions(partitions(&m.assignment, names)),
            consumer: Some(ConsumerMemberDetails {
                member_epoch: m.member_epoch,
                rack: m.rack_id.as_deref().map(str::to_owned),
                subscribed_topic_names: m.subscribed_topic_names.iter().map(|t| t.0.to_string()).collect(),
                subscribed_topic_regex: m
                    .subscribed_topic_regex
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                target_assignment: partitions(&m.target_assignment, names),
                upgraded: (m.member_type != -1).then_some(m.member_type == 1),
            }),
        })
        .collect();
    GroupDescription {
        group_id: group.to_owned(),
        state: state_name(&g.group_state),
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_owned(),
        protocol: g.assignor_name.to_string(),
        coordinator,
        members,
        epochs: Some(GroupEpochs {
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
        }),
    }
}

#[cfg(test)]
mod tests {
    use kafkaroo_wire::Uuid;
    use kafkaroo_wire::messages::TopicName;
    use kafkaroo_wire::messages::consumer_group_describe_response::{Member, TopicPartitions};

    use super::*;

    fn topic(id: Uuid, name: &str, parts: &[i32]) -> TopicPartitions {
        TopicPartitions::default()
            .with_topic_id(id)
            .with_topic_name(TopicName(sb(name)))
            .with_partitions(parts.to_vec())
    }

    #[test]
    fn a_described_group_keeps_epochs_assignments_and_subscriptions() {
        let orders = Uuid::from_u128(7);
        let member =
            Member::default()
                .with_member_id(sb("m-1"))
                .with_instance_id(Some(sb("i-1")))
                .with_rack_id(Some(sb("r1")))
                .with_member_epoch(4)
                .with_client_id(sb("kafkaroo-cli"))
                .with_client_host(sb("/127.0.0.1"))
                .with_subscribed_topic_names(vec![TopicName(sb("orders"))])
                .with_assignment(Assignment::default().with_topic_partitions(vec![topic(
                    orders,
                    "orders",
                    &[2, 0],
                )]))
                .with_target_assignment(Assignment::default().with_topic_partitions(vec![
                    topic(orders, "", &[0]),
                    topic(Uuid::from_u128(9), "", &[1]),
                ]))
                .with_member_type(1);
        let g = DescribedGroup::default()
            .with_group_id(GroupId(sb("g")))
            .with_group_state(sb("stable"))
            .with_group_epoch(5)
            .with_assignment_epoch(4)
            .with_assignor_name(sb("uniform"))
            .with_members(vec![member, Member::default().with_member_type(-1)]);
        let names = [(orders, "orders".to_owned())].into_iter().collect();
        let d = description("g", 1, g, &names);
        assert_eq!(d.state, "Stable");
        assert_eq!(
            (d.protocol_type.as_str(), d.protocol.as_str()),
            ("consumer", "uniform")
        );
        assert_eq!(
            d.epochs,
            Some(GroupEpochs {
                group_epoch: 5,
                assignment_epoch: 4
            })
        );
        let m = &d.members[0];
        assert_eq!(m.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(
            m.assignment,
            MemberAssignment::Partitions(vec![
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 2)
            ])
        );
        let c = m.consumer.as_ref().unwrap();
        assert_eq!(
            (c.member_epoch, c.rack.as_deref(), c.upgraded),
            (4, Some("r1"), Some(true))
        );
        assert_eq!(c.subscribed_topic_names, ["orders"]);
        assert_eq!(
            c.target_assignment,
            vec![
                TopicPartition::new("00000000-0000-0000-0000-000000000009", 1),
                TopicPartition::new("orders", 0),
            ],
            "a topic without a name takes it from the metadata, else its id"
        );
        assert_eq!(d.members[1].consumer.as_ref().unwrap().upgraded, None);
    }
}
