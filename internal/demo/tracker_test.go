package demo

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/trace"
)

func placed(id, state string, at time.Time, nodes ...string) *v1.Job {
	j := &v1.Job{ID: id, State: state, Spec: v1.JobSpec{Name: "train-" + id}, PlacedAt: &at, Placement: &v1.Placement{}}
	for i, n := range nodes {
		j.Placement.Assignments = append(j.Placement.Assignments, v1.Assignment{Worker: i, Node: n})
	}
	return j
}

// TestTrackerRequeue: a killed node's job counts as requeued when it is
// taken off its placement and as recovered, with a line naming the lost
// node, once it is placed again after the kill.
func TestTrackerRequeue(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(1000, 0)
	tr.apply(placed("j1", v1.StateRunning, t0, "n1", "n2"))
	tr.apply(placed("j2", v1.StateRunning, t0, "n3"))
	if s := tr.stats(); s.started != 2 || s.running != 2 {
		t.Fatalf("stats %+v: want 2 started and running", s)
	}
	alive := func(n string) bool { return n == "n2" }
	node, jobs := tr.victim(rand.New(rand.NewPCG(1, 2)), alive)
	if node != "n2" || len(jobs) != 1 || jobs[0] != "j1" {
		t.Fatalf("victim %q %v: want n2 running j1", node, jobs)
	}
	if n, _ := tr.victim(rand.New(rand.NewPCG(1, 2)), func(string) bool { return false }); n != "" {
		t.Fatalf("victim %q with no agent alive", n)
	}
	tr.watch(Killed{Node: "n2", At: t0.Add(time.Second), Jobs: jobs})
	if note := tr.apply(&v1.Job{ID: "j1", State: v1.StatePending}); note != "" {
		t.Errorf("a pending job printed %q", note)
	}
	note := tr.apply(placed("j1", v1.StateRunning, t0.Add(2*time.Second), "n4"))
	if !strings.Contains(note, "requeued from lost node n2") || !strings.Contains(note, "placed again on n4") {
		t.Errorf("note %q: want the requeue from n2 and the new node", note)
	}
	tr.apply(&v1.Job{ID: "j2", State: v1.StateCompleted})
	s := tr.stats()
	if s.requeued != 1 || s.recovered != 1 || s.started != 3 || s.completed != 1 || s.running != 1 {
		t.Errorf("stats %+v: want 1 requeued, 1 recovered, 3 started, 1 completed, 1 running", s)
	}
}

// TestTrackerPlacedAgain: "placed again" counts every requeued job placed
// again, not only those of killed agents: a preemption victim that waits,
// an eviction placed again in the same scheduling pass; a requeued job
// that ends before it is placed again is not counted.
func TestTrackerPlacedAgain(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(1000, 0)
	for _, id := range []string{"victim", "evicted", "gone"} {
		tr.apply(placed(id, v1.StateRunning, t0, "n-"+id))
	}
	tr.apply(&v1.Job{ID: "victim", State: v1.StatePending, Reason: "preempted"})
	tr.apply(&v1.Job{ID: "victim", State: v1.StateBlocked, Reason: "insufficient-cards"})
	tr.apply(placed("victim", v1.StatePlaced, t0.Add(5*time.Second), "n9"))
	tr.apply(placed("victim", v1.StateRunning, t0.Add(5*time.Second), "n9"))
	evicted := placed("evicted", v1.StatePlaced, t0.Add(6*time.Second), "n8")
	evicted.Reason = "policy-denied"
	tr.apply(evicted)
	tr.apply(&v1.Job{ID: "gone", State: v1.StatePending, Reason: "preempted"})
	tr.apply(&v1.Job{ID: "gone", State: v1.StateCancelled})
	s := tr.stats()
	if s.requeued != 3 || s.recovered != 2 || s.preempted != 2 {
		t.Errorf("stats %+v: want 3 requeued, 2 placed again, 2 preempted", s)
	}
	// Placed again once: a later change of the running job counts nothing.
	tr.apply(placed("victim", v1.StateRunning, t0.Add(5*time.Second), "n9"))
	if s := tr.stats(); s.recovered != 2 {
		t.Errorf("placed again %d after an unchanged update, want 2", s.recovered)
	}
}

// TestReviveDelay: a killed agent stays dead at least three lease times.
func TestReviveDelay(t *testing.T) {
	c := Config{Heartbeat: 10 * time.Second, ReviveAfter: time.Minute}
	if got, want := c.ReviveDelay(), 3*c.Lease().TTL(); got != want || want <= time.Minute {
		t.Errorf("ReviveDelay = %s, want %s (three lease times of %s)", got, want, c.Lease().TTL())
	}
	c.ReviveAfter = time.Hour
	if got := c.ReviveDelay(); got != time.Hour {
		t.Errorf("ReviveDelay = %s, want 1h", got)
	}
	c.ReviveAfter = 0
	if got := c.ReviveDelay(); got != 0 {
		t.Errorf("ReviveDelay = %s, want 0 (never)", got)
	}
}

// TestJobSpecShares: a fractional or FLOPS-sized job gives no card count.
func TestJobSpecShares(t *testing.T) {
	s := jobSpec(trace.Job{Tenant: "t", Kind: "inference", Workers: 1, CardsPerWorker: 1, ShareMilli: 250, DurationS: 30}, 7)
	if s.CardsPerWorker != 0 || s.ShareMilli != 250 || s.Name != "inference-7" || s.RuntimeSec != 30 {
		t.Errorf("jobSpec = %+v", s)
	}
	s = jobSpec(trace.Job{Tenant: "t", Kind: "training", Workers: 2, CardsPerWorker: 8}, 1)
	if s.CardsPerWorker != 8 || s.Workers != 2 || s.Data != nil {
		t.Errorf("jobSpec = %+v", s)
	}
	// Where users and data are travels to the server.
	s = jobSpec(trace.Job{Tenant: "t", Kind: "gang", Workers: 1, CardsPerWorker: 8, Users: "Hubei", Latency: "batch", DataSite: "ct-wuhan", DataGB: 300}, 2)
	if s.Users != "Hubei" || s.Latency != "batch" || s.Data == nil || s.Data.Site != "ct-wuhan" || s.Data.SizeGB != 300 {
		t.Errorf("jobSpec = %+v", s)
	}
}
