#!/usr/bin/env bash
# Writes vendor/<fork>.patch: the full diff of each fork in vendor/ against the crates.io release it
# started from (fetched with cargo into ~/.cargo/registry). `--check` only compares, for CI: it fails when
# a fork changed and its .patch was not regenerated.
#   vendor/diff-upstream.sh [--check]
set -euo pipefail
cd "$(dirname "$0")"
check=false
[ "${1:-}" = --check ] && check=true
# fork directory, crates.io name, upstream version
forks=("kafka-protocol kafka-protocol 0.18.0" "ruzstd ruzstd 0.9.1")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/src"
: > "$scratch/src/lib.rs"
{
  printf '[package]\nname = "upstream-sources"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[workspace]\n[dependencies]\n'
  for f in "${forks[@]}"; do
    read -r _ name version <<<"$f"
    printf '%s = { version = "=%s", default-features = false }\n' "$name" "$version"
  done
} > "$scratch/Cargo.toml"
metadata=$(cargo metadata --quiet --format-version 1 --manifest-path "$scratch/Cargo.toml")

status=0
for f in "${forks[@]}"; do
  read -r dir name version <<<"$f"
  src=$(python3 -c 'import json,sys; m=json.load(sys.stdin); print([p["manifest_path"] for p in m["packages"] if p["name"]==sys.argv[1] and p["version"]==sys.argv[2]][0].rsplit("/",1)[0])' "$name" "$version" <<<"$metadata")
  # a/ = the release as published (minus cargo's extraction marker), b/ = the fork's files in git
  # (tracked or new, not ignored), so build output and local corpora never enter the diff.
  mkdir -p "$scratch/cmp-$dir"
  (cd "$scratch/cmp-$dir" && cp -a "$src" a && rm -f a/.cargo-ok && mkdir b)
  git ls-files -z --cached --others --exclude-standard -- "$dir" | while IFS= read -r -d '' file; do
    [ -e "$file" ] || continue   # deleted in the work tree
    mkdir -p "$scratch/cmp-$dir/b/$(dirname "${file#"$dir"/}")"
    cp -a "$file" "$scratch/cmp-$dir/b/${file#"$dir"/}"
  done
  out="$scratch/$dir.patch"
  {
    echo "# vendor/$dir against crates.io's $name $version (vendor/README.md explains each change)."
    echo "# Apply to the release with: patch -p1 < $dir.patch   Regenerate with vendor/diff-upstream.sh."
    (cd "$scratch/cmp-$dir" && git diff --no-index --no-prefix --no-color --no-ext-diff a b || true)
  } > "$out"
  if $check; then
    if ! cmp -s "$out" "$dir.patch"; then
      echo "vendor/$dir.patch is out of date: run vendor/diff-upstream.sh" >&2
      status=1
    fi
  else
    cp "$out" "$dir.patch"
    echo "vendor/$dir.patch: $(grep -c '^diff --git' "$dir.patch") files differ from $name $version"
  fi
done
exit $status
