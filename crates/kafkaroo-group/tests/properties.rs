//! Property tests over random groups: 1-20 members, 1-10 topics of 1-30 partitions, random subscriptions
//! (identical or not), random previous ownership with generations (including stale and same-generation
//! double claims).

mod common;

use common::{Member, Scenario, check_golden_rule, check_valid, locally_balanced, spread, tp};
use kafkaroo_group::assignor::{Assignor, PartitionCounts};
use kafkaroo_group::{CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor};
use proptest::prelude::*;

const GENERATIONS: [i32; 4] = [-1, 3, 4, 5];

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(1..=30i32, 1..=10),
        1..=20usize,
        any::<bool>(),
    )
        .prop_flat_map(|(counts, n_members, identical)| {
            let n_topics = counts.len();
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            (
                Just(counts),
                prop::collection::vec(
                    (1u16..(1 << n_topics), 0..GENERATIONS.len(), any::<bool>()),
                    n_members,
                ),
                // Per partition: up to two claimants (member index, or none).
                prop::collection::vec(
                    (
                        prop::option::weighted(0.8, 0..n_members),
                        prop::option::weighted(0.1, 0..n_members),
                    ),
                    total,
                ),
                Just(identical),
            )
        })
        .prop_map(|(counts, members, claims, identical)| {
            let topics: PartitionCounts = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (format!("t{i}"), c))
                .collect();
            let names: Vec<String> = topics.keys().cloned().collect();
            let common_mask = members[0].0;
            let mut ms: Vec<Member> = members
                .iter()
                .enumerate()
                .map(|(i, &(mask, generation, is_static))| {
                    let mask = if identical { common_mask } else { mask };
                    Member {
                        id: format!("member-{i:02}"),
                        instance: is_static.then(|| format!("instance-{:02}", (i * 7) % 20)),
                        generation: GENERATIONS[generation],
                        topics: names
                            .iter()
                            .enumerate()
                            .filter(|(t, _)| mask & (1 << t) != 0)
                            .map(|(_, n)| n.clone())
                            .collect(),
                        owned: Vec::new(),
                    }
                })
                .collect();
            let partitions: Vec<(String, i32)> = topics
                .iter()
                .flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p)))
                .collect();
            for ((t, p), (first, second)) in partitions.iter().zip(claims) {
                for m in [first, second].into_iter().flatten() {
                    if ms[m].generation >= 0 && !ms[m].owned.contains(&tp(t, *p)) {
                        ms[m].owned.push(tp(t, *p));
                    }
                }
            }
            Scenario {
                topics,
                members: ms,
                ..Scenario::default()
            }
        })
}

fn all() -> [&'static dyn Assignor; 4] {
    [
        &RangeAssignor,
        &RoundRobinAssignor,
        &StickyAssignor,
        &CooperativeStickyAssignor,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn assignments_are_valid_and_deterministic(s in arb_scenario()) {
        for assignor in all() {
            let a = s.assign(assignor);
            let eager = assignor.name() != "cooperative-sticky";
            check_valid(&s, &a, eager).map_err(|e| TestCaseError::fail(format!("{}: {e}", assignor.name())))?;
            // Same input in another order gives the same output.
            let mut reversed = s.clone();
            reversed.members.reverse();
            prop_assert_eq!(&reversed.assign(assignor), &a, "{} is order-dependent", assignor.name());
            prop_assert_eq!(&s.assign(assignor), &a);
        }
    }

    #[test]
    fn balanced_when_subscriptions_are_identical(s in arb_scenario()) {
        prop_assume!(s.identical_subscriptions());
        for assignor in [&RoundRobinAssignor as &dyn Assignor, &StickyAssignor] {
            let a = s.assign(assignor);
            prop_assert!(spread(&s, &a) <= 1, "{}: spread {} in {a:?}", assignor.name(), spread(&s, &a));
        }
        let round1 = s.assign(&CooperativeStickyAssignor);
        let round2 = s.followup(&round1).assign(&CooperativeStickyAssignor);
        prop_assert!(spread(&s, &round2) <= 1);
    }

    #[test]
    fn sticky_is_balanced_as_subscriptions_allow(s in arb_scenario()) {
        let a = s.assign(&StickyAssignor);
        locally_balanced(&s, &a).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn sticky_moves_the_minimum_with_identical_subscriptions(s in arb_scenario()) {
        prop_assume!(s.identical_subscriptions());
        let min = s.min_moves_identical();
        prop_assert_eq!(s.moved(&s.assign(&StickyAssignor)), min);
        // Cooperative: round 1 revokes exactly the same minimum.
        prop_assert_eq!(s.moved(&s.assign(&CooperativeStickyAssignor)), min);
    }

    #[test]
    fn cooperative_two_phase_rule(s in arb_scenario()) {
        let round1 = s.assign(&CooperativeStickyAssignor);
        check_valid(&s, &round1, false).map_err(TestCaseError::fail)?;
        check_golden_rule(&s, &round1).map_err(TestCaseError::fail)?;
        // The follow-up round assigns everything exactly once and revokes nothing more.
        let next = s.followup(&round1);
        let round2 = next.assign(&CooperativeStickyAssignor);
        check_valid(&next, &round2, true).map_err(TestCaseError::fail)?;
        check_golden_rule(&next, &round2).map_err(TestCaseError::fail)?;
        prop_assert_eq!(next.moved(&round2), 0);
        locally_balanced(&next, &round2).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn newcomers_take_only_their_share(
        counts in prop::collection::vec(1..=30i32, 1..=10),
        old in 1..=15usize,
        new in 1..=5usize,
    ) {
        // A balanced group with identical subscriptions (round robin at generation 5), then `new` members join.
        let topics: PartitionCounts = counts.iter().enumerate().map(|(i, &c)| (format!("t{i}"), c)).collect();
        let names: Vec<String> = topics.keys().cloned().collect();
        let member = |i: usize| Member { id: format!("m{i:02}"), instance: None, generation: -1, topics: names.clone(), owned: vec![] };
        let before = Scenario { topics: topics.clone(), members: (0..old).map(member).collect(), ..Scenario::default() };
        let balanced = before.assign(&RoundRobinAssignor);
        let mut after = before.followup(&balanced);
        after.members.extend((old..old + new).map(member));
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let share = total.div_ceil(old + new);
        for assignor in [&StickyAssignor as &dyn Assignor, &CooperativeStickyAssignor] {
            let moved = after.moved(&after.assign(assignor));
            prop_assert!(moved <= new * share, "{}: moved {moved} > {new} x {share}", assignor.name());
            prop_assert_eq!(moved, after.min_moves_identical());
        }
    }
}
