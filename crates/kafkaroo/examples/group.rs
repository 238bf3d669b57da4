//! A consumer-group member that processes records and commits exactly what it processed: offsets are
//! stored after each record and committed every second, and inside `on_revoked` before a partition
//! moves to another member (so the next owner starts right after the last processed record).
//! `cargo run -p kafkaroo --example group -- <bootstrap> <group> <topic>...`

use std::time::{Duration, Instant};

use kafkaroo::{CommitHandle, Consumer, ConsumerConfig, RebalanceListener, TopicPartition};

struct CommitOnRevoke(CommitHandle);

impl RebalanceListener for CommitOnRevoke {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        eprintln!("assigned: {partitions:?}");
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        eprintln!("revoked: {partitions:?}");
        // The partitions are released only after this commit completed (or failed).
        if let Err(e) = self.0.commit_stored() {
            eprintln!("commit on revoke refused: {e}");
        }
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        // Another member may own them already: nothing is committed.
        eprintln!("lost: {partitions:?}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let group = args.next().ok_or("usage: group <bootstrap> <group> <topic>...")?;
    let topics: Vec<String> = args.collect();
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    let listener = CommitOnRevoke(consumer.commit_handle());
    consumer.subscribe_with_listener(topics, listener)?;
    let mut last_commit = Instant::now();
    loop {
        tokio::select! {
            batch = consumer.poll(Duration::from_millis(500)) => {
                for record in batch?.iter() {
                    println!("{}/{} @{}: {} bytes", record.topic(), record.partition(), record.offset(),
                        record.value().map_or(0, <[u8]>::len));
                    consumer.store_offset(record)?;
                }
                if last_commit.elapsed() >= Duration::from_secs(1) {
                    consumer.commit_stored().await?;
                    last_commit = Instant::now();
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Final revoke (commits what was stored), then LeaveGroup.
    consumer.close().await;
    Ok(())
}
