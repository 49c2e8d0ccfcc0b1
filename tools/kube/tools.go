//go:build tools

// Package kube builds the real Kubernetes API server and an etcd binary for
// the Kubernetes-site integration tests (internal/kube/kubetest). It is its own module so
// that Kubernetes' dependency graph stays out of Suanli's.
package kube

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
