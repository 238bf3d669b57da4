//! Unit tests of the KIP-848 member: joining, the heartbeat fields, reconciliation, epochs, leaving and
//! every error branch. `prop.rs` holds the property test.

mod causes;
mod prop;
mod regex;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafkaroo_wire::{ErrorCode, Uuid};

use super::*;
use crate::member::{TransportFailure, codes};

pub(super) fn tid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub(super) fn names() -> BTreeMap<Uuid, String> {
    [(tid(1), "a".to_owned()), (tid(2), "b".to_owned())].into()
}

fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter().map(|&(t, p)| TopicPartition::new(t, p)).collect()
}

fn owned(list: &[(u128, &[i32])]) -> Vec<TopicIdPartitions> {
    list.iter()
        .map(|&(t, p)| TopicIdPartitions {
            topic_id: tid(t),
            partitions: p.to_vec(),
        })
        .collect()
}

pub(super) fn config() -> ConsumerMemberConfig {
    let mut c = ConsumerMemberConfig::new("g");
    c.member_id = "member-1".into();
    c
}

/// A member, a clock and the metadata, driven by hand.
struct Harness {
    m: ConsumerGroupMember,
    now: Instant,
    topics: BTreeMap<Uuid, String>,
}

impl Harness {
    fn new(config: ConsumerMemberConfig) -> Self {
        let now = Instant::now();
        Self {
            m: ConsumerGroupMember::new(config, now).unwrap(),
            now,
            topics: names(),
        }
    }

    /// Subscribed to `a` and `b`, coordinator found, the join heartbeat sent.
    fn joining(config: ConsumerMemberConfig) -> (Self, RequestId, HeartbeatRequest) {
        let mut h = Self::new(config);
        h.m.subscribe(["b", "a"], h.now).unwrap();
        h.find_coordinator();
        let (id, hb) = h.heartbeat().expect("the join heartbeat");
        (h, id, hb)
    }

    /// A member with epoch 2 owning a-0 and a-1, acknowledged.
    fn stable() -> Self {
        let (mut h, id, _) = Self::joining(config());
        h.answer(id, ok(1, Some(&[(1, &[0, 1])])));
        let (id, ack) = h.heartbeat().expect("the acknowledgement");
        assert_eq!(ack.topic_partitions, Some(owned(&[(1, &[0, 1])])));
        h.answer(id, ok(2, None));
        h.events();
        h
    }

    fn find_coordinator(&mut self) {
        let t = self.m.poll_transmit().expect("FindCoordinator");
        assert_eq!(t.target, Target::AnyBroker);
        assert!(matches!(t.request, Request::FindCoordinator { .. }));
        self.answer(
            t.id,
            Response::FindCoordinator {
                error_code: 0,
                node_id: 1,
            },
        );
    }

    fn heartbeat(&mut self) -> Option<(RequestId, HeartbeatRequest)> {
        let t = self.m.poll_transmit()?;
        assert_eq!(t.target, Target::Coordinator(1));
        match t.request {
            Request::Heartbeat(hb) => Some((t.id, hb)),
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }

    fn answer(&mut self, id: RequestId, response: Response) {
        self.m.handle_response(self.now, id, response, &self.topics);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.m.handle_timeout(self.now);
    }

    /// Events other than state changes.
    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event())
            .filter(|e| !matches!(e, GroupEvent::StateChanged { .. }))
            .collect()
    }
}

fn ok(epoch: i32, assignment: Option<&[(u128, &[i32])]>) -> Response {
    Response::Heartbeat(HeartbeatResponse {
        error_code: 0,
        error_message: None,
        member_id: Some("member-1".into()),
        member_epoch: epoch,
        heartbeat_interval_ms: 5000,
        assignment: assignment.map(owned),
    })
}

fn error(code: i16) -> Response {
    Response::Heartbeat(HeartbeatResponse {
        error_code: code,
        error_message: Some("broker says no".into()),
        member_id: None,
        member_epoch: -1,
        heartbeat_interval_ms: 0,
        assignment: None,
    })
}

#[test]
fn joining_sends_every_field_then_only_what_changed() {
    let mut c = config();
    c.server_assignor = Some("range".into());
    c.rack_id = Some("rack-a".into());
    c.group_instance_id = Some("i-1".into());
    let (mut h, id, join) = Harness::joining(c);
    assert_eq!(h.m.state(), MemberState::Joining);
    assert_eq!(
        join,
        HeartbeatRequest {
            group_id: "g".into(),
            member_id: "member-1".into(),
            member_epoch: JOIN_EPOCH,
            instance_id: Some("i-1".into()),
            rack_id: Some("rack-a".into()),
            rebalance_timeout_ms: 300_000,
            subscribed_topic_names: Some(vec!["a".into(), "b".into()]),
            subscribed_topic_regex: None,
            server_assignor: Some("range".into()),
            topic_partitions: Some(vec![]),
        }
    );
    assert!(h.heartbeat().is_none(), "one heartbeat in flight");
    h.answer(id, ok(1, Some(&[(1, &[1, 0])])));
    assert_eq!(h.m.member_epoch(), 1);
    assert_eq!(h.m.state(), MemberState::Stable);
    assert_eq!(
        h.events(),
        vec![GroupEvent::Assigned {
            generation: 1,
            partitions: tps(&[("a", 0), ("a", 1)])
        }]
    );
    // The acknowledgement goes out at once, with only the owned partitions (and the instance id).
    let (id, ack) = h.heartbeat().expect("ack");
    assert_eq!(ack.member_epoch, 1);
    assert_eq!(ack.topic_partitions, Some(owned(&[(1, &[0, 1])])));
    assert_eq!(
        (ack.rebalance_timeout_ms, ack.subscribed_topic_names.clone()),
        (-1, None)
    );
    assert_eq!((ack.server_assignor.clone(), ack.rack_id.clone()), (None, None));
    assert_eq!(ack.instance_id.as_deref(), Some("i-1"));
    let sent_at = h.now;
    h.advance(10);
    h.answer(id, ok(2, None));
    assert_eq!(h.m.member_epoch(), 2);
    assert!(h.heartbeat().is_none());
    // The interval comes from the answer, counted from the send time; for one interval after the
    // answer that brought the assignment, heartbeats go every 100 ms, so partitions that other members
    // are still releasing arrive at once.
    assert_eq!(h.m.heartbeat_interval(), Duration::from_millis(5000));
    assert_eq!(h.m.poll_timeout(), Some(sent_at + Duration::from_millis(100)));
    h.advance(90);
    let (id, quick) = h.heartbeat().expect("a quick heartbeat");
    assert_eq!((quick.member_epoch, quick.topic_partitions), (2, None));
    h.answer(id, ok(2, None));
    assert_eq!(h.m.poll_timeout(), Some(sent_at + Duration::from_millis(200)));
    // An answer without a new assignment does not extend the window: after it, the regular interval.
    h.advance(5000);
    let (id, regular) = h.heartbeat().expect("regular heartbeat");
    assert_eq!(regular.member_epoch, 2);
    assert_eq!(regular.topic_partitions, None);
    let sent_at = h.now;
    h.answer(id, ok(2, None));
    assert_eq!(h.m.poll_timeout(), Some(sent_at + Duration::from_millis(5000)));
}

#[test]
fn a_subscription_change_goes_in_the_next_heartbeat_without_rejoining() {
    let mut h = Harness::stable();
    h.m.subscribe(["a", "b", "c"], h.now).unwrap();
    assert_eq!(h.m.state(), MemberState::Stable);
    assert!(h.heartbeat().is_none(), "not before the interval");
    h.advance(5000);
    let (_, hb) = h.heartbeat().unwrap();
    assert_eq!(hb.member_epoch, 2);
    assert_eq!(
        hb.subscribed_topic_names,
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(h.m.assignment(), tps(&[("a", 0), ("a", 1)]));
}

#[test]
fn nothing_is_assigned_before_the_revocation_is_acknowledged() {
    let mut h = Harness::stable();
    h.advance(5000);
    let (id, _) = h.heartbeat().unwrap();
    h.answer(id, ok(2, Some(&[(1, &[1]), (2, &[0])])));
    assert_eq!(
        h.events(),
        vec![GroupEvent::Revoked {
            partitions: tps(&[("a", 0)])
        }]
    );
    assert_eq!(h.m.state(), MemberState::Revoking);
    assert!(h.m.owns(&TopicPartition::new("a", 0)));
    // Heartbeats go on and still report a-0 as owned (unchanged: not resent).
    h.advance(5000);
    let (id, hb) = h.heartbeat().unwrap();
    assert_eq!(hb.topic_partitions, None);
    h.answer(id, ok(2, Some(&[(1, &[1]), (2, &[0])])));
    assert!(h.events().is_empty());
    h.m.revocation_done(h.now, &h.topics);
    assert_eq!(
        h.events(),
        vec![GroupEvent::Assigned {
            generation: 2,
            partitions: tps(&[("b", 0)])
        }]
    );
    let (id, ack) = h.heartbeat().expect("ack at once");
    assert_eq!(ack.topic_partitions, Some(owned(&[(1, &[1]), (2, &[0])])));
    h.answer(id, ok(3, None));
    assert_eq!((h.m.member_epoch(), h.m.state()), (3, MemberState::Stable));
}

#[test]
fn unknown_topic_ids_wait_for_metadata() {
    let mut h = Harness::stable();
    h.advance(5000);
    let (id, _) = h.heartbeat().unwrap();
    h.answer(id, ok(3, Some(&[(1, &[0, 1]), (3, &[0])])));
    assert!(h.events().is_empty());
    assert_eq!(h.m.unresolved_topic_ids(), vec![tid(3)]);
    h.topics.insert(tid(3), "c".into());
    h.m.topics_updated(h.now, &h.topics);
    assert_eq!(
        h.events(),
        vec![GroupEvent::Assigned {
            generation: 3,
            partitions: tps(&[("c", 0)])
        }]
    );
    let (_, ack) = h.heartbeat().unwrap();
    assert_eq!(ack.topic_partitions, Some(owned(&[(1, &[0, 1]), (3, &[0])])));
}

#[test]
fn fenced_or_unknown_members_lose_their_partitions_and_rejoin_with_epoch_0() {
    for (code, reason) in [
        (
            codes::FENCED_MEMBER_EPOCH,
            GroupError::FencedMemberEpoch { member_epoch: 2 },
        ),
        (
            codes::UNKNOWN_MEMBER_ID,
            GroupError::UnknownMemberId {
                member_id: "member-1".into(),
            },
        ),
    ] {
        let mut h = Harness::stable();
        h.advance(5000);
        let (id, _) = h.heartbeat().unwrap();
        h.answer(id, error(code));
        assert!(!reason.is_fatal() && !reason.is_retriable());
        assert_eq!(
            h.events(),
            vec![GroupEvent::Lost {
                partitions: tps(&[("a", 0), ("a", 1)]),
                reason
            }]
        );
        assert!(h.m.assignment().is_empty());
        let (_, join) = h.heartbeat().expect("rejoins at once");
        assert_eq!((join.member_epoch, join.member_id.as_str()), (0, "member-1"));
        assert_eq!(join.topic_partitions, Some(vec![]));
        assert_eq!(join.rebalance_timeout_ms, 300_000);
        assert!(join.subscribed_topic_names.is_some());
    }
}

#[test]
fn fatal_errors_stop_the_member_with_a_clear_error() {
    let cases = [
        (codes::UNRELEASED_INSTANCE_ID, "still used by another member"),
        (codes::FENCED_INSTANCE_ID, "FENCED_INSTANCE_ID"),
        (codes::UNSUPPORTED_ASSIGNOR, "UNSUPPORTED_ASSIGNOR"),
        (codes::UNSUPPORTED_VERSION, "group.protocol=classic"),
        (codes::INVALID_REQUEST, "INVALID_REQUEST"),
        (codes::GROUP_MAX_SIZE_REACHED, "GROUP_MAX_SIZE_REACHED"),
        (codes::GROUP_AUTHORIZATION_FAILED, "GROUP_AUTHORIZATION_FAILED"),
        (
            ErrorCode::TOPIC_AUTHORIZATION_FAILED.0,
            "TOPIC_AUTHORIZATION_FAILED",
        ),
    ];
    for (code, text) in cases {
        let mut h = Harness::stable();
        h.advance(5000);
        let (id, _) = h.heartbeat().unwrap();
        h.answer(id, error(code));
        let events = h.events();
        let Some(GroupEvent::Fatal(e)) = events.last() else {
            panic!("{code}: {events:?}")
        };
        assert!(e.to_string().contains(text), "{code}: {e}");
        assert!(e.is_fatal() && !e.is_retriable(), "{code}: {e:?}");
        assert_eq!(e.code(), Some(code));
        assert!(
            matches!(&events[0], GroupEvent::Lost { partitions, .. } if partitions.len() == 2),
            "{events:?}"
        );
        assert_eq!(h.m.state(), MemberState::Fatal);
        assert_eq!(h.m.fatal_error(), Some(e));
        assert!(h.m.poll_transmit().is_none() && h.m.poll_timeout().is_none());
        assert!(h.m.subscribe(["a"], h.now).is_err());
    }
}

#[test]
fn new_error_variants_agree_with_the_error_code_table() {
    let errors = [
        GroupError::FencedMemberEpoch { member_epoch: 1 },
        GroupError::UnreleasedInstanceId {
            instance_id: "i".into(),
        },
        GroupError::UnsupportedAssignor { assignor: None },
        GroupError::ConsumerProtocolUnsupported { message: None },
        GroupError::InvalidRequest {
            api: "x",
            message: None,
        },
    ];
    for e in errors {
        let code = ErrorCode(e.code().unwrap());
        assert_eq!(
            (e.is_retriable(), e.is_fatal()),
            (code.is_retriable(), code.is_fatal()),
            "{e:?}"
        );
    }
}

#[test]
fn retriable_errors_back_off_and_resend_every_field() {
    let mut h = Harness::stable();
    h.advance(5000);
    let (id, _) = h.heartbeat().unwrap();
    h.answer(id, error(codes::COORDINATOR_LOAD_IN_PROGRESS));
    assert!(h.events().is_empty());
    assert!(h.heartbeat().is_none(), "backoff");
    h.advance(200);
    let (id, hb) = h.heartbeat().expect("retry after the backoff");
    assert_eq!(hb.member_epoch, 2);
    assert_eq!(hb.topic_partitions, Some(owned(&[(1, &[0, 1])])));
    assert_eq!(hb.rebalance_timeout_ms, 300_000);
    // NOT_COORDINATOR: find it again, then heartbeat at once.
    h.answer(id, error(codes::NOT_COORDINATOR));
    assert_eq!(h.m.state(), MemberState::FindingCoordinator);
    h.find_coordinator();
    let (id, _) = h.heartbeat().expect("no backoff after rediscovery");
    // A lost connection: find the coordinator again, then retry after a backoff.
    h.answer(id, Response::Failed(TransportFailure::Disconnected));
    h.find_coordinator();
    assert!(h.heartbeat().is_none());
    h.advance(200);
    assert!(h.heartbeat().is_some());
    assert_eq!(h.m.assignment(), tps(&[("a", 0), ("a", 1)]));
}

#[test]
fn leaving_revokes_first_then_sends_epoch_minus_1() {
    let mut h = Harness::stable();
    h.m.leave(h.now);
    assert_eq!(
        h.events(),
        vec![GroupEvent::Revoked {
            partitions: tps(&[("a", 0), ("a", 1)])
        }]
    );
    assert!(h.heartbeat().is_none(), "the leave waits for the revocation");
    h.m.revocation_done(h.now, &h.topics);
    let (id, leave) = h.heartbeat().expect("leave heartbeat");
    assert_eq!(
        (leave.member_epoch, leave.topic_partitions.clone()),
        (LEAVE_EPOCH, None)
    );
    assert_eq!(h.m.state(), MemberState::Leaving);
    h.answer(id, ok(LEAVE_EPOCH, None));
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
    assert_eq!(h.m.state(), MemberState::Unjoined);
    // Subscribing again joins with epoch 0 and the same member id.
    h.m.subscribe(["a"], h.now).unwrap();
    let (_, join) = h.heartbeat().unwrap();
    assert_eq!((join.member_epoch, join.member_id.as_str()), (0, "member-1"));
}

#[test]
fn static_members_leave_with_epoch_minus_2_unless_asked_to_leave_for_good() {
    for (mode, is_static, expected) in [
        (CloseMode::Default, true, Some(STATIC_LEAVE_EPOCH)),
        (CloseMode::Remain, true, Some(STATIC_LEAVE_EPOCH)),
        (CloseMode::Leave, true, Some(LEAVE_EPOCH)),
        (CloseMode::Default, false, Some(LEAVE_EPOCH)),
        (CloseMode::Remain, false, None),
    ] {
        let mut c = config();
        c.group_instance_id = is_static.then(|| "i-1".to_owned());
        let (mut h, id, _) = Harness::joining(c);
        h.answer(id, ok(1, Some(&[])));
        h.events();
        h.m.close(mode, h.now);
        match expected {
            Some(epoch) => {
                let (id, leave) = h.heartbeat().expect("leave heartbeat");
                assert_eq!(leave.member_epoch, epoch, "{mode:?} static={is_static}");
                assert_eq!(leave.instance_id.is_some(), is_static);
                h.answer(id, Response::Failed(TransportFailure::TimedOut));
            }
            None => assert!(h.heartbeat().is_none()),
        }
        assert_eq!(
            h.events(),
            vec![GroupEvent::Closed],
            "{mode:?} static={is_static}"
        );
        assert!(h.m.subscribe(["a"], h.now).is_err(), "closed");
    }
}

#[test]
fn max_poll_interval_loses_the_partitions_leaves_and_rejoins_on_the_next_poll() {
    let mut h = Harness::stable();
    let mut last = None;
    for _ in 0..60 {
        h.advance(5000);
        if let Some((id, hb)) = h.heartbeat() {
            if hb.member_epoch == LEAVE_EPOCH {
                last = Some(id);
                break;
            }
            h.answer(id, ok(2, None));
        }
    }
    let id = last.expect("a leave heartbeat after max.poll.interval.ms");
    assert_eq!(
        h.events(),
        vec![GroupEvent::Lost {
            partitions: tps(&[("a", 0), ("a", 1)]),
            reason: GroupError::MaxPollIntervalExceeded
        }]
    );
    h.answer(id, ok(LEAVE_EPOCH, None));
    assert_eq!(h.m.state(), MemberState::Lost);
    assert!(h.heartbeat().is_none());
    h.m.poll_called(h.now);
    let (_, join) = h.heartbeat().expect("rejoin");
    assert_eq!(join.member_epoch, JOIN_EPOCH);
}

#[test]
fn answers_of_an_earlier_membership_are_ignored() {
    let mut h = Harness::stable();
    h.advance(5000);
    let (old, _) = h.heartbeat().unwrap();
    // Fenced meanwhile (say by another answer) and rejoining: the old answer must not assign.
    h.m.leave(h.now);
    h.m.revocation_done(h.now, &h.topics);
    let (leave, _) = h.heartbeat().unwrap();
    h.answer(old, ok(2, Some(&[(2, &[0])])));
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, GroupEvent::Assigned { .. }))
    );
    h.answer(leave, ok(LEAVE_EPOCH, None));
    assert!(h.m.assignment().is_empty());
}

#[test]
fn a_leave_before_the_join_was_sent_sends_nothing() {
    let mut h = Harness::new(config());
    h.m.subscribe(["a"], h.now).unwrap();
    h.m.leave(h.now);
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
    assert!(h.m.poll_transmit().is_none());
}

#[test]
fn config_is_checked() {
    let mut c = config();
    c.member_id.clear();
    assert!(ConsumerGroupMember::new(c, Instant::now()).is_err());
    assert!(ConsumerGroupMember::new(ConsumerMemberConfig::new(""), Instant::now()).is_err());
}

#[test]
fn heartbeats_while_revoking_for_a_leave_keep_the_subscription_and_a_new_subscribe_rejoins_after() {
    let mut h = Harness::stable();
    h.m.leave(h.now);
    h.events();
    h.advance(5000);
    let (id, hb) = h
        .heartbeat()
        .expect("heartbeats go on while the application revokes");
    assert_eq!((hb.member_epoch, hb.subscribed_topic_names), (2, None));
    // A new assignment is not taken while leaving.
    h.answer(id, ok(2, Some(&[(2, &[0])])));
    assert!(h.events().is_empty());
    h.m.subscribe(["b"], h.now).unwrap();
    h.m.revocation_done(h.now, &h.topics);
    let (id, leave) = h.heartbeat().unwrap();
    assert_eq!(leave.member_epoch, LEAVE_EPOCH);
    h.answer(id, ok(LEAVE_EPOCH, None));
    assert_eq!(h.events(), vec![GroupEvent::Closed]);
    let (_, join) = h.heartbeat().expect("joins again with the new subscription");
    assert_eq!(join.member_epoch, JOIN_EPOCH);
    assert_eq!(join.subscribed_topic_names, Some(vec!["b".to_owned()]));
}
