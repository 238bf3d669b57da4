//! Interop against the real broker with KIP-848's consumer group protocol (issue 13): one group with
//! `group.protocol=consumer` whose members are kafkaroo (`kafkaroo-verifiable-consumer --property
//! group.protocol=consumer`) and Kafka's Java `VerifiableConsumer` (`--group-protocol consumer`), the
//! broker computing the assignment (its default assignor), while members join, leave cleanly and are
//! killed, and records are produced throughout (in the background). The protocol has no group leader;
//! the broker gives a partition to its next owner only once the previous owner acknowledged revoking it
//! or its session expired (the broker's `group.consumer.session.timeout.ms`: 45 s by default, 10 s in
//! the test harness's brokers; it bounds how fast a killed member's partitions move).
//!
//! The script waits after each step until the group settled: ConsumerGroupDescribe (DescribeGroups does
//! not describe these groups) says Stable (every member reached its target assignment) with exactly the
//! expected members, every partition assigned and every member owning some, and each member reports
//! owning just what the broker lists for it.
//!
//! Checked from what the members reported (`kafkaroo_tests::interop::checks`, as in
//! `group_interop.rs` without the leader checks): no partition owned by two members at once, every
//! produced record consumed, no delivery outside ownership or backwards within one, commits never going
//! backwards (per member, and the group's committed offsets sampled throughout, ending at the high
//! watermarks), duplicates only above the group's committed offset at the kill of the member that read
//! them first (or after that member's own failed commit), what a killed member read above that offset
//! read again by another, no error reported by a kafkaroo member.
//!
//! Kafka 3.x disables the consumer protocol: there the test asserts that a kafkaroo member reports the
//! clear error naming `group.protocol=classic` and prints a SKIPPED line for the rest.
//!
//! Raw member output goes to `<target>/tmp/group-interop-kip848-<topic>/`. `--nocapture` prints the
//! script and the summary.

use kafkaroo::GroupProtocol;
use kafkaroo_testcontainers::Cluster;
use kafkaroo_tests::interop::members::ClientKind;
use kafkaroo_tests::interop::script::{Run, RunOptions};

const PARTITIONS: i32 = 8;

#[test]
fn kafkaroo_and_java_members_share_a_consumer_protocol_group() {
    let cluster = Cluster::shared();
    let mut options = RunOptions::new(
        "group_interop_kip848",
        "interop-kip848",
        PARTITIONS,
        env!("CARGO_TARGET_TMPDIR"),
        env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer"),
    );
    options.group_protocol = GroupProtocol::Consumer;
    let mut run = Run::new(cluster, options);
    let version = cluster.version().to_owned();

    if version.starts_with("3.") {
        // Kafka 3.9 lists ConsumerGroupHeartbeat but has the protocol disabled: a clear fatal error.
        let roo = run.start(ClientKind::Kafkaroo);
        run.wait_error(&roo, "group.protocol=classic");
        println!(
            "SKIPPED: Kafka {version} disables group.protocol=consumer (KIP-848 needs Kafka 4.x); asserted \
             the kafkaroo member's clear error instead"
        );
        return;
    }

    run.produce(1600);
    let roo1 = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&roo1]);
    run.start_producing();
    let java1 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo1, &java1]);
    let roo2 = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&roo1, &java1, &roo2]);

    // Java dies: its partitions move once its session expired; a new Java member joins.
    run.kill(&java1);
    run.wait_stable(&[&roo1, &roo2]);
    let java2 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo1, &roo2, &java2]);

    // A kafkaroo member leaves cleanly; another Java member joins.
    run.leave(&roo1);
    run.wait_stable(&[&roo2, &java2]);
    let java3 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo2, &java2, &java3]);

    // kafkaroo dies; its replacement joins before the session of the dead one expired.
    run.kill(&roo2);
    let roo3 = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&java2, &java3, &roo3]);

    // Java leaves cleanly while records keep coming; then the last ones once the group read everything.
    run.leave(&java2);
    run.wait_stable(&[&java3, &roo3]);
    run.stop_producing();
    run.wait_caught_up();
    run.leave(&java3);
    run.wait_stable(&[&roo3]);
    run.wait_caught_up();
    run.leave(&roo3);

    let finished = run.finish(&[]);
    finished.assert_passed();
}
