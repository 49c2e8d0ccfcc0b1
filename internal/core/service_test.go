package core

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// serviceRun submits a long job on a one-card network, then a short one
// later, and ticks; it returns the stops and what each tick placed.
func serviceRun(t *testing.T, svc Service, checkpoint bool, ticks ...int64) (stops []Stop, placed []model.JobID) {
	t.Helper()
	net, err := specLines([]string{"site=a model=huawei-ascend-910b4 nodes=1 cards=1"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{Service: svc})
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		rd := c.Ready()
		stops = append(stops, rd.Stops...)
		for _, p := range rd.Placements {
			placed = append(placed, p.Job)
		}
		c.Advance(rd)
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
	}
	step(JobSubmitted{At: 0, Job: job("long")})
	if checkpoint {
		step(Checkpointed{At: 10, Job: "long", Time: 10})
	}
	step(JobSubmitted{At: 100, Job: job("short")})
	for _, at := range ticks {
		step(Tick{At: at})
	}
	return stops, placed
}

// TestServiceShortOvertakesLong: with attained-service scheduling, a job
// that has run past the first level (1 h here) yields its card, from its
// checkpoint, to one that has not run, once it has run MinRunSec; the
// stop says why. Without it, the short job waits behind the long one.
func TestServiceShortOvertakesLong(t *testing.T) {
	svc := Service{Enabled: true, LevelsSec: []int64{3600}, MinRunSec: 600, RequireCheckpoint: true}
	stops, placed := serviceRun(t, svc, true, 1800, 3700)
	if len(stops) != 1 || stops[0].Job != "long" || stops[0].Reason != StopPreempted || stops[0].By != "short" ||
		!strings.Contains(stops[0].Detail, "attained service") {
		t.Fatalf("stops %+v; want long to yield to short by attained service", stops)
	}
	if len(placed) != 2 || placed[1] != "short" {
		t.Fatalf("placed %v; want long, then short", placed)
	}
	// Before the long job passes the level (at 1,800 s), nothing yields:
	// the levels are the hysteresis.
	if stops, _ := serviceRun(t, svc, true, 1800); len(stops) != 0 {
		t.Errorf("yielded below the level: %+v", stops)
	}
	// Without a checkpoint it does not yield (RequireCheckpoint).
	if stops, _ := serviceRun(t, svc, false, 1800, 3700); len(stops) != 0 {
		t.Errorf("yielded without a checkpoint: %+v", stops)
	}
	// Off, the short job waits.
	if stops, placed := serviceRun(t, Service{}, true, 1800, 3700); len(stops) != 0 || len(placed) != 1 {
		t.Errorf("without Service: stops %+v, placed %v", stops, placed)
	}
}

// TestServiceQueueOrder: a job requeued with more attained service waits
// behind one with less, though it was submitted first; the starvation
// guard promotes it after StarveFactorMilli/1000 × its service.
func TestServiceQueueOrder(t *testing.T) {
	svc := Service{Enabled: true, LevelsSec: []int64{3600}, MinRunSec: 600, StarveFactorMilli: 2000}
	net, err := specLines([]string{"site=a model=huawei-ascend-910b4 nodes=1 cards=1"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{Service: svc})
	var placed []model.JobID
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		rd := c.Ready()
		for _, p := range rd.Placements {
			placed = append(placed, p.Job)
		}
		c.Advance(rd)
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
	}
	step(JobSubmitted{At: 0, Job: job("a")})
	step(JobSubmitted{At: 10, Job: job("b")})
	step(JobSubmitted{At: 20, Job: job("c")})
	step(Tick{At: 4000}) // a (4,000 s of service, level 1) yields to b
	step(JobFinished{At: 4100, Job: "b"})
	// c (level 0) goes before a, submitted first but at level 1.
	if want := []model.JobID{"a", "b", "c"}; strings.Join(ids(placed), ",") != strings.Join(ids(want), ",") {
		t.Fatalf("placed %v, want %v", placed, want)
	}
	// c passes level 1 at 7,700 s and a, waiting since 4,000 s, is not
	// yet starved (2 × 4,000 s): a waits until c ends.
	step(Tick{At: 8000})
	if len(placed) != 3 {
		t.Fatalf("placed %v: a was promoted before it starved", placed)
	}
	// At 12,000 s a has waited 8,000 s: promoted, it takes the card.
	step(Tick{At: 12100})
	if len(placed) != 4 || placed[3] != "a" {
		t.Fatalf("placed %v, want a promoted and placed", placed)
	}
}

func ids(js []model.JobID) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = string(j)
	}
	return out
}

// TestServiceRestoredLevel: a yield records the job's attained service in
// its status (the shell stores it); a new leader restoring the queue with
// it queues the job at its level, behind a job submitted later with none,
// as the old leader would have. Restored without it, it would go first.
func TestServiceRestoredLevel(t *testing.T) {
	svc := Service{Enabled: true, LevelsSec: []int64{3600}, MinRunSec: 600}
	net, err := specLines([]string{"site=a model=huawei-ascend-910b4 nodes=1 cards=1"})
	if err != nil {
		t.Fatal(err)
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
	}
	old := New(net, Config{Service: svc})
	for _, ev := range []Event{JobSubmitted{At: 0, Job: job("a")}, JobSubmitted{At: 10, Job: job("b")}, Tick{At: 4000}} {
		if err := old.Step(ev); err != nil {
			t.Fatal(err)
		}
		old.Advance(old.Ready())
	}
	a, _ := old.Job("a")
	if a.State == model.Placed || a.Attained < 4000 {
		t.Fatalf("a after yielding: %s, attained %.0f; want queued with about 4,000 s", a.State, a.Attained)
	}
	first := func(attained float64) model.JobID {
		t.Helper()
		c := New(net, Config{Service: svc})
		for _, ev := range []Event{
			JobRestored{At: 5000, Job: job("a"), Position: a.Position, Attained: attained},
			JobRestored{At: 5000, Job: job("c"), Position: a.Position + 5},
			Tick{At: 5001},
		} {
			if err := c.Step(ev); err != nil {
				t.Fatal(err)
			}
		}
		rd := c.Ready()
		if len(rd.Placements) != 1 {
			t.Fatalf("placed %d jobs on one card", len(rd.Placements))
		}
		return rd.Placements[0].Job
	}
	if got := first(a.Attained); got != "c" {
		t.Errorf("restored with its service, %s went first; want c (a is at level 1)", got)
	}
	if got := first(0); got != "a" {
		t.Errorf("restored without service, %s went first; want a (the test needs the order to differ)", got)
	}
}
