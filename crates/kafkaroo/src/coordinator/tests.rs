//! The coordinator conversions at every version the wire crate knows (each request is also encoded,
//! which fails when a field is set that its version lacks).

use bytes::{Bytes, BytesMut};
use kafkaroo_group::member::{CommitParams, JoinParams, OffsetToCommit, Response, SyncParams};
use kafkaroo_wire::messages::find_coordinator_response::Coordinator;
use kafkaroo_wire::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafkaroo_wire::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, TopicName,
};
use kafkaroo_wire::protocol::{Message, Request};
use kafkaroo_wire::{ErrorCode, StrBytes, encode_request};

use super::{codec, committed_offsets};
use crate::record::TopicPartition;

/// Every version of `R`, checking that `build(v)` encodes at it.
fn each_version<R: Request + Message>(mut check: impl FnMut(i16, &R), build: impl Fn(i16) -> R) {
    for v in R::VERSIONS.min..=R::VERSIONS.max {
        let req = build(v);
        encode_request(&mut BytesMut::new(), 1, None, v, &req).unwrap_or_else(|e| panic!("v{v}: {e}"));
        check(v, &req);
    }
}

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

#[test]
fn find_coordinator_at_every_version() {
    each_version::<FindCoordinatorRequest>(
        |v, req| {
            if v >= 4 {
                assert_eq!(req.coordinator_keys, vec![StrBytes::from_static_str("g")]);
            } else {
                assert_eq!(req.key.as_str(), "g");
            }
        },
        |v| codec::find_coordinator("g", v),
    );
    let old = FindCoordinatorResponse::default()
        .with_error_code(0)
        .with_node_id(3.into());
    assert_eq!(
        codec::find_coordinator_answer(&old, 3),
        Response::FindCoordinator {
            error_code: 0,
            node_id: 3
        }
    );
    let batched = FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_node_id(5.into())
            .with_error_code(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0),
    ]);
    assert_eq!(
        codec::find_coordinator_answer(&batched, 4),
        Response::FindCoordinator {
            error_code: 14,
            node_id: 5
        }
    );
    assert_eq!(
        codec::find_coordinator_answer(&FindCoordinatorResponse::default(), 4),
        Response::FindCoordinator {
            error_code: ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
            node_id: -1
        },
        "a v4+ answer without coordinators is not 'node 0'"
    );
}

#[test]
fn join_group_at_every_version() {
    let params = JoinParams {
        group_id: "g".into(),
        session_timeout_ms: 45_000,
        rebalance_timeout_ms: 300_000,
        member_id: "m".into(),
        group_instance_id: Some("i".into()),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
        reason: "why".into(),
    };
    each_version::<JoinGroupRequest>(
        |v, req| {
            assert_eq!(
                req.rebalance_timeout_ms,
                if v >= 1 { 300_000 } else { -1 },
                "v{v}"
            );
            assert_eq!(req.group_instance_id.is_some(), v >= 5, "v{v}");
            assert_eq!(req.reason.is_some(), v >= 8, "v{v}");
            assert_eq!(req.protocols[0].name.as_str(), "range");
        },
        |v| codec::join_group(&params, v),
    );
}

#[test]
fn sync_group_at_every_version() {
    let params = SyncParams {
        group_id: "g".into(),
        generation_id: 3,
        member_id: "m".into(),
        group_instance_id: Some("i".into()),
        protocol_type: "consumer".into(),
        protocol_name: "range".into(),
        assignments: vec![("m".into(), Bytes::from_static(b"a"))],
    };
    each_version::<SyncGroupRequest>(
        |v, req| {
            assert_eq!(req.group_instance_id.is_some(), v >= 3, "v{v}");
            assert_eq!(req.protocol_name.is_some(), v >= 5, "v{v}");
            assert_eq!(req.assignments.len(), 1);
        },
        |v| codec::sync_group(&params, v),
    );
}

#[test]
fn heartbeat_and_leave_group_at_every_version() {
    each_version::<HeartbeatRequest>(
        |v, req| {
            assert_eq!(req.generation_id, 3);
            assert_eq!(req.group_instance_id.is_some(), v >= 3, "v{v}");
        },
        |v| codec::heartbeat("g", 3, "m", Some("i"), v),
    );
    each_version::<LeaveGroupRequest>(
        |v, req| {
            if v >= 3 {
                assert_eq!(req.members[0].member_id.as_str(), "m");
                assert_eq!(req.members[0].reason.is_some(), v >= 5, "v{v}");
            } else {
                assert_eq!(req.member_id.as_str(), "m");
            }
        },
        |v| codec::leave_group("g", "m", Some("i"), "closing", v),
    );
}

#[test]
fn offset_commit_at_every_version() {
    let params = CommitParams {
        group_id: "g".into(),
        generation_id: 4,
        member_id: "m".into(),
        group_instance_id: Some("i".into()),
        offsets: vec![
            OffsetToCommit {
                leader_epoch: Some(7),
                ..OffsetToCommit::new(tp("b", 0), 10)
            },
            OffsetToCommit::new(tp("a", 1), 20),
            OffsetToCommit::new(tp("a", 0), 30),
        ],
    };
    each_version::<OffsetCommitRequest>(
        |v, req| {
            let names: Vec<&str> = req.topics.iter().map(|t| t.name.0.as_str()).collect();
            assert_eq!(names, ["a", "b"], "grouped by topic");
            let a: Vec<i32> = req.topics[0]
                .partitions
                .iter()
                .map(|p| p.partition_index)
                .collect();
            assert_eq!(a, [1, 0], "in the order given");
            let b = &req.topics[1].partitions[0];
            assert_eq!(b.committed_leader_epoch, if v >= 6 { 7 } else { -1 }, "v{v}");
            assert_eq!(b.committed_metadata.as_deref(), Some(""));
            assert_eq!(req.group_instance_id.is_some(), v >= 7, "v{v}");
        },
        |v| codec::offset_commit(&params, v),
    );
}

#[test]
fn offset_fetch_at_every_version() {
    let partitions = [tp("a", 0), tp("a", 2), tp("b", 1)];
    each_version::<OffsetFetchRequest>(
        |v, req| {
            if v >= 8 {
                let topics = req.groups[0].topics.as_ref().expect("partitions named");
                assert_eq!(topics.len(), 2);
                assert_eq!(topics[0].partition_indexes, [0, 2]);
            } else {
                assert_eq!(req.group_id.0.as_str(), "g");
                assert_eq!(
                    req.topics.as_ref().expect("partitions named")[1].partition_indexes,
                    [1]
                );
            }
            assert_eq!(req.require_stable, v >= 7, "v{v}");
        },
        |v| codec::offset_fetch("g", Some(&partitions), true, v),
    );
    // Every topic (`null`) exists from v2.
    for v in 2..=OffsetFetchRequest::VERSIONS.max {
        let req = codec::offset_fetch("g", None, false, v);
        encode_request(&mut BytesMut::new(), 1, None, v, &req).unwrap();
        if v >= 8 {
            assert!(req.groups[0].topics.is_none(), "v{v}");
        } else {
            assert!(req.topics.is_none(), "v{v}");
        }
    }
}

#[test]
fn both_offset_fetch_layouts_flatten_alike() {
    let old = OffsetFetchResponse::default().with_topics(vec![
        OffsetFetchResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                OffsetFetchResponsePartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)
                    .with_committed_leader_epoch(2)
                    .with_metadata(Some(StrBytes::from_static_str("meta"))),
                OffsetFetchResponsePartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(-1)
                    .with_metadata(Some(StrBytes::from_static_str(""))),
            ]),
    ]);
    let new =
        OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default().with_topics(
            vec![
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(0)
                        .with_committed_offset(5)
                        .with_committed_leader_epoch(2)
                        .with_metadata(Some(StrBytes::from_static_str("meta"))),
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(1)
                        .with_committed_offset(-1)
                        .with_metadata(Some(StrBytes::from_static_str(""))),
                ]),
        ],
        )]);
    let (code, old) = codec::offset_fetch_answer(old, 7).unwrap();
    assert_eq!(code, 0);
    let (_, new) = codec::offset_fetch_answer(new, 8).unwrap();
    assert_eq!(old, new);
    let committed: Vec<_> = committed_offsets(old).collect();
    assert_eq!(
        committed[0].1.as_ref().map(|c| (c.offset, c.leader_epoch)),
        Some((5, Some(2)))
    );
    assert_eq!(committed[0].1.as_ref().unwrap().metadata.as_deref(), Some("meta"));
    assert_eq!(committed[1].1, None, "-1 is nothing committed");
    assert!(
        codec::offset_fetch_answer(OffsetFetchResponse::default(), 8).is_none(),
        "a v8+ answer naming no group is no answer"
    );
}
