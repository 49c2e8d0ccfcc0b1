package core

import (
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
)

// drainPolicy denies new placements on one model; it keeps running jobs
// there except those named in evict.
type drainPolicy struct {
	model string
	evict map[model.JobID]bool
}

func (p drainPolicy) Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (bool, string) {
	if m.ID == p.model {
		return false, "ADV-1"
	}
	return true, ""
}

func (p drainPolicy) Keep(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) bool {
	return m.ID != p.model || !p.evict[job.ID]
}

// allowOnly is drainPolicy without Keep: the core re-checks with Allow.
type allowOnly struct{ p drainPolicy }

func (a allowOnly) Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (bool, string) {
	return a.p.Allow(job, site, node, m)
}

func TestKeeperEvictsOnlyWhatItNames(t *testing.T) {
	net, err := network.Parse([]byte(`
name: k
sites:
- id: a
  region: R
  operator: Op
  ownership: self-built
  pools:
  - {model: nvidia-h20, nodes: 2, cards_per_node: 8}
  - {model: cambricon-mlu370-x8, nodes: 2, cards_per_node: 8}
`), "k", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		policy  func(drainPolicy) sched.Policy
		evicted []model.JobID
	}{
		{"keeper: only the named job moves", func(p drainPolicy) sched.Policy { return p }, []model.JobID{"j1"}},
		{"no keeper: every job the policy denies moves", func(p drainPolicy) sched.Policy { return allowOnly{p} }, []model.JobID{"j1", "j2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(net, Config{})
			for _, id := range []model.JobID{"j1", "j2"} {
				j := model.Job{ID: id, Tenant: "t", Kind: model.Gang, Workers: 1, CardsPerWorker: 8, Models: []string{"nvidia-h20"}}
				if err := c.Step(JobSubmitted{At: 1, Job: j}); err != nil {
					t.Fatal(err)
				}
			}
			c.Advance(c.Ready())
			p := drainPolicy{model: "nvidia-h20", evict: map[model.JobID]bool{"j1": true}}
			if err := c.Step(PolicyChanged{At: 2, Policy: tt.policy(p)}); err != nil {
				t.Fatal(err)
			}
			rd := c.Ready()
			var got []model.JobID
			for _, s := range rd.Stops {
				if s.Reason != StopEvicted {
					t.Errorf("stop of %s: %s", s.Job, s.Reason)
				}
				got = append(got, s.Job)
			}
			if len(got) != len(tt.evicted) {
				t.Fatalf("evicted %v, want %v", got, tt.evicted)
			}
			for i := range got {
				if got[i] != tt.evicted[i] {
					t.Fatalf("evicted %v, want %v", got, tt.evicted)
				}
			}
			// An evicted job may not return to the drained model: it waits.
			for _, id := range tt.evicted {
				if st, _ := c.Job(id); st.State != model.Blocked || st.Placement != nil {
					t.Errorf("%s after eviction: %s %v", id, st.State, st.Placement)
				}
			}
		})
	}
}
