package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/kube/kubetest"
)

// TestSiteFirstInventoryWhole: the first inventory a site reports holds
// every node of the first listing, never a part of it (the nodes not
// delivered yet would read as absent, and the bridge would report their
// cards in error).
func TestSiteFirstInventoryWhole(t *testing.T) {
	const nodes = 300
	var objs []runtime.Object
	for i := range nodes {
		n := node(fmt.Sprintf("ascend-%03d", i), true, nil, map[string]int64{"huawei.com/Ascend910B3": 8})
		objs = append(objs, &n)
	}
	s := &Site{ID: "k8s", Client: clientsetCore{kubetest.NewFake(objs...)}, Catalog: catalog.Default(), Namespace: "jobs", ProbeEvery: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 16)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, events) }()
	defer func() { cancel(); <-done }()
	for {
		select {
		case e := <-events:
			if e.Kind != InventoryChanged {
				continue
			}
			if len(e.Inventory.Present) != nodes || len(e.Inventory.Nodes) != nodes {
				t.Fatalf("first inventory holds %d of %d nodes", len(e.Inventory.Present), nodes)
			}
			return
		case err := <-done:
			t.Fatalf("site stopped: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no inventory")
		}
	}
}
