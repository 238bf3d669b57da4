//! Regular-expression subscriptions: what the heartbeats carry when joining, switching between a
//! regex and topic names (the empty string clears the regex), after fencing, and the coordinator's
//! refusal of an expression.

use super::*;

fn regex_fields(hb: &HeartbeatRequest) -> (Option<Vec<String>>, Option<String>) {
    (
        hb.subscribed_topic_names.clone(),
        hb.subscribed_topic_regex.clone(),
    )
}

/// A member subscribed to `regex`, coordinator found, its join heartbeat returned.
fn joining_with(regex: &str) -> (Harness, RequestId, HeartbeatRequest) {
    let mut h = Harness::new(config());
    h.m.subscribe_regex(regex, h.now).unwrap();
    h.find_coordinator();
    let (id, hb) = h.heartbeat().expect("the join heartbeat");
    (h, id, hb)
}

#[test]
fn joining_with_a_regex_sends_it_with_no_topic_names_then_only_when_it_changes() {
    let (mut h, id, join) = joining_with("a|b");
    assert_eq!(join.member_epoch, JOIN_EPOCH);
    assert_eq!(regex_fields(&join), (Some(vec![]), Some("a|b".into())));
    assert_eq!(h.m.subscription_regex(), Some("a|b"));
    assert!(h.m.subscription().is_empty());
    // The coordinator resolved it: partitions of both topics; the ack does not repeat the regex.
    h.answer(id, ok(1, Some(&[(1, &[0]), (2, &[0])])));
    assert_eq!(
        h.events(),
        vec![GroupEvent::Assigned {
            partitions: tps(&[("a", 0), ("b", 0)]),
            generation: 1,
        }]
    );
    let (id, ack) = h.heartbeat().expect("the acknowledgement");
    assert_eq!(regex_fields(&ack), (None, None));
    h.answer(id, ok(1, None));
    h.advance(5000);
    let (_, hb) = h.heartbeat().expect("a regular heartbeat");
    assert_eq!(regex_fields(&hb), (None, None));
}

#[test]
fn switching_between_names_and_a_regex_needs_no_rejoin_and_the_empty_string_clears_it() {
    let mut h = Harness::stable();
    h.m.subscribe_regex("b.*", h.now).unwrap();
    h.advance(5000);
    let (id, hb) = h
        .heartbeat()
        .expect("the changed subscription, in the next heartbeat");
    assert_eq!(hb.member_epoch, 2, "still a member: no rejoin");
    assert_eq!(regex_fields(&hb), (Some(vec![]), Some("b.*".into())));
    h.answer(id, ok(2, None));
    h.m.subscribe(["a"], h.now).unwrap();
    h.advance(5000);
    let (id, hb) = h.heartbeat().expect("the changed subscription");
    assert_eq!(hb.member_epoch, 2);
    assert_eq!(regex_fields(&hb), (Some(vec!["a".into()]), Some(String::new())));
    h.answer(id, ok(2, None));
    h.advance(5000);
    let (_, hb) = h.heartbeat().expect("a regular heartbeat");
    assert_eq!(
        regex_fields(&hb),
        (None, None),
        "the cleared regex is not sent again"
    );
}

#[test]
fn a_fenced_member_sends_its_regex_again_when_rejoining() {
    let (mut h, id, _) = joining_with("a");
    h.answer(id, ok(1, Some(&[(1, &[0])])));
    let (id, _) = h.heartbeat().expect("the acknowledgement");
    h.answer(id, error(codes::FENCED_MEMBER_EPOCH));
    h.events();
    let (_, rejoin) = h.heartbeat().expect("the rejoin");
    assert_eq!(rejoin.member_epoch, JOIN_EPOCH);
    assert_eq!(regex_fields(&rejoin), (Some(vec![]), Some("a".into())));
}

#[test]
fn an_expression_the_coordinator_refuses_stops_the_member_naming_it() {
    let (mut h, id, _) = joining_with("a(");
    h.answer(id, error(codes::INVALID_REGULAR_EXPRESSION));
    let expected = GroupError::InvalidRegularExpression {
        regex: "a(".into(),
        message: Some("broker says no".into()),
    };
    assert_eq!(h.events(), vec![GroupEvent::Fatal(expected.clone())]);
    assert_eq!(h.m.state(), MemberState::Fatal);
    assert!(expected.is_fatal() && !expected.is_retriable());
    assert_eq!(expected.code(), Some(ErrorCode::INVALID_REGULAR_EXPRESSION.0));
    assert!(expected.to_string().contains("\"a(\""), "{expected}");
}

#[test]
fn an_empty_regex_leaves_like_an_empty_topic_list() {
    let mut h = Harness::stable();
    h.m.subscribe_regex("", h.now).unwrap();
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Revoked { partitions }] if *partitions == tps(&[("a", 0), ("a", 1)])),
        "{events:?}"
    );
    assert_eq!(h.m.subscription_regex(), None);
}
