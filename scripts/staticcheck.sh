#!/usr/bin/env bash
# staticcheck at a pinned version, over every package and its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
staticcheck=$(./scripts/gotool.sh honnef.co/go/tools/cmd/staticcheck@v0.8.2)
"$staticcheck" ./...
