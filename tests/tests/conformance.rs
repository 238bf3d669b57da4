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
    let table = report.render();
    println!("{table}");
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|t| t.join(format!("conformance-{}.txt", report.kafka_version)));
    if let Some(path) = out {
        match std::fs::write(&path, &table) {
            Ok(()) => println!("table written to {}", path.display()),
            Err(e) => println!("could not write {}: {e}", path.display()),
        }
    }
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "{}\n{}",
        report.summary(),
        failures
            .iter()
            .map(|r| format!(
                "  {} v{}: {:?}",
                r.api,
                r.version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                r.outcome
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
