#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a
# fresh Debian machine, then checks formatting, modules, vet (also with the
# nvml tag), staticcheck, dead code and known vulnerabilities, and runs
# every test with the race detector and every benchmark once so they keep
# working. Each phase prints its wall time; the total closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
phase_start=$SECONDS
phase_name=""
phase() { # phase NAME: closes the previous phase with its time, opens NAME
  if [ -n "$phase_name" ]; then
    printf '   (%s: %d s)\n' "$phase_name" $((SECONDS - phase_start))
  fi
  phase_name=$1
  phase_start=$SECONDS
  [ -n "$1" ] && echo "== $1"
  return 0
}

# apt_get runs apt-get, waiting up to 10 minutes for another package manager
# (unattended-upgrades, a second install) to let go of its lock.
apt_get() {
  local waited=0
  while true; do
    if out=$($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not (get|open) lock|unable to acquire|is another process using it' <<<"$out" || [ $waited -ge 600 ]; then
      echo "$out" >&2
      [ $waited -ge 600 ] && echo "apt-get $*: the package manager stayed locked for 10 minutes; find the other apt or dpkg process (ps aux | grep -E 'apt|dpkg') and run this again once it ends" >&2
      return 1
    fi
    [ $waited -eq 0 ] && echo "   another process holds the package manager's lock; waiting (up to 10 minutes)"
    sleep 5
    waited=$((waited + 5))
  done
}

phase "prerequisites"
if ! command -v go >/dev/null; then
  echo "Go 1.26 is required: install it from your distribution or go.dev" >&2
  exit 1
fi
# What the tests need from Debian, and why; only what is missing is installed.
need_apt=()
why=()
if ! command -v chromium >/dev/null; then need_apt+=(chromium); why+=("chromium: the dashboard's browser tests"); fi
if ! fc-list 2>/dev/null | grep -qi 'noto sans cjk\|wqy\|droid sans fallback'; then
  need_apt+=(fonts-wqy-zenhei); why+=("fonts-wqy-zenhei: the dashboard's Chinese brand and labels render in the browser tests")
fi
if ! command -v gcc >/dev/null; then need_apt+=(gcc libc6-dev); why+=("gcc: the race detector and the nvml build need cgo"); fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#need_apt[@]} -gt 0 ]; then
  printf '   installing %s\n' "${why[@]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  echo "   chromium, a CJK font and gcc are present"
fi

phase "kube-apiserver and etcd for the Kubernetes-site tests (built once per machine and version, then cached)"
KUBEBUILDER_ASSETS=$(./scripts/kube-tools.sh)
export KUBEBUILDER_ASSETS

phase "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

phase "go mod tidy -diff"
go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy" >&2; exit 1; }

phase "go vet (default build, and the nvml build of the device package and the binary)"
go vet ./...
export CGO_CFLAGS="${CGO_CFLAGS:-} -Wno-deprecated-declarations" # NVML's header marks much deprecated
go vet -tags nvml ./internal/device/ ./cmd/suanli/
go build -tags nvml -o /dev/null ./cmd/suanli

phase "staticcheck"
./scripts/staticcheck.sh

phase "dead code"
./scripts/deadcode.sh

if [ -x scripts/vulncheck.sh ]; then
  phase "govulncheck"
  ./scripts/vulncheck.sh
fi

phase "go test -race, and each benchmark once"
go test -race -timeout 25m ./...
go test -tags nvml -race -run 'NVML|WithNative' ./internal/device/
go test -run '^$' -bench . -benchtime 1x -timeout 20m ./... > /tmp/suanli-bench.log 2>&1 || { cat /tmp/suanli-bench.log; exit 1; }
grep -E '^(ok|FAIL|---)' /tmp/suanli-bench.log || true

phase ""
printf '== done in %d min %d s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
