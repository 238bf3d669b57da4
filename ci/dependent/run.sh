#!/usr/bin/env bash
# Builds and tests ci/dependent: a crate outside kafkaroo's workspace that depends on kafkaroo by path with
# no [patch], as a user's crate does, without a C compiler. It checks that the `frame` fuzz regression is a
# decode error with a small heap, that zstd batches from real producers decode exactly, and that the build
# resolved kafkaroo's forks (kafkaroo-kafka-protocol, kafkaroo-ruzstd), not crates.io's originals.
# Resolves afresh (no committed lock file), like `cargo add kafkaroo` would.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The workspace target dir: artifacts identical to the workspace build are reused.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
CC=false CXX=false cargo test --manifest-path "$root/ci/dependent/Cargo.toml" "$@"
