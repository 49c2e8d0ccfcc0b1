#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a
# fresh Debian machine, then checks formatting, vets, and runs every test
# with the race detector, and every benchmark once so they keep working.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if grep -rlq --include='*_test.go' chromedp . 2>/dev/null && ! command -v chromium >/dev/null; then
  need_apt+=(chromium)
fi
if ! command -v go >/dev/null; then
  echo "Go 1.26 is required: install it from your distribution or go.dev" >&2
  exit 1
fi
if ! command -v gcc >/dev/null; then need_apt+=(gcc libc6-dev); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "== kube-apiserver and etcd for the Kubernetes-site tests (built once, then cached)"
KUBEBUILDER_ASSETS=$(./scripts/kube-tools.sh)
export KUBEBUILDER_ASSETS

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -timeout 20m ./...
echo "== benchmarks, once each"
go test -run '^$' -bench . -benchtime 1x -timeout 20m ./... > /tmp/suanli-bench.log 2>&1 || { cat /tmp/suanli-bench.log; exit 1; }
grep -E '^(ok|FAIL|---)' /tmp/suanli-bench.log || true
