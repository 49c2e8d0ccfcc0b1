#!/usr/bin/env bash
# Known-vulnerability check: govulncheck (pinned) over every package of the
# module, against a database built from a pinned snapshot of
# golang.org/x/vulndb (a module the Go module proxy serves, so the check
# runs where only the proxy is reachable). Only vulnerabilities the code
# can reach (symbol level) count. Each must be fixed, or listed in
# scripts/vulncheck.allow with the date it is to be reviewed by and why it
# is accepted until then; an unlisted finding, or a listed one past its
# date, fails. Listed entries no longer found are reported for removal.
#
# Update: bump VULNDB_VERSION (go list -m -versions golang.org/x/vulndb
# shows none: take the newest pseudo-version the proxy serves) and
# GOVULNCHECK's version, run this, fix or list what it finds.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB=golang.org/x/vulndb
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
ALLOW=scripts/vulncheck.allow

cache=${XDG_CACHE_HOME:-$HOME/.cache}/suanli-vulncheck
db=${SUANLI_VULNDB:-$cache/db-$VULNDB_VERSION}
if [ ! -f "$db/index/db.json" ]; then
  echo "== vulnerability database from $VULNDB@$VULNDB_VERSION (built once, then cached in $db)"
  src=$(cd "$(mktemp -d)" && go mod download -json "$VULNDB@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ ! -d "$src/data/osv" ]; then
    echo "vulncheck: $VULNDB@$VULNDB_VERSION has no data/osv" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$db")"
  rm -rf "$db.tmp"
  go run "$VULNDB/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
  rm -rf "$db"
  mv "$db.tmp" "$db"
fi

# Installed rather than run with go run, which hides its exit status.
bin=$cache/bin-${GOVULNCHECK##*@}
if [ ! -x "$bin/govulncheck" ]; then
  GOBIN=$bin go install "$GOVULNCHECK"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== govulncheck ($GOVULNCHECK, $(go env GOVERSION))"
set +e
"$bin/govulncheck" -db "file://$db" ./... >"$out" 2>&1
rc=$?
set -e
# 0: nothing found; 3: vulnerabilities found; anything else: it failed.
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  cat "$out"
  echo "vulncheck: govulncheck failed (exit $rc)" >&2
  exit 1
fi

found=$(sed -n 's/^Vulnerability #[0-9]*: \(GO-[0-9]*-[0-9]*\).*/\1/p' "$out" | sort -u)
today=$(date -u +%F)
bad=0
for id in $found; do
  entry=$(grep -E "^$id[[:space:]]" "$ALLOW" || true)
  if [ -z "$entry" ]; then
    echo "FOUND  $id: not fixed and not in $ALLOW"
    bad=1
    continue
  fi
  until=$(awk '{print $2}' <<<"$entry")
  if ! [[ "$until" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
    echo "BAD    $ALLOW: $id has no review date (ID YYYY-MM-DD reason)"
    bad=1
  elif [[ "$until" < "$today" ]]; then
    echo "EXPIRED $id: accepted until $until; fix it or review the reason: $entry"
    bad=1
  else
    echo "allowed $id until $until"
  fi
done
for id in $(grep -Eo '^GO-[0-9]+-[0-9]+' "$ALLOW" | sort -u); do
  if ! grep -qx "$id" <<<"$found"; then
    echo "note   $id is in $ALLOW but no longer found: remove it"
  fi
done
if [ "$bad" -ne 0 ]; then
  echo
  cat "$out"
  echo "vulncheck: FAILED: fix the findings above or list them, with a reason, in $ALLOW" >&2
  exit 1
fi
echo "vulncheck: ok ($(wc -w <<<"$found") reachable finding(s), all listed with reasons)"
