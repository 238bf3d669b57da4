//! `kafkaroo mock`: kafkaroo-testkit's in-process cluster in the foreground, for trying tools and
//! applications by hand (as librdkafka's mock cluster and franz-go's kfake are used). It prints its
//! bootstrap address, then serves until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
#[command(
    about = "Run an in-process fake Kafka cluster (kafkaroo-testkit) in the foreground and print its bootstrap address",
    after_help = "Serves the real wire protocol from memory: Metadata, Produce (idempotent producers \
        included), Fetch, ListOffsets, CreateTopics, a classic-protocol group coordinator and committed \
        offsets. KIP-848 consumer groups too. Not Apache Kafka: no transactions, nothing kept after exit.\n\
        Example: kafkaroo mock --brokers 3 --topic orders:6, then kcat -b <printed address> -L."
)]
pub(crate) struct MockArgs {
    /// Brokers (node ids 1..=N)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=64))]
    brokers: i32,
    /// A topic to create at start, `name:partitions` (repeatable); others can be created with CreateTopics
    #[arg(long = "topic", value_name = "name:partitions", value_parser = parse_topic)]
    topics: Vec<(String, i32)>,
    /// First listener port (broker N listens on port + N - 1); default: ports the system picks
    #[arg(long)]
    port: Option<u16>,
}

fn parse_topic(text: &str) -> Result<(String, i32), String> {
    let (name, partitions) = text.rsplit_once(':').unwrap_or((text, "1"));
    if name.is_empty() {
        return Err(format!("{text:?}: a topic needs a name (name:partitions)"));
    }
    let partitions: i32 = partitions
        .parse()
        .ok()
        .filter(|p| (1..=10_000).contains(p))
        .ok_or_else(|| format!("{text:?}: partitions must be a number from 1 to 10000"))?;
    Ok((name.to_owned(), partitions))
}

pub(crate) fn main(args: MockArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkaroo mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: MockArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kafkaroo-mock")
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mut builder = kafkaroo_testkit::Cluster::builder().brokers(args.brokers);
        if let Some(port) = args.port {
            builder = builder.port(port);
        }
        for (name, partitions) in &args.topics {
            builder = builder.topic(name, *partitions);
        }
        let cluster = builder.build().await.context("starting the in-process cluster")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", cluster.bootstrap())?;
        stdout.flush()?;
        drop(stdout);
        eprintln!(
            "kafkaroo mock: {} broker(s) at {}{}; Ctrl-C stops",
            args.brokers,
            cluster.bootstrap(),
            if args.topics.is_empty() {
                String::new()
            } else {
                let topics: Vec<String> = args.topics.iter().map(|(n, p)| format!("{n} ({p})")).collect();
                format!(", topics {}", topics.join(", "))
            }
        );
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        drop(cluster);
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_topic;

    #[test]
    fn topics_are_name_colon_partitions() {
        assert_eq!(parse_topic("orders:6"), Ok(("orders".to_owned(), 6)));
        assert_eq!(parse_topic("orders"), Ok(("orders".to_owned(), 1)));
        assert_eq!(parse_topic("a:b:3"), Ok(("a:b".to_owned(), 3)));
        assert!(parse_topic("orders:0").unwrap_err().contains("1 to 10000"));
        assert!(parse_topic(":3").unwrap_err().contains("needs a name"));
    }
}
