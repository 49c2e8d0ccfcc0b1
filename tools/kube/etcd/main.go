// Command etcd is etcd's own main, for the Kubernetes-site tests (internal/kube/kubetest).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
