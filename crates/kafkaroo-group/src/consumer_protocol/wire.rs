//! The one place where the member's requests and responses meet kafka-protocol's messages, so a
//! driver (the facade, a test) only encodes and decodes frames.
//!
//! ConsumerGroupHeartbeat v0 and v1 carry the same fields except `subscribed_topic_regex` (v1), which
//! the member sends only with a regular-expression subscription (the driver refuses it on v0); v1 (KIP-1082) requires the client-generated member id the member always
//! sends. FindCoordinator names the group in `key` before v4 and in `coordinator_keys` from v4.

use kafkaroo_wire::messages::consumer_group_heartbeat_request::TopicPartitions as WireOwned;
use kafkaroo_wire::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes};

use super::io::{HeartbeatRequest, HeartbeatResponse, Response, TopicIdPartitions};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// The ConsumerGroupHeartbeat request message for `request` (the same for versions 0 and 1, but for
/// the regular expression, which only v1 can carry).
pub fn heartbeat_request(request: &HeartbeatRequest) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(&request.group_id)))
        .with_member_id(sb(&request.member_id))
        .with_member_epoch(request.member_epoch)
        .with_instance_id(request.instance_id.as_deref().map(sb))
        .with_rack_id(request.rack_id.as_deref().map(sb))
        .with_rebalance_timeout_ms(request.rebalance_timeout_ms)
        .with_subscribed_topic_names(
            request
                .subscribed_topic_names
                .as_ref()
                .map(|names| names.iter().map(|n| TopicName(sb(n))).collect()),
        )
        .with_subscribed_topic_regex(request.subscribed_topic_regex.as_deref().map(sb))
        .with_server_assignor(request.server_assignor.as_deref().map(sb))
        .with_topic_partitions(request.topic_partitions.as_ref().map(|owned| {
            owned
                .iter()
                .map(|t| {
                    WireOwned::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(t.partitions.clone())
                })
                .collect()
        }))
}

/// The member's view of a ConsumerGroupHeartbeat response message (any version).
pub fn heartbeat_response(response: &ConsumerGroupHeartbeatResponse) -> HeartbeatResponse {
    HeartbeatResponse {
        error_code: response.error_code,
        error_message: response.error_message.as_ref().map(ToString::to_string),
        member_id: response.member_id.as_ref().map(ToString::to_string),
        member_epoch: response.member_epoch,
        heartbeat_interval_ms: response.heartbeat_interval_ms,
        assignment: response.assignment.as_ref().map(|a| {
            a.topic_partitions
                .iter()
                .map(|t| {
                    let mut partitions = t.partitions.clone();
                    partitions.sort_unstable();
                    partitions.dedup();
                    TopicIdPartitions {
                        topic_id: t.topic_id,
                        partitions,
                    }
                })
                .collect()
        }),
    }
}

/// The FindCoordinator request message for `group_id` at `version`.
pub fn find_coordinator_request(group_id: &str, version: i16) -> FindCoordinatorRequest {
    let mut request = FindCoordinatorRequest::default();
    if version >= 4 {
        request.coordinator_keys = vec![sb(group_id)];
    } else {
        request.key = sb(group_id);
    }
    request
}

/// The member's view of a FindCoordinator response message of `version`.
pub fn find_coordinator_response(response: &FindCoordinatorResponse, version: i16) -> Response {
    let (error_code, node_id) = if version >= 4 {
        response
            .coordinators
            .first()
            .map_or((ErrorCode::COORDINATOR_NOT_AVAILABLE.0, -1), |c| {
                (c.error_code, c.node_id.0)
            })
    } else {
        (response.error_code, response.node_id.0)
    };
    Response::FindCoordinator { error_code, node_id }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafkaroo_wire::Uuid;
    use kafkaroo_wire::messages::consumer_group_heartbeat_response::{
        Assignment, TopicPartitions as WireAssigned,
    };
    use kafkaroo_wire::messages::find_coordinator_response::Coordinator;
    use kafkaroo_wire::messages::{BrokerId, ConsumerGroupHeartbeatRequest as Req};
    use kafkaroo_wire::protocol::{Decodable, Encodable, Message};

    use super::*;

    fn round_trip<M: Encodable + Decodable>(message: &M, version: i16) -> M {
        let mut buf = BytesMut::new();
        message.encode(&mut buf, version).expect("encodes");
        M::decode(&mut buf.freeze(), version).expect("decodes")
    }

    fn full_request() -> HeartbeatRequest {
        HeartbeatRequest {
            group_id: "g".into(),
            member_id: "AAAAAAAAAAAAAAAAAAAAAQ".into(),
            member_epoch: 0,
            instance_id: Some("i-1".into()),
            rack_id: Some("rack-a".into()),
            rebalance_timeout_ms: 300_000,
            subscribed_topic_names: Some(vec!["a".into(), "b".into()]),
            subscribed_topic_regex: None,
            server_assignor: Some("range".into()),
            topic_partitions: Some(vec![TopicIdPartitions {
                topic_id: Uuid::from_u128(7),
                partitions: vec![0, 2],
            }]),
        }
    }

    #[test]
    fn heartbeat_requests_survive_every_version() {
        let changed_only = HeartbeatRequest {
            member_epoch: 5,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: None,
            server_assignor: None,
            topic_partitions: None,
            ..full_request()
        };
        for version in Req::VERSIONS.min..=Req::VERSIONS.max {
            for request in [full_request(), changed_only.clone()] {
                let wire = heartbeat_request(&request);
                let back = round_trip(&wire, version);
                assert_eq!(back, wire, "v{version}");
                assert_eq!(back.member_id.as_str(), request.member_id);
                assert_eq!(back.member_epoch, request.member_epoch);
                assert_eq!(
                    back.topic_partitions.is_none(),
                    request.topic_partitions.is_none()
                );
                assert_eq!(back.subscribed_topic_regex, None);
            }
        }
        assert_eq!(Req::VERSIONS.max, 1, "a new version: check its fields here");
    }

    #[test]
    fn a_regex_travels_in_v1_and_v0_cannot_carry_it() {
        for regex in ["topic-.*", ""] {
            let request = HeartbeatRequest {
                subscribed_topic_names: Some(vec![]),
                subscribed_topic_regex: Some(regex.into()),
                ..full_request()
            };
            let back = round_trip(&heartbeat_request(&request), 1);
            assert_eq!(back.subscribed_topic_regex.as_deref(), Some(regex));
            assert_eq!(back.subscribed_topic_names, Some(vec![]));
            let mut buf = BytesMut::new();
            assert!(
                heartbeat_request(&request).encode(&mut buf, 0).is_err(),
                "v0 has no field for the regex: encoding must fail rather than drop it"
            );
        }
    }

    #[test]
    fn heartbeat_responses_read_at_every_version() {
        let wire = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(sb("m")))
            .with_member_epoch(3)
            .with_heartbeat_interval_ms(5000)
            .with_assignment(Some(Assignment::default().with_topic_partitions(vec![
                WireAssigned::default()
                    .with_topic_id(Uuid::from_u128(9))
                    .with_partitions(vec![2, 0, 2]),
            ])));
        let unchanged = ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ErrorCode::FENCED_MEMBER_EPOCH.0)
            .with_error_message(Some(sb("fenced")))
            .with_member_epoch(-1);
        for version in 0..=1 {
            let r = heartbeat_response(&round_trip(&wire, version));
            assert_eq!(r.member_id.as_deref(), Some("m"));
            assert_eq!(
                (r.error_code, r.member_epoch, r.heartbeat_interval_ms),
                (0, 3, 5000)
            );
            assert_eq!(
                r.assignment,
                Some(vec![TopicIdPartitions {
                    topic_id: Uuid::from_u128(9),
                    partitions: vec![0, 2],
                }])
            );
            let r = heartbeat_response(&round_trip(&unchanged, version));
            assert_eq!((r.error_code, r.error_message.as_deref()), (110, Some("fenced")));
            assert_eq!(r.assignment, None);
        }
    }

    #[test]
    fn find_coordinator_before_and_after_v4() {
        for version in 0..=6 {
            let request = round_trip(&find_coordinator_request("g", version), version);
            if version >= 4 {
                assert_eq!(request.coordinator_keys, vec![sb("g")]);
            } else {
                assert_eq!(request.key, sb("g"));
            }
            let mut response = FindCoordinatorResponse::default();
            if version >= 4 {
                response.coordinators = vec![Coordinator::default().with_node_id(BrokerId(2))];
            } else {
                response.node_id = BrokerId(2);
            }
            let response = round_trip(&response, version);
            assert_eq!(
                find_coordinator_response(&response, version),
                Response::FindCoordinator {
                    error_code: 0,
                    node_id: 2
                }
            );
        }
        let empty = FindCoordinatorResponse::default();
        assert!(matches!(
            find_coordinator_response(&empty, 4),
            Response::FindCoordinator { error_code: 15, .. }
        ));
    }
}
