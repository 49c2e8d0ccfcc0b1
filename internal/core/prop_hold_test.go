package core

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// The random streams again, with holds on (ReleaseWithin) and the events
// of partitions and releases among them: agents starting and stopping to
// report, workers gone, nodes disconnected, jobs lost. Besides the usual
// invariants: a hold and a placement never share a card, and a core built
// again from the store (a new leader: no holds) agrees with the store.
func TestPropertiesWithHoldsAndDisconnects(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 6
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		runHoldStream(t, seed, 300)
	}
}

func TestDeterminismWithHolds(t *testing.T) {
	a, b := runHoldStream(t, 5, 300), runHoldStream(t, 5, 300)
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Fatal("two runs of the same events gave different Ready streams")
	}
}

func runHoldStream(t *testing.T, seed uint64, n int) []byte {
	t.Helper()
	const within = 60
	net := propNetwork(t)
	c := New(net, Config{ReleaseWithin: within})
	r := &randomEvents{rng: rand.New(rand.NewPCG(seed, 11)), net: net}
	s := &store{placed: map[model.JobID]model.Placement{}, status: map[model.JobID]JobStatus{}}
	jobs := map[model.JobID]model.Job{}
	var out bytes.Buffer
	events := r.tenants()
	for i := range net.Nodes {
		events = append(events, NodeReports{Node: net.Nodes[i].ID, On: true})
	}
	for range n {
		ev := r.next()
		if r.rng.IntN(4) == 0 {
			node := net.Nodes[r.rng.IntN(len(net.Nodes))].ID
			job := model.JobID("none")
			if len(r.jobs) > 0 {
				job = r.jobs[r.rng.IntN(len(r.jobs))]
			}
			switch r.rng.IntN(5) {
			case 0:
				ev = NodeDisconnected{At: r.now, Node: node}
			case 1:
				ev = JobLost{At: r.now, Job: job}
			case 2:
				ev = NodeReports{At: r.now, Node: node, On: r.rng.IntN(3) > 0}
			default:
				ev = WorkersGone{At: r.now, Job: job, Node: node}
			}
		}
		events = append(events, ev)
	}
	var policy sched.Policy
	for i, ev := range events {
		if js, ok := ev.(JobSubmitted); ok {
			jobs[js.Job.ID] = js.Job
		}
		if pc, ok := ev.(PolicyChanged); ok {
			policy = pc.Policy
		}
		if i > len(net.Nodes)+3 && r.rng.IntN(60) == 0 {
			c = restart(t, c, s, jobs, policy, events[:3], ev.time())
			c.cfg.ReleaseWithin = within
			for j := range net.Nodes {
				_ = c.Step(NodeReports{At: ev.time(), Node: net.Nodes[j].ID, On: true})
			}
			fmt.Fprintf(&out, "restart at %d\n", i)
		}
		if err := c.Step(ev); err != nil {
			fmt.Fprintf(&out, "step %d: %v\n", i, err)
		}
		for tries := 0; c.HasReady(); tries++ {
			rd := c.Ready()
			out.Write(mustJSON(rd))
			out.WriteByte('\n')
			if tries < 3 && r.rng.IntN(7) == 0 {
				if err := c.Step(CommitFailed{At: ev.time()}); err != nil {
					t.Fatalf("event %d: commit failed: %v", i, err)
				}
				continue
			}
			if err := s.apply(&rd); err != nil {
				t.Fatalf("seed %d event %d (%T): %v\n%s", seed, i, ev, err, readyString(&rd))
			}
			c.Advance(rd)
		}
		if err := checkInvariants(c, s, jobs); err != nil {
			t.Fatalf("seed %d event %d (%T %+v): %v", seed, i, ev, ev, err)
		}
		if err := checkHolds(c, s); err != nil {
			t.Fatalf("seed %d event %d (%T %+v): %v", seed, i, ev, ev, err)
		}
		fmt.Fprintf(&out, "holds %v\n", c.Holds())
	}
	return out.Bytes()
}

// checkHolds: the store's placements and the holds fit the cards
// together, a hold is on a node that reports and is not lost, and none is
// older than ReleaseWithin after a tick.
func checkHolds(c *Core, s *store) error {
	cl := sched.NewCluster(c.net)
	for _, p := range s.placed {
		if err := cl.Apply(p); err != nil {
			return fmt.Errorf("store over-committed: %w", err)
		}
	}
	for _, k := range c.holdKeys(func(holdKey, *hold) bool { return true }) {
		h := c.holds[k]
		if err := cl.Apply(h.p); err != nil {
			return fmt.Errorf("hold of %s on %s shares a card with a placement or another hold: %w", k.job, k.node, err)
		}
		if !c.reports[k.node] {
			return fmt.Errorf("hold of %s on %s, which does not report", k.job, k.node)
		}
		if h.since > c.now {
			return fmt.Errorf("hold of %s from the future", k.job)
		}
	}
	return nil
}
