#!/usr/bin/env bash
# Regenerates crates/gotemplate/tests/golden/*.jsonl: every case of
# crates/gotemplate/tests/cases/*.txt rendered by Go's text/template with
# Sprig as Helm registers it. Needs Go and the Go module proxy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
crate="$here/../../crates/gotemplate/tests"
bin="$(mktemp -d)/gotemplate-oracle"
(cd "$here" && go build -o "$bin" .)
mkdir -p "$crate/golden"
for f in "$crate"/cases/*.txt; do
  out="$crate/golden/$(basename "${f%.txt}").jsonl"
  "$bin" "$f" > "$out"
  echo "wrote $(wc -l < "$out") cases to $out"
done
