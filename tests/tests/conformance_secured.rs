//! The protocol conformance suite over the secured listeners of the harness' `SecuredCluster`: every
//! request the suite checks goes through kafkaroo's TLS and SASL (its `Client` and bootstrap `Connection`
//! carry a `SecurityConfig`), while its records are still produced by the Java producer on the broker's
//! PLAINTEXT admin listener.
//!
//! - `conformance_over_sasl_ssl`: SASL_SSL, SCRAM-SHA-512, as the super user `admin`.
//! - `conformance_over_mtls`: SSL with alice's client certificate (principal `User:alice`, not a super
//!   user), granted ALL on the topic prefix and the group prefix `kr-conf-` and nothing else.
//!
//! Each fails if a row failed, and unless it checked the same rows (API, version, kind of outcome) as the
//! plain suite run on the same broker's PLAINTEXT listener (once per process), so a secured run cannot
//! silently check less; then Metadata of a topic outside the grants shows whose principal the
//! connections have (admin sees it, alice gets TOPIC_AUTHORIZATION_FAILED). The runs take turns. Tables go to `<target>/conformance-<kafka version>-{sasl_ssl,mtls}.txt`.

use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use kafkaroo_net::{Client, ClientConfig};
use kafkaroo_testcontainers::{AclResource, KeyFormat, SecuredCluster};
use kafkaroo_tests::conformance::{self, Endpoint, Report};
use kafkaroo_wire::ErrorCode;

/// The prefix of every topic and group the suite creates.
const SUITE_PREFIX: &str = "kr-conf-";
/// The mTLS principal: the CN of the client certificate (`ssl.principal.mapping.rules`).
const CERT_PRINCIPAL: &str = "alice";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn cluster() -> &'static SecuredCluster {
    let cluster = SecuredCluster::shared();
    static ACLS: Once = Once::new();
    ACLS.call_once(|| {
        for resource in [
            AclResource::TopicPrefix(SUITE_PREFIX),
            AclResource::GroupPrefix(SUITE_PREFIX),
        ] {
            cluster
                .allow(CERT_PRINCIPAL, resource, "All")
                .unwrap_or_else(|e| panic!("granting {CERT_PRINCIPAL} ALL on {resource:?}: {e}"));
        }
    });
    cluster
}

/// The plain suite on the same broker's PLAINTEXT listener: the rows the secured runs must match.
fn baseline() -> &'static Report {
    static BASELINE: OnceLock<Report> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let cluster = cluster();
        let report = runtime()
            .block_on(conformance::run(cluster.admin()))
            .unwrap_or_else(|e| panic!("the PLAINTEXT baseline run could not run: {e:#}"));
        println!("baseline: {}", report.summary());
        assert!(
            report.failures().is_empty(),
            "the PLAINTEXT baseline run on the secured broker failed:\n{}\n{}",
            report.summary(),
            report.failure_lines()
        );
        report
    })
}

/// Metadata of a topic outside the suite's prefix (created by the super user), as `endpoint`'s principal
/// sees it: the error code of the topic.
async fn probe_outside_grants(topic: &str, endpoint: &Endpoint) -> anyhow::Result<i16> {
    let mut config = ClientConfig::new(&endpoint.bootstrap)?;
    config.connection.security = endpoint.security.clone();
    let client = Client::connect(config).await?;
    let conn = client.any_connection().await?;
    let req = kafkaroo_net::client::metadata_request(Some(&[topic]));
    let resp = conn.send(&req).await?;
    Ok(resp.topics.first().map_or(-999, |t| t.error_code))
}

/// Runs the suite on `endpoint`, publishes the table, checks it against the baseline, and checks that
/// the connections' principal sees a topic outside the grants as `outside` says.
fn run_secured(endpoint: Endpoint, file_tag: &str, outside: ErrorCode) {
    let cluster = cluster();
    // One suite run at a time: on Kafka 3.x (the classic group coordinator) deleting a topic drops every
    // Empty group without offsets, so one run's DeleteTopics checks and cleanup would make another's
    // fresh groups vanish (JoinGroup's rejoin answers UNKNOWN_MEMBER_ID, a left group is Dead).
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let began = Instant::now();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = baseline();
    let waited = began.elapsed();
    let rt = runtime();
    let report = rt
        .block_on(conformance::run_on(cluster.admin(), endpoint.clone()))
        .unwrap_or_else(|e| panic!("conformance suite over {} could not run: {e:#}", endpoint.label));
    report.publish(
        env!("CARGO_TARGET_TMPDIR"),
        &format!("conformance-{}-{file_tag}.txt", report.kafka_version),
    );
    println!(
        "{file_tag}: the PLAINTEXT baseline took {:.1}s (waited {:.1}s for it and the other run), this \
         run {:.1}s",
        baseline.elapsed.as_secs_f64(),
        waited.as_secs_f64(),
        report.elapsed.as_secs_f64()
    );
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        report.failure_lines()
    );
    let (secured, plain) = (report.checked(), baseline.checked());
    if secured != plain {
        let only = |a: &[(String, Option<i16>, &str)], b: &[(String, Option<i16>, &str)]| {
            a.iter()
                .filter(|r| !b.contains(r))
                .map(|(api, v, kind)| format!("{api} v{v:?} {kind}"))
                .collect::<Vec<_>>()
        };
        panic!(
            "over {} the suite checked other rows than over PLAINTEXT ({} vs {} rows): only secured: {:?}; \
             only PLAINTEXT: {:?}",
            endpoint.label,
            secured.len(),
            plain.len(),
            only(&secured, &plain),
            only(&plain, &secured)
        );
    }
    let probe = cluster.unique_topic("secured-probe");
    cluster
        .create_topic(&probe, 1, 1, &[])
        .unwrap_or_else(|e| panic!("creating {probe}: {e}"));
    let seen = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), probe_outside_grants(&probe, &endpoint)).await
        })
        .unwrap_or_else(|_| panic!("the principal probe over {} hung", endpoint.label))
        .unwrap_or_else(|e| panic!("the principal probe over {}: {e:#}", endpoint.label));
    assert_eq!(
        seen,
        outside.0,
        "over {}: Metadata of a topic outside the grants answered {}, expected {}",
        endpoint.label,
        ErrorCode(seen).name(),
        outside.name()
    );
    println!(
        "{file_tag}: {} rows, the same as over PLAINTEXT; a topic outside the grants: {}",
        secured.len(),
        outside.name()
    );
}

#[test]
fn conformance_over_sasl_ssl() {
    let cluster = cluster();
    let ca = cluster.ca_pem_path().display().to_string();
    let password = SecuredCluster::password("admin").expect("admin's password");
    let endpoint = Endpoint::secured(
        cluster.sasl_ssl_bootstrap(),
        "SASL_SSL SCRAM-SHA-512 as admin",
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "admin"),
            ("sasl.password", password),
            ("ssl.ca.location", ca.as_str()),
        ],
    )
    .expect("security configuration");
    // admin is a super user: it sees every topic.
    run_secured(endpoint, "sasl_ssl", ErrorCode::NONE);
}

#[test]
fn conformance_over_mtls() {
    let cluster = cluster();
    let ca = cluster.ca_pem_path().display().to_string();
    let cert = cluster.client_cert_path(CERT_PRINCIPAL).display().to_string();
    let key = cluster
        .client_key_path(CERT_PRINCIPAL, KeyFormat::Pkcs8)
        .display()
        .to_string();
    let endpoint = Endpoint::secured(
        cluster.ssl_bootstrap(),
        &format!("SSL (mTLS) as {CERT_PRINCIPAL}"),
        [
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("ssl.certificate.location", cert.as_str()),
            ("ssl.key.location", key.as_str()),
        ],
    )
    .expect("security configuration");
    // alice only has the suite's prefixes: the certificate really maps to her, and ACLs apply.
    run_secured(endpoint, "mtls", ErrorCode::TOPIC_AUTHORIZATION_FAILED);
}
