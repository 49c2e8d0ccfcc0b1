#!/usr/bin/env bash
# Builds the real kube-apiserver (v1.37.2, from k8s.io/kubernetes) and an
# etcd (v3.7.3) for the Kubernetes-site integration tests, once: the
# binaries are kept in a cache folder and reused while they exist. Prints
# the folder (use it as KUBEBUILDER_ASSETS).
set -euo pipefail
cd "$(dirname "$0")/../tools/kube"
assets=${SUANLI_KUBE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/suanli/kube-v1.37.2}
mkdir -p "$assets"
if [ ! -x "$assets/kube-apiserver" ]; then
  echo "building kube-apiserver v1.37.2 into $assets (about 6 minutes the first time)" >&2
  go build -tags tools -ldflags "-X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
    -o "$assets/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$assets/kube-apiserver.tmp" "$assets/kube-apiserver"
fi
if [ ! -x "$assets/etcd" ]; then
  go build -o "$assets/etcd.tmp" ./etcd
  mv "$assets/etcd.tmp" "$assets/etcd"
fi
echo "$assets"
