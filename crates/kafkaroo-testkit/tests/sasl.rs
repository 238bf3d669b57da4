//! The client's SASL exchange against a fake broker that misbehaves on purpose: an impostor's SCRAM
//! signature, a refusal, a mechanism the listener does not enable, and KIP-368 re-authentication under
//! load (no request may slip in between the re-authentication's messages).

use std::time::{Duration, Instant};

use kafkaroo_net::sasl::{Credentials, Mechanism, SaslConfig};
use kafkaroo_net::{Connection, ConnectionConfig, Error, SecurityConfig, SecurityProtocol};
use kafkaroo_testkit::{FakeSaslBroker, SaslBehaviour};
use kafkaroo_wire::messages::MetadataRequest;

fn sasl(mechanism: Mechanism) -> ConnectionConfig {
    ConnectionConfig {
        security: SecurityConfig {
            protocol: SecurityProtocol::SaslPlaintext,
            tls: None,
            sasl: Some(SaslConfig {
                mechanism,
                credentials: Some(Credentials {
                    username: "alice".to_owned(),
                    password: "alice-secret".into(),
                }),
                token_provider: None,
            }),
        },
        ..ConnectionConfig::default()
    }
}

#[tokio::test]
async fn a_forged_scram_server_signature_is_refused() {
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
        let broker = FakeSaslBroker::start(SaslBehaviour::ForgedScramSignature)
            .await
            .unwrap();
        let err = Connection::connect(broker.addr(), None, sasl(mechanism))
            .await
            .expect_err("an impostor's signature must fail the connection");
        assert!(matches!(err, Error::Sasl { .. }), "{mechanism:?}: {err:?}");
        assert!(err.is_fatal() && !err.is_retriable(), "{err}");
        let text = err.to_string();
        assert!(text.contains("server signature"), "{text}");
        assert!(!text.contains("alice-secret"), "the password leaked: {text}");
        assert_eq!(broker.log().authentications, 0);
    }
}

#[tokio::test]
async fn refused_credentials_name_the_broker_message_once() {
    let broker = FakeSaslBroker::start(SaslBehaviour::Refuse(
        "Authentication failed: Invalid username or password".to_owned(),
    ))
    .await
    .unwrap();
    let err = Connection::connect(broker.addr(), None, sasl(Mechanism::Plain))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(err.is_fatal());
    let text = err.to_string();
    assert_eq!(text.matches("Invalid username or password").count(), 1, "{text}");
    assert!(text.contains("sasl.username"), "{text}");
    assert!(!text.contains("alice-secret"), "{text}");
}

#[tokio::test]
async fn a_mechanism_the_listener_does_not_enable_lists_the_enabled_ones() {
    let broker = FakeSaslBroker::start(SaslBehaviour::Mechanisms(vec![
        "SCRAM-SHA-512".to_owned(),
        "OAUTHBEARER".to_owned(),
    ]))
    .await
    .unwrap();
    let err = Connection::connect(broker.addr(), None, sasl(Mechanism::Plain))
        .await
        .unwrap_err();
    match &err {
        Error::SaslMechanism {
            mechanism, enabled, ..
        } => {
            assert_eq!(*mechanism, "PLAIN");
            assert_eq!(enabled, &["SCRAM-SHA-512", "OAUTHBEARER"]);
        }
        other => panic!("expected SaslMechanism, got {other:?}"),
    }
    assert!(err.to_string().contains("SCRAM-SHA-512, OAUTHBEARER"), "{err}");
}

#[tokio::test]
async fn the_consumer_fails_at_once_on_refused_credentials() {
    let broker = FakeSaslBroker::start(SaslBehaviour::Refuse("bad password".to_owned()))
        .await
        .unwrap();
    let config = kafkaroo::ConsumerConfig::from_properties([
        ("bootstrap.servers", broker.addr()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ])
    .unwrap();
    assert!(
        !format!("{config:?}").contains("alice-secret"),
        "Debug shows the password"
    );
    let started = Instant::now();
    let err = kafkaroo::Consumer::new(config).await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("bad password"), "{err}");
    // One attempt, not a retry loop: the broker saw exactly one refused exchange per candidate address.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_holds_other_requests_back_and_never_fails_them() {
    let broker = FakeSaslBroker::start(SaslBehaviour::AcceptPlain {
        session_lifetime_ms: 200,
    })
    .await
    .unwrap();
    let conn = Connection::connect(broker.addr(), None, sasl(Mechanism::Plain))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut sent = 0;
    let request = MetadataRequest::default();
    while Instant::now() < deadline {
        // Several in flight at once, so re-authentication starts with requests outstanding.
        let requests = (0..4).map(|_| conn.send(&request));
        for result in futures_util::future::join_all(requests).await {
            result.expect("no request may fail because of re-authentication");
            sent += 1;
        }
    }
    let log = broker.log();
    assert!(
        log.authentications >= 5,
        "a 200 ms session lifetime over 1.5 s must re-authenticate several times: {log:?}"
    );
    assert!(
        log.interleaved.is_empty(),
        "requests slipped into a re-authentication: {log:?}"
    );
    assert_eq!(log.metadata_requests, sent);
    assert!(!conn.is_closed());
}
