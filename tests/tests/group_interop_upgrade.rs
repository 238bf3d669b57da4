//! Interop against the real broker during an online upgrade of a classic group to KIP-848's consumer
//! protocol (issue 13): a cooperative-sticky classic group of kafkaroo (`kafkaroo-verifiable-consumer`)
//! and Java `VerifiableConsumer` members is rolled member by member to `group.protocol=consumer`
//! (`--property group.protocol=consumer` / `--group-protocol consumer`) while records are produced
//! throughout (in the background).
//!
//! Cooperative, not eager: it is what the classic interop test runs and what a group about to upgrade
//! most likely runs; and while the group mixes both kinds the broker reconciles a classic member by
//! rebalancing it through JoinGroup/SyncGroup, which under cooperative-sticky revokes only the partitions
//! that move (an eager member would give up everything on every step of the roll).
//!
//! The broker converts the classic group into a consumer-protocol group when the first
//! `group.protocol=consumer` member joins, if `group.consumer.migration.policy` allows upgrades
//! (`bidirectional`, Kafka 4.x's default, or `upgrade`; the test reads the coordinator's value with
//! DescribeConfigs and fails on anything else: the harness' broker keeps the default, and a dedicated
//! broker with the setting would cost a broker start for no difference). From then on the classic
//! members take part through JoinGroup/SyncGroup/Heartbeat with the broker computing their assignment, and
//! ConsumerGroupDescribe lists them flagged as not upgraded (`member_type` 0).
//!
//! The roll: every member is replaced by one of the same client with the consumer protocol: three stop
//! cleanly before their replacement starts, one (a classic kafkaroo member, when the group is already
//! mixed) is killed, its partitions moving once its classic session (10 s) expired. After each step the
//! script waits until ConsumerGroupDescribe (DescribeGroups before the conversion) says Stable with
//! exactly the expected members, every partition assigned, every member owning some and reporting owning
//! just what the broker lists for it. ListGroups (v5 `group_type`) says `classic` before the first
//! consumer member and `consumer` from then on; at the end every member is listed as upgraded.
//!
//! Checked from what the members reported (`kafkaroo_tests::interop::checks`, as in `group_interop.rs`
//! without the leader checks): no partition owned by two members at once, every produced record
//! consumed, no delivery outside ownership or backwards within one, commits never going backwards (per
//! member, and the group's committed offsets sampled throughout, ending at the high watermarks),
//! duplicates only above the group's committed offset at the kill (or after a member's own failed
//! commit), no error reported by a kafkaroo member.
//!
//! Kafka 3.x disables the consumer protocol: there the test prints a SKIPPED line and passes.
//!
//! Raw member output goes to `<target>/tmp/group-interop-upgrade-<topic>/`. `--nocapture` prints the
//! script and the summary.

use kafkaroo::GroupProtocol;
use kafkaroo_testcontainers::Cluster;
use kafkaroo_tests::interop::members::ClientKind;
use kafkaroo_tests::interop::observer::GroupView;
use kafkaroo_tests::interop::script::{Run, RunOptions};

const PARTITIONS: i32 = 8;

/// Which members the view lists as still classic (ConsumerGroupDescribe v1 `member_type` 0).
fn classic_members(view: &GroupView) -> Vec<String> {
    let mut out: Vec<String> = view
        .members
        .iter()
        .filter(|m| m.upgraded == Some(false))
        .map(|m| m.client_id.clone())
        .collect();
    out.sort();
    out
}

#[test]
fn a_classic_group_of_kafkaroo_and_java_members_upgrades_online_to_the_consumer_protocol() {
    let cluster = Cluster::shared();
    let version = cluster.version().to_owned();
    if version.starts_with("3.") {
        println!(
            "SKIPPED: Kafka {version} disables group.protocol=consumer (KIP-848 needs Kafka 4.x), so a classic \
             group cannot be upgraded to it"
        );
        return;
    }
    let mut run = Run::new(
        cluster,
        RunOptions::new(
            "group_interop_upgrade",
            "interop-upgrade",
            PARTITIONS,
            env!("CARGO_TARGET_TMPDIR"),
            env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer"),
        ),
    );
    let consumer = GroupProtocol::Consumer;

    // The classic group: two kafkaroo and two Java members, cooperative-sticky.
    run.produce(1600);
    let roo1 = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&roo1]);
    // (Asked once the group has a coordinator: a fresh broker creates __consumer_offsets on first use.)
    let policy = run
        .runtime
        .block_on(run.observer.coordinator_config("group.consumer.migration.policy"))
        .unwrap_or_else(|e| panic!("reading group.consumer.migration.policy: {e:#}"));
    run.note(format!("group.consumer.migration.policy = {policy:?}"));
    assert!(
        matches!(policy.as_deref(), Some("bidirectional" | "upgrade")),
        "the broker must allow upgrading a classic group (group.consumer.migration.policy bidirectional or \
         upgrade), it says {policy:?}"
    );
    run.start_producing();
    let java1 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo1, &java1]);
    let roo2 = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&roo1, &java1, &roo2]);
    let java2 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo1, &java1, &roo2, &java2]);
    assert_eq!(run.group_type().as_deref(), Some("classic"));

    // kafkaroo first: the first consumer-protocol member converts the group.
    run.leave(&roo1);
    run.wait_stable(&[&java1, &roo2, &java2]);
    let roo3 = run.start_with(ClientKind::Kafkaroo, consumer);
    let view = run.wait_stable(&[&java1, &roo2, &java2, &roo3]);
    assert_eq!(run.group_type().as_deref(), Some("consumer"));
    let mut classic = vec![java1.clone(), java2.clone(), roo2.clone()];
    classic.sort();
    assert_eq!(classic_members(&view), classic, "{view:?}");

    // Java next.
    run.leave(&java1);
    run.wait_stable(&[&roo2, &java2, &roo3]);
    let java3 = run.start_with(ClientKind::Java, consumer);
    run.wait_stable(&[&roo2, &java2, &roo3, &java3]);

    // A classic kafkaroo member dies in the mixed group: the broker expires it after its classic
    // session timeout; its replacement speaks the consumer protocol.
    run.kill(&roo2);
    run.wait_stable(&[&java2, &roo3, &java3]);
    let roo4 = run.start_with(ClientKind::Kafkaroo, consumer);
    run.wait_stable(&[&java2, &roo3, &java3, &roo4]);

    // The last classic member.
    run.leave(&java2);
    run.wait_stable(&[&roo3, &java3, &roo4]);
    let java4 = run.start_with(ClientKind::Java, consumer);
    let view = run.wait_stable(&[&roo3, &java3, &roo4, &java4]);
    assert_eq!(run.group_type().as_deref(), Some("consumer"));
    assert!(
        view.members.iter().all(|m| m.upgraded == Some(true)),
        "every member speaks the consumer protocol: {view:?}"
    );

    // Done: let the group read everything, then everybody leaves.
    run.stop_producing();
    run.wait_caught_up();
    for name in [&roo3, &java3, &roo4, &java4] {
        run.leave(name);
    }

    let finished = run.finish(&[]);
    finished.assert_passed();
}
