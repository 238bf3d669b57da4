//! Consumer protocol edge cases: forward compatibility, missing trailing fields, garbage.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::tp;
use kafkaroo_group::protocol::{
    Assignment, ProtocolError, StickyUserData, Subscription, decode_group_subscriptions,
    decode_member_subscription,
};
use proptest::prelude::*;

fn v3() -> Subscription {
    Subscription {
        version: 3,
        topics: vec!["a".into(), "b".into()],
        user_data: Some(Bytes::from_static(b"ud")),
        owned_partitions: vec![tp("a", 0), tp("b", 3)],
        generation_id: 12,
        rack_id: Some("r1".into()),
    }
}

#[test]
fn future_version_is_read_as_v3_ignoring_trailing_bytes() {
    let mut bytes = BytesMut::from(&v3().encode().unwrap()[..]);
    bytes[0..2].copy_from_slice(&9i16.to_be_bytes());
    bytes.put_slice(b"some future field");
    assert_eq!(Subscription::decode(bytes.freeze()).unwrap(), v3());

    let mut bytes = BytesMut::from(&Assignment::new(vec![tp("a", 1)]).encode().unwrap()[..]);
    bytes[0..2].copy_from_slice(&7i16.to_be_bytes());
    bytes.put_slice(&[0xde, 0xad]);
    assert_eq!(
        Assignment::decode(bytes.freeze()).unwrap(),
        Assignment::new(vec![tp("a", 1)])
    );
}

#[test]
fn claimed_v1_without_owned_partitions_parses_as_v0() {
    // franz-go#493: version 1 in the header, but the body ends after the user data.
    let v0 = Subscription {
        version: 0,
        topics: vec!["a".into()],
        ..Subscription::default()
    };
    let mut bytes = BytesMut::from(&v0.encode().unwrap()[..]);
    bytes[0..2].copy_from_slice(&1i16.to_be_bytes());
    assert_eq!(Subscription::decode(bytes.freeze()).unwrap(), v0);

    // A v3 header with only the v1 fields present: read as v1, defaults for the rest.
    let v1 = Subscription {
        version: 1,
        owned_partitions: vec![tp("a", 2)],
        ..v0
    };
    let mut bytes = BytesMut::from(&v1.encode().unwrap()[..]);
    bytes[0..2].copy_from_slice(&3i16.to_be_bytes());
    let decoded = Subscription::decode(bytes.freeze()).unwrap();
    assert_eq!(decoded, v1);
    assert_eq!(decoded.generation_id, -1);
}

#[test]
fn truncated_and_garbage_are_errors() {
    let full = v3().encode().unwrap();
    // Every cut that does not fall on a field boundary after the user data is an error, never a panic.
    for cut in 0..full.len() {
        let result = Subscription::decode(full.slice(..cut));
        if let Ok(s) = result {
            assert!(s.version < 3, "cut at {cut} decoded as {s:?}");
        }
    }
    assert!(matches!(
        Subscription::decode(Bytes::new()),
        Err(ProtocolError::Truncated { .. })
    ));
    assert!(matches!(
        Subscription::decode(Bytes::from_static(&[0xff, 0xff, 0, 0])),
        Err(ProtocolError::UnsupportedVersion(-1))
    ));
    // A huge topic count must not allocate.
    assert!(matches!(
        Subscription::decode(Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])),
        Err(ProtocolError::InvalidLength { .. })
    ));
    // Invalid UTF-8 in a topic name.
    assert!(matches!(
        Subscription::decode(Bytes::from_static(&[
            0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff
        ])),
        Err(ProtocolError::InvalidUtf8 { .. })
    ));
    assert!(StickyUserData::decode(&[0, 0, 0, 5]).is_err());
}

#[test]
fn empty_assignment_bytes_mean_no_partitions() {
    assert_eq!(Assignment::decode(Bytes::new()).unwrap(), Assignment::default());
}

#[test]
fn bad_member_is_named_and_subscribes_to_nothing() {
    let good = Subscription::new(["a"]).encode().unwrap();
    let bad = Bytes::from_static(&[0, 1, 0, 0, 0, 9]);
    let err = decode_member_subscription("consumer-7", None, bad.clone()).unwrap_err();
    assert_eq!(err.member_id, "consumer-7");
    assert!(err.to_string().contains("member consumer-7"), "{err}");

    let (members, errors) =
        decode_group_subscriptions([("good", None, good), ("bad", Some("static-1"), bad)]);
    assert_eq!(members.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].member_id, "bad");
    assert!(members[1].subscription.topics.is_empty());
    assert_eq!(members[1].group_instance_id.as_deref(), Some("static-1"));
}

fn arb_tps() -> impl Strategy<Value = Vec<kafkaroo_group::TopicPartition>> {
    prop::collection::vec(("[a-c]{1,3}", 0..50i32).prop_map(|(t, p)| tp(&t, p)), 0..10)
}

proptest! {
    #[test]
    fn subscription_roundtrip(
        version in 0..=3i16,
        topics in prop::collection::btree_set("[a-z.]{1,8}", 0..6),
        user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        owned in arb_tps(),
        generation in any::<i32>(),
        rack in prop::option::of("[a-z]{0,5}"),
    ) {
        let mut owned = owned;
        owned.sort();
        owned.dedup();
        let s = Subscription {
            version,
            topics: topics.into_iter().collect(),
            user_data: user_data.map(Bytes::from),
            owned_partitions: if version >= 1 { owned } else { Vec::new() },
            generation_id: if version >= 2 { generation } else { -1 },
            rack_id: if version >= 3 { rack } else { None },
        };
        let bytes = s.encode().unwrap();
        let decoded = Subscription::decode(bytes.clone()).unwrap();
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
        // A v1/v2 subscription whose trailing fields are all defaults still reads back equal in content.
        prop_assert_eq!(&decoded.topics, &s.topics);
        prop_assert_eq!(&decoded.owned_partitions, &s.owned_partitions);
        prop_assert_eq!(decoded.generation_id, s.generation_id);
        prop_assert_eq!(&decoded.rack_id, &s.rack_id);
    }

    #[test]
    fn assignment_roundtrip(version in 0..=3i16, parts in arb_tps(), ud in prop::option::of(prop::collection::vec(any::<u8>(), 0..8))) {
        let mut parts = parts;
        parts.sort();
        parts.dedup();
        let a = Assignment { version, partitions: parts, user_data: ud.map(Bytes::from) };
        prop_assert_eq!(Assignment::decode(a.encode().unwrap()).unwrap(), a);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Subscription::decode(Bytes::from(bytes.clone()));
        let _ = Assignment::decode(Bytes::from(bytes.clone()));
        let _ = StickyUserData::decode(&bytes);
    }
}
