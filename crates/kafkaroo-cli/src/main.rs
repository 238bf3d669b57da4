//! `kafkaroo`: the command line of the kafkaroo Kafka client.
//!
//! `kafkaroo consume` reads a topic with kcat's consume-mode flags (`-b -t -p -o -c -e -f -J -X -q -D -K
//! -Z -u`), so scripts can switch from `kcat -C`; `kafkaroo produce` sends with kcat's produce-mode
//! flags (`-b -t -p -k -K -H -z -l -T -X`); `kafkaroo conformance -b host:port` checks any broker against
//! the protocol conformance suite (crates/kafkaroo-conformance).

mod conformance;
mod consume;
mod demo;
mod format;
mod group;
mod mock;
mod offset;
mod output;
mod produce;
mod props;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "kafkaroo", version, about = "kafkaroo: a pure-Rust Apache Kafka client", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print records of a topic (kcat -C compatible flags).
    Consume(consume::ConsumeArgs),
    /// Send messages to a topic (kcat -P compatible flags).
    Produce(produce::ProduceArgs),
    /// List consumer groups, or describe one: members, assignments, committed offsets, lag.
    Group(group::GroupArgs),
    /// Start a local broker and watch a cooperative-sticky group work while members join and leave.
    Demo(demo::DemoArgs),
    /// Run an in-process fake Kafka cluster in the foreground (kafkaroo-testkit) for trying things by hand.
    Mock(mock::MockArgs),
    /// Check a broker against the Kafka protocol conformance suite; print the table, write a JSON report.
    Conformance(conformance::ConformanceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Consume(args) => consume::main(args),
        Command::Produce(args) => produce::main(args),
        Command::Group(args) => group::main(args),
        Command::Demo(args) => demo::main(args),
        Command::Mock(args) => mock::main(args),
        Command::Conformance(args) => conformance::main(args),
    }
}
