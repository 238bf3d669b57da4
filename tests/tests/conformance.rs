//! Protocol conformance: every API the consumer uses, at every version in the range negotiated with the
//! broker under test (the harness' broker, or `KAFKAROO_BOOTSTRAP=host:port`). Prints the table with
//! `--nocapture` and writes it to `<target>/conformance-<kafka version>.txt`.

use kafkaroo_testcontainers::Cluster;

#[test]
fn conformance() {
    let cluster = Cluster::shared();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime
        .block_on(kafkaroo_tests::conformance::run(cluster))
        .unwrap_or_else(|e| panic!("conformance suite could not run: {e:#}"));
    report.publish(
        env!("CARGO_TARGET_TMPDIR"),
        &format!("conformance-{}.txt", report.kafka_version),
    );
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        report.failure_lines()
    );
}
