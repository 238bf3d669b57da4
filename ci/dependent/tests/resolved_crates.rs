//! Which crates this dependent of kafkaroo resolved: kafkaroo's forks of kafka-protocol and ruzstd (with the
//! bounded array pre-allocation and the faster zstd decoder), never crates.io's originals, which a `[patch]`
//! in kafkaroo's workspace would have replaced there but not here.

use std::process::Command;

/// `name version` of every package compiled into this crate's library and tests for this host, as cargo
/// resolved them (`cargo tree`, normal, build and dev dependencies, features unified as in a build).
fn resolved() -> Vec<(String, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--manifest-path", manifest, "--offline", "--locked"])
        .args([
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert!(
        out.status.success(),
        "cargo tree failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_owned(), version.to_owned()))
        })
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

#[test]
fn kafkaroo_brings_its_forks_not_the_crates_io_originals() {
    let packages = resolved();
    let versions = |name: &str| -> Vec<&str> {
        packages
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for ours in ["kafkaroo", "kafkaroo-conformance"] {
        assert!(
            !versions(ours).is_empty(),
            "{ours} itself is missing from {packages:?}"
        );
    }
    for (fork, upstream) in [
        ("kafkaroo-kafka-protocol", "kafka-protocol"),
        ("kafkaroo-ruzstd", "ruzstd"),
    ] {
        assert!(
            versions(upstream).is_empty(),
            "crates.io's {upstream} {:?} is in the build: kafkaroo's fixes do not reach its dependents",
            versions(upstream)
        );
        let fork_versions = versions(fork);
        assert!(
            fork_versions.len() == 1 && fork_versions[0].contains("-kafkaroo."),
            "expected one {fork} x.y.z-kafkaroo.N, resolved {fork_versions:?}"
        );
    }
}
