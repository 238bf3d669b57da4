//! Serving the consumer's metrics to Prometheus: install `metrics-exporter-prometheus` as the `metrics`
//! recorder **before** creating the consumer, then consume as usual. Prometheus scrapes
//! `http://METRICS_ADDR/metrics`; `docs/grafana/kafkaroo-consumer.json` is a dashboard for what it
//! finds there (lag per partition, throughput, memory, rebalances and their duration, commit latency
//! and failures).
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run -p kafkaroo --example prometheus -- <topic> <group>
//! curl -s http://127.0.0.1:9898/metrics | grep messaging_
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `METRICS_ADDR` (default
//! `127.0.0.1:9898`). Metric names have their dots turned into underscores by the exporter
//! (`messaging.kafka.consumer.lag` is scraped as `messaging_kafka_consumer_lag`); the table of names is
//! in the crate docs ("Metrics").

use std::net::SocketAddr;
use std::time::Duration;

use kafkaroo::{Consumer, ConsumerConfig};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(topic), Some(group)) = (args.next(), args.next()) else {
        return Err("usage: prometheus <topic> <group>".into());
    };
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let addr: SocketAddr = std::env::var("METRICS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9898".into())
        .parse()?;

    // The lag gauge of a partition that left the assignment reads 0 (give the builder an
    // `idle_timeout` for gauges to drop such series from the scrape).
    PrometheusBuilder::new().with_http_listener(addr).install()?;
    eprintln!("metrics on http://{addr}/metrics");

    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .group_id(group)
        .client_id("prometheus-example")
        .build()?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe([topic])?;
    loop {
        tokio::select! {
            batch = consumer.poll(Duration::from_secs(1)) => {
                for record in batch?.iter() {
                    println!("{} {} {}", record.partition(), record.offset(), record.value().map_or(0, <[u8]>::len));
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    consumer.close().await;
    Ok(())
}
