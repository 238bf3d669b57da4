//! Golden vectors: consumer protocol bytes produced by Java's kafka-clients (tests/data/golden.txt, made by
//! tests/java/GoldenBytes.java). We must decode them to the expected values and encode those values to
//! the identical bytes.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::tp;
use kafkaroo_group::protocol::{
    Assignment, OwnershipSource, StickyUserData, Subscription, decode_cooperative_generation,
};

fn golden() -> BTreeMap<&'static str, Bytes> {
    include_str!("data/golden.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
            (name, Bytes::from(bytes.collect::<Vec<u8>>()))
        })
        .collect()
}

fn owned() -> Vec<kafkaroo_group::TopicPartition> {
    vec![tp("audit", 0), tp("orders", 0), tp("orders", 2)]
}

fn topics() -> Vec<String> {
    vec!["audit".into(), "orders".into()]
}

fn check_subscription(name: &str, expected: Subscription) {
    let bytes = golden()[name].clone();
    let decoded = Subscription::decode(bytes.clone()).unwrap();
    assert_eq!(decoded, expected, "{name}: decode");
    assert_eq!(expected.encode().unwrap(), bytes, "{name}: encode");
}

fn check_assignment(name: &str, expected: Assignment) {
    let bytes = golden()[name].clone();
    assert_eq!(
        Assignment::decode(bytes.clone()).unwrap(),
        expected,
        "{name}: decode"
    );
    assert_eq!(expected.encode().unwrap(), bytes, "{name}: encode");
}

#[test]
fn subscription_v0() {
    check_subscription(
        "sub_v0",
        Subscription {
            version: 0,
            topics: topics(),
            ..Subscription::default()
        },
    );
    check_subscription(
        "sub_v0_userdata",
        Subscription {
            version: 0,
            topics: vec!["orders".into()],
            user_data: Some(Bytes::from_static(&[1, 2, 3])),
            ..Subscription::default()
        },
    );
}

#[test]
fn subscription_v1_v2_v3() {
    check_subscription(
        "sub_v1",
        Subscription {
            version: 1,
            topics: topics(),
            owned_partitions: owned(),
            ..Subscription::default()
        },
    );
    check_subscription(
        "sub_v2",
        Subscription {
            version: 2,
            topics: topics(),
            owned_partitions: owned(),
            generation_id: 7,
            ..Subscription::default()
        },
    );
    check_subscription(
        "sub_v3",
        Subscription {
            version: 3,
            topics: topics(),
            user_data: Some(Bytes::from_static(&[1, 2, 3])),
            owned_partitions: owned(),
            generation_id: 5,
            rack_id: Some("rack-a".into()),
        },
    );
    check_subscription("sub_v3_empty", Subscription::default());
}

#[test]
fn encoding_sorts_like_java() {
    // Java sorts topics and owned partitions (KAFKA-12898); unsorted input gives the same bytes.
    let unsorted = Subscription {
        version: 1,
        topics: vec!["orders".into(), "audit".into(), "orders".into()],
        owned_partitions: vec![tp("orders", 2), tp("audit", 0), tp("orders", 0)],
        ..Subscription::default()
    };
    assert_eq!(unsorted.encode().unwrap(), golden()["sub_v1"]);
    let assignment = Assignment {
        version: 0,
        partitions: vec![tp("orders", 2), tp("orders", 0), tp("audit", 0)],
        user_data: None,
    };
    assert_eq!(assignment.encode().unwrap(), golden()["asg_v0"]);
}

#[test]
fn assignments() {
    check_assignment(
        "asg_v0",
        Assignment {
            version: 0,
            partitions: owned(),
            user_data: None,
        },
    );
    check_assignment(
        "asg_v1_userdata",
        Assignment {
            version: 1,
            partitions: owned(),
            user_data: Some(Bytes::from_static(&[1, 2, 3])),
        },
    );
    check_assignment(
        "asg_v3",
        Assignment {
            version: 3,
            partitions: owned(),
            user_data: None,
        },
    );
    check_assignment("asg_v3_empty", Assignment::default());
}

#[test]
fn sticky_user_data() {
    let bytes = golden()["sticky_userdata_v1"].clone();
    let expected = StickyUserData {
        partitions: owned(),
        generation: Some(9),
    };
    assert_eq!(StickyUserData::decode(&bytes).unwrap(), expected);
    assert_eq!(expected.encode().unwrap(), bytes);
    // v0 is the same without the generation.
    let v0 = StickyUserData::decode(&bytes[..bytes.len() - 4]).unwrap();
    assert_eq!(
        v0,
        StickyUserData {
            partitions: owned(),
            generation: None
        }
    );

    let coop = golden()["coop_userdata"].clone();
    assert_eq!(decode_cooperative_generation(&coop), Some(11));
}

#[test]
fn ownership_from_java_user_data() {
    // An eager Java StickyAssignor member: empty owned partitions, previous assignment in the user data.
    let sub = Subscription {
        topics: topics(),
        user_data: Some(golden()["sticky_userdata_v1"].clone()),
        generation_id: 9,
        ..Subscription::default()
    };
    let sub = Subscription::decode(sub.encode().unwrap()).unwrap();
    let own = sub.ownership();
    assert_eq!(
        (own.partitions, own.generation, own.source),
        (owned(), 9, OwnershipSource::StickyUserData)
    );

    // A v1 cooperative member (pre KIP-792): owned partitions, generation only in Java's coop user data.
    let sub = Subscription {
        version: 1,
        topics: topics(),
        user_data: Some(golden()["coop_userdata"].clone()),
        owned_partitions: owned(),
        ..Subscription::default()
    };
    let sub = Subscription::decode(sub.encode().unwrap()).unwrap();
    let own = sub.ownership();
    assert_eq!(
        (own.generation, own.source),
        (11, OwnershipSource::OwnedPartitions)
    );

    // v2+: the generation field wins over anything in the user data (KAFKA-13715).
    let sub = Subscription {
        version: 2,
        generation_id: 4,
        ..sub
    };
    assert_eq!(sub.ownership().generation, 4);
}
