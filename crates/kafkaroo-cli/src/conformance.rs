//! `kafkaroo conformance`: the protocol conformance suite (kafkaroo-conformance) against any broker. Its
//! records are written with kafkaroo's own producer, with explicit timestamps; the Kafka version is
//! unknown, so the suite reads the broker's behaviour from ApiVersions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use clap::Args;
use kafkaroo_conformance::{BoxFuture, Endpoint, Fixture, FixtureRecord, Produced, Report};
use kafkaroo_producer::{Producer, ProducerConfig, ProducerRecord};

use crate::consume::{init_logging, io_runtime};

/// How long closing the fixture's producer may take (its records are acknowledged before).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
#[command(
    about = "Check a broker against the Kafka protocol conformance suite",
    after_help = "Every API a consumer uses (ApiVersions, Metadata, CreateTopics, DeleteTopics, FindCoordinator,\n\
        ListOffsets, Fetch, OffsetForLeaderEpoch, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,\n\
        OffsetFetch, DescribeGroups, ListGroups, ConsumerGroupHeartbeat) at every version both the broker\n\
        and kafkaroo speak, with assertions on the answers. It creates topics and groups named kr-conf-*\n\
        (the topics are deleted at the end) and produces 10 records: the principal needs to create, write,\n\
        read and delete those topics and use those groups.\n\
        -X keys: security.protocol, sasl.mechanism(s), sasl.username, sasl.password, sasl.jaas.config,\n  \
        sasl.oauthbearer.*, ssl.* (as the Java client and librdkafka name them).\n\
        Exit status: 0 every check passed (or was not offered), 1 a check failed or the suite could not\n\
        run, 2 usage error."
)]
pub(crate) struct ConformanceArgs {
    /// Bootstrap broker(s): host:port[,host:port...]; the first one's ApiVersions are the ranges checked
    #[arg(short = 'b', value_name = "brokers")]
    brokers: String,
    /// Security property key=value (security.protocol, sasl.*, ssl.*)
    #[arg(short = 'X', value_name = "key=value")]
    props: Vec<String>,
    /// Also write the report as JSON to this file
    #[arg(long = "json", value_name = "file")]
    json: Option<PathBuf>,
    /// Quiet: no log output on stderr
    #[arg(short = 'q')]
    quiet: bool,
    /// More log output (repeat for more; RUST_LOG overrides)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
}

/// The suite's connections and the fixture's producer, from `-b` and `-X`.
struct Plan {
    endpoint: Endpoint,
    producer: ProducerConfig,
}

fn plan(args: &ConformanceArgs) -> anyhow::Result<Plan> {
    let props = args
        .props
        .iter()
        .map(|p| crate::props::split(p).map_err(|e| anyhow!(e)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The suite's connections first: they refuse what is not a security property.
    let endpoint = Endpoint::secured(&args.brokers, &security_label(&props), props.iter().copied())
        .map_err(|e| anyhow!("-X: {e:#}"))?;
    let mut producer = ProducerConfig::builder().bootstrap_servers(&args.brokers);
    for (key, value) in props {
        producer = producer.set(key, value).map_err(|e| anyhow!("-X {key}: {e}"))?;
    }
    let producer = producer.build().map_err(|e| anyhow!("{e}"))?;
    Ok(Plan { endpoint, producer })
}

/// How the report names the security: `SASL_SSL SCRAM-SHA-512 as admin`, `SSL`, or empty for PLAINTEXT.
fn security_label(props: &[(&str, &str)]) -> String {
    let get = |key: &str| props.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let protocol = get("security.protocol")
        .unwrap_or("PLAINTEXT")
        .to_ascii_uppercase();
    if protocol == "PLAINTEXT" {
        return String::new();
    }
    let mut label = protocol.clone();
    if protocol.starts_with("SASL") {
        label.push(' ');
        label.push_str(
            get("sasl.mechanism")
                .or_else(|| get("sasl.mechanisms"))
                .unwrap_or("GSSAPI"),
        );
        if let Some(user) = get("sasl.username") {
            label.push_str(" as ");
            label.push_str(user);
        }
    }
    label
}

pub(crate) fn main(args: ConformanceArgs) -> ExitCode {
    init_logging(args.quiet, args.verbose);
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("% ERROR: {e:#}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = io_runtime() else {
        return ExitCode::FAILURE;
    };
    let fixture = ProducerFixture(plan.producer);
    let report = match runtime.block_on(kafkaroo_conformance::run(&fixture, plan.endpoint)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "% ERROR: the conformance suite could not run against {}: {e:#}",
                args.brokers
            );
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.render());
    if let Some(path) = &args.json
        && let Err(e) = write_json(&report, path)
    {
        eprintln!("% ERROR: {e:#}");
        return ExitCode::FAILURE;
    }
    if report.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_json(report: &Report, path: &PathBuf) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&report.to_json())?;
    std::fs::write(path, text + "\n").with_context(|| format!("--json: writing {}", path.display()))
}

/// Writes the suite's records with kafkaroo's producer (idempotent, acks=all), to partition 0 with their
/// timestamps, and reports the offsets the broker gave them.
struct ProducerFixture(ProducerConfig);

impl ProducerFixture {
    async fn produce_all(&self, topic: &str, records: &[FixtureRecord]) -> anyhow::Result<Vec<i64>> {
        let producer = Producer::new(self.0.clone())
            .await
            .context("starting kafkaroo's producer")?;
        let mut deliveries = Vec::with_capacity(records.len());
        for r in records {
            let record = ProducerRecord::new(topic)
                .key(r.key.as_bytes())
                .value(r.value.as_bytes())
                .partition(0)
                .timestamp(r.timestamp);
            deliveries.push(producer.send(record).await?);
        }
        let mut offsets = Vec::with_capacity(deliveries.len());
        let mut failure = None;
        for delivery in deliveries {
            match delivery.await {
                Ok(m) => {
                    ensure!(m.partition == 0, "a record landed on partition {}", m.partition);
                    offsets.push(m.offset);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        producer.close(CLOSE_TIMEOUT).await;
        match failure {
            Some(e) => Err(anyhow!(e).context("delivering the suite's records")),
            None => Ok(offsets),
        }
    }
}

impl Fixture for ProducerFixture {
    fn kafka_version(&self) -> Option<String> {
        None
    }

    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [FixtureRecord],
    ) -> BoxFuture<'a, anyhow::Result<Produced>> {
        Box::pin(async move { self.produce_all(topic, records).await.map(Produced::Written) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_security() {
        assert_eq!(security_label(&[]), "");
        assert_eq!(security_label(&[("security.protocol", "plaintext")]), "");
        assert_eq!(security_label(&[("security.protocol", "ssl")]), "SSL");
        assert_eq!(
            security_label(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "admin"),
                ("sasl.password", "secret"),
            ]),
            "SASL_SSL SCRAM-SHA-512 as admin"
        );
    }

    #[test]
    fn only_security_properties_are_taken() {
        let args = |props: &[&str]| ConformanceArgs {
            brokers: "h:1".to_owned(),
            props: props.iter().map(|p| (*p).to_owned()).collect(),
            json: None,
            quiet: true,
            verbose: 0,
        };
        let e = plan(&args(&["linger.ms=5"])).err().unwrap().to_string();
        assert!(e.contains("linger.ms is not a security property"), "{e}");
        let e = plan(&args(&["security.protocol=bogus"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("security.protocol"), "{e}");
        assert!(plan(&args(&["security.protocol=SSL"])).is_ok());
    }
}
