package core

import (
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestJobRetried: a retried job's placement is stopped (why: retried), it
// waits out its pause out of the queue while other work takes the cards,
// then is placed again; a commit conflict does not put the failed
// placement back; without a pause the stop and the new placement still
// come in two Readys.
func TestJobRetried(t *testing.T) {
	c := testCore(t)
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
	}
	step(JobSubmitted{At: 1, Job: model.Job{ID: "a", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8, MaxRetries: 2}})
	c.Advance(c.Ready())
	st, _ := c.Job("a")
	first := st.Placement
	if st.State != model.Placed || first == nil {
		t.Fatalf("a: %+v", st)
	}
	step(JobRetried{At: 10, Job: "a", NotBefore: 40})
	rd := c.Ready()
	if len(rd.Stops) != 1 || rd.Stops[0].Reason != StopRetried || len(rd.Placements) != 0 {
		t.Fatalf("after JobRetried: %s", readyString(&rd))
	}
	// A commit conflict: the failed placement stays stopped.
	step(CommitFailed{At: 11})
	if st, _ := c.Job("a"); st.State != model.Pending || st.Placement != nil || st.Reason != StopRetried {
		t.Fatalf("after a commit conflict: %+v", st)
	}
	rd = c.Ready()
	c.Advance(rd)
	// During the pause the job is not tried, even with both nodes free.
	step(Tick{At: 39})
	if st, _ := c.Job("a"); st.State != model.Pending || st.Placement != nil {
		t.Fatalf("placed during its pause: %+v", st)
	}
	step(Tick{At: 40})
	st, _ = c.Job("a")
	if st.State != model.Placed || st.Placement == nil {
		t.Fatalf("not placed after its pause: %+v", st)
	}
	c.Advance(c.Ready())
	// No pause: placed again at once; a cancelled job in its pause is
	// dropped.
	step(JobRetried{At: 50, Job: "a"})
	rd = c.Ready()
	if len(rd.Stops) != 1 || len(rd.Placements) != 0 {
		t.Fatalf("a retry without a pause, first Ready: %s", readyString(&rd))
	}
	c.Advance(rd)
	step(Tick{At: 51})
	rd = c.Ready()
	if st, _ := c.Job("a"); st.State != model.Placed || len(rd.Placements) != 1 {
		t.Fatalf("a retry without a pause, a second later: %+v %s", st, readyString(&rd))
	}
	c.Advance(rd)
	step(JobRetried{At: 60, Job: "a", NotBefore: 100})
	step(JobCancelled{At: 61, Job: "a"})
	step(Tick{At: 200})
	if st, _ := c.Job("a"); st.State != model.Cancelled {
		t.Fatalf("cancelled in its pause, then %+v", st)
	}
	// Stale: a job not placed is not retried.
	step(JobRetried{At: 201, Job: "ghost"})
}

// TestRestoredPause: a retried job restored in its pause (a new leader)
// waits it out of the queue; one restored after its pause is queued at
// once. A site's eviction stops the placement with its own reason.
func TestRestoredPause(t *testing.T) {
	c := testCore(t)
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
	}
	job := func(id string) model.Job {
		return model.Job{ID: model.JobID(id), Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8, MaxRetries: 2}
	}
	step(JobRestored{At: 100, Job: job("paused"), State: model.Pending, Position: 1, NotBefore: 160})
	step(JobRestored{At: 100, Job: job("over"), State: model.Pending, Position: 2, NotBefore: 90})
	step(Tick{At: 101})
	c.Advance(c.Ready())
	if st, _ := c.Job("over"); st.State != model.Placed {
		t.Fatalf("restored after its pause: %+v, want placed", st)
	}
	step(Tick{At: 159})
	c.Advance(c.Ready())
	if st, _ := c.Job("paused"); st.State != model.Pending || st.Placement != nil {
		t.Fatalf("restored in its pause, placed before it ended: %+v", st)
	}
	step(Tick{At: 160})
	rd := c.Ready()
	c.Advance(rd)
	if st, _ := c.Job("paused"); st.State != model.Placed {
		t.Fatalf("restored in its pause, not placed when it ended: %+v (%s)", st, readyString(&rd))
	}
	step(JobRetried{At: 170, Job: "over", Reason: StopRequeued})
	rd = c.Ready()
	if len(rd.Stops) != 1 || rd.Stops[0].Reason != StopRequeued {
		t.Fatalf("a site's eviction: %s", readyString(&rd))
	}
	c.Advance(rd)
	step(Tick{At: 171})
	if st, _ := c.Job("over"); st.State != model.Placed {
		t.Fatalf("evicted, not placed again a second later: %+v", st)
	}
}
