#!/usr/bin/env bash
# `cargo package` for every crate kafkaroo publishes, verified: each packaged crate is built on its own, with
# its dependencies as crates.io would serve them, and the workspace crates without a C compiler (CC=false).
#   ci/package.sh
# The forks (vendor/) come first, in their own directories. They are not on crates.io yet, so for the
# workspace crates two --config [patch] entries stand in for them, pointing at the same directories; this is
# only for the check (no [patch] is committed). The workspace crates are packaged together, so each finds the
# others' packages. Publishing order: vendor/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/package-check}"

# `cargo package` for several crates "publishes" them to a temporary local registry and unpacks each into
# $CARGO_HOME/registry/src/-<hash of that registry's path>/, and it reuses an unpacked crate of the same name
# and version without looking at its contents. A machine that ran this script before from the same checkout
# path would verify the crates of that earlier run (CI failed that way: errors against yesterday's
# kafkaroo-group). Our crates are not on crates.io, so every unpacked copy of them is such a leftover.
find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -name 'kafkaroo-*' -exec rm -rf {} + 2>/dev/null || true

# The record of changes against upstream is current.
vendor/diff-upstream.sh --check

# kafka-protocol's default features (verified as published) compile the C lz4 and zstd libraries.
cargo package --locked --allow-dirty --manifest-path vendor/kafka-protocol/Cargo.toml
CC=false CXX=false cargo package --locked --allow-dirty --manifest-path vendor/ruzstd/Cargo.toml

CC=false CXX=false cargo package --locked --allow-dirty \
  --config 'patch.crates-io.kafkaroo-kafka-protocol.path="vendor/kafka-protocol"' \
  --config 'patch.crates-io.kafkaroo-ruzstd.path="vendor/ruzstd"' \
  -p kafkaroo-group -p kafkaroo-sasl -p kafkaroo-wire -p kafkaroo-records -p kafkaroo-net \
  -p kafkaroo -p kafkaroo-producer -p kafkaroo-conformance -p kafkaroo-testkit -p kafkaroo-testcontainers -p kafkaroo-cli
ls "$CARGO_TARGET_DIR/package/"*.crate
