//! The consumer against a secured real Apache Kafka broker (`SecuredCluster`: SASL_SSL with PLAIN,
//! SCRAM-SHA-256/512 and OAUTHBEARER; SSL with client certificates required; SASL_PLAINTEXT; ACLs with
//! `allow.everyone.if.no.acl.found=false`). Every mechanism reads exact records; every failure is an
//! immediate error that names its cause.

use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, Error, TopicPartition};
use kafkaroo_testcontainers::{
    AclResource, KeyFormat, ProduceRequest, SecuredCluster, SecuredOptions, TestRecord,
};

fn cluster() -> &'static SecuredCluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = SecuredCluster::shared();
    static ACLS: std::sync::Once = std::sync::Once::new();
    ACLS.call_once(|| {
        // alice may read topics and groups named alice-*; bob may only describe bob-* topics.
        cluster
            .allow("alice", AclResource::TopicPrefix("alice-"), "Read")
            .unwrap();
        cluster
            .allow("alice", AclResource::GroupPrefix("alice-"), "Read")
            .unwrap();
        cluster
            .allow("bob", AclResource::TopicPrefix("bob-"), "Describe")
            .unwrap();
    });
    cluster
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A topic with `n` records, written by the super user over the PLAINTEXT admin listener.
fn topic_with_records(cluster: &SecuredCluster, prefix: &str, n: usize) -> (String, Vec<TestRecord>) {
    let topic = cluster.unique_topic(prefix);
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let records: Vec<TestRecord> = (0..n)
        .map(|i| TestRecord::new(format!("k{i}"), format!("secured value {i}")))
        .collect();
    cluster
        .produce(&ProduceRequest::new(&topic, records.clone()))
        .unwrap();
    (topic, records)
}

fn props<'a>(bootstrap: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
    ];
    p.extend_from_slice(extra);
    p
}

async fn consume_n(consumer: &mut Consumer, n: usize) -> Result<Vec<ConsumerRecord>, Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(500)).await?);
    }
    Ok(out)
}

/// Assigns partition 0 of `topic`, reads `records.len()` records and checks them one by one.
async fn reads_exactly(config: ConsumerConfig, topic: &str, records: &[TestRecord]) {
    let mut consumer = Consumer::new(config).await.expect("connect");
    consumer.assign([TopicPartition::new(topic, 0)]).unwrap();
    let got = consume_n(&mut consumer, records.len()).await.expect("poll");
    assert_eq!(got.len(), records.len());
    for (i, (g, s)) in got.iter().zip(records).enumerate() {
        assert_eq!(g.offset(), i as i64);
        assert_eq!(g.key(), s.key.as_deref());
        assert_eq!(g.value(), s.value.as_deref());
    }
    consumer.close().await;
}

#[test]
fn sasl_ssl_reads_with_every_mechanism() {
    let cluster = cluster();
    let (topic, records) = topic_with_records(cluster, "alice-mech", 25);
    let ca = cluster.ca_pem_path().display().to_string();
    let password = SecuredCluster::password("alice").unwrap();
    let rt = runtime();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let config = ConsumerConfig::from_properties(props(
            cluster.sasl_ssl_bootstrap(),
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanisms", mechanism),
                ("sasl.username", "alice"),
                ("sasl.password", password),
                ("ssl.ca.location", &ca),
            ],
        ))
        .unwrap();
        rt.block_on(reads_exactly(config, &topic, &records));
    }
    // OAUTHBEARER with an unsecured token for principal alice (Kafka's default broker validator).
    let config = ConsumerConfig::from_properties(props(
        cluster.sasl_ssl_bootstrap(),
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.config", "principal=alice"),
            ("ssl.ca.location", &ca),
        ],
    ))
    .unwrap();
    rt.block_on(reads_exactly(config, &topic, &records));
}

#[test]
fn a_java_jaas_config_is_understood() {
    let cluster = cluster();
    let (topic, records) = topic_with_records(cluster, "alice-jaas", 10);
    let ca = cluster.ca_pem_path().display().to_string();
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{}\";",
        SecuredCluster::password("alice").unwrap()
    );
    let config = ConsumerConfig::from_properties(props(
        cluster.sasl_ssl_bootstrap(),
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", &jaas),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca),
        ],
    ))
    .unwrap();
    assert!(
        !format!("{config:?}").contains("alice-secret"),
        "Debug shows the password"
    );
    runtime().block_on(reads_exactly(config, &topic, &records));
}

#[test]
fn mtls_reads_with_every_key_format() {
    let cluster = cluster();
    let (topic, records) = topic_with_records(cluster, "alice-mtls", 10);
    let ca = cluster.ca_pem_path().display().to_string();
    let cert = cluster.client_cert_path("alice").display().to_string();
    let rt = runtime();
    for format in [
        KeyFormat::Pkcs8,
        KeyFormat::Pkcs1OrSec1,
        KeyFormat::EncryptedPkcs8,
    ] {
        let key = cluster.client_key_path("alice", format).display().to_string();
        let mut extra = vec![
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("ssl.certificate.location", cert.as_str()),
            ("ssl.key.location", key.as_str()),
        ];
        if format == KeyFormat::EncryptedPkcs8 {
            extra.push(("ssl.key.password", cluster.encrypted_key_password()));
        }
        let config = ConsumerConfig::from_properties(props(cluster.ssl_bootstrap(), &extra)).unwrap();
        rt.block_on(reads_exactly(config, &topic, &records));
    }
}

#[test]
fn a_group_over_sasl_plaintext_commits_what_it_consumed() {
    let cluster = cluster();
    let (topic, records) = topic_with_records(cluster, "alice-group", 30);
    let group = cluster.unique_topic("alice-g");
    let password = SecuredCluster::password("alice").unwrap();
    let config = ConsumerConfig::from_properties(props(
        cluster.sasl_plaintext_bootstrap(),
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "alice"),
            ("sasl.password", password),
            ("group.id", &group),
            ("enable.auto.commit", "false"),
        ],
    ))
    .unwrap();
    runtime().block_on(async {
        let mut consumer = Consumer::new(config).await.unwrap();
        consumer.subscribe([topic.as_str()]).unwrap();
        let got = consume_n(&mut consumer, records.len()).await.unwrap();
        assert_eq!(got.len(), records.len());
        consumer.commit_sync(None).await.unwrap();
        let tp = TopicPartition::new(&topic, 0);
        let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
        assert_eq!(
            committed[&tp].as_ref().map(|o| o.offset),
            Some(records.len() as i64)
        );
        consumer.close().await;
    });
}

/// `Consumer::new` against `properties`, which must fail at once with a fatal error.
fn connect_error(properties: &[(&str, &str)]) -> Error {
    let config = ConsumerConfig::from_properties(properties.iter().copied()).unwrap();
    let started = std::time::Instant::now();
    let err = runtime()
        .block_on(Consumer::new(config))
        .expect_err("the connection must fail");
    eprintln!("connect error: {err}");
    assert!(err.is_fatal() && !err.is_retriable(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed after {:?}: a retry loop?",
        started.elapsed()
    );
    err
}

#[test]
fn a_wrong_password_is_named_with_the_brokers_message() {
    let cluster = cluster();
    let ca = cluster.ca_pem_path().display().to_string();
    for mechanism in ["PLAIN", "SCRAM-SHA-512"] {
        let err = connect_error(&[
            ("bootstrap.servers", cluster.sasl_ssl_bootstrap()),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", mechanism),
            ("sasl.username", "alice"),
            ("sasl.password", "not-the-password"),
            ("ssl.ca.location", &ca),
        ]);
        let text = err.to_string();
        assert!(
            text.contains("authentication") && text.contains(mechanism),
            "{text}"
        );
        assert!(
            text.contains("Authentication failed"),
            "the broker's message is missing: {text}"
        );
        assert!(!text.contains("not-the-password"), "{text}");
        assert!(err.error_code().is_some_and(|c| c.0 == 58), "{err:?}");
    }
}

#[test]
fn tls_failures_name_their_cause() {
    let cluster = cluster();
    // The broker's certificate is not signed by the CA we trust.
    let untrusted = cluster.untrusted_ca_pem().display().to_string();
    let err = connect_error(&[
        ("bootstrap.servers", cluster.ssl_bootstrap()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &untrusted),
    ]);
    assert!(err.to_string().contains("not signed by a trusted CA"), "{err}");
    assert!(err.to_string().contains("ssl.ca.location"), "{err}");

    // The SSL listener requires a client certificate.
    let ca = cluster.ca_pem_path().display().to_string();
    let err = connect_error(&[
        ("bootstrap.servers", cluster.ssl_bootstrap()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &ca),
    ]);
    assert!(err.to_string().contains("ssl.certificate.location"), "{err}");

    // A plaintext client on a TLS listener.
    let err = connect_error(&[("bootstrap.servers", cluster.ssl_bootstrap())]);
    assert!(
        err.to_string().contains("set security.protocol=SSL or SASL_SSL"),
        "{err}"
    );

    // A TLS client on a plaintext listener.
    let err = connect_error(&[
        ("bootstrap.servers", cluster.plaintext_bootstrap()),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &ca),
    ]);
    assert!(
        err.to_string()
            .contains("set security.protocol=PLAINTEXT or SASL_PLAINTEXT"),
        "{err}"
    );
}

#[test]
fn a_mechanism_the_listener_does_not_enable_is_named_with_the_enabled_ones() {
    let cluster = cluster();
    let err = connect_error(&[
        ("bootstrap.servers", cluster.sasl_plaintext_bootstrap()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.config", "principal=alice"),
    ]);
    let text = err.to_string();
    assert!(text.contains("OAUTHBEARER"), "{text}");
    assert!(text.contains("SCRAM-SHA-512") && text.contains("PLAIN"), "{text}");
}

fn scram(cluster: &SecuredCluster, user: &'static str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(cluster.sasl_plaintext_bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .security_protocol(kafkaroo::security::SecurityProtocol::SaslPlaintext)
        .sasl_credentials(
            kafkaroo::security::Mechanism::ScramSha512,
            user,
            SecuredCluster::password(user).unwrap(),
        )
        .build()
        .unwrap()
}

/// The first error `poll` reports for `tp` (within 20 s).
async fn first_poll_error(consumer: &mut Consumer) -> Error {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)).await {
            Err(e) => {
                eprintln!("poll error: {e}");
                return e;
            }
            Ok(batch) => assert!(batch.is_empty(), "records without READ permission"),
        }
    }
    panic!("no error within 20 s");
}

#[test]
fn missing_acls_name_the_resource_and_the_operation() {
    let cluster = cluster();
    let rt = runtime();
    // bob has no ACL at all on an alice- topic: not even DESCRIBE.
    let (alice_topic, _) = topic_with_records(cluster, "alice-acl", 3);
    // bob may DESCRIBE bob- topics but not READ them.
    let (bob_topic, _) = topic_with_records(cluster, "bob-acl", 3);
    for topic in [&alice_topic, &bob_topic] {
        let err = rt.block_on(async {
            let mut consumer = Consumer::new(scram(cluster, "bob")).await.unwrap();
            consumer.assign([TopicPartition::new(topic, 0)]).unwrap();
            first_poll_error(&mut consumer).await
        });
        let text = err.to_string();
        assert!(err.is_fatal(), "{err}");
        assert!(text.contains("TOPIC_AUTHORIZATION_FAILED"), "{text}");
        assert!(
            text.contains(&format!("{topic:?}")) && text.contains("READ"),
            "{text}"
        );
    }

    // alice may read her topic but not a group outside alice-*.
    let group = cluster.unique_topic("other-group");
    let err = rt.block_on(async {
        let mut config = scram(cluster, "alice");
        config.group_id = Some(group.clone());
        let mut consumer = Consumer::new(config).await.unwrap();
        consumer.subscribe([alice_topic.as_str()]).unwrap();
        first_poll_error(&mut consumer).await
    });
    let text = err.to_string();
    assert!(text.contains("GROUP_AUTHORIZATION_FAILED"), "{text}");
    assert!(text.contains(&group), "{text}");
}

/// KIP-368 against a real broker whose sessions last 3 s: one connection keeps serving requests for
/// three lifetimes, so it re-authenticated (the broker closes a connection whose session expired).
#[test]
fn connections_reauthenticate_before_the_session_expires() {
    let cluster = SecuredCluster::start(SecuredOptions {
        reauth_ms: Some(3000),
        ..SecuredOptions::default()
    })
    .expect("secured broker with connections.max.reauth.ms");
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", cluster.sasl_ssl_bootstrap()),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "admin"),
        ("sasl.password", SecuredCluster::password("admin").unwrap()),
        ("ssl.ca.location", &cluster.ca_pem_path().display().to_string()),
    ])
    .unwrap();
    let connection = kafkaroo_net::ConnectionConfig {
        security: config.security.clone(),
        ..kafkaroo_net::ConnectionConfig::default()
    };
    runtime().block_on(async {
        let addr = cluster.sasl_ssl_bootstrap();
        let conn = kafkaroo_net::Connection::connect(addr, None, connection)
            .await
            .unwrap();
        let request = kafkaroo_net::client::metadata_request(Some(&[]));
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut answered = 0;
        while tokio::time::Instant::now() < until {
            conn.send(&request)
                .await
                .unwrap_or_else(|e| panic!("request {answered} failed: {e}"));
            answered += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(!conn.is_closed());
        assert!(answered > 30, "{answered}");
    });
}
