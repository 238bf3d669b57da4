//! Counts the records of a topic from the beginning to the end, then prints records/s.
//! `cargo run --release -p kafkaroo --example count -- <bootstrap> <topic>`

use std::time::{Duration, Instant};

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().ok_or("usage: count <bootstrap> <topic>")?;
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(100_000)
        .build()?;
    let mut consumer = Consumer::new(config).await?;
    let partitions = consumer.assign_topics(&[&topic]).await?;
    let ends = consumer.end_offsets(&partitions).await?;
    let total: i64 = ends.values().sum();
    let start = Instant::now();
    let mut count = 0i64;
    let mut bytes = 0usize;
    while count < total {
        let batch = consumer.poll(Duration::from_secs(5)).await?;
        for r in batch.iter() {
            bytes += r.value().map_or(0, <[u8]>::len);
        }
        count += batch.len() as i64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} records, {bytes} value bytes in {secs:.2}s: {:.0} records/s",
        count as f64 / secs
    );
    Ok(())
}
