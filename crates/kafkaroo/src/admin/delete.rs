//! Deleting a group (DeleteGroups) or some of its committed offsets (OffsetDelete), as
//! `kafka-consumer-groups.sh --delete` / `--delete-offsets` do.

use std::collections::BTreeMap;

use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafkaroo_wire::messages::{DeleteGroupsRequest, GroupId, OffsetDeleteRequest, TopicName};

use super::{AdminError, GroupAdmin, group_resource, partition_resource, sb};
use crate::record::TopicPartition;

/// The outcome of deleting one partition's committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDeletion {
    /// The partition.
    pub partition: TopicPartition,
    /// `None`: deleted (or nothing was committed); otherwise the broker's error, e.g.
    /// `GROUP_SUBSCRIBED_TO_TOPIC` while a member of the group consumes the topic.
    pub error: Option<ErrorCode>,
}

impl GroupAdmin {
    /// Deletes `group` and its committed offsets. The coordinator refuses a group with members
    /// (`NON_EMPTY_GROUP`); [`AdminError::GroupNotFound`] when there is no such group.
    pub async fn delete_group(&self, group: &str) -> Result<(), AdminError> {
        self.retrying(
            || format!("deleting group {group:?}"),
            || self.delete_group_once(group),
        )
        .await
    }

    async fn delete_group_once(&self, group: &str) -> Result<(), AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let v = conn.negotiated_version::<DeleteGroupsRequest>()?;
        let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(group))]);
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        let Some(result) = resp.results.into_iter().find(|r| r.group_id.0.as_str() == group) else {
            return Err(AdminError::NoAnswer {
                api: "DeleteGroups",
                resource: group_resource(group),
                reason: "the response does not name the group".to_owned(),
            });
        };
        match ErrorCode(result.error_code) {
            ErrorCode::NONE => Ok(()),
            ErrorCode::GROUP_ID_NOT_FOUND => Err(AdminError::GroupNotFound {
                group: group.to_owned(),
                detail: None,
            }),
            code => Err(AdminError::from_code(
                "DeleteGroups",
                group_resource(group),
                code,
                None,
            )),
        }
    }

    /// Deletes `group`'s committed offsets of `partitions`, with the outcome per partition (sorted).
    /// A group-level refusal (no such group, not authorized) is an error.
    pub async fn delete_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<PartitionDeletion>, AdminError> {
        self.retrying(
            || format!("deleting offsets of group {group:?}"),
            || self.delete_offsets_once(group, partitions),
        )
        .await
    }

    async fn delete_offsets_once(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<PartitionDeletion>, AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let v = conn.negotiated_version::<OffsetDeleteRequest>()?;
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        let req = OffsetDeleteRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetDeleteRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = conn.send_version(&req, v, self.request_timeout).await?;
        match ErrorCode(resp.error_code) {
            ErrorCode::NONE => {}
            ErrorCode::GROUP_ID_NOT_FOUND => {
                return Err(AdminError::GroupNotFound {
                    group: group.to_owned(),
                    detail: None,
                });
            }
            code => {
                return Err(AdminError::from_code(
                    "OffsetDelete",
                    group_resource(group),
                    code,
                    None,
                ));
            }
        }
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                let code = ErrorCode(p.error_code);
                if code != ErrorCode::NONE && code.is_retriable() {
                    return Err(AdminError::from_code(
                        "OffsetDelete",
                        partition_resource(group, &t.name.0, p.partition_index),
                        code,
                        None,
                    ));
                }
                out.push(PartitionDeletion {
                    partition: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    error: (code != ErrorCode::NONE).then_some(code),
                });
            }
        }
        out.sort_by(|a, b| a.partition.cmp(&b.partition));
        Ok(out)
    }
}
