//! The secured broker (TLS, mTLS, SASL PLAIN/SCRAM/OAUTHBEARER, ACLs), checked with reference clients
//! only: Kafka's Java client (through the Java helper) and kcat (librdkafka). Never kafkaroo.
//!
//! Prerequisites (java, openssl, kcat) are required: a missing one fails the test with the reason.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use kafkaroo_testcontainers::{
    AclResource, ClientAuth, Error, Isolation, KeyFormat, ProduceRequest, SaslMechanism, SecuredCluster,
    TestRecord, kcat_path,
};

fn cluster() -> &'static SecuredCluster {
    let start = Instant::now();
    let c = SecuredCluster::shared();
    eprintln!(
        "secured broker {} ready after {:?}: {c:?}",
        c.version(),
        start.elapsed()
    );
    c
}

fn records(prefix: &str, n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| TestRecord::new(format!("{prefix}-k{i}"), format!("{prefix}-v{i}")))
        .collect()
}

fn values(got: &[kafkaroo_testcontainers::ConsumedRecord]) -> Vec<String> {
    got.iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

fn password(user: &str) -> &'static str {
    SecuredCluster::password(user).unwrap()
}

/// A topic of alice's (alice may Describe, Write and Read topics starting with `alice-`).
fn alice_topic(c: &SecuredCluster) -> String {
    for op in ["Describe", "Write", "Read"] {
        c.allow("alice", AclResource::TopicPrefix("alice-"), op).unwrap();
    }
    let topic = c.unique_topic("alice");
    c.create_topic(&topic, 1, 1, &[]).unwrap();
    topic
}

fn tool_error_text(e: &Error) -> String {
    match e {
        Error::Tool { stderr, .. } => stderr.clone(),
        other => panic!("expected a Java client error, got {other}"),
    }
}

#[test]
fn java_scram_over_sasl_ssl_and_sasl_plaintext_with_acls() {
    let c = cluster();
    let topic = alice_topic(c);
    let as_alice_512 = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha512,
        user: "alice",
        password: password("alice"),
    };
    let sent = records("scram", 3);
    let positions = c
        .produce_as(as_alice_512, &ProduceRequest::new(&topic, sent.clone()))
        .unwrap();
    assert_eq!(
        positions.iter().map(|p| p.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    // Read back as alice with SCRAM-SHA-256 over SASL_PLAINTEXT, and with PLAIN over SASL_SSL.
    for auth in [
        ClientAuth::SaslPlaintext {
            mechanism: SaslMechanism::ScramSha256,
            user: "alice",
            password: password("alice"),
        },
        ClientAuth::SaslSsl {
            mechanism: SaslMechanism::Plain,
            user: "alice",
            password: password("alice"),
        },
    ] {
        let got = c
            .read_records_as(auth, &topic, 0, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(values(&got), ["scram-v0", "scram-v1", "scram-v2"], "{auth:?}");
    }

    // bob authenticates but has no ACL; a wrong password does not authenticate; admin is a super user.
    let as_bob = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha512,
        user: "bob",
        password: password("bob"),
    };
    let e = c
        .produce_as(as_bob, &ProduceRequest::new(&topic, records("bob", 1)))
        .unwrap_err();
    assert!(tool_error_text(&e).contains("TopicAuthorizationException"), "{e}");
    let e = c
        .read_records_as(as_bob, &topic, 0, Isolation::ReadUncommitted)
        .unwrap_err();
    assert!(tool_error_text(&e).contains("TopicAuthorizationException"), "{e}");
    let wrong = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha256,
        user: "alice",
        password: "not-alice-secret",
    };
    let e = c
        .produce_as(
            wrong,
            &ProduceRequest::new(&topic, records("wrong", 1)).producer_config("max.block.ms", "20000"),
        )
        .unwrap_err();
    assert!(tool_error_text(&e).contains("SaslAuthenticationException"), "{e}");
    let as_admin = ClientAuth::SaslPlaintext {
        mechanism: SaslMechanism::ScramSha512,
        user: "admin",
        password: password("admin"),
    };
    let got = c
        .read_records_as(as_admin, &topic, 0, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(got.len(), 3);
}

#[test]
fn scram_users_added_after_start_authenticate() {
    let c = cluster();
    let topic = alice_topic(c);
    // A name that SCRAM must escape (`=` and `,`), granted read access of its own.
    let user = "carol=x,y";
    c.add_scram_user(user, "carol-secret").unwrap();
    c.allow(user, AclResource::Topic(&topic), "Read").unwrap();
    c.produce(&ProduceRequest::new(&topic, records("admin", 2)))
        .unwrap();
    for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
        let auth = ClientAuth::SaslSsl {
            mechanism,
            user,
            password: "carol-secret",
        };
        let got = c
            .read_records_as(auth, &topic, 0, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(values(&got), ["admin-v0", "admin-v1"], "{mechanism:?}");
    }
}

#[test]
fn java_oauthbearer_unsecured_token_is_alice() {
    let c = cluster();
    let topic = alice_topic(c);
    let as_alice = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::OAuthBearer,
        user: "alice",
        password: "",
    };
    c.produce_as(as_alice, &ProduceRequest::new(&topic, records("oauth", 2)))
        .unwrap();
    let got = c
        .read_records_as(as_alice, &topic, 0, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(values(&got), ["oauth-v0", "oauth-v1"]);
    // The token's subject is the principal: bob's token may not read alice's topic.
    let as_bob = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::OAuthBearer,
        user: "bob",
        password: "",
    };
    let e = c
        .read_records_as(as_bob, &topic, 0, Isolation::ReadUncommitted)
        .unwrap_err();
    assert!(tool_error_text(&e).contains("TopicAuthorizationException"), "{e}");
    // OAUTHBEARER is enabled on SASL_SSL only.
    let plaintext = ClientAuth::SaslPlaintext {
        mechanism: SaslMechanism::OAuthBearer,
        user: "alice",
        password: "",
    };
    let e = c
        .produce_as(
            plaintext,
            &ProduceRequest::new(&topic, records("x", 1)).producer_config("max.block.ms", "20000"),
        )
        .unwrap_err();
    assert!(tool_error_text(&e).contains("UnsupportedSaslMechanism"), "{e}");
}

#[test]
fn java_mtls_principal_is_the_certificate_cn() {
    let c = cluster();
    let topic = alice_topic(c);
    let as_alice = ClientAuth::Ssl { principal: "alice" };
    c.produce_as(as_alice, &ProduceRequest::new(&topic, records("mtls", 2)))
        .unwrap();
    let got = c
        .read_records_as(as_alice, &topic, 0, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(values(&got), ["mtls-v0", "mtls-v1"]);

    // bob's certificate is valid (User:bob) but bob has no ACL.
    let e = c
        .read_records_as(
            ClientAuth::Ssl { principal: "bob" },
            &topic,
            0,
            Isolation::ReadUncommitted,
        )
        .unwrap_err();
    assert!(tool_error_text(&e).contains("TopicAuthorizationException"), "{e}");
    // mallory's certificate comes from a CA the broker does not trust: the handshake fails.
    let e = c
        .read_records_as(
            ClientAuth::Ssl { principal: "mallory" },
            &topic,
            0,
            Isolation::ReadUncommitted,
        )
        .unwrap_err();
    assert!(tool_error_text(&e).contains("SslAuthenticationException"), "{e}");
    // A client trusting only the untrusted CA rejects the broker's certificate.
    let mut configs = c.java_client_configs(ClientAuth::SaslSsl {
        mechanism: SaslMechanism::Plain,
        user: "alice",
        password: password("alice"),
    });
    for (k, v) in &mut configs {
        if k == "ssl.truststore.location" {
            *v = c.untrusted_ca_pem().display().to_string();
        }
    }
    let e = c
        .read_records_with(&topic, 0, Isolation::ReadUncommitted, &configs)
        .unwrap_err();
    let text = tool_error_text(&e);
    assert!(
        text.contains("SslAuthenticationException") && text.contains("PKIX"),
        "{e}"
    );
}

/// Runs kcat with `args`, `-b` and the librdkafka properties of `auth`, feeding `input`.
fn kcat(
    c: &SecuredCluster,
    auth: ClientAuth<'_>,
    extra: &[(&str, &str)],
    args: &[&str],
    input: &str,
) -> String {
    let kcat = kcat_path();
    let mut cmd = Command::new(&kcat);
    cmd.args(args);
    for (k, v) in c.librdkafka_configs(auth) {
        if k == "bootstrap.servers" {
            cmd.args(["-b", &v]);
        } else {
            cmd.args(["-X", &format!("{k}={v}")]);
        }
    }
    for (k, v) in extra {
        cmd.args(["-X", &format!("{k}={v}")]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "kcat ({}) is needed for this test and does not run: {e}; install it (apt-get install kcat) \
                 or set KAFKAROO_KCAT",
                kcat.display()
            )
        });
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?} ({auth:?}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kcat_plain_over_sasl_ssl_and_mtls_with_every_key_form() {
    let c = cluster();
    let topic = alice_topic(c);
    let plain = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::Plain,
        user: "alice",
        password: password("alice"),
    };
    kcat(
        c,
        plain,
        &[],
        &["-P", "-t", &topic, "-K", ":"],
        "k1:plain-1\nk2:plain-2\n",
    );
    let read = [
        "-C",
        "-t",
        &topic,
        "-p",
        "0",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k=%s\n",
    ];
    assert_eq!(kcat(c, plain, &[], &read, ""), "k1=plain-1\nk2=plain-2\n");

    // librdkafka's built-in unsecured JWT (OAUTHBEARER, sub=alice) over SASL_SSL. (Not SCRAM: Debian's
    // librdkafka 2.0.2 puts a wrong nonce in its client-final message, which Kafka 4.x rejects.)
    let oauth = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::OAuthBearer,
        user: "alice",
        password: "",
    };
    assert_eq!(kcat(c, oauth, &[], &read, ""), "k1=plain-1\nk2=plain-2\n");

    // mTLS as alice with the PKCS#8 key, the encrypted PKCS#8 key + password, the PKCS#1 key; and bob's
    // SEC1 key (bob may not read: only check that the handshake and metadata work).
    let mtls = ClientAuth::Ssl { principal: "alice" };
    assert_eq!(kcat(c, mtls, &[], &read, ""), "k1=plain-1\nk2=plain-2\n");
    let encrypted = c.client_key_path("alice", KeyFormat::EncryptedPkcs8);
    let encrypted = encrypted.to_str().unwrap();
    let with_encrypted = [
        ("ssl.key.location", encrypted),
        ("ssl.key.password", c.encrypted_key_password()),
    ];
    assert_eq!(
        kcat(c, mtls, &with_encrypted, &read, ""),
        "k1=plain-1\nk2=plain-2\n"
    );
    let pkcs1 = c.client_key_path("alice", KeyFormat::Pkcs1OrSec1);
    let with_pkcs1 = [("ssl.key.location", pkcs1.to_str().unwrap())];
    assert_eq!(kcat(c, mtls, &with_pkcs1, &read, ""), "k1=plain-1\nk2=plain-2\n");
    let sec1 = c.client_key_path("bob", KeyFormat::Pkcs1OrSec1);
    let as_bob = ClientAuth::Ssl { principal: "bob" };
    let listing = kcat(
        c,
        as_bob,
        &[("ssl.key.location", sec1.to_str().unwrap())],
        &["-L", "-J"],
        "",
    );
    assert!(
        listing.contains(c.ssl_bootstrap().rsplit(':').next().unwrap()),
        "{listing}"
    );
    // mTLS produce as alice, read back by the super user over PLAINTEXT with the Java client.
    kcat(c, mtls, &[], &["-P", "-t", &topic], "mtls-3\n");
    let got = c
        .read_records(
            &topic,
            0,
            Isolation::ReadUncommitted,
            kafkaroo_testcontainers::Reader::Java,
        )
        .unwrap();
    assert_eq!(values(&got), ["plain-1", "plain-2", "mtls-3"]);
}

fn pem_label(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap_or_default().to_owned()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn certificates_and_keys_have_the_promised_forms() {
    let c = cluster();
    let ca = c.ca_pem_path();
    let ca = ca.to_str().unwrap();
    for principal in ["alice", "bob"] {
        let cert = c.client_cert_path(principal);
        let verified = openssl(&["verify", "-CAfile", ca, cert.to_str().unwrap()]);
        assert!(verified.contains("OK"), "{verified}");
        let subject = openssl(&["x509", "-noout", "-subject", "-in", cert.to_str().unwrap()]);
        assert!(subject.contains(&format!("CN = {principal}")), "{subject}");
        assert_eq!(
            pem_label(&c.client_key_path(principal, KeyFormat::Pkcs8)),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert_eq!(
            pem_label(&c.client_key_path(principal, KeyFormat::EncryptedPkcs8)),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----"
        );
    }
    assert_eq!(
        pem_label(&c.client_key_path("alice", KeyFormat::Pkcs1OrSec1)),
        "-----BEGIN RSA PRIVATE KEY-----"
    );
    assert_eq!(
        pem_label(&c.client_key_path("bob", KeyFormat::Pkcs1OrSec1)),
        "-----BEGIN EC PRIVATE KEY-----"
    );
    // The encrypted key opens with the advertised password and is alice's key.
    let pass = format!("pass:{}", c.encrypted_key_password());
    let decrypted = openssl(&[
        "pkey",
        "-in",
        c.client_key_path("alice", KeyFormat::EncryptedPkcs8)
            .to_str()
            .unwrap(),
        "-passin",
        &pass,
    ]);
    let plain = std::fs::read_to_string(c.client_key_path("alice", KeyFormat::Pkcs8)).unwrap();
    assert_eq!(decrypted, plain);
    // The broker's certificate names 127.0.0.1 and localhost; mallory's is not from our CA.
    let broker = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        c.broker_cert_path().to_str().unwrap(),
    ]);
    assert!(
        broker.contains("IP Address:127.0.0.1") && broker.contains("DNS:localhost"),
        "{broker}"
    );
    let out = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            ca,
            c.client_cert_path("mallory").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let untrusted = c.untrusted_ca_pem();
    let verified = openssl(&[
        "verify",
        "-CAfile",
        untrusted.to_str().unwrap(),
        c.client_cert_path("mallory").to_str().unwrap(),
    ]);
    assert!(verified.contains("OK"), "{verified}");
}
