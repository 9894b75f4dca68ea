#!/usr/bin/env bash
# Regenerates controllers/source/tests/helm-index/*.golden: each index there
# loaded and stored by Flux's own code (helm v4.2.2, as source-controller
# v1.9 uses), or "error: ..." where Flux refuses it. Run from anywhere;
# needs Go and the Go module proxy (or a warm module cache).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cases="$here/../../controllers/source/tests/helm-index"
bin="$(mktemp -d)/helm-index-oracle"
(cd "$here" && GOFLAGS=-mod=mod go build -o "$bin" .)
for f in "$cases"/*.yaml "$cases"/*.json; do
  "$bin" "$f" "${f%.*}.golden"
done
echo "wrote $(ls "$cases"/*.golden | wc -l) golden files to $cases"
