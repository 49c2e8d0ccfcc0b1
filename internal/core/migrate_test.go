package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// migrationCase runs movers on 910C cards while blockers hold the 910B4s,
// ends the blockers at t=100 and ticks at the given times; it returns the
// migrated stops and the movers' final models.
type migrationCase struct {
	mig        Migration
	rates      map[string]float64
	movers     int
	checkpoint bool
	runtime    int64
	waiter     bool // a blocked gang waits for 910B4 cards (one more held)
	ticks      []int64
}

func (mc migrationCase) run(t *testing.T) (stops []Stop, on map[model.JobID]string, c *Core) {
	t.Helper()
	net, err := specLines([]string{
		fmt.Sprintf("site=a model=huawei-ascend-910c nodes=%d cards=1", mc.movers),
		fmt.Sprintf("site=a model=huawei-ascend-910b4 nodes=%d cards=1", mc.movers+b2i(mc.waiter)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c = New(net, Config{Migration: mc.mig})
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		rd := c.Ready()
		for _, s := range rd.Stops {
			if s.Reason == StopMigrated {
				stops = append(stops, s)
			}
		}
		c.Advance(rd)
	}
	if mc.waiter {
		step(JobSubmitted{At: 1, Job: model.Job{ID: "holder", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Models: []string{"huawei-ascend-910b4"}}})
	}
	for i := range mc.movers {
		step(JobSubmitted{At: 1, Job: model.Job{ID: model.JobID(fmt.Sprint("blocker", i)), Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Models: []string{"huawei-ascend-910b4"}}})
	}
	for i := range mc.movers {
		id := model.JobID(fmt.Sprint("mover", i))
		step(JobSubmitted{At: 1, Job: model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Rates: mc.rates, RuntimeSec: mc.runtime}})
		if mc.checkpoint {
			step(Checkpointed{At: 2, Job: id, Time: 2})
		}
	}
	for i := range mc.movers {
		step(JobFinished{At: 100, Job: model.JobID(fmt.Sprint("blocker", i))})
	}
	if mc.waiter {
		step(JobSubmitted{At: 100, Job: model.Job{ID: "waiter", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 1, Models: []string{"huawei-ascend-910b4"}}})
		if st, _ := c.Job("waiter"); st.Placement != nil {
			t.Fatalf("the waiter was placed: %+v", st.Placement)
		}
	}
	for _, at := range mc.ticks {
		step(Tick{At: at})
	}
	on = map[model.JobID]string{}
	for i := range mc.movers {
		id := model.JobID(fmt.Sprint("mover", i))
		st, _ := c.Job(id)
		if st.Placement == nil {
			t.Fatalf("%s not placed: %+v", id, st)
		}
		on[id] = st.Placement.Assignments[0].Model
	}
	return stops, on, c
}

// TestMigrationDecision: the core moves a running job to a faster model
// that freed when the expected gain over its remaining time beats the
// checkpoint-restore cost, and only then: not before its minimum interval,
// not for a small speed-up, not when the gain is too small, not without a
// checkpoint when one is required, not onto cards a waiting job wants, and
// at most MaxPerPass per tick. Each move is explained.
func TestMigrationDecision(t *testing.T) {
	fast := map[string]float64{"huawei-ascend-910b4": 3, "huawei-ascend-910c": 1}
	on := DefaultMigration
	on.RequireCheckpoint = true
	costly := on
	costly.RestoreCostSec = 200 // a gain of 400 s needed: age 600 s at 3×
	base := migrationCase{mig: on, rates: fast, movers: 1, checkpoint: true, ticks: []int64{200, 400}}

	stops, where, c := base.run(t)
	if len(stops) != 1 || where["mover0"] != "huawei-ascend-910b4" {
		t.Fatalf("moves %+v, mover on %s: want one move to the 910B4", stops, where["mover0"])
	}
	// Age 399 s at t=400 (first placed at 1): gain 399 × (1 − 1/3) = 266 s ≥ 2 × 120 s.
	if d := stops[0].Detail; !strings.Contains(d, "migrated from huawei-ascend-910c (1/s per card) to huawei-ascend-910b4 (3/s, ×3.00): expected gain 266 s over 399 s") {
		t.Errorf("stop detail %q", d)
	}
	if st, _ := c.Job("mover0"); !strings.HasPrefix(st.Decision.Explanation.Summary, "migrated from huawei-ascend-910c") {
		t.Errorf("decision %q does not say why it moved", st.Decision.Explanation.Summary)
	}

	for name, mc := range map[string]migrationCase{
		"off":                {mig: Migration{}, rates: fast, movers: 1, checkpoint: true, ticks: []int64{400, 5000}},
		"before interval":    {mig: on, rates: fast, movers: 1, checkpoint: true, ticks: []int64{200, 300}},
		"small speed-up":     {mig: on, rates: map[string]float64{"huawei-ascend-910b4": 1.1, "huawei-ascend-910c": 1}, movers: 1, checkpoint: true, ticks: []int64{400, 100_000}},
		"gain below cost":    {mig: costly, rates: fast, movers: 1, checkpoint: true, ticks: []int64{400, 500}},
		"declared runtime":   {mig: on, rates: fast, movers: 1, checkpoint: true, runtime: 600, ticks: []int64{400}},
		"no checkpoint":      {mig: on, rates: fast, movers: 1, ticks: []int64{400, 5000}},
		"a job waits for it": {mig: on, rates: fast, movers: 1, checkpoint: true, waiter: true, ticks: []int64{400, 5000}},
	} {
		t.Run(name, func(t *testing.T) {
			stops, where, _ := mc.run(t)
			if len(stops) != 0 || where["mover0"] != "huawei-ascend-910c" {
				t.Errorf("moved: %+v, on %s", stops, where["mover0"])
			}
		})
	}
	// The same cost pays once the job is old enough: 699 s × 2/3 = 466 s ≥ 400 s.
	later := base
	later.mig, later.ticks = costly, []int64{400, 500, 700}
	if stops, _, _ := later.run(t); len(stops) != 1 || !strings.Contains(stops[0].Detail, "expected gain 466 s") {
		t.Errorf("restore cost 200 s at t=700: %+v", stops)
	}
	// A declared runtime long enough pays: 5000 − 399 s left × 2/3.
	long := base
	long.runtime, long.ticks = 5000, []int64{400}
	if stops, _, _ := long.run(t); len(stops) != 1 || !strings.Contains(stops[0].Detail, "its declared runtime left") {
		t.Errorf("declared runtime 5000 s: %+v", stops)
	}
	// Bounded per pass: three movers, one per tick.
	three := base
	three.movers, three.mig.MaxPerPass, three.ticks = 3, 1, []int64{400}
	if stops, _, _ := three.run(t); len(stops) != 1 {
		t.Errorf("MaxPerPass 1 moved %d jobs in one tick", len(stops))
	}
	three.ticks = []int64{400, 401, 402, 403}
	if stops, where, _ := three.run(t); len(stops) != 3 || where["mover2"] != "huawei-ascend-910b4" {
		t.Errorf("over four ticks: %d moves, %v", len(stops), where)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestMigrationProbesBounded: when every faster model has the cards free
// but no room for the movers (their tenant's FP16 quota binds there), a
// Tick asks the scheduler about at most MaxMoveProbes moves, not one per
// running job, and moves none.
func TestMigrationProbesBounded(t *testing.T) {
	const movers = 40
	net, err := specLines([]string{
		fmt.Sprintf("site=a model=huawei-ascend-910c nodes=%d cards=1", movers),
		fmt.Sprintf("site=a model=huawei-ascend-910b4 nodes=%d cards=1", movers),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{Migration: DefaultMigration})
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		for c.HasReady() {
			c.Advance(c.Ready())
		}
	}
	b4 := peakGFLOPS(c.model("huawei-ascend-910b4"))
	if c4 := peakGFLOPS(c.model("huawei-ascend-910c")); c4 <= b4 {
		t.Fatalf("the 910C's peak %d is not above the 910B4's %d", c4, b4)
	}
	step(TenantUpserted{At: 0, Tenant: model.Tenant{ID: "m", Class: model.Private, QuotaGFLOPS: movers * b4}})
	for i := range movers {
		step(JobSubmitted{At: 1, Job: model.Job{ID: model.JobID(fmt.Sprint("blocker", i)), Tenant: "u", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Models: []string{"huawei-ascend-910c"}}})
	}
	rates := map[string]float64{"huawei-ascend-910c": 3, "huawei-ascend-910b4": 1}
	for i := range movers {
		step(JobSubmitted{At: 1, Job: model.Job{ID: model.JobID(fmt.Sprint("mover", i)), Tenant: "m", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Rates: rates}})
	}
	for i := range movers {
		step(JobFinished{At: 100, Job: model.JobID(fmt.Sprint("blocker", i))})
	}
	const ticks = 5
	for i := range ticks {
		step(Tick{At: 1000 + int64(i)*300})
	}
	w := c.Work()
	if w.MoveCandidates < ticks*movers {
		t.Fatalf("%d candidates weighed over %d ticks: the movers never qualified", w.MoveCandidates, ticks)
	}
	if w.MoveProbes > ticks*MaxMoveProbes {
		t.Errorf("%d probes over %d ticks, at most %d a tick", w.MoveProbes, ticks, MaxMoveProbes)
	}
	for i := range movers {
		if st, _ := c.Job(model.JobID(fmt.Sprint("mover", i))); st.Placement == nil || st.Placement.Assignments[0].Model != "huawei-ascend-910b4" {
			t.Fatalf("mover%d: %+v", i, st.Placement)
		}
	}
}
