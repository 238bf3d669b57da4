//! `rskafka-consume BOOTSTRAP TOPIC`: reads every record of every partition of TOPIC with rskafka (a
//! pure-Rust Kafka client), from the earliest offset to the end offset it had at the start, and prints
//! `records=N bytes=B` (B: key + value bytes). A row of benches/consume-bench.sh; see benches/README.md.
//!
//! rskafka has no consumer groups and fetches one partition per request, so each partition gets its own
//! task reading it in a loop of `fetch_records` calls (all over the one connection to the leader).

use std::process::ExitCode;

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};

/// Per fetch: at most this many bytes for the partition (the Java consumer's and librdkafka's default
/// `max.partition.fetch.bytes` / `fetch.message.max.bytes`).
const FETCH_MAX_BYTES: i32 = 1024 * 1024;
/// How long the broker may wait for more data (Java's `fetch.max.wait.ms` default).
const FETCH_MAX_WAIT_MS: i32 = 500;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic] = args.as_slice() else {
        eprintln!("usage: rskafka-consume BOOTSTRAP TOPIC");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rskafka-consume: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(consume(bootstrap, topic)) {
        Ok((records, bytes)) => {
            println!("records={records} bytes={bytes}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rskafka-consume: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn consume(bootstrap: &str, topic: &str) -> Result<(u64, u64), Error> {
    let client = ClientBuilder::new(vec![bootstrap.to_owned()])
        .client_id("rskafka-consume")
        .build()
        .await
        .map_err(|e| format!("connecting to {bootstrap}: {e}"))?;
    let partitions = client
        .list_topics()
        .await?
        .into_iter()
        .find(|t| t.name == topic)
        .ok_or_else(|| format!("topic {topic:?} does not exist on {bootstrap}"))?
        .partitions;
    let mut tasks = Vec::new();
    for partition in partitions {
        let partition_client = client
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Error)
            .await?;
        tasks.push(tokio::spawn(async move {
            let mut offset = partition_client.get_offset(OffsetAt::Earliest).await?;
            let end = partition_client.get_offset(OffsetAt::Latest).await?;
            let (mut records, mut bytes) = (0u64, 0u64);
            while offset < end {
                let (batch, _high_watermark) = partition_client
                    .fetch_records(offset, 1..FETCH_MAX_BYTES, FETCH_MAX_WAIT_MS)
                    .await?;
                // With data below the end offset the broker always returns some (no transactions here).
                if batch.is_empty() {
                    return Err(format!(
                        "partition {partition}: an empty fetch at offset {offset} (end {end}): is the topic transactional?"
                    )
                    .into());
                }
                for r in &batch {
                    if r.offset >= end {
                        break;
                    }
                    records += 1;
                    bytes += (r.record.key.as_ref().map_or(0, Vec::len)
                        + r.record.value.as_ref().map_or(0, Vec::len)) as u64;
                    offset = r.offset + 1;
                }
            }
            Ok::<_, Error>((records, bytes))
        }));
    }
    let (mut records, mut bytes) = (0, 0);
    for task in tasks {
        let (r, b) = task.await??;
        records += r;
        bytes += b;
    }
    Ok((records, bytes))
}
