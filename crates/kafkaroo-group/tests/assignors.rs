//! Hand-computed cases for each assignor, including the examples in Java's javadocs.

mod common;

use std::collections::BTreeMap;

use common::{Member, Scenario, check_golden_rule, check_valid, tp};
use kafkaroo_group::assignor::{AssignError, Assignments, Assignor, PartitionCounts, resolve_ownership};
use kafkaroo_group::{
    CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RoundRobinAssignor, StickyAssignor,
    Subscription, TopicPartition, explain, withhold_transfers,
};

fn member(id: &str, topics: &[&str]) -> Member {
    Member {
        id: id.into(),
        instance: None,
        generation: -1,
        topics: topics.iter().map(|t| t.to_string()).collect(),
        owned: Vec::new(),
    }
}

fn owning(mut m: Member, generation: i32, owned: &[(&str, i32)]) -> Member {
    m.generation = generation;
    m.owned = owned.iter().map(|(t, p)| tp(t, *p)).collect();
    m
}

fn scenario(topics: &[(&str, i32)], members: Vec<Member>) -> Scenario {
    Scenario {
        topics: topics.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        members,
        ..Scenario::default()
    }
}

fn parts(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    let mut v: Vec<_> = list.iter().map(|(t, p)| tp(t, *p)).collect();
    v.sort();
    v
}

fn expect(a: &Assignments, member: &str, list: &[(&str, i32)]) {
    assert_eq!(a[member], parts(list), "{member}: {a:?}");
}

#[test]
fn range_javadoc_example() {
    // Two consumers, two topics with three partitions each.
    let s = scenario(
        &[("t0", 3), ("t1", 3)],
        vec![member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])],
    );
    let a = s.assign(&RangeAssignor);
    expect(&a, "C0", &[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]);
    expect(&a, "C1", &[("t0", 2), ("t1", 2)]);
}

#[test]
fn range_orders_static_members_first_by_instance_id() {
    let mut a = member("a", &["t"]);
    a.instance = Some("z".into());
    let mut b = member("b", &["t"]);
    b.instance = Some("y".into());
    let c = member("0-dynamic", &["t"]);
    let s = scenario(&[("t", 7)], vec![a, b, c]);
    let r = s.assign(&RangeAssignor);
    expect(&r, "b", &[("t", 0), ("t", 1), ("t", 2)]);
    expect(&r, "a", &[("t", 3), ("t", 4)]);
    expect(&r, "0-dynamic", &[("t", 5), ("t", 6)]);
}

#[test]
fn range_skips_missing_topics_and_unsubscribed_members() {
    let s = scenario(
        &[("t", 2), ("empty", 0)],
        vec![member("a", &["t", "missing", "empty"]), member("b", &["other"])],
    );
    let r = s.assign(&RangeAssignor);
    expect(&r, "a", &[("t", 0), ("t", 1)]);
    expect(&r, "b", &[]);
}

#[test]
fn roundrobin_javadoc_examples() {
    let s = scenario(
        &[("t0", 3), ("t1", 3)],
        vec![member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])],
    );
    let a = s.assign(&RoundRobinAssignor);
    expect(&a, "C0", &[("t0", 0), ("t0", 2), ("t1", 1)]);
    expect(&a, "C1", &[("t0", 1), ("t1", 0), ("t1", 2)]);

    let s = scenario(
        &[("t0", 1), ("t1", 2), ("t2", 3)],
        vec![
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ],
    );
    let a = s.assign(&RoundRobinAssignor);
    expect(&a, "C0", &[("t0", 0)]);
    expect(&a, "C1", &[("t1", 0)]);
    expect(&a, "C2", &[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]);
}

#[test]
fn sticky_javadoc_example_1() {
    // Three consumers, four topics of two partitions; C1 leaves: only its partitions move.
    let topics = [("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)];
    let all = ["t0", "t1", "t2", "t3"];
    let s = scenario(
        &topics,
        vec![member("C0", &all), member("C1", &all), member("C2", &all)],
    );
    let first = s.assign(&StickyAssignor);
    assert_eq!(first.values().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 2]);

    let after = scenario(
        &topics,
        vec![
            owning(
                member("C0", &all),
                1,
                &first["C0"]
                    .iter()
                    .map(|p| (p.topic.as_str(), p.partition))
                    .collect::<Vec<_>>(),
            ),
            owning(
                member("C2", &all),
                1,
                &first["C2"]
                    .iter()
                    .map(|p| (p.topic.as_str(), p.partition))
                    .collect::<Vec<_>>(),
            ),
        ],
    );
    let second = after.assign(&StickyAssignor);
    assert_eq!(second["C0"].len(), 4);
    assert_eq!(second["C2"].len(), 4);
    assert!(first["C0"].iter().all(|p| second["C0"].contains(p)));
    assert!(first["C2"].iter().all(|p| second["C2"].contains(p)));
    assert_eq!(after.moved(&second), 0);
}

#[test]
fn sticky_javadoc_example_2() {
    let topics = [("t0", 1), ("t1", 2), ("t2", 3)];
    let s = scenario(
        &topics,
        vec![
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ],
    );
    let a = s.assign(&StickyAssignor);
    // Round robin would give C2 four partitions; sticky balances to 1/2/3.
    expect(&a, "C0", &[("t0", 0)]);
    expect(&a, "C1", &[("t1", 0), ("t1", 1)]);
    expect(&a, "C2", &[("t2", 0), ("t2", 1), ("t2", 2)]);

    // C0 leaves: C1 takes t0p0, nothing else moves.
    let s = scenario(
        &topics,
        vec![
            owning(member("C1", &["t0", "t1"]), 1, &[("t1", 0), ("t1", 1)]),
            owning(
                member("C2", &["t0", "t1", "t2"]),
                1,
                &[("t2", 0), ("t2", 1), ("t2", 2)],
            ),
        ],
    );
    let a = s.assign(&StickyAssignor);
    expect(&a, "C1", &[("t0", 0), ("t1", 0), ("t1", 1)]);
    expect(&a, "C2", &[("t2", 0), ("t2", 1), ("t2", 2)]);
}

#[test]
fn sticky_moves_only_what_balance_needs() {
    // One member owned all 7; two join: it keeps 3 (the larger quota), the newcomers get 2 each.
    let s = scenario(
        &[("t", 7)],
        vec![
            owning(
                member("a", &["t"]),
                3,
                &[
                    ("t", 0),
                    ("t", 1),
                    ("t", 2),
                    ("t", 3),
                    ("t", 4),
                    ("t", 5),
                    ("t", 6),
                ],
            ),
            member("b", &["t"]),
            member("c", &["t"]),
        ],
    );
    let a = s.assign(&StickyAssignor);
    expect(&a, "a", &[("t", 0), ("t", 1), ("t", 2)]);
    assert_eq!((a["b"].len(), a["c"].len()), (2, 2));
    assert_eq!(s.moved(&a), 4);
}

#[test]
fn sticky_chain_move_with_different_subscriptions() {
    // a: t1 (owns all 4), b: t1+t2 (owns all 4 of t2), c: t2 (new). Balanced is 3/3/2. The cheapest way
    // is a chain: c takes two t2 partitions from b, and b takes one t1 partition from a (3 moves; making c
    // the one with 3 would cost 5).
    let s = scenario(
        &[("t1", 4), ("t2", 4)],
        vec![
            owning(
                member("a", &["t1"]),
                2,
                &[("t1", 0), ("t1", 1), ("t1", 2), ("t1", 3)],
            ),
            owning(
                member("b", &["t1", "t2"]),
                2,
                &[("t2", 0), ("t2", 1), ("t2", 2), ("t2", 3)],
            ),
            member("c", &["t2"]),
        ],
    );
    let a = s.assign(&StickyAssignor);
    assert_eq!((a["a"].len(), a["b"].len(), a["c"].len()), (3, 3, 2), "{a:?}");
    assert_eq!(s.moved(&a), 3);
}

#[test]
fn cooperative_two_phase_move() {
    // A owns all four partitions; B joins.
    let s = scenario(
        &[("t", 4)],
        vec![
            owning(member("A", &["t"]), 7, &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]),
            member("B", &["t"]),
        ],
    );
    let round1 = s.assign(&CooperativeStickyAssignor);
    expect(&round1, "A", &[("t", 0), ("t", 1)]);
    expect(&round1, "B", &[]); // t2, t3 withheld: A must revoke them first
    check_golden_rule(&s, &round1).unwrap();

    let next = s.followup(&round1);
    let round2 = next.assign(&CooperativeStickyAssignor);
    expect(&round2, "A", &[("t", 0), ("t", 1)]);
    expect(&round2, "B", &[("t", 2), ("t", 3)]);
}

#[test]
fn cooperative_stale_claims_lose_to_higher_generation() {
    // B is a zombie from generation 3 still claiming t-0; A owns it at generation 4.
    let s = scenario(
        &[("t", 2)],
        vec![
            owning(member("A", &["t"]), 4, &[("t", 0), ("t", 1)]),
            owning(member("B", &["t"]), 3, &[("t", 0)]),
        ],
    );
    let subs = s.subscriptions(&CooperativeStickyAssignor);
    let ownership = resolve_ownership(&subs, &s.topics);
    assert_eq!(ownership.owners[&tp("t", 0)], "A");
    assert_eq!(ownership.stale.len(), 1);
    assert_eq!(ownership.stale[0].member_id, "B");

    // The stale claim neither keeps t-0 for B nor masks A's ownership: A gives one partition to B in two
    // steps, and it is not t-0 handed straight to B.
    let round1 = s.assign(&CooperativeStickyAssignor);
    check_golden_rule(&s, &round1).unwrap();
    assert_eq!(round1["A"].len(), 1);
    assert!(round1["B"].is_empty(), "{round1:?}");
}

#[test]
fn cooperative_same_generation_double_claim_is_withheld() {
    // Two members claim t-0 in the same generation: neither may keep it this round.
    let s = scenario(
        &[("t", 2)],
        vec![
            owning(member("A", &["t"]), 4, &[("t", 0)]),
            owning(member("B", &["t"]), 4, &[("t", 0), ("t", 1)]),
        ],
    );
    let round1 = s.assign(&CooperativeStickyAssignor);
    assert!(round1.values().all(|p| !p.contains(&tp("t", 0))), "{round1:?}");
    check_golden_rule(&s, &round1).unwrap();
    let round2 = s.followup(&round1).assign(&CooperativeStickyAssignor);
    check_valid(&s, &round2, true).unwrap();
}

#[test]
fn withhold_transfers_applies_to_any_assignment() {
    // Range would move t-1 from b to a in one go; the golden rule withholds it.
    let s = scenario(
        &[("t", 2)],
        vec![
            owning(member("a", &["t"]), 2, &[("t", 0)]),
            owning(member("b", &["t"]), 2, &[("t", 1)]),
        ],
    );
    let subs = s.subscriptions(&CooperativeStickyAssignor);
    let mut a: Assignments =
        BTreeMap::from([("a".into(), parts(&[("t", 0), ("t", 1)])), ("b".into(), vec![])]);
    let withheld = withhold_transfers(&subs, &s.topics, &mut a);
    assert_eq!(withheld, parts(&[("t", 1)]));
    expect(&a, "a", &[("t", 0)]);
    // Idempotent.
    assert!(withhold_transfers(&subs, &s.topics, &mut a).is_empty());
}

#[test]
fn errors_and_empty_input() {
    let counts: PartitionCounts = BTreeMap::from([("t".into(), 3)]);
    let dup = vec![
        MemberSubscription::new("x", Subscription::new(["t"])),
        MemberSubscription::new("x", Subscription::new(["t"])),
    ];
    let bad: PartitionCounts = BTreeMap::from([("t".into(), -1)]);
    let one = vec![MemberSubscription::new("x", Subscription::new(["t"]))];
    let assignors: [&dyn Assignor; 4] = [
        &RangeAssignor,
        &RoundRobinAssignor,
        &StickyAssignor,
        &CooperativeStickyAssignor,
    ];
    for assignor in assignors {
        assert_eq!(
            assignor.assign(&dup, &counts),
            Err(AssignError::DuplicateMember("x".into()))
        );
        assert!(matches!(
            assignor.assign(&one, &bad),
            Err(AssignError::InvalidPartitionCount { .. })
        ));
        assert!(assignor.assign(&[], &counts).unwrap().is_empty());
        let none = vec![MemberSubscription::new("x", Subscription::new(["nope"]))];
        assert_eq!(assignor.assign(&none, &counts).unwrap()["x"], vec![]);
    }
}

#[test]
fn explain_renders_inputs_and_result() {
    let s = scenario(
        &[("t", 4)],
        vec![
            owning(member("A", &["t"]), 7, &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]),
            owning(member("Z", &["t"]), 6, &[("t", 3)]),
            member("B", &["t"]),
        ],
    );
    let subs = s.subscriptions(&CooperativeStickyAssignor);
    let text = explain(
        &CooperativeStickyAssignor,
        &subs,
        &s.topics,
        &s.racks.replica_racks(),
    );
    for needle in [
        "assignor cooperative-sticky (Cooperative)",
        "member A v3 rack=- topics=[t] generation=7 owned(owned_partitions)=[t:0/1/2/3]",
        "stale claim: Z claims t-3 at generation 6",
        "=> B (0): [] +[] -[]",
        "unassigned this round:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn explain_shows_racks_and_the_rack_aware_result() {
    let mut s = scenario(&[("t", 2)], vec![member("A", &["t"]), member("B", &["t"])]);
    s.racks = common::Racks {
        members: [
            ("A".to_owned(), "r1".to_owned()),
            ("B".to_owned(), "r0".to_owned()),
        ]
        .into_iter()
        .collect(),
        brokers: [(0, Some("r0".to_owned())), (1, Some("r1".to_owned()))]
            .into_iter()
            .collect(),
        replicas: [("t".to_owned(), vec![vec![0], vec![1]])].into_iter().collect(),
    };
    let subs = s.subscriptions(&RangeAssignor);
    let text = explain(&RangeAssignor, &subs, &s.topics, &s.racks.replica_racks());
    // Without racks A (first in member order) would get t-0.
    for needle in [
        "replica racks t: 0=r0 1=r1",
        "member A v3 rack=r1",
        "=> A (1): [t:1]",
        "=> B (1): [t:0]",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}
