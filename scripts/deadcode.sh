#!/usr/bin/env bash
# Fails when a function of the project is unreachable from the binary's main
# (default and nvml builds), unless scripts/deadcode-allow.txt names it with
# the reason it stays. Test helpers belong in _test.go files or packages named
# *test, which this check does not see.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(./scripts/gotool.sh golang.org/x/tools/cmd/deadcode@v0.52.0)
found=$( { "$tool" ./cmd/suanli; CGO_CFLAGS="${CGO_CFLAGS:-} -Wno-deprecated-declarations" "$tool" -tags nvml ./cmd/suanli; } |
  sed -E 's/^([^:]+):[0-9]+:[0-9]+: unreachable func: (.*)$/\1 \2/' | sort | uniq -d)
# Unreachable in both builds: compare with the allow-list (path and name; the
# reason follows on the same line after " -- ").
allowed=$(grep -vE '^\s*(#|$)' scripts/deadcode-allow.txt | sed -E 's/ -- .*$//' | sort -u)
extra=$(comm -23 <(echo "$found" | grep -v '^$' || true) <(echo "$allowed"))
stale=$(comm -13 <(echo "$found" | grep -v '^$' || true) <(echo "$allowed"))
status=0
if [ -n "$extra" ]; then
  echo "unreachable from the binary (remove it, move it into a _test.go file or a *test package, or allow it in scripts/deadcode-allow.txt with a reason):"
  echo "$extra" | sed 's/^/  /'
  status=1
fi
if [ -n "$stale" ]; then
  echo "scripts/deadcode-allow.txt names functions that are reachable or gone; remove these lines:"
  echo "$stale" | sed 's/^/  /'
  status=1
fi
[ $status -eq 0 ] && echo "   no unreachable function outside the allow-list"
exit $status
