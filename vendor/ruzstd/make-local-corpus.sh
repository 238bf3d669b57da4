#!/usr/bin/env bash
# kafkaroo addition: the crates.io package omits upstream's decodecorpus_files/, which ruzstd's own
# tests read. This generates a stand-in with the zstd CLI (not committed, see .gitignore): the
# file names those tests open, plus frames over varied inputs, levels and window sizes. Then, in
# this directory: `cargo test --lib -- --skip dict_test --skip fuzz_regressions`.
set -euo pipefail
cd "$(dirname "$0")"
out=decodecorpus_files
rm -rf "$out" && mkdir -p "$out"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT

# Inputs: text-like, JSON-ish, binary, random, runs, tiny and empty.
cat ../../crates/*/src/*.rs ../../README.md > "$src/text"
head -c 3000000 "$src/text" > "$src/text_big" || true
for i in $(seq 1 20000); do
  printf '{"id":%d,"user":"user-%05d","event":"click","note":"lorem ipsum %d"}\n' "$i" $((i * 7919 % 100000)) $((i % 97))
done > "$src/json"
head -c 400000 /usr/bin/zstd > "$src/binary"
head -c 200000 /dev/urandom > "$src/random"
{ head -c 70000 /dev/zero; printf 'abcabcabcabc%.0s' $(seq 1 5000); head -c 1000 /dev/urandom; printf 'x%.0s' $(seq 1 300000); } > "$src/runs"
printf 'abc' > "$src/abc"
: > "$src/empty"

n=100
add() { # add <input> <zstd args...>
  local input=$1; shift
  local name; name=$(printf 'z%06d' "$n"); n=$((n + 1))
  cp "$src/$input" "$out/$name"
  zstd -q -f -c "$@" "$src/$input" > "$out/$name.zst"
}
for input in text json binary random runs abc empty; do
  for args in "-1" "-3" "-9" "-19" "--fast=5" "--no-check -3" "--zstd=wlog=10 -3" "--zstd=wlog=12,slog=6 -6" "-22 --ultra"; do
    # shellcheck disable=SC2086
    add "$input" $args
  done
done
add text_big -3
add text_big --long=24 -19
add text_big "--zstd=wlog=17" -12
# A plain file fed through stdin: no content size in the frame header.
name=$(printf 'z%06d' "$n"); n=$((n + 1))
cp "$src/json" "$out/$name"; zstd -q -c -3 < "$src/json" > "$out/$name.zst"
# The names ruzstd's tests open.
printf 'abcdef' > "$out/abc.txt"; zstd -q -c "$out/abc.txt" > "$out/abc.txt.zst"
# test_decode_from_to decodes z000088 into a 1 MiB buffer: keep it below that however large the
# repository's sources (the `text` input) grow.
head -c 800000 "$src/text" > "$src/text_800k"
zstd -q -c -3 "$src/text_800k" > "$out/z000088.zst"; cp "$src/text_800k" "$out/z000088"
zstd -q -c -5 "$src/json" > "$out/z000089.zst"; cp "$src/json" "$out/z000089"
zstd -q -c -1 "$src/binary" > "$out/z000090.zst"; cp "$src/binary" "$out/z000090"
zstd -q -c -19 "$src/runs" > "$out/z000068.zst"; cp "$src/runs" "$out/z000068"
ls "$out" | wc -l
