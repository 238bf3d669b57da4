//! What admin tools ask the fake: ListGroups v0–5, DescribeGroups v0–5 and DeleteTopics v1–6, so
//! `kafka-consumer-groups.sh`, kcat and kafkaroo's `group` commands can look at its groups.
//!
//! Differences from Kafka: every member reports the host `/127.0.0.1`, and there are no ACLs (requested
//! authorized operations are what a broker without an authorizer allows).

use kafkaroo_wire::messages::delete_topics_response::DeletableTopicResult;
use kafkaroo_wire::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafkaroo_wire::messages::list_groups_response::ListedGroup;
use kafkaroo_wire::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes, Uuid};

use crate::state::State;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Kafka's "authorized operations not requested" marker (`Integer.MIN_VALUE`).
const NO_OPERATIONS: i32 = i32::MIN;

/// What a broker without an authorizer reports as allowed on a group: READ (3), DELETE (6) and DESCRIBE
/// (8), as bits of Kafka's `AclOperation` codes.
const GROUP_OPERATIONS: i32 = 1 << 3 | 1 << 6 | 1 << 8;

/// Answers ListGroups: every group, filtered by state (v4+, case-insensitive as Kafka does) and by type
/// (v5+: only `classic` groups exist here).
pub(crate) fn list_groups(st: &State, req: &ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let state_ok = |name: &str| {
        version < 4
            || req.states_filter.is_empty()
            || req.states_filter.iter().any(|s| s.eq_ignore_ascii_case(name))
    };
    let type_ok = version < 5
        || req.types_filter.is_empty()
        || req.types_filter.iter().any(|t| t.eq_ignore_ascii_case("classic"));
    let groups = if type_ok {
        st.coordinator
            .listed()
            .into_iter()
            .filter(|(_, phase, _)| state_ok(phase.kafka_name()))
            .map(|(name, phase, protocol_type)| {
                ListedGroup::default()
                    .with_group_id(GroupId(sb(&name)))
                    .with_protocol_type(sb(&protocol_type))
                    .with_group_state(sb(phase.kafka_name()))
                    .with_group_type(sb("classic"))
            })
            .collect()
    } else {
        Vec::new()
    };
    ListGroupsResponse::default().with_groups(groups)
}

/// Answers DescribeGroups. A group the coordinator does not know is `Dead` with no members, as Kafka
/// answers up to v5.
pub(crate) fn describe_groups(st: &State, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let operations = if req.include_authorized_operations {
                GROUP_OPERATIONS
            } else {
                NO_OPERATIONS
            };
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(operations);
            let Some(g) = st.coordinator.described(id.0.as_str()) else {
                return base.with_group_state(sb("Dead"));
            };
            let members = g
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(sb(&m.id))
                        .with_group_instance_id(m.instance_id.as_deref().map(sb))
                        .with_client_id(sb(&m.client_id))
                        .with_client_host(sb("/127.0.0.1"))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            base.with_group_state(sb(g.phase.kafka_name()))
                .with_protocol_type(sb(&g.protocol_type))
                .with_protocol_data(sb(&g.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// Answers DeleteTopics: by name (v1–5) or by name or id (v6). The caller wakes waiting fetches when
/// anything was deleted (the second value).
pub(crate) fn delete_topics(
    st: &mut State,
    req: &DeleteTopicsRequest,
    version: i16,
) -> (DeleteTopicsResponse, bool) {
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut deleted = false;
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| {
                st.topics
                    .iter()
                    .find(|(_, t)| t.id == id && !id.is_nil())
                    .map(|(n, _)| n.clone())
            });
            let removed = name.as_deref().and_then(|n| st.topics.remove(n));
            let mut r = DeletableTopicResult::default()
                .with_name(name.as_deref().map(|n| TopicName(sb(n))))
                .with_topic_id(removed.as_ref().map_or(id, |t| t.id));
            if removed.is_some() {
                deleted = true;
            } else {
                let code = if id.is_nil() {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    ErrorCode::UNKNOWN_TOPIC_ID
                };
                r = r.with_error_code(code.0);
            }
            r
        })
        .collect();
    (DeleteTopicsResponse::default().with_responses(responses), deleted)
}
