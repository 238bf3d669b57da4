#!/usr/bin/env bash
# Benchmark report: runs the consume, decode and rebalance benchmarks and writes one self-contained HTML
# page with their charts (target/bench-report/index.html). Run by hand, not in CI; see benches/README.md.
#
#   benches/report.sh                 full sizes (10M records x 3 runs, 60 decode samples, 3 rebalance runs
#                                     with both group protocols): about an hour on 2 cores
#   QUICK=1 benches/report.sh         1M records x 1 run, 10 decode samples, 1 rebalance run (classic): a few
#                                     minutes; checks the pipeline, the numbers are rough
#
# Environment (each overrides the QUICK or full default):
#   OUT=target/bench-report/index.html   the page; the benchmarks' JSON, tables and logs go next to it
#   ONLY="consume decode rebalance"      which benchmarks to run (the page shows those)
#   RECORDS RUNS CODECS                  consume-bench.sh's sizes (RSKAFKA=0 leaves rskafka out)
#   DECODE_ARGS                          divan's arguments for benches/decode.rs (e.g. "--sample-count 60")
#   REBALANCE_RUNS PROTOCOLS CLIENTS     rebalance-bench.sh's RUNS, PROTOCOLS, CLIENTS
#   CARGO_TARGET_DIR, KAFKAROO_KAFKA_VERSION, BENCH_DATA_DIR as for the benchmarks
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TARGET=$CARGO_TARGET_DIR
OUT=${OUT:-$TARGET/bench-report/index.html}
DIR=$(dirname "$OUT")
ONLY=${ONLY:-"consume decode rebalance"}
if [ "${QUICK:-0}" = 1 ]; then
    RECORDS=${RECORDS:-1000000} RUNS=${RUNS:-1} CODECS=${CODECS:-"none lz4 zstd"}
    DECODE_ARGS=${DECODE_ARGS:-"--sample-count 10 --sample-size 1"}
    REBALANCE_RUNS=${REBALANCE_RUNS:-1} PROTOCOLS=${PROTOCOLS:-classic}
else
    RECORDS=${RECORDS:-10000000} RUNS=${RUNS:-3} CODECS=${CODECS:-"none lz4 zstd"}
    DECODE_ARGS=${DECODE_ARGS:-"--sample-count 60"}
    REBALANCE_RUNS=${REBALANCE_RUNS:-3} PROTOCOLS=${PROTOCOLS:-classic,consumer}
fi
CLIENTS=${CLIENTS:-kafkaroo,java}
VERSION=${KAFKAROO_KAFKA_VERSION:-4.4.0}

log() { echo "## report: $*" >&2; }
runs() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$DIR"
# The commands as a user would type them (shown on the page); OUT and JSON_OUT point into $DIR.
COMMANDS=$DIR/commands.txt
: >"$COMMANDS"
record() { echo "$*" >>"$COMMANDS"; log "$*"; }

log "building bench_report (release)"
(cd "$ROOT" && cargo build --release -p kafkaroo-benches --bin bench_report >&2)
REPORT=$TARGET/release/bench_report
HTML_ARGS=()

if runs consume; then
    record "RECORDS=$RECORDS RUNS=$RUNS CODECS=\"$CODECS\" benches/consume-bench.sh"
    RECORDS=$RECORDS RUNS=$RUNS CODECS=$CODECS OUT=$DIR/consume.md JSON_OUT=$DIR/consume.json \
        "$ROOT/benches/consume-bench.sh"
    HTML_ARGS+=(--consume "$DIR/consume.json")
fi

if runs decode; then
    record "cargo bench -p kafkaroo-benches --bench decode -- $DECODE_ARGS"
    # shellcheck disable=SC2086 # DECODE_ARGS is a list of arguments
    (cd "$ROOT" && cargo bench -p kafkaroo-benches --bench decode -- $DECODE_ARGS) >"$DIR/decode.txt"
    "$REPORT" divan-json <"$DIR/decode.txt" >"$DIR/decode.json"
    HTML_ARGS+=(--decode "$DIR/decode.json")
fi

if runs rebalance; then
    record "RUNS=$REBALANCE_RUNS PROTOCOLS=$PROTOCOLS CLIENTS=$CLIENTS benches/rebalance-bench.sh"
    rm -rf "$DIR/rebalance-logs"
    RUNS=$REBALANCE_RUNS PROTOCOLS=$PROTOCOLS CLIENTS=$CLIENTS OUT=$DIR/rebalance.md \
        JSON_OUT=$DIR/rebalance.json OUT_DIR=$DIR/rebalance-logs "$ROOT/benches/rebalance-bench.sh"
    HTML_ARGS+=(--rebalance "$DIR/rebalance.json")
fi

# The machine and the versions compared, as `key: value` lines.
first_line() { "$@" 2>&1 | head -1 || true; }
locked_version() { awk -v n="$2" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$1"; }
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "cores: $(nproc)"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -srm)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "kafkaroo: $(first_line "$TARGET/release/kafkaroo" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ', with uncommitted changes'))"
    echo "rustc: $(first_line rustc -V)"
    echo "kcat: $(kcat -V 2>&1 | sed -n 's/^Version //p' | head -1)"
    echo "Apache Kafka (broker, Java consumer): $VERSION"
    echo "Java: $(first_line java -version)"
    echo "rskafka: $(locked_version "$ROOT/benches/rskafka-consume/Cargo.lock" rskafka)"
    echo "kafka-protocol (decode comparison): $(locked_version "$ROOT/Cargo.lock" kafkaroo-kafka-protocol) (kafkaroo's fork)"
} >"$DIR/machine.txt"

"$REPORT" html "${HTML_ARGS[@]}" --machine "$DIR/machine.txt" --commands "$COMMANDS" --out "$OUT"
echo "report: $OUT (inputs in $DIR)" >&2
