#!/usr/bin/env bash
# gotool.sh PACKAGE@VERSION: prints the path of that Go command, installing
# it first if this machine does not have it yet. Tools are kept per version
# and per Go toolchain in a cache folder (like the kube binaries), so a
# clean clone or an empty Go build cache does not compile them again
# (`go run PACKAGE@VERSION` does: about 50 s of CPU for staticcheck and
# deadcode together).
set -euo pipefail
tool=$1
name=${tool%@*}
name=${name##*/}
bin=${XDG_CACHE_HOME:-$HOME/.cache}/suanli/tools/$(go env GOVERSION)/$name-${tool##*@}
if [ ! -x "$bin/$name" ]; then
  rm -rf "$bin.tmp"
  mkdir -p "$bin.tmp"
  GOBIN=$bin.tmp go install "$tool" >&2
  rm -rf "$bin"
  mv "$bin.tmp" "$bin"
fi
echo "$bin/$name"
