package core

import (
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

type holdEnv struct {
	t *testing.T
	c *Core
}

func newHoldEnv(t *testing.T, releaseWithin int64) *holdEnv {
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=2 cards=8"})
	if err != nil {
		t.Fatal(err)
	}
	return &holdEnv{t: t, c: New(net, Config{ReleaseWithin: releaseWithin})}
}

// step applies an event and commits what it decided.
func (h *holdEnv) step(ev Event) Ready {
	h.t.Helper()
	if err := h.c.Step(ev); err != nil {
		h.t.Fatal(err)
	}
	rd := h.c.Ready()
	h.c.Advance(rd)
	return rd
}

func (h *holdEnv) submit(at int64, id model.JobID, kind model.JobKind, workers int) {
	h.step(JobSubmitted{At: at, Job: model.Job{ID: id, Tenant: "t", Kind: kind, Workers: workers, CardsPerWorker: 8}})
}

func (h *holdEnv) state(id model.JobID) (model.JobState, []model.NodeID) {
	st, _ := h.c.Job(id)
	var nodes []model.NodeID
	if st.Placement != nil {
		for _, a := range st.Placement.Assignments {
			nodes = append(nodes, a.Node)
		}
	}
	return st.State, nodes
}

const n0, n1 = model.NodeID("a-p0-n0"), model.NodeID("a-p0-n1")

// A stopped placement's cards stay taken on a node whose agent reports
// its workers until the agent says they are gone.
func TestStoppedPlacementHoldsCardsUntilWorkersGone(t *testing.T) {
	h := newHoldEnv(t, 120)
	h.step(NodeReports{At: 1, Node: n0, On: true})
	h.step(NodeReports{At: 1, Node: n1, On: true})
	h.submit(1, "a", model.Batch, 1)
	if _, nodes := h.state("a"); !slices.Equal(nodes, []model.NodeID{n0}) {
		t.Fatalf("a on %v, want %s", nodes, n0)
	}
	rd := h.step(JobCancelled{At: 2, Job: "a"})
	if len(rd.Stops) != 1 {
		t.Fatalf("cancel: %s", readyString(&rd))
	}
	if got := h.c.Holds(); len(got) != 1 || got[0] != (Hold{Job: "a", Node: n0, Since: 2}) {
		t.Fatalf("holds %+v", got)
	}
	h.submit(3, "b", model.Batch, 1)
	h.submit(3, "c", model.Batch, 1)
	if _, nodes := h.state("b"); !slices.Equal(nodes, []model.NodeID{n1}) {
		t.Fatalf("b on %v: %s's cards are still a's", nodes, n0)
	}
	if st, _ := h.state("c"); st != model.Blocked {
		t.Fatalf("c is %s while a's workers may still run", st)
	}
	// A report about another job or node changes nothing.
	h.step(WorkersGone{At: 4, Job: "a", Node: n1})
	h.step(WorkersGone{At: 4, Job: "zz", Node: n0})
	if st, _ := h.state("c"); st != model.Blocked {
		t.Fatalf("c is %s", st)
	}
	h.step(WorkersGone{At: 5, Job: "a", Node: n0})
	if st, nodes := h.state("c"); st != model.Placed || !slices.Equal(nodes, []model.NodeID{n0}) {
		t.Fatalf("c %s on %v after a's workers were gone", st, nodes)
	}
	if len(h.c.Holds()) != 0 {
		t.Fatalf("holds left: %+v", h.c.Holds())
	}
	// An agent that never says so holds the cards ReleaseWithin at most.
	h.step(JobCancelled{At: 10, Job: "b"})
	h.submit(11, "d", model.Batch, 1)
	h.step(Tick{At: 129})
	if st, _ := h.state("d"); st != model.Blocked {
		t.Fatalf("d is %s before the hold expired", st)
	}
	h.step(Tick{At: 130})
	if st, nodes := h.state("d"); st != model.Placed || !slices.Equal(nodes, []model.NodeID{n1}) {
		t.Fatalf("d %s on %v after the hold expired", st, nodes)
	}
}

// A gang requeued because one of its nodes was lost holds its cards on
// the surviving node until that node's agent has stopped its worker.
func TestRequeuedGangHoldsTheSurvivingNode(t *testing.T) {
	h := newHoldEnv(t, 120)
	h.step(NodeReports{At: 1, Node: n0, On: true})
	h.step(NodeReports{At: 1, Node: n1, On: true})
	h.submit(1, "g", model.Gang, 2)
	h.step(NodeLost{At: 2, Node: n0})
	if got := h.c.Holds(); len(got) != 1 || got[0].Node != n1 {
		t.Fatalf("holds %+v, want the surviving node %s only", got, n1)
	}
	h.step(JobCancelled{At: 3, Job: "g"}) // (queued: no reservation ahead of x)
	h.submit(3, "x", model.Batch, 1)
	if st, _ := h.state("x"); st != model.Blocked {
		t.Fatalf("x is %s: %s still runs g's worker", st, n1)
	}
	// The node stops reporting (lost, or its agent gone): held no more.
	h.step(NodeReports{At: 4, Node: n1, On: false})
	if st, nodes := h.state("x"); st != model.Placed || !slices.Equal(nodes, []model.NodeID{n1}) {
		t.Fatalf("x %s on %v", st, nodes)
	}
}

// No hold without a reporting agent, for a stop that was never
// committed, or for a preemption (the preemptor takes the cards).
func TestNoHoldWhereNobodyReports(t *testing.T) {
	h := newHoldEnv(t, 120)
	h.submit(1, "a", model.Batch, 1)
	h.step(JobCancelled{At: 2, Job: "a"})
	if len(h.c.Holds()) != 0 {
		t.Fatalf("held without a reporting agent: %+v", h.c.Holds())
	}
	h.step(NodeReports{At: 3, Node: n0, On: true})
	h.step(NodeReports{At: 3, Node: n1, On: true})
	// Placed and cancelled before the store heard of it: nothing ran.
	if err := h.c.Step(JobSubmitted{At: 4, Job: model.Job{ID: "b", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Step(JobCancelled{At: 4, Job: "b"}); err != nil {
		t.Fatal(err)
	}
	h.c.Advance(h.c.Ready())
	if len(h.c.Holds()) != 0 {
		t.Fatalf("an uncommitted placement held cards: %+v", h.c.Holds())
	}
	// Zero ReleaseWithin: off.
	off := newHoldEnv(t, 0)
	off.step(NodeReports{At: 1, Node: n0, On: true})
	off.submit(1, "a", model.Batch, 1)
	off.step(JobCancelled{At: 2, Job: "a"})
	if len(off.c.Holds()) != 0 {
		t.Fatal("held with ReleaseWithin 0")
	}
}
