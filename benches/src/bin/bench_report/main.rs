//! Benchmark report: reads the JSON results of benches/consume-bench.sh, the decode benches and
//! benches/rebalance-bench.sh and writes one self-contained HTML page with SVG charts (no scripts, nothing
//! fetched). benches/report.sh runs the benchmarks and then this; see benches/README.md.
//!
//! `bench_report divan-json < divan-output > decode.json`   divan's text output of the decode benches as JSON
//! `bench_report html --consume F --decode F --rebalance F [--machine F] [--commands F] --out F`

mod divan;
mod html;
mod inputs;
mod svg;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmark report: JSON results -> one self-contained HTML page")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Reads divan's output (of `cargo bench --bench decode`) on stdin and prints it as JSON.
    DivanJson,
    /// Writes the HTML page.
    Html(HtmlArgs),
}

#[derive(Parser)]
struct HtmlArgs {
    /// consume-bench.sh's JSON.
    #[arg(long)]
    consume: Option<PathBuf>,
    /// `divan-json`'s output for the decode benches.
    #[arg(long)]
    decode: Option<PathBuf>,
    /// rebalance_pause's `--results-json`.
    #[arg(long)]
    rebalance: Option<PathBuf>,
    /// `key: value` lines describing the machine and the versions.
    #[arg(long)]
    machine: Option<PathBuf>,
    /// The commands that produced the results.
    #[arg(long)]
    commands: Option<PathBuf>,
    /// Where the page goes.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Cmd::DivanJson => divan_json(),
        Cmd::Html(args) => write_html(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_report: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn divan_json() -> anyhow::Result<()> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading stdin")?;
    let rows = divan::parse(&text)?;
    println!("{}", serde_json::to_string_pretty(&divan::to_json(&rows))?);
    Ok(())
}

/// Reads every input given; a given file that is missing or malformed is an error, not a gap.
fn load(args: &HtmlArgs) -> anyhow::Result<html::Report> {
    if args.consume.is_none() && args.decode.is_none() && args.rebalance.is_none() {
        bail!("nothing to report: give at least one of --consume, --decode, --rebalance");
    }
    fn optional<T>(
        path: Option<&PathBuf>,
        read: fn(&Path) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        path.map(|p| read(p)).transpose()
    }
    Ok(html::Report {
        consume: optional(args.consume.as_ref(), inputs::read_consume)?,
        decode: optional(args.decode.as_ref(), inputs::read_decode)?,
        rebalance: optional(args.rebalance.as_ref(), inputs::read_rebalance)?,
        machine: optional(args.machine.as_ref(), inputs::read_text)?,
        commands: optional(args.commands.as_ref(), inputs::read_text)?,
    })
}

fn write_html(args: &HtmlArgs) -> anyhow::Result<()> {
    let report = load(args)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, html::page(&report))
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("bench_report: wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests;
