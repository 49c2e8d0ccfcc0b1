package core

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestStoredJobThatCanNeverFitIsFailed: a queued job restored from the
// store that the network can never hold (stored before submit checked it)
// is failed with can-never-fit at the first pass, reserves nothing, and
// the job queued behind it is placed.
func TestStoredJobThatCanNeverFitIsFailed(t *testing.T) {
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=48 cards=8 per-domain=48"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{})
	big := model.Job{ID: "big", Tenant: "a", Kind: model.Gang, Workers: 60, CardsPerWorker: 8, Topology: model.TopoDomain, TopologyRequired: true}
	small := model.Job{ID: "small", Tenant: "b", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}
	for i, j := range []model.Job{big, small} {
		if err := c.Step(JobRestored{At: 1, Job: j, State: model.Pending, Position: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Step(Tick{At: 2}); err != nil {
		t.Fatal(err)
	}
	rd := c.Ready()
	got := map[model.JobID]JobStatus{}
	for _, st := range rd.Jobs {
		got[st.Job] = st
	}
	b := got["big"]
	if b.State != model.Failed || b.Reason != ReasonNeverFits || b.Decision == nil ||
		!strings.Contains(b.Decision.Explanation.Summary, "can never fit") || !strings.Contains(b.Decision.Explanation.Summary, "48 such workers") {
		t.Fatalf("big: %+v", b)
	}
	if got["small"].State != model.Placed {
		t.Fatalf("small: %+v", got["small"])
	}
	if len(c.resv) != 0 {
		t.Fatalf("%d reservations", len(c.resv))
	}
	c.Advance(rd)
	if _, ok := c.Job("big"); ok {
		t.Fatal("the failed job is still held after Advance")
	}
}
