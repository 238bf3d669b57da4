//! The sticky assignors finish quickly on large groups. For timings run
//! `cargo test -p kafkaroo-group --release --test scale -- --nocapture` (measured on the 2-core dev box:
//! 200 members x 2000 partitions, identical subscriptions: ~3 ms; 100 members x 900 partitions with
//! random subscriptions: ~35 ms).

mod common;

use std::time::Instant;

use common::{Member, Rng, Scenario, check_valid, tp};
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
