//! `kafkaroo consume` and `kafkaroo group` against a secured real broker, with the same `-X` properties
//! kcat takes: the output equals kcat's where kcat can connect (PLAIN over SASL_SSL, mTLS; Debian's kcat
//! fails SCRAM against Kafka 4.x), and failures are one line that names the cause.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{Run, run};
use kafkaroo_testcontainers::{
    AclResource, ClientAuth, ProduceRequest, SaslMechanism, SecuredCluster, TestRecord, kcat_path,
};

fn cluster() -> &'static SecuredCluster {
    let cluster = SecuredCluster::shared();
    static ACLS: std::sync::Once = std::sync::Once::new();
    ACLS.call_once(|| {
        cluster
            .allow("alice", AclResource::TopicPrefix("cli-alice-"), "Read")
            .unwrap();
        cluster
            .allow("alice", AclResource::GroupPrefix("cli-alice-"), "Read")
            .unwrap();
        cluster
            .allow("alice", AclResource::GroupPrefix("cli-alice-"), "Describe")
            .unwrap();
    });
    cluster
}

/// Eight records with keys, headers and timestamps, written by the super user.
fn topic() -> &'static str {
    static TOPIC: OnceLock<String> = OnceLock::new();
    TOPIC.get_or_init(|| {
        let cluster = cluster();
        let topic = cluster.unique_topic("cli-alice-secured");
        cluster.create_topic(&topic, 1, 1, &[]).unwrap();
        let records = (0..8)
            .map(|i| {
                TestRecord::new(format!("k{i}"), format!("secret value {i}"))
                    .with_header("h", Some(b"x"))
                    .with_timestamp(1_700_000_000_000 + i)
            })
            .collect();
        cluster.produce(&ProduceRequest::new(&topic, records)).unwrap();
        topic
    })
}

/// `-b <listener> -X k=v ...` for `auth`, as kcat takes them.
fn connect_args(auth: ClientAuth<'_>) -> Vec<String> {
    let mut args = Vec::new();
    for (k, v) in cluster().librdkafka_configs(auth) {
        if k == "bootstrap.servers" {
            args.extend(["-b".to_owned(), v]);
        } else {
            args.extend(["-X".to_owned(), format!("{k}={v}")]);
        }
    }
    args
}

fn consume(program: &Path, auth: ClientAuth<'_>, kafkaroo: bool) -> Run {
    let mut args: Vec<String> = vec![if kafkaroo { "consume" } else { "-C" }.to_owned()];
    args.extend(connect_args(auth));
    args.extend(
        ["-t", topic(), "-o", "beginning", "-e", "-f", "%o %k %s %h %T\\n"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(program, &args)
}

fn kafkaroo_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kafkaroo"))
}

const ALICE: &str = "alice";

fn expected() -> String {
    (0..8)
        .map(|i| format!("{i} k{i} secret value {i} h=x {}\n", 1_700_000_000_000i64 + i))
        .collect()
}

#[test]
fn consume_over_every_listener_equals_kcat_where_kcat_connects() {
    let password = SecuredCluster::password(ALICE).unwrap();
    let with_kcat = [
        ClientAuth::SaslSsl {
            mechanism: SaslMechanism::Plain,
            user: ALICE,
            password,
        },
        ClientAuth::Ssl { principal: ALICE },
    ];
    for auth in with_kcat {
        let ours = consume(kafkaroo_bin(), auth, true);
        assert_eq!(ours.status, Some(0), "{auth:?}: {}", ours.stderr);
        assert_eq!(ours.text(), expected(), "{auth:?}");
        let theirs = consume(&kcat_path(), auth, false);
        assert_eq!(theirs.status, Some(0), "kcat {auth:?}: {}", theirs.stderr);
        assert_eq!(ours.stdout, theirs.stdout, "{auth:?}: same bytes as kcat");
    }
    let kafkaroo_only = [
        ClientAuth::SaslSsl {
            mechanism: SaslMechanism::ScramSha512,
            user: ALICE,
            password,
        },
        ClientAuth::SaslPlaintext {
            mechanism: SaslMechanism::ScramSha256,
            user: ALICE,
            password,
        },
        ClientAuth::SaslSsl {
            mechanism: SaslMechanism::OAuthBearer,
            user: ALICE,
            password,
        },
    ];
    for auth in kafkaroo_only {
        let ours = consume(kafkaroo_bin(), auth, true);
        assert_eq!(ours.status, Some(0), "{auth:?}: {}", ours.stderr);
        assert_eq!(ours.text(), expected(), "{auth:?}");
    }
}

#[test]
fn a_wrong_password_is_one_line_without_the_password() {
    let auth = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha512,
        user: ALICE,
        password: "wrong-password-123",
    };
    let r = consume(kafkaroo_bin(), auth, true);
    assert_eq!(r.status, Some(1), "{}", r.stderr);
    assert!(r.stderr.starts_with("% ERROR: "), "{}", r.stderr);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("SCRAM-SHA-512 authentication"), "{}", r.stderr);
    assert!(!r.stderr.contains("wrong-password-123"), "{}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {:?}",
        r.stderr
    );

    // A bad JAAS value is a usage error that does not echo the value (it holds a password).
    let mut args = vec!["consume", "-b", "127.0.0.1:1", "-t", "t"];
    args.extend([
        "-X",
        "sasl.jaas.config=PlainLoginModule required password=\"hunter2\"",
    ]);
    let r = run(kafkaroo_bin(), &args);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("sasl.jaas.config"), "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

#[test]
fn group_commands_work_over_sasl_ssl() {
    let password = SecuredCluster::password(ALICE).unwrap();
    let auth = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha256,
        user: ALICE,
        password,
    };
    let group = cluster().unique_topic("cli-alice-group");
    // Consume as a group member (commits what it printed), then describe the group.
    let mut args = vec!["consume".to_owned()];
    args.extend(connect_args(auth));
    args.extend(
        ["-G", &group, topic(), "-o", "beginning", "-e", "-f", "%o\\n"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    let r = run(
        kafkaroo_bin(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    assert_eq!(r.text().lines().count(), 8, "{}", r.text());

    let mut args = vec!["group".to_owned(), "describe".to_owned()];
    args.extend(connect_args(auth));
    args.push(group.clone());
    let r = run(
        kafkaroo_bin(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    let row = r
        .text()
        .lines()
        .find(|l| l.contains(topic()))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no row for the topic: {}", r.text()));
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &columns[..6],
        &[group.as_str(), topic(), "0", "8", "8", "0"],
        "{row}"
    );
}
