//! The protocol conformance suite against kafkaroo-testkit's in-process cluster (what `kafkaroo mock`
//! serves), so the fake is held to the checks real Kafka passes. Every check must pass except the
//! documented differences below; a difference that disappears fails too, so this list stays true.
//! Topics and records are still created through the harness' Java helper, as against a real broker.

use kafkaroo_testcontainers::{Cluster, kafka_version};

/// `(API, why)`: checks the fake is known to fail (crates/kafkaroo-testkit/src/lib.rs lists what it does
/// not serve). None today: every check of the suite passes against it.
const DIFFERENCES: [(&str, &str); 0] = [];

#[test]
fn conformance_against_the_in_process_cluster() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fake = runtime
        .block_on(kafkaroo_testkit::Cluster::builder().build())
        .expect("in-process cluster");
    let cluster: &'static Cluster = Box::leak(Box::new(
        Cluster::external(&fake.bootstrap(), &kafka_version()).expect("harness for the fake"),
    ));
    let report = runtime
        .block_on(kafkaroo_tests::conformance::run(cluster))
        .unwrap_or_else(|e| panic!("conformance suite could not run: {e:#}"));
    report.publish(env!("CARGO_TARGET_TMPDIR"), "conformance-testkit.txt");
    let failures = report.failures();
    let unexpected: Vec<String> = failures
        .iter()
        .filter(|r| {
            !DIFFERENCES.iter().any(|(api, why)| {
                r.api == *api
                    && matches!(&r.outcome, kafkaroo_tests::conformance::Outcome::Failed(m) if m.contains(why))
            })
        })
        .map(|r| format!("{} v{:?}: {:?}", r.api, r.version, r.outcome))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{}\nthe in-process cluster differs from Kafka where no difference is documented:\n{}",
        report.summary(),
        unexpected.join("\n")
    );
    for (api, _) in DIFFERENCES {
        assert!(
            failures.iter().any(|r| r.api == api),
            "{api} now passes against the in-process cluster: drop it from DIFFERENCES and the testkit's docs"
        );
    }
    assert!(report.rows.len() > 100, "only {} rows ran", report.rows.len());
}
