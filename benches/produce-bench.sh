#!/usr/bin/env bash
# Produce benchmark: `kafkaroo produce` vs `kcat -P` (librdkafka), one at a time, against the same broker,
# from the same input (keyed lines), with the same producer settings; CPU (user+sys) and wall time of
# each run, and the records each topic holds afterwards. Run by hand (not in CI).
#
# Environment:
#   RECORDS=1000000 PARTITIONS=6 RUNS=2 CODECS="none lz4 zstd"
#   PROPS="-X batch.size=262144 -X linger.ms=20 -X enable.idempotence=true -X acks=all"
#   KAFKAROO_BOOTSTRAP=host:port   use a running broker instead of starting one
#   BENCH_DATA_DIR=/dev/shm        where the started broker keeps its log
#   CLI_FEATURES=zstd-c            build `kafkaroo` with this feature (zstd-c: libzstd instead of ruzstd)
set -euo pipefail
RECORDS=${RECORDS:-1000000}
PARTITIONS=${PARTITIONS:-6}
RUNS=${RUNS:-2}
CODECS=${CODECS:-"none lz4 zstd"}
PROPS=${PROPS:-"-X batch.size=262144 -X linger.ms=20 -X enable.idempotence=true -X acks=all"}
DATA_DIR=${BENCH_DATA_DIR:-/dev/shm}
VERSION=${KAFKAROO_KAFKA_VERSION:-4.4.0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/produce-bench.XXXXXX")
die() { echo "produce-bench: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time missing: apt-get install -y time"
command -v kcat >/dev/null || die "kcat missing"
CACHE=${KAFKAROO_CACHE_DIR:-$HOME/.cache/kafkaroo}/kafka-$VERSION
CP="$CACHE/tools-libs/*:$CACHE/libs/*"

(cd "$ROOT" && cargo build --release -p kafkaroo-cli --bin kafkaroo ${CLI_FEATURES:+--features "kafkaroo-cli/$CLI_FEATURES"} -p kafkaroo-testcontainers --bin kafkaroo-broker >&2)
cleanup() {
    if [ -n "${BROKER_PID:-}" ]; then
        eval "exec ${BROKER[1]}>&-" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "${KAFKAROO_BOOTSTRAP:-}" ]; then
    BOOTSTRAP=$KAFKAROO_BOOTSTRAP
else
    coproc BROKER { TMPDIR=$DATA_DIR KAFKAROO_KAFKA_VERSION=$VERSION exec "$TARGET/release/kafkaroo-broker" start --full-jit; }
    BOOTSTRAP=
    while IFS= read -r line <&"${BROKER[0]}"; do
        case $line in bootstrap=*) BOOTSTRAP=${line#bootstrap=}; break ;; esac
    done
    [ -n "$BOOTSTRAP" ] || die "the broker did not start"
fi

# Keyed lines of ~85 bytes: "key-N:vvv... i random".
awk -v n="$RECORDS" 'BEGIN { srand(1); v = sprintf("%60s", ""); gsub(/ /, "v", v);
    for (i = 0; i < n; i++) printf "key-%d:%s %d %d\n", i % 10007, v, i, int(rand() * 1073741824) }' >"$WORK/input"

run() { # label topic command...
    local label=$1 topic=$2; shift 2
    java -cp "$CP" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create \
        --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null 2>&1
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" <"$WORK/input" >/dev/null 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; die "$label failed"; }
    read -r wall user sys <"$WORK/time"
    local count
    count=$(timeout 120 kcat -C -b "$BOOTSTRAP" -t "$topic" -e -q -f '%p\n' | wc -l)
    printf '| %-8s | %-5s | %6.2f | %6.2f | %9s |\n' "$label" "$codec" "$wall" "$(echo "$user + $sys" | bc)" "$count"
}

echo "| client   | codec | wall s | CPU s  | records   |"
echo "|----------|-------|--------|--------|-----------|"
for codec in $CODECS; do
    for r in $(seq "$RUNS"); do
        # shellcheck disable=SC2086
        run kcat "kcat-$codec-$r-$$" kcat -P -b "$BOOTSTRAP" -t "kcat-$codec-$r-$$" -K : -z "$codec" \
            -X partitioner=murmur2_random $PROPS
        # shellcheck disable=SC2086
        run kafkaroo "roo-$codec-$r-$$" "$TARGET/release/kafkaroo" produce -q -b "$BOOTSTRAP" \
            -t "roo-$codec-$r-$$" -K : -z "$codec" $PROPS
    done
done
