//! Interop against the real broker: one cooperative-sticky consumer group whose members are kafkaroo
//! (`kafkaroo-verifiable-consumer`), Kafka's Java `VerifiableConsumer` and kcat (librdkafka), while
//! members join, leave cleanly and are killed, and records are produced throughout (in the background). The script makes
//! each client the group leader at least once (in the classic protocol the first member of an empty group
//! leads, and the leader keeps leading while it stays; a member left alone leads).
//!
//! Checked from what the members reported (`kafkaroo_tests::interop::checks`): no partition owned by
//! two members at once, every produced record consumed, no delivery outside ownership or backwards within
//! one, commits never going backwards (per member and the group's committed offsets sampled throughout),
//! duplicates only above the last commit of a killed member, and each client led a generation (from the
//! kafkaroo members' `group_state` leader ids, mapped to clients with DescribeGroups).
//!
//! Raw member output goes to `<target>/tmp/group-interop-<topic>/`. `--nocapture` prints the script and
//! the summary.

use kafkaroo_testcontainers::Cluster;
use kafkaroo_tests::interop::members::ClientKind;
use kafkaroo_tests::interop::script::{Run, RunOptions, kind_of};

const PARTITIONS: i32 = 8;

/// The kcat member needs incremental (cooperative) assignment: kcat 1.7+ built with librdkafka 1.6+.
fn require_incremental_kcat() {
    let kcat = kafkaroo_testcontainers::kcat_path();
    let out = std::process::Command::new(&kcat)
        .arg("-V")
        .output()
        .unwrap_or_else(|e| panic!("running {} -V: {e}", kcat.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("IncrementalAssign"),
        "{} does not support cooperative rebalancing (no IncrementalAssign in `kcat -V`): {version}",
        kcat.display()
    );
}

#[test]
fn kafkaroo_java_and_kcat_members_share_a_cooperative_group() {
    require_incremental_kcat();
    let cluster = Cluster::shared();
    let mut run = Run::new(
        cluster,
        RunOptions::new(
            "group_interop",
            "interop",
            PARTITIONS,
            env!("CARGO_TARGET_TMPDIR"),
            env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer"),
        ),
    );

    // kcat founds the group and leads while it stays.
    run.produce(1600);
    let kcat1 = run.start(ClientKind::Kcat);
    run.wait_stable(&[&kcat1]);
    run.start_producing();
    let roo1 = run.start(ClientKind::Kafkaroo);
    let view = run.wait_stable(&[&kcat1, &roo1]);
    run.leader_seen_by(&roo1, &view);
    let java1 = run.start(ClientKind::Java);
    let view = run.wait_stable(&[&kcat1, &roo1, &java1]);
    run.leader_seen_by(&roo1, &view);

    // The leader dies: the coordinator picks one of the others.
    run.kill(&kcat1);
    let view = run.wait_stable(&[&roo1, &java1]);
    let leader = run.leader_seen_by(&roo1, &view);
    // The current leader leaves cleanly; the one left alone leads, and keeps leading when a new member
    // of the other client joins (which, if kafkaroo, reports it).
    let (java, roo) = if kind_of(&leader) == ClientKind::Java {
        run.leave(&java1);
        run.wait_stable(&[&roo1]);
        let java2 = run.start(ClientKind::Java);
        let view = run.wait_stable(&[&roo1, &java2]);
        run.leader_seen_by(&roo1, &view);
        (java2, roo1)
    } else {
        run.leave(&roo1);
        run.wait_stable(&[&java1]);
        let roo2 = run.start(ClientKind::Kafkaroo);
        let view = run.wait_stable(&[&java1, &roo2]);
        run.leader_seen_by(&roo2, &view);
        (java1, roo2)
    };
    let kcat2 = run.start(ClientKind::Kcat);
    let view = run.wait_stable(&[&roo, &java, &kcat2]);
    run.leader_seen_by(&roo, &view);

    // Java dies and is replaced.
    run.kill(&java);
    let view = run.wait_stable(&[&roo, &kcat2]);
    run.leader_seen_by(&roo, &view);
    let java3 = run.start(ClientKind::Java);
    run.wait_stable(&[&roo, &kcat2, &java3]);

    // kafkaroo dies; its replacement joins before the session of the dead one expired.
    run.kill(&roo);
    let roo3 = run.start(ClientKind::Kafkaroo);
    let view = run.wait_stable(&[&kcat2, &java3, &roo3]);
    run.leader_seen_by(&roo3, &view);

    // kcat leaves only once the group caught up: after its SIGTERM, kcat drops (does not print) a record
    // its last poll returned, but librdkafka already stored its offset and commits it on close.
    run.pause_producing();
    run.wait_caught_up();
    run.leave(&kcat2);
    run.resume_producing();
    let view = run.wait_stable(&[&java3, &roo3]);
    run.leader_seen_by(&roo3, &view);
    run.leave(&java3);
    run.wait_stable(&[&roo3]);
    run.stop_producing();
    run.wait_caught_up();
    run.leave(&roo3);

    let finished = run.finish(&[ClientKind::Kafkaroo, ClientKind::Java, ClientKind::Kcat]);
    finished.assert_passed();
}
