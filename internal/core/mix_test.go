package core

import (
	"fmt"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// TestLearnedMix: with Mix set, submitted jobs teach the scheduler its
// task mix; a core started from the learned state (a new leader) measures
// against the same mix; restored jobs are not counted again, unless no
// core had queued them.
func TestLearnedMix(t *testing.T) {
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=4 cards=8"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mix: &sched.MixConfig{Every: 16, PriorWeight: 8}}
	c := New(net, cfg)
	if _, _, ok := New(net, Config{}).Workload(); ok {
		t.Fatal("a core without Mix reports a learned workload")
	}
	st0, v0, ok := c.Workload()
	if !ok || len(st0.Typical) == 0 {
		t.Fatalf("cold start: %+v", st0)
	}
	for i := range 64 {
		j := model.Job{ID: model.JobID(fmt.Sprint("s", i)), Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 300, CPUMilli: 2000}
		if err := c.Step(JobSubmitted{At: int64(i), Job: j}); err != nil {
			t.Fatal(err)
		}
	}
	st, v, _ := c.Workload()
	if v == v0 || st.Observed != 64 || st.Typical[0].ShareMilli != 300 {
		t.Fatalf("after 64 shares of 300: version %d (was %d), %+v", v, v0, st)
	}
	if !slices.EqualFunc(c.cfg.Sched.TypicalTasks, st.Typical, func(a, b sched.TaskShape) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("the scheduler measures against %+v, the mix is %+v", c.cfg.Sched.TypicalTasks, st.Typical)
	}
	cfg.MixState = &st
	d := New(net, cfg)
	for i := range 64 { // a new leader restores the jobs: they are not new arrivals
		j := model.Job{ID: model.JobID(fmt.Sprint("s", i)), Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 300, CPUMilli: 2000}
		if err := d.Step(JobRestored{At: 100, Job: j, State: model.Pending, Position: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	// A job stored before any core queued it (Position 0) is a new arrival.
	fresh := model.Job{ID: "fresh", Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 300, CPUMilli: 2000}
	if err := d.Step(JobRestored{At: 100, Job: fresh, State: model.Pending}); err != nil {
		t.Fatal(err)
	}
	st2, _, _ := d.Workload()
	if st2.Observed != 65 || fmt.Sprint(st2.Typical) != fmt.Sprint(st.Typical) || fmt.Sprint(d.cfg.Sched.TypicalTasks) != fmt.Sprint(st.Typical) {
		t.Fatalf("the new leader's mix %+v differs from the stored %+v", st2, st)
	}
}
