package core

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// declaredStream is a random workload whose jobs end at their declared
// runtimes (as the synthetic workloads' do), with a few ending early or
// cancelled: the jobs behind a blocked gang place and end around its
// reservation while it waits. It returns the decisions (placements and
// stops, in order) and the number of plans made.
func declaredStream(t *testing.T, seed uint64, n int, stamp func(*Core) func(*entry, map[model.NodeID]bool) uint64) (decisions []byte, plans int) {
	t.Helper()
	net := propNetwork(t)
	c := New(net, Config{ReleaseWithin: 30})
	if stamp != nil {
		c.stampOf = stamp(c)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	r := &randomEvents{rng: rng, net: net}
	var out bytes.Buffer
	ends := map[model.JobID]int64{} // placed jobs' declared ends
	step := func(ev Event) {
		if err := c.Step(ev); err != nil {
			fmt.Fprintf(&out, "%T: %v\n", ev, err)
		}
		for c.HasReady() {
			rd := c.Ready()
			for _, p := range rd.Placements {
				fmt.Fprintf(&out, "%d place %s\n", c.now, placementString(&p))
				ends[p.Job] = c.now + c.jobs[p.Job].job.RuntimeSec
			}
			for _, s := range rd.Stops {
				fmt.Fprintf(&out, "%d stop %s %s\n", c.now, s.Job, s.Reason)
				delete(ends, s.Job)
			}
			for _, st := range rd.Jobs {
				if st.Placement == nil {
					delete(ends, st.Job)
				}
			}
			c.Advance(rd)
		}
	}
	// Tenants without quotas or caps but for t2 in odd seeds: a limited
	// tenant's gangs plan again whenever what it holds changes.
	for i, ev := range r.tenants() {
		tu := ev.(TenantUpserted)
		if i != 2 || seed%2 == 0 {
			tu.Tenant.QuotaGFLOPS, tu.Tenant.VendorCaps = 0, nil
		}
		step(tu)
	}
	for range n {
		r.now += int64(1 + rng.IntN(15))
		// The jobs due by now end at their declared ends, in order.
		var due []model.JobID
		for id, end := range ends {
			if end <= r.now {
				due = append(due, id)
			}
		}
		slices.SortFunc(due, func(a, b model.JobID) int {
			if ends[a] != ends[b] {
				return int(ends[a] - ends[b])
			}
			return cmpString(string(a), string(b))
		})
		for _, id := range due {
			step(JobFinished{At: ends[id], Job: id})
		}
		switch k := rng.IntN(20); {
		case k < 12:
			j := r.job()
			if j.RuntimeSec == 0 || rng.IntN(3) == 0 {
				j.RuntimeSec = int64(30 + rng.IntN(600))
			}
			if rng.IntN(3) == 0 {
				j.Kind, j.Workers, j.CardsPerWorker, j.ShareMilli = model.Gang, 1+rng.IntN(3), []int{4, 8}[rng.IntN(2)], 0
			}
			step(JobSubmitted{At: r.now, Job: j})
		case k < 13 && len(ends) > 0:
			ids := make([]model.JobID, 0, len(ends))
			for id := range ends {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			step(JobFinished{At: r.now, Job: ids[rng.IntN(len(ids))]}) // early
		default:
			step(Tick{At: r.now})
		}
	}
	return out.Bytes(), c.plans
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// contentStamp stamps a plan with what its nodes hold that the plan does
// not expect gone by its start (their health, the placements that end
// after it or declare no end, the stopped workers' holds) rather than with
// the core's record of changes (changedOn): a change that record misses
// shows as a decision that differs.
func contentStamp(c *Core) func(*entry, map[model.NodeID]bool) uint64 {
	return func(e *entry, nodes map[model.NodeID]bool) uint64 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d|", c.gangStamp(e))
		r := c.resvOf(e)
		if r == nil || len(nodes) == 0 {
			return h.Sum64()
		}
		for _, n := range slices.Sorted(maps.Keys(nodes)) {
			fmt.Fprintf(h, "%s down=%v", n, c.down[n])
			for _, x := range c.sortedOn(n) {
				if end := x.placedAt + x.job.RuntimeSec; x.job.RuntimeSec <= 0 || r.start < 0 || end > r.start {
					fmt.Fprintf(h, " %s@%d:%s", x.job.ID, x.placedAt, placementString(x.st.Placement))
				}
			}
			for _, k := range c.holdKeys(func(k holdKey, _ *hold) bool { return k.node == n }) {
				hd := c.holds[k]
				fmt.Fprintf(h, " hold %s@%d:%s", k.job, hd.since, placementString(&hd.p))
			}
			h.Write([]byte{'\n'})
		}
		return h.Sum64()
	}
}

// A reservation keeps its plan while nothing on its nodes changed (and no
// capacity was freed early on its models, the gang's tenant, the policy
// and the mix stayed): the counts that say so (nodeGen and the rest)
// decide as stamping each plan with its nodes' contents does, and save
// most plans.
func TestKeptPlansFollowNodeContents(t *testing.T) {
	var kept, content int
	const seeds, events = 8, 300
	for seed := uint64(1); seed <= seeds; seed++ {
		a, np := declaredStream(t, seed, events, nil)
		b, nc := declaredStream(t, seed, events, contentStamp)
		kept, content = kept+np, content+nc
		if !bytes.Equal(a, b) {
			la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
			for i := range min(len(la), len(lb)) {
				if !bytes.Equal(la[i], lb[i]) {
					t.Fatalf("seed %d: decision %d differs:\nby counts:   %s\nby contents: %s", seed, i, la[i], lb[i])
				}
			}
			t.Fatalf("seed %d: %d decisions by counts, %d by contents", seed, len(la), len(lb))
		}
		if len(a) == 0 {
			t.Fatalf("seed %d: no decisions", seed)
		}
	}
	// Re-planning on every try, for scale.
	replans := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		_, n := declaredStream(t, seed, events, func(*Core) func(*entry, map[model.NodeID]bool) uint64 {
			fresh := uint64(0)
			return func(*entry, map[model.NodeID]bool) uint64 { fresh++; return fresh }
		})
		replans += n
	}
	t.Logf("plans made: %d by counts, %d by contents, %d re-planning on every try", kept, content, replans)
	if kept < content || content == 0 || 4*kept > 3*replans {
		t.Fatalf("plans: %d by counts, %d by contents, %d re-planning: the cache is not exercised", kept, content, replans)
	}
}

// A plan is kept across placements and ends elsewhere, a backfill on its
// nodes and a late end, and made again when a job the gang can wait for ends early or
// a node of it is lost.
func TestKeptPlanInvalidation(t *testing.T) {
	net, err := specLines([]string{
		"site=a model=huawei-ascend-910c nodes=2 cards=8",
		"site=b model=huawei-ascend-910c nodes=2 cards=8",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{})
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		for c.HasReady() {
			c.Advance(c.Ready())
		}
	}
	submit := func(at int64, id string, kind model.JobKind, workers, cards int, runtime int64, site model.SiteID) {
		t.Helper()
		step(JobSubmitted{At: at, Job: model.Job{ID: model.JobID(id), Tenant: "t", Kind: kind, Workers: workers,
			CardsPerWorker: cards, RuntimeSec: runtime, Sites: []model.SiteID{site}}})
	}
	state := func(id string) model.JobState {
		if e := c.jobs[model.JobID(id)]; e != nil {
			return e.st.State
		}
		return model.Completed // ended jobs leave the core
	}
	submit(0, "busy0", model.Batch, 1, 8, 200, "a")
	submit(0, "busy1", model.Batch, 1, 8, 300, "a")
	submit(0, "gang", model.Gang, 2, 8, 50, "a")
	r := c.resvOf(c.jobs["gang"])
	if r == nil || r.start != 300 || len(r.nodes) != 2 {
		t.Fatalf("reservation: %+v", r)
	}
	plans := c.plans
	expect := func(what string, more bool) {
		t.Helper()
		if got := c.plans > plans; got != more {
			t.Fatalf("%s: planned again %v, want %v", what, got, more)
		}
		plans = c.plans
	}
	// Work placed and ended at site b, where the gang cannot go: the plan
	// stays.
	submit(10, "b0", model.Batch, 1, 8, 90, "b")
	submit(10, "b1", model.Gang, 1, 8, 1000, "b")
	step(JobFinished{At: 100, Job: "b0"}) // at its declared end
	submit(100, "b2", model.Inference, 1, 4, 1000, "b")
	submit(105, "b3", model.Batch, 1, 4, 60, "b")
	if state("b0") != model.Completed || state("b1") != model.Placed || state("b2") != model.Placed || state("b3") != model.Placed {
		t.Fatalf("site b: b0 %s, b1 %s, b2 %s, b3 %s", state("b0"), state("b1"), state("b2"), state("b3"))
	}
	expect("work at site b", false)
	// busy0 ends early: capacity freed on the gang's model.
	step(JobFinished{At: 150, Job: "busy0"})
	expect("an early end", true)
	// A job that ends before the gang's start backfills on a planned node:
	// the plan foresaw it (the gang is tried again when b3 ends).
	submit(160, "short", model.Batch, 1, 8, 40, "a")
	if state("short") != model.Placed {
		t.Fatalf("short: %s, want placed", state("short"))
	}
	step(JobFinished{At: 165, Job: "b3"})
	expect("a backfill on a planned node", false)
	// A job that overran its declared runtime ends late: every plan
	// counted its cards free by then, so none is made again.
	submit(166, "late", model.Batch, 1, 4, 2, "b")
	if state("late") != model.Placed {
		t.Fatalf("late: %s, want placed", state("late"))
	}
	step(JobFinished{At: 169, Job: "late"})
	expect("a late end", false)
	// A planned node lost: planned again, without it.
	lost := slices.Sorted(maps.Keys(c.resvOf(c.jobs["gang"]).nodes))[0]
	step(NodeLost{At: 170, Node: lost})
	expect("a planned node lost", true)
	if r := c.resvOf(c.jobs["gang"]); r != nil && r.nodes[lost] {
		t.Fatalf("the plan kept the lost node %s", lost)
	}
}
