#!/usr/bin/env bash
# Regenerates crates/semver/tests/masterminds.tsv: every constraint in
# constraints.txt checked against every version in versions.txt by the Go
# module Flux uses. Run from anywhere; needs Go and the Go module proxy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../crates/semver/tests/masterminds.tsv"
bin="$(mktemp -d)/semver-oracle"
(cd "$here" && go build -o "$bin" .)
while IFS= read -r c; do
  while IFS= read -r v; do
    printf '%s\t%s\n' "$c" "$v"
  done < "$here/versions.txt"
done < "$here/constraints.txt" | "$bin" > "$out"
echo "wrote $(wc -l < "$out") cases to $out"
