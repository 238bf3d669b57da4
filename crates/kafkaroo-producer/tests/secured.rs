//! The producer over TLS and SASL (the consumer's security code, through kafkaroo-net), against a real
//! secured broker: SASL_SSL with PLAIN and SCRAM, and a missing Write ACL reported as a fatal error.

use std::time::Duration;

use kafkaroo_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use kafkaroo_testcontainers::{AclResource, Isolation, Reader, SecuredCluster};
use kafkaroo_wire::ErrorCode;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(cluster: &SecuredCluster, user: &str, mechanism: &str, ca: &str) -> ProducerConfig {
    ProducerConfig::from_properties([
        ("bootstrap.servers", cluster.sasl_ssl_bootstrap()),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", SecuredCluster::password(user).unwrap()),
        ("ssl.ca.location", ca),
        ("max.block.ms", "10000"),
        ("delivery.timeout.ms", "40000"),
    ])
    .unwrap()
}

#[test]
fn sasl_ssl_produces_and_a_missing_acl_is_fatal() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = SecuredCluster::shared();
    for operation in ["Write", "Describe"] {
        cluster
            .allow("alice", AclResource::TopicPrefix("alice-produce-"), operation)
            .unwrap();
    }
    cluster
        .allow("bob", AclResource::TopicPrefix("bob-produce-"), "Describe")
        .unwrap();
    let ca = cluster.ca_pem_path().display().to_string();
    let topic = cluster.unique_topic("alice-produce-");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let rt = runtime();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        rt.block_on(async {
            let producer = Producer::new(config(cluster, "alice", mechanism, &ca))
                .await
                .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
            for i in 0..10 {
                let value = format!("{mechanism} {i}");
                let record = ProducerRecord::new(&topic).key(b"k").value(value.as_bytes());
                producer.send(record).await.unwrap().await.unwrap();
            }
            producer.close(Duration::from_secs(5)).await;
        });
    }
    let read = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    assert_eq!(read.len(), 30);
    assert_eq!(read[29].value.as_deref(), Some(&b"SCRAM-SHA-512 9"[..]));

    // bob may describe his topics but not write them: the error names the ACL and is fatal.
    let topic = cluster.unique_topic("bob-produce-");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let mut config = config(cluster, "bob", "SCRAM-SHA-256", &ca);
    config.enable_idempotence = false;
    let error = rt.block_on(async {
        let producer = Producer::new(config).await.unwrap();
        let delivery = producer.send(ProducerRecord::new(&topic).value(b"v")).await;
        let error = match delivery {
            Ok(d) => d.await.unwrap_err(),
            Err(e) => e,
        };
        producer.close(Duration::from_secs(1)).await;
        error
    });
    assert_eq!(
        error.error_code(),
        Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
        "{error}"
    );
    assert!(error.is_fatal() && !error.is_retriable(), "{error}");
    assert!(matches!(error, Error::Broker { .. } | Error::Fatal(_)), "{error}");
}
