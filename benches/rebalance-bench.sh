#!/usr/bin/env bash
# Rebalance pause benchmark: kafkaroo vs Java's consumer, 3 members (cooperative-sticky) on 12 partitions
# under a steady producer, then a 4th member joins. Run by hand (not in CI); see benches/README.md.
#
# Environment:
#   RUNS=3 RATE=3000 CLIENTS=kafkaroo,java   runs per client (alternating order), producer records/s
#   PROTOCOLS=classic              group protocols to run each client with: classic and/or consumer (KIP-848)
#   KAFKAROO_BOOTSTRAP=host:port   use a running broker instead of starting one
#   KAFKAROO_KAFKA_VERSION=4.4.0   Kafka version (broker and tools jars, from scripts/fetch-kafka.sh's cache)
#   BENCH_DATA_DIR=/dev/shm        where the started broker keeps its log
#   OUT_DIR=...                    where the members' logs are kept (default: a new directory in /tmp)
#   OUT=rebalance-results.md       where the result table is written as well
#   JSON_OUT=${OUT%.md}.json       the results as JSON, with every moved partition's pause
#   RUST_LOG=kafkaroo=debug,kafkaroo_group=debug   the kafkaroo members' logs (member-N.log next to their output)
#   REBALANCE_JAVA_LOG4J2=<file>   log4j2 configuration of the Java members (default: WARN to stderr)
#   CARGO_TARGET_DIR               as usual
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-3}
RATE=${RATE:-3000}
CLIENTS=${CLIENTS:-kafkaroo,java}
PROTOCOLS=${PROTOCOLS:-classic}
OUT=${OUT:-$ROOT/rebalance-results.md}
JSON_OUT=${JSON_OUT:-${OUT%.md}.json}
OUT_DIR=${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rebalance-bench.XXXXXX")}

echo "## building (release)" >&2
(cd "$ROOT" && cargo build --release -p kafkaroo-benches --bin rebalance_pause >&2)

# The broker's data goes where TMPDIR points (tmpfs keeps disk I/O out); the logs stay in OUT_DIR.
TMPDIR=${BENCH_DATA_DIR:-/dev/shm} "$TARGET/release/rebalance_pause" run \
    --clients "$CLIENTS" --protocols "$PROTOCOLS" --runs "$RUNS" --rate "$RATE" --out-dir "$OUT_DIR" --results "$OUT" \
    --results-json "$JSON_OUT"
echo "(table written to $OUT, JSON to $JSON_OUT; member logs in $OUT_DIR; re-analyse with: $TARGET/release/rebalance_pause analyze $OUT_DIR/run*)" >&2
