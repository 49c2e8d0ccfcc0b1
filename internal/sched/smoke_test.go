package sched

import (
	"encoding/json"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

func TestSmokeDefault(t *testing.T) {
	net, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCluster(net)
	t.Logf("cards %d nodes %d domains %d", c.Cards(), len(c.st.nodes), len(c.st.domains))
	jobs := []model.Job{
		{ID: "b1", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 4},
		{ID: "g1", Tenant: "t", Kind: model.Gang, Workers: 16, CardsPerWorker: 8, Topology: model.TopoDomain},
		{ID: "f1", Tenant: "t", Kind: model.Inference, Workers: 3, ShareMilli: 300, MemMiB: 8000},
		{ID: "c1", Tenant: "t", Kind: model.Gang, Workers: 4, ComputeGFLOPS: 4_000_000, PyTorch: []string{"torch_npu", "torch_mlu"}},
		{ID: "x1", Tenant: "t", Kind: model.Gang, Workers: 4, CardsPerWorker: 8, Models: []string{"nosuch"}},
	}
	for i := range jobs {
		d := Schedule(c, &jobs[i], Input{}, Config{})
		b, _ := json.MarshalIndent(d, "", " ")
		t.Logf("%s", b)
		if d.Placement != nil {
			if err := c.Apply(*d.Placement); err != nil {
				t.Fatal(err)
			}
		}
	}
}
