#!/usr/bin/env bash
# End-to-end consume benchmark: `kafkaroo consume` vs kcat (librdkafka) vs Kafka's ConsumerPerformance vs
# rskafka (another pure-Rust client, benches/rskafka-consume), one at a time, against the same broker and topics. Run by hand (not in CI); see benches/README.md.
#
# Environment:
#   RECORDS=10000000 RECORD_SIZE=100 PARTITIONS=12 RUNS=3 CODECS="none lz4"
#   KAFKAROO_BOOTSTRAP=host:port   use a running broker instead of starting one
#   KAFKAROO_KAFKA_VERSION=4.4.0   Kafka version (broker and tools jars, from scripts/fetch-kafka.sh's cache)
#   BENCH_DATA_DIR=/dev/shm        where the started broker keeps its log (tmpfs keeps disk I/O out)
#   CARGO_TARGET_DIR               as usual
#   OUT=bench-results.md           where the result table is written as well
#   JSON_OUT=${OUT%.md}.json       the same results, machine-readable (benches/report.sh reads them)
#   RSKAFKA=0                      leave out the rskafka row (it builds a separate crate with C codecs)
#   BASELINE=path/to/kafkaroo      also time this build of `kafkaroo` (rows marked "baseline"), right
#                                  after the current one in the same run: an A/B of a change
#   TLS=1                          start a secured broker and time every consumer over SASL_SSL (PLAIN,
#                                  the super user) as well as over PLAINTEXT, in the same run
set -euo pipefail

RECORDS=${RECORDS:-10000000}
RECORD_SIZE=${RECORD_SIZE:-100}
PARTITIONS=${PARTITIONS:-12}
RUNS=${RUNS:-3}
CODECS=${CODECS:-"none lz4"}
VERSION=${KAFKAROO_KAFKA_VERSION:-4.4.0}
DATA_DIR=${BENCH_DATA_DIR:-/dev/shm}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$ROOT/bench-results.md}
JSON_OUT=${JSON_OUT:-${OUT%.md}.json}
RSKAFKA=${RSKAFKA:-1}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/consume-bench.XXXXXX")
TIME=/usr/bin/time

die() { echo "consume-bench: $*" >&2; exit 1; }
log() { echo "## $*" >&2; }

[ -x "$TIME" ] || die "$TIME missing: apt-get update && apt-get install -y time"
command -v kcat >/dev/null || die "kcat missing (apt-get install -y kcat)"
JAVA=${JAVA:-$(command -v java)} || die "java missing"

# Kafka tools' classpath, as kafkaroo-testcontainers builds it.
CACHE=${KAFKAROO_CACHE_DIR:-$HOME/.cache/kafkaroo}/kafka-$VERSION
[ -d "$CACHE/tools-libs" ] || die "no Kafka jars in $CACHE: run testcontainers/scripts/fetch-kafka.sh (or any broker test) first"
CP="$CACHE/tools-libs/*"
if [ "$(cat "$CACHE/tools-version" 2>/dev/null || echo "$VERSION")" = "$VERSION" ]; then
    CP="$CP:$CACHE/libs/*"
fi
LOG4J=()
[ -f "$CACHE/conf/tools-log4j2.properties" ] && LOG4J+=("-Dlog4j2.configurationFile=$CACHE/conf/tools-log4j2.properties")
[ -f "$CACHE/conf/tools-log4j.properties" ] && LOG4J+=("-Dlog4j.configuration=file:$CACHE/conf/tools-log4j.properties")
kafka_tool() { "$JAVA" "${LOG4J[@]}" -cp "$CP" "$@"; }

log "building (release)"
(cd "$ROOT" && cargo build --release -p kafkaroo-cli --bin kafkaroo -p kafkaroo-testcontainers --bin kafkaroo-broker >&2)
KAFKAROO=$TARGET/release/kafkaroo
if [ "$RSKAFKA" = 1 ]; then
    # Its own crate and lock file, outside the workspace (rskafka's lz4 and zstd codecs are C).
    (cd "$ROOT/benches/rskafka-consume" && CARGO_TARGET_DIR=$TARGET cargo build --release --locked >&2)
    RSKAFKA_CONSUME=$TARGET/release/rskafka-consume
fi

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
    log "starting a broker (data in $DATA_DIR)"
    # The broker runs until its stdin closes (at exit, in cleanup).
    SECURED_FLAG=()
    # Full JIT for the broker: with C1 only its TLS encryption, not the consumers, sets the pace.
    [ "${TLS:-0}" = 1 ] && SECURED_FLAG=(--secured --full-jit)
    coproc BROKER { TMPDIR=$DATA_DIR KAFKAROO_KAFKA_VERSION=$VERSION exec "$TARGET/release/kafkaroo-broker" start "${SECURED_FLAG[@]}"; }
    BOOTSTRAP=
    while read -r line <&"${BROKER[0]}"; do
        echo "   $line" >&2
        case $line in
            bootstrap=*) BOOTSTRAP=${line#bootstrap=} ;;
            sasl_ssl=*) SASL_SSL=${line#sasl_ssl=} ;;
            ca=*) CA=${line#ca=} ;;
            started_ms=*) break ;;
        esac
    done
    [ -n "$BOOTSTRAP" ] || die "the broker did not start"
fi
log "bootstrap $BOOTSTRAP"
# The listeners to time: PLAINTEXT, and with TLS=1 also SASL_SSL with the same -X properties for both tools.
LISTENERS=("plaintext")
if [ "${TLS:-0}" = 1 ]; then
    [ -n "${SASL_SSL:-}" ] || die "TLS=1 needs the started secured broker (not KAFKAROO_BOOTSTRAP)"
    LISTENERS+=("sasl_ssl")
    TLS_PROPS=(-X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X sasl.username=admin
        -X sasl.password=admin-secret -X "ssl.ca.location=$CA")
fi
# connect_args <listener>: -b and -X flags for kafkaroo and kcat alike.
connect_args() {
    case $1 in
        plaintext) CONNECT=(-b "$BOOTSTRAP") ;;
        sasl_ssl) CONNECT=(-b "$SASL_SSL" "${TLS_PROPS[@]}") ;;
    esac
}

# /usr/bin/time -v output -> "wall user sys rss_kb"
parse_time() {
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident set size/ { r = $2 }
        END { printf "%s %s %s %s\n", w, u, s, r }' "$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

RESULTS=$WORK/results
: >"$RESULTS"

# measure <client> <label> <codec> <command...>: RUNS runs, stdout to /dev/null; records the medians
# (and every run's wall and CPU seconds, for the JSON).
measure() {
    local client=$1 label=$2 codec=$3
    shift 3
    local i
    : >"$WORK/runs"
    for i in $(seq 1 "$RUNS"); do
        if ! "$TIME" -v -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr"; then
            cat "$WORK/stderr" "$WORK/time" >&2
            die "$label ($codec) failed"
        fi
        parse_time "$WORK/time" >>"$WORK/runs"
        echo "   $label $codec run $i: $(tail -1 "$WORK/runs") (wall user sys rss_kb)" >&2
    done
    local wall user sys rss cpu
    wall=$(awk '{ print $1 }' "$WORK/runs" | median)
    cpu=$(awk '{ print $2 + $3 }' "$WORK/runs" | median)
    user=$(awk '{ print $2 }' "$WORK/runs" | median)
    sys=$(awk '{ print $3 }' "$WORK/runs" | median)
    rss=$(awk '{ print $4 }' "$WORK/runs" | median)
    local walls cpus
    walls=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $1 }' "$WORK/runs")
    cpus=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $2 + $3 }' "$WORK/runs")
    echo "$codec|$label|$wall|$cpu|$user|$sys|$rss|$client|$walls|$cpus" >>"$RESULTS"
}

# count <label> <command...>: one run through `wc -l`, which must see every record.
count() {
    local label=$1
    shift
    local n
    n=$("$@" 2>"$WORK/stderr" | wc -l)
    [ "$n" -eq "$RECORDS" ] || { cat "$WORK/stderr" >&2; die "$label printed $n lines, expected $RECORDS"; }
    echo "   $label: counted $n records" >&2
}

# count_rskafka <topic>: one run of rskafka-consume, whose summary line must count every record.
count_rskafka() {
    local n
    n=$("$RSKAFKA_CONSUME" "$BOOTSTRAP" "$1" 2>"$WORK/stderr" | sed -n 's/^records=\([0-9]*\) .*/\1/p')
    [ "$n" = "$RECORDS" ] || { cat "$WORK/stderr" >&2; die "rskafka-consume counted '$n' records, expected $RECORDS"; }
    echo "   rskafka: counted $n records" >&2
}

for codec in $CODECS; do
    topic=bench-$codec-$RECORDS-$$
    log "topic $topic: $PARTITIONS partitions, $RECORDS x $RECORD_SIZE bytes, compression $codec"
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$topic" \
        --partitions "$PARTITIONS" --replication-factor 1 >&2
    kafka_tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$RECORDS" \
        --record-size "$RECORD_SIZE" --throughput -1 \
        --producer-props bootstrap.servers="$BOOTSTRAP" compression.type="$codec" batch.size=262144 \
        linger.ms=20 acks=1 | tail -1 >&2

    for listener in "${LISTENERS[@]}"; do
        connect_args "$listener"
        tag=""
        [ "$listener" = plaintext ] || tag=" [$listener]"
        log "counting runs ($codec, $listener)"
        count "kafkaroo$tag" "$KAFKAROO" consume "${CONNECT[@]}" -t "$topic" -e -q -f '%o\n'
        count "kcat$tag" kcat -C "${CONNECT[@]}" -t "$topic" -e -q -f '%o\n'
        # rskafka-consume is built without TLS: PLAINTEXT only.
        [ "$RSKAFKA" = 1 ] && [ "$listener" = plaintext ] && count_rskafka "$topic"

        log "timed runs ($codec, $listener): $RUNS each, one consumer at a time"
        measure kafkaroo "kafkaroo consume -e -q -f '%o\\n'$tag" "$codec" \
            "$KAFKAROO" consume "${CONNECT[@]}" -t "$topic" -e -q -f '%o\n'
        if [ -n "${BASELINE:-}" ]; then
            measure baseline "kafkaroo baseline -f '%o\\n'$tag" "$codec" \
                "$BASELINE" consume "${CONNECT[@]}" -t "$topic" -e -q -f '%o\n'
        fi
        measure kcat "kcat -C -e -q -f '%o\\n'$tag" "$codec" \
            kcat -C "${CONNECT[@]}" -t "$topic" -e -q -f '%o\n'
        measure kafkaroo "kafkaroo consume -e -q (values)$tag" "$codec" \
            "$KAFKAROO" consume "${CONNECT[@]}" -t "$topic" -e -q
        if [ -n "${BASELINE:-}" ]; then
            measure baseline "kafkaroo baseline (values)$tag" "$codec" \
                "$BASELINE" consume "${CONNECT[@]}" -t "$topic" -e -q
        fi
        measure kcat "kcat -C -e -q (values)$tag" "$codec" \
            kcat -C "${CONNECT[@]}" -t "$topic" -e -q
        if [ "$RSKAFKA" = 1 ] && [ "$listener" = plaintext ]; then
            measure rskafka "rskafka fetch_records (values)" "$codec" "$RSKAFKA_CONSUME" "$BOOTSTRAP" "$topic"
        fi
    done
    measure java "ConsumerPerformance" "$codec" \
        "$JAVA" "${LOG4J[@]}" -cp "$CP" org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$BOOTSTRAP" --topic "$topic" --messages "$RECORDS" --timeout 60000
done

{
    echo "Consume $RECORDS records of $RECORD_SIZE bytes, $PARTITIONS partitions, median of $RUNS runs"
    echo "($(nproc) cores, $(date -u +%Y-%m-%d), broker data in ${KAFKAROO_BOOTSTRAP:+an external broker}${KAFKAROO_BOOTSTRAP:-$DATA_DIR})"
    echo
    echo "| compression | consumer | wall s | records/s | CPU s (user+sys) | CPU s per million | peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    awk -F'|' -v n="$RECORDS" '{
        printf "| %s | %s | %.2f | %.0f | %.2f | %.3f | %.0f |\n", $1, $2, $3, n / $3, $4, $4 / (n / 1e6), $7 / 1024
    }' "$RESULTS"
} | tee "$OUT"

# The same rows as JSON (medians, and every run's wall and CPU seconds).
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
    echo "{"
    echo "  \"benchmark\": \"consume\","
    echo "  \"records\": $RECORDS, \"record_size\": $RECORD_SIZE, \"partitions\": $PARTITIONS, \"runs\": $RUNS,"
    echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"cores\": $(nproc),"
    echo "  \"kafka_version\": $(json_string "$VERSION"),"
    echo "  \"broker\": $(json_string "${KAFKAROO_BOOTSTRAP:-started, data in $DATA_DIR}"),"
    echo "  \"rows\": ["
    first=1
    while IFS='|' read -r codec label wall cpu user sys rss client walls cpus; do
        [ "$first" = 1 ] || echo ","
        first=0
        printf '    {"codec": %s, "client": %s, "consumer": %s, "wall_s": %s, "cpu_s": %s, "user_s": %s, "sys_s": %s, "peak_rss_kib": %s, "wall_s_runs": [%s], "cpu_s_runs": [%s]}' \
            "$(json_string "$codec")" "$(json_string "$client")" "$(json_string "$label")" \
            "$wall" "$cpu" "$user" "$sys" "$rss" "$walls" "$cpus"
    done <"$RESULTS"
    echo
    echo "  ]"
    echo "}"
} >"$JSON_OUT"
echo "(written to $OUT and $JSON_OUT)" >&2
