//! One consumer group shared by kafkaroo and Kafka's Java consumer over SASL_SSL: both members
//! authenticate as alice with SCRAM-SHA-512 on the `SecuredCluster`'s SASL_SSL listener (TLS trusting the
//! harness' CA), where alice may only Read the topic and group prefix `secured-interop-`; the records are
//! produced by the super user on the PLAINTEXT admin listener, which the observer also reads the group
//! through.
//!
//! The group is cooperative-sticky over the classic protocol (Java's `VerifiableConsumer` with
//! `--group-protocol classic`). kafkaroo founds the group and leads, Java joins while records are
//! produced, both consume, kafkaroo leaves cleanly (Java, left alone, takes every partition and leads),
//! Java consumes alone for a while, the producer stops, Java reads to the end and leaves. Checked (`kafkaroo_tests::interop::checks`, as in `group_interop.rs`): every record
//! consumed, no partition owned by two members at once, no delivery outside ownership, duplicates only
//! where explained, commits never going back and equal to the high watermarks at the end, both clients led
//! a generation; and here explicitly: both members were assigned partitions, and the committed offsets
//! equal the log end.
//!
//! Raw member output goes to `<target>/tmp/group-interop-secured-<topic>/`.

use kafkaroo_testcontainers::{AclResource, ClientAuth, SaslMechanism, SecuredCluster};
use kafkaroo_tests::interop::members::{ClientKind, EventKind};
use kafkaroo_tests::interop::script::{Run, RunOptions};

const PARTITIONS: i32 = 4;
/// The topic is `secured-interop-<n>`, the group `<topic>-group`: alice may read both.
const PREFIX: &str = "secured-interop";
const USER: &str = "alice";

#[test]
fn kafkaroo_and_java_share_a_group_over_sasl_ssl() {
    let cluster = SecuredCluster::shared();
    let grants = [
        AclResource::TopicPrefix("secured-interop-"),
        AclResource::GroupPrefix("secured-interop-"),
    ];
    for resource in grants {
        cluster
            .allow(USER, resource, "Read")
            .unwrap_or_else(|e| panic!("granting {USER} Read on {resource:?}: {e}"));
    }
    let password = SecuredCluster::password(USER).expect("alice's password");
    let ca = cluster.ca_pem_path().display().to_string();
    let kafkaroo_properties = [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", USER),
        ("sasl.password", password),
        ("ssl.ca.location", ca.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let java_properties: Vec<(String, String)> = cluster
        .java_client_configs(ClientAuth::SaslSsl {
            mechanism: SaslMechanism::ScramSha512,
            user: USER,
            password,
        })
        .into_iter()
        .filter(|(k, _)| k != "bootstrap.servers")
        .collect();
    let mut options = RunOptions::new(
        "group_interop_secured",
        PREFIX,
        PARTITIONS,
        env!("CARGO_TARGET_TMPDIR"),
        env!("CARGO_BIN_EXE_kafkaroo-verifiable-consumer"),
    );
    options.member_bootstrap = Some(cluster.sasl_ssl_bootstrap().to_owned());
    options.kafkaroo_properties = kafkaroo_properties;
    options.java_properties = java_properties;
    let mut run = Run::new(cluster.admin(), options);
    run.note(format!(
        "members: SASL_SSL SCRAM-SHA-512 as {USER} (Read on {grants:?} only)"
    ));

    // kafkaroo founds the group and leads while it stays; Java joins while records keep coming.
    run.produce(400);
    let roo = run.start(ClientKind::Kafkaroo);
    run.wait_stable(&[&roo]);
    run.start_producing();
    let java = run.start(ClientKind::Java);
    let view = run.wait_stable(&[&roo, &java]);
    run.leader_seen_by(&roo, &view);
    run.wait_each_consumes(&[&roo, &java], 200);

    // kafkaroo leaves cleanly (revoke, commit, LeaveGroup) while records are produced: Java takes over
    // every partition and leads.
    run.leave(&roo);
    run.wait_stable(&[&java]);
    run.wait_each_consumes(&[&java], 400);
    run.stop_producing();
    run.wait_caught_up();
    run.leave(&java);

    let finished = run.finish(&[ClientKind::Kafkaroo, ClientKind::Java]);
    for log in &finished.logs {
        let assigned: Vec<&Vec<i32>> = log
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Assigned(p) if !p.is_empty() => Some(p),
                _ => None,
            })
            .collect();
        assert!(
            !assigned.is_empty(),
            "{} was never assigned a partition (raw output in {})",
            log.name,
            finished.dir.display()
        );
        println!("{}: {} assigned {assigned:?}", finished.tag, log.name);
    }
    assert_eq!(
        finished.facts.final_committed, finished.facts.end_offsets,
        "the group's committed offsets after the run are the log end"
    );
    finished.assert_passed();
}
