#!/usr/bin/env bash
# Builds the stripped binary as `make build` does and breaks its code and data
# down by module with `go tool nm` (symbol sizes of an unstripped build of
# the same code; the stripped file drops symbol tables and DWARF only).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -trimpath -ldflags "-s -w" -o "$tmp/suanli" ./cmd/suanli
go build -trimpath -o "$tmp/suanli.syms" ./cmd/suanli
printf 'stripped binary: %.1f MB (%d bytes)\n' "$(echo "$(stat -c %s "$tmp/suanli") / 1000000" | bc -l)" "$(stat -c %s "$tmp/suanli")"
# Zeroed data (.bss, .noptrbss) takes no room in the file: skip symbols from
# the first such section on.
bss=$(readelf -S -W "$tmp/suanli.syms" | awk '$3 == "NOBITS" && $2 != ".tbss" { print $4 }' | sort | head -1)
go tool nm -size "$tmp/suanli.syms" | awk -v bss="$bss" '
  function hex16(h) { h = sprintf("%16s", tolower(h)); gsub(/ /, "0", h); return h }
  BEGIN { bss = hex16(bss) }
  hex16($1) >= bss || $3 ~ /^[bB]$/ { next }
  {
    name = $4
    if (match(name, /^(github\.com|golang\.org\/x|k8s\.io|sigs\.k8s\.io|go\.etcd\.io|google\.golang\.org|gonum\.org\/v1|codeberg\.org|go\.opentelemetry\.io|go\.uber\.org|gopkg\.in|git\.sr\.ht)\/[^\/.]+(\/[^\/.]+)?/)) {
      m = substr(name, RSTART, RLENGTH)
      if (m ~ /^github\.com\/suanli\//) m = "github.com/suanli/suanli (this project)"
      else if (m ~ /^(golang\.org\/x|k8s\.io|sigs\.k8s\.io|go\.etcd\.io|google\.golang\.org|gonum\.org\/v1|codeberg\.org|go\.uber\.org|gopkg\.in|git\.sr\.ht)\//) { split(m, p, "/"); m = p[1] "/" p[2] (m ~ /^gonum|^golang\.org\/x/ ? "/" p[3] : "") }
    } else if (name ~ /^(go:|type:|runtime\.|internal\/)/) m = "Go runtime and type data"
    else { split(name, p, "."); m = "std: " p[1]; if (m ~ /\//) { split(p[1], q, "/"); m = "std: " q[1] } }
    size[m] += $2; total += $2
  }
  END {
    printf "%10.1f MB  symbols by module (the rest of the file is the line tables and read-only data)\n", total / 1e6
    for (m in size) printf "%10.1f MB  %5.1f%%  %s\n", size[m] / 1e6, 100 * size[m] / total, m | "sort -rn | head -20"
  }'
