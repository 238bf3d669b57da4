//! The sticky assignors finish quickly on large groups. For timings run
//! `cargo test -p kafkaroo-group --release --test scale -- --nocapture` (measured on the 2-core dev box:
//! 200 members x 2000 partitions, identical subscriptions: ~3 ms; 100 members x 900 partitions with
//! random subscriptions: ~35 ms). With racks (`large_groups_with_racks_finish`, sizes raised by hand to
//! the same groups): ~370 ms and ~330 ms.

mod common;

use std::time::Instant;

use common::{Member, Racks, Rng, Scenario, check_valid, rack_matches, tp};
use kafkaroo_group::assignor::PartitionCounts;
use kafkaroo_group::{CooperativeStickyAssignor, StickyAssignor};

fn big(members: usize, topics: usize, partitions: i32, identical: bool) -> Scenario {
    let mut rng = Rng(42);
    let counts: PartitionCounts = (0..topics)
        .map(|t| (format!("topic-{t:03}"), partitions))
        .collect();
    let names: Vec<String> = counts.keys().cloned().collect();
    let mut ms: Vec<Member> = (0..members)
        .map(|i| Member {
            id: format!("consumer-{i:04}"),
            instance: None,
            generation: 9,
            topics: if identical {
                names.clone()
            } else {
                names.iter().filter(|_| rng.chance(30)).cloned().collect()
            },
            owned: vec![],
        })
        .collect();
    // Previous owners: a random subscriber of each partition, except for the 10% of members that are new.
    for (t, &n) in &counts {
        for p in 0..n {
            let subs: Vec<usize> = (0..members)
                .filter(|&i| i % 10 != 0 && ms[i].topics.contains(t))
                .collect();
            if !subs.is_empty() {
                let i = subs[rng.below(subs.len())];
                ms[i].owned.push(tp(t, p));
            }
        }
    }
    Scenario {
        topics: counts,
        members: ms,
        ..Scenario::default()
    }
}

#[test]
fn large_groups_finish() {
    for (members, topics, partitions, identical) in [(200, 50, 40, true), (100, 30, 30, false)] {
        let s = big(members, topics, partitions, identical);
        let subs = s.subscriptions(&StickyAssignor);
        let start = Instant::now();
        let a = kafkaroo_group::Assignor::assign(&StickyAssignor, &subs, &s.topics).unwrap();
        let took = start.elapsed();
        check_valid(&s, &a, true).unwrap();
        eprintln!(
            "sticky: {members} members, {} partitions, identical={identical}: {took:?}, moved {}",
            topics as i32 * partitions,
            s.moved(&a)
        );
        let subs = s.subscriptions(&CooperativeStickyAssignor);
        let start = Instant::now();
        kafkaroo_group::Assignor::assign(&CooperativeStickyAssignor, &subs, &s.topics).unwrap();
        eprintln!("cooperative-sticky: {:?}", start.elapsed());
    }
}

/// Three racks, six brokers (broker `b` in rack `b % 3`), two replicas per partition on random brokers,
/// member `i` in rack `i % 3`.
fn with_racks(mut s: Scenario) -> Scenario {
    let mut rng = Rng(7);
    let mut racks = Racks {
        brokers: (0..6).map(|b| (b, Some(format!("r{}", b % 3)))).collect(),
        ..Racks::default()
    };
    for (i, m) in s.members.iter().enumerate() {
        racks.members.insert(m.id.clone(), format!("r{}", i % 3));
    }
    for (t, &n) in &s.topics {
        let parts = (0..n)
            .map(|_| {
                let first = rng.below(6) as i32;
                vec![first, (first + 1 + rng.below(5) as i32) % 6]
            })
            .collect();
        racks.replicas.insert(t.clone(), parts);
    }
    s.racks = racks;
    s
}

#[test]
fn large_groups_with_racks_finish() {
    for (members, topics, partitions, identical) in [(60, 20, 20, true), (30, 10, 20, false)] {
        let s = with_racks(big(members, topics, partitions, identical));
        for assignor in [
            &StickyAssignor as &dyn kafkaroo_group::Assignor,
            &CooperativeStickyAssignor,
        ] {
            let start = Instant::now();
            let a = s.assign(assignor);
            let took = start.elapsed();
            check_valid(&s, &a, assignor.name() == "sticky").unwrap();
            eprintln!(
                "{} with racks: {members} members, {} partitions, identical={identical}: {took:?}, rack-local {}",
                assignor.name(),
                topics as i32 * partitions,
                rack_matches(&s, &a)
            );
        }
    }
}
