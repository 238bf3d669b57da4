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
