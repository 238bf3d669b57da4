#!/usr/bin/env bash
# Runs each fuzz target (or the ones named) for a bounded time, one after another.
#
#   fuzz/run-bounded.sh SECONDS [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz use the nightly-only sanitizer flags; set FUZZ_SANITIZER=none to skip ASan.
# New corpus entries go to $FUZZ_WORK_DIR (default target/fuzz-work), never into the committed
# seeds; crashes land in artifacts/<target>/ and make the script fail.
set -euo pipefail

secs=${1:?usage: run-bounded.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
sanitizer=${FUZZ_SANITIZER:-address}
work_root=${FUZZ_WORK_DIR:-target/fuzz-work}

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

status=0
for t in "${targets[@]}"; do
    work="$work_root/$t"
    mkdir -p "$work" "corpus/$t" "artifacts/$t"
    dirs=("$work" "corpus/$t")
    if [ -d "regressions/$t" ]; then
        dirs+=("regressions/$t")
    fi
    echo "=== $t: ${secs}s ==="
    if ! cargo fuzz run --sanitizer "$sanitizer" "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/"; then
        echo "!!! $t found a crash: see fuzz/artifacts/$t/" >&2
        status=1
    fi
done
exit $status
