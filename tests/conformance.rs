//! The protocol conformance suite (crates/kafkaroo-conformance) against the test harness' brokers: the
//! harness says the Kafka version, and its Java producer writes the suite's records.

use kafkaroo_conformance::{BoxFuture, Fixture, FixtureRecord, Produced};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, Source, TestRecord};

pub use kafkaroo_conformance::{CLIENT_ID, Endpoint, OfferedApi, Outcome, Report, Row};

/// The harness as the suite's fixture: the cluster's version, records through Kafka's Java producer.
pub struct HarnessFixture(pub &'static Cluster);

impl Fixture for HarnessFixture {
    fn kafka_version(&self) -> Option<String> {
        Some(self.0.version().to_owned())
    }

    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [FixtureRecord],
    ) -> BoxFuture<'a, anyhow::Result<Produced>> {
        let cluster = self.0;
        let records: Vec<TestRecord> = records
            .iter()
            .map(|r| TestRecord::new(r.key.clone(), r.value.clone()).with_timestamp(r.timestamp))
            .collect();
        let req = ProduceRequest::new(topic.to_owned(), records).partition(0);
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || cluster.produce(&req)).await? {
                Ok(positions) => {
                    anyhow::ensure!(
                        positions.iter().all(|p| p.partition == 0),
                        "the harness reports records outside partition 0: {positions:?}"
                    );
                    Ok(Produced::Written(positions.iter().map(|p| p.offset).collect()))
                }
                // Against an external broker without Kafka's tools, the checks that read records are skipped.
                Err(e) if cluster.source() == Source::External => Ok(Produced::Unavailable(format!(
                    "Kafka's producer tools failed: {e}"
                ))),
                Err(e) => Err(anyhow::anyhow!(e).context("the harness' Java producer")),
            }
        })
    }
}

/// The harness' PLAINTEXT listener.
pub fn plaintext(cluster: &Cluster) -> Endpoint {
    Endpoint::plaintext(cluster.bootstrap())
}

/// Runs the suite against `cluster` (its PLAINTEXT listener) and returns the table.
pub async fn run(cluster: &'static Cluster) -> anyhow::Result<Report> {
    run_on(cluster, plaintext(cluster)).await
}

/// Runs the suite with its connections on `endpoint` (a listener of `cluster`, which still creates the
/// records through its own listener) and returns the table.
pub async fn run_on(cluster: &'static Cluster, endpoint: Endpoint) -> anyhow::Result<Report> {
    kafkaroo_conformance::run(&HarnessFixture(cluster), endpoint).await
}
