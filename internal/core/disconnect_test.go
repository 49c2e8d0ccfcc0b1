package core

import (
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// A disconnected node keeps its work placed and takes no new work; only
// NodeLost requeues the work, and NodeHealthy brings the node back with
// its work where it was.
func TestDisconnectedNodeKeepsItsWork(t *testing.T) {
	c := testCore(t)
	step := func(ev Event) Ready {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		rd := c.Ready()
		c.Advance(rd)
		return rd
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}
	}
	step(JobSubmitted{At: 1, Job: job("a")})
	st, _ := c.Job("a")
	if st.State != model.Placed {
		t.Fatalf("a is %s", st.State)
	}
	node := st.Placement.Assignments[0].Node
	placed := st.Placement

	rd := step(NodeDisconnected{At: 2, Node: node})
	if len(rd.Stops) != 0 || len(rd.Placements) != 0 {
		t.Fatalf("disconnecting %s stopped or placed work: %s", node, readyString(&rd))
	}
	if st, _ := c.Job("a"); st.State != model.Placed || st.Placement != placed {
		t.Fatalf("a on the disconnected node is %s, placement %v", st.State, st.Placement)
	}
	// New work goes to the other node only; a third job waits.
	step(JobSubmitted{At: 3, Job: job("b")})
	step(JobSubmitted{At: 3, Job: job("c")})
	if st, _ := c.Job("b"); st.State != model.Placed || st.Placement.Assignments[0].Node == node {
		t.Fatalf("b %s on %v", st.State, st.Placement)
	}
	if st, _ := c.Job("c"); st.State != model.Blocked {
		t.Fatalf("c is %s: a disconnected node's cards are not free", st.State)
	}
	// Back: a is where it was, nothing stopped; c still waits (a holds the cards).
	rd = step(NodeHealthy{At: 4, Node: node})
	if len(rd.Stops) != 0 {
		t.Fatalf("reconnecting stopped work: %s", readyString(&rd))
	}
	if st, _ := c.Job("a"); st.State != model.Placed || st.Placement != placed {
		t.Fatalf("a after the node came back: %s %v", st.State, st.Placement)
	}
	if st, _ := c.Job("c"); st.State != model.Blocked {
		t.Fatalf("c is %s", st.State)
	}
	// Disconnected, then lost: now a is stopped and requeued.
	step(NodeDisconnected{At: 5, Node: node})
	rd = step(NodeLost{At: 6, Node: node})
	if len(rd.Stops) != 1 || rd.Stops[0].Job != "a" || rd.Stops[0].Reason != StopNodeLost {
		t.Fatalf("lost after disconnected: %s", readyString(&rd))
	}
	if st, _ := c.Job("a"); st.Placement != nil || (st.State != model.Pending && st.State != model.Blocked) {
		t.Fatalf("a is %s after its node was lost", st.State)
	}
	if err := c.Step(NodeDisconnected{Node: "nowhere"}); err == nil {
		t.Fatal("an unknown node was disconnected")
	}
}

// JobLost requeues a job with a worker on a down node; on healthy nodes
// it changes nothing.
func TestJobLostRequeuesOnlyFromADownNode(t *testing.T) {
	c := testCore(t)
	for _, id := range []model.JobID{"a", "b"} {
		if err := c.Step(JobSubmitted{At: 1, Job: model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 4}}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(c.Ready())
	if err := c.Step(JobLost{At: 2, Job: "a"}); err != nil {
		t.Fatal(err)
	}
	if rd := c.Ready(); len(rd.Stops) != 0 {
		t.Fatalf("JobLost on a healthy node: %s", readyString(&rd))
	}
	st, _ := c.Job("a")
	node := st.Placement.Assignments[0].Node
	_ = c.Step(NodeDisconnected{At: 3, Node: node})
	_ = c.Step(JobLost{At: 4, Job: "a"})
	rd := c.Ready()
	if len(rd.Stops) != 1 || rd.Stops[0].Job != "a" || rd.Stops[0].Reason != StopNodeLost {
		t.Fatalf("JobLost on a disconnected node: %s", readyString(&rd))
	}
	if st, _ := c.Job("b"); st.Placement == nil {
		t.Fatal("b lost its placement: only a was lost")
	}
}
