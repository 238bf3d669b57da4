//! `kafkaroo-broker start [--nodes N] [--version V] [--config key=value]... [--full-jit] [--ignore-stdin]
//! [--secured]`
//!
//! `--secured`: a single secured node (`SecuredCluster`: SASL_SSL, SSL, SASL_PLAINTEXT and the PLAINTEXT
//! admin listener, certificates made at start); also prints `sasl_ssl=`, `ssl=`, `sasl_plaintext=` and
//! `ca=` (the CA's PEM file). The super user is `admin` (password `admin-secret`, PLAIN and SCRAM).
//!
//! `--full-jit`: C2 for the brokers (benchmarks); by default they run C1 only, which starts faster.
//! `--ignore-stdin`: run until killed (for `kafkaroo-broker start --ignore-stdin &` in scripts, where a
//! background job's stdin is /dev/null).
//!
//! Starts a cluster (honouring `KAFKAROO_BOOTSTRAP` for a single node), prints `source=`, `version=`,
//! `bootstrap=`, and per node `log=`, `data=` and `pid=` lines on stdout, then runs until stdin closes
//! (then stops the cluster and exits 0). When killed instead (SIGTERM, Ctrl-C, SIGKILL) the watchdogs stop
//! the JVMs and remove their files.

use std::io::{Read, Write};
use std::process::ExitCode;

use kafkaroo_testcontainers::{Cluster, ClusterOptions, SecuredCluster, SecuredOptions};

const USAGE: &str = "usage: kafkaroo-broker start [--nodes N] [--version V] [--config key=value]... [--full-jit] [--ignore-stdin] [--secured]";

/// Parsed command line: the cluster options, whether to ignore stdin, whether to start a secured node.
fn parse(args: &[String]) -> Result<(ClusterOptions, bool, bool), String> {
    let mut options = ClusterOptions::default();
    let mut ignore_stdin = false;
    let mut secured = false;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("start") => {}
        _ => return Err(USAGE.into()),
    }
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--nodes" => options.nodes = value()?.parse().map_err(|e| format!("--nodes: {e}"))?,
            "--version" => options.version = Some(value()?),
            "--config" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--config {kv}: expected key=value"))?;
                options.broker_configs.push((k.to_owned(), v.to_owned()));
            }
            "--full-jit" => options.full_jit = true,
            "--ignore-stdin" => ignore_stdin = true,
            "--secured" => secured = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if secured && options.nodes != 1 {
        return Err(format!("--secured starts a single node\n{USAGE}"));
    }
    Ok((options, ignore_stdin, secured))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, ignore_stdin, secured) = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let started_cluster = if secured {
        SecuredCluster::start(SecuredOptions {
            version: options.version.clone(),
            broker_configs: options.broker_configs.clone(),
            full_jit: options.full_jit,
            ..SecuredOptions::default()
        })
        .map(Running::Secured)
    } else {
        Cluster::start(options).map(Running::Plain)
    };
    let running = match started_cluster {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafkaroo-broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cluster: &Cluster = match &running {
        Running::Plain(c) => c,
        Running::Secured(s) => s.admin(),
    };
    let mut out = std::io::stdout().lock();
    if let Running::Secured(s) = &running {
        let _ = writeln!(out, "sasl_ssl={}", s.sasl_ssl_bootstrap());
        let _ = writeln!(out, "ssl={}", s.ssl_bootstrap());
        let _ = writeln!(out, "sasl_plaintext={}", s.sasl_plaintext_bootstrap());
        let _ = writeln!(out, "ca={}", s.ca_pem_path().display());
    }
    let _ = writeln!(out, "source={:?}", cluster.source());
    let _ = writeln!(out, "version={}", cluster.version());
    let _ = writeln!(out, "bootstrap={}", cluster.bootstrap());
    for log in cluster.log_paths() {
        let _ = writeln!(out, "log={}", log.display());
    }
    for data in cluster.data_dirs() {
        let _ = writeln!(out, "data={}", data.display());
    }
    for id in 0..cluster.node_count() as i32 {
        if let Some(pid) = cluster.node_pid(id) {
            let _ = writeln!(out, "pid={pid}");
        }
    }
    let _ = writeln!(out, "started_ms={}", started.elapsed().as_millis());
    let _ = out.flush();
    drop(out);
    if ignore_stdin {
        // Until killed: the watchdogs stop the brokers then.
        loop {
            std::thread::park();
        }
    }
    // Run until stdin closes.
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(running);
    ExitCode::SUCCESS
}

/// The cluster this process started.
enum Running {
    Plain(Cluster),
    Secured(SecuredCluster),
}
