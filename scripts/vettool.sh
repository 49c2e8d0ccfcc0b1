#!/usr/bin/env bash
# A go vet tool (go vet -vettool=scripts/vettool.sh) that is the Go
# toolchain's own vet with every analyzer, except that it skips the fact
# pass over packages outside this module. go vet runs the vet tool on every
# dependency, standard library included, only to gather facts for its
# printf analyzer (which functions wrap fmt.Printf); over this module's
# 640 dependencies that is most of go vet's CPU: go vet ./... after a build
# of the binary took 440 s of CPU with it, 91 s without (2-core machine,
# cold vet cache). Skipped, the printf analyzer
# still checks calls to the standard library's printf functions (fmt, log,
# testing: it knows them by name) and to this module's own wrappers, which
# keep their facts; only wrappers defined in dependencies go unchecked.
set -euo pipefail
# go vet runs this once per package: scripts/test.sh names the real vet
# once (SUANLI_VET) rather than have each run ask go env.
real=${SUANLI_VET:-$(go env GOTOOLDIR)/vet}
module=github.com/suanli/suanli
if [ "${1:-}" = "-V=full" ]; then
  # go caches vet results by this line: keep them apart from plain vet's.
  echo "$("$real" -V=full) suanli-module-facts"
  exit 0
fi
cfg="${*: -1}"
if [[ "$cfg" == *.cfg ]] && grep -q '"VetxOnly": true' "$cfg" && ! grep -q "\"ModulePath\": \"$module\"" "$cfg"; then
  out=$(sed -n 's/^[[:space:]]*"VetxOutput": "\(.*\)",$/\1/p' "$cfg")
  if [ -z "$out" ]; then
    echo "scripts/vettool.sh: no VetxOutput in $cfg" >&2
    exit 1
  fi
  : >"$out" # no facts
  exit 0
fi
exec "$real" "$@"
