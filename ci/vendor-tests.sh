#!/usr/bin/env bash
# The forks' own test suites (vendor/, outside the workspace): upstream's tests run against our patched code.
#   ci/vendor-tests.sh
# Debug builds without debug info (faster end to end than release here: the tests run in seconds), in their
# own target dir, shared by both forks and reused between runs. C is fine here: kafka-protocol's features
# compile the C zstd and lz4 libraries, ruzstd's tests compare with C zstd; kafkaroo's builds stay C-free.
# Tests skipped, each for a reason outside our patches:
# - kafka-protocol integration_tests::get_api_versions, produce_fetch::record_batch_produce_fetch: they start
#   a broker in Docker (testcontainers, image bitnamilegacy/kafka); CI has no Docker daemon. kafkaroo's
#   conformance suite runs kafka-protocol's messages against real Kafka 3.9.2 and 4.4.0 brokers instead.
# - ruzstd dict_test::test_dict_decoding, fuzz_regressions::test_all_artifacts: they read dict_tests/ and
#   fuzz/artifacts/decode/ from upstream's git tree, which the crates.io release leaves out. No Kafka client
#   sends zstd dictionaries; upstream's crash artifacts are seeds of the zstd_differential fuzz target
#   (fuzz/corpus/zstd_differential/ruzstd-crash-*), which decodes them against libzstd.
# ruzstd's decodecorpus_files/ is left out of the release too: make-local-corpus.sh makes a stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_VENDOR:-$PWD/target/vendor}"
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0

echo "--- vendor/kafka-protocol (all features, as upstream's CI)"
cargo test --locked --all-features --manifest-path vendor/kafka-protocol/Cargo.toml -- --exact \
  --skip all_tests::integration_tests::get_api_versions \
  --skip all_tests::produce_fetch::record_batch_produce_fetch

echo "--- vendor/ruzstd (default features)"
vendor/ruzstd/make-local-corpus.sh >/dev/null
cargo test --locked --manifest-path vendor/ruzstd/Cargo.toml -- --exact \
  --skip tests::dict_test::test_dict_decoding \
  --skip tests::fuzz_regressions::test_all_artifacts
