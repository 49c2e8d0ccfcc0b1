package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestTaskMixLearnedAndKept: the leader learns the task mix from the jobs
// submitted and keeps it in the store; /v1/scheduler/workload shows it; a
// new leader on the same store goes on from it rather than from the prior.
func TestTaskMixLearnedAndKept(t *testing.T) {
	st := mem.New(mem.Config{})
	cfg := Config{Store: st, Network: smallNetwork(t), Mix: &sched.MixConfig{Every: 4, PriorWeight: 4}}
	srv, url, stop := runServer(t, cfg)
	token := adminToken(t, srv)
	admin := v1.NewClient(url, token)
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	m, err := admin.TaskMix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Learned || m.Observed != 0 || len(m.Typical) == 0 {
		t.Fatalf("before any job: %+v, want the prior", m)
	}
	submit := func(c *v1.Client, n int) {
		for range n {
			if _, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "inference", Workers: 1, ShareMilli: 370, CPUMilli: 1500}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitObserved := func(c *v1.Client, want int64) *v1.TaskMix {
		deadline := time.Now().Add(10 * time.Second)
		for {
			m, err := c.TaskMix(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Learned && m.Observed == want {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("stored mix: %+v, want %d arrivals observed", m, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	submit(admin, 8)
	m = waitObserved(admin, 8)
	found := false
	for _, s := range m.Typical {
		found = found || (s.ShareMilli == 370 && s.CPUMilli == 1500 && s.PopularityMilli > 0)
	}
	if !found {
		t.Fatalf("the learned mix lacks the submitted shape: %+v", m.Typical)
	}
	stop()

	_, url2, _ := runServer(t, cfg) // a new leader on the same store
	admin2 := v1.NewClient(url2, token)
	submit(admin2, 4)
	m2 := waitObserved(admin2, 12) // 8 kept + 4 new: not 4 from the prior
	if fmt.Sprint(m2.Typical) == "" {
		t.Fatal("empty mix")
	}
}
