package core

import (
	"errors"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

func TestShare(t *testing.T) {
	tests := []struct {
		name           string
		gflops, memMiB int64
		weight         int
		want           int64
	}{
		{"idle", 0, 0, 1, 0},
		{"flops bind", 500, 100, 1, 500_000_000},
		{"memory binds", 100, 750, 1, 750_000_000},
		{"weight divides", 500, 100, 2, 250_000_000},
		{"zero weight counts as one", 500, 0, 0, 500_000_000},
	}
	for _, tt := range tests {
		ts := newTenantState("t")
		ts.t.Weight = tt.weight
		ts.gflops, ts.memMiB = tt.gflops, tt.memMiB
		if got := ts.share(1000, 1000); got != tt.want {
			t.Errorf("%s: share = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestMulDivLarge(t *testing.T) {
	// A national network: 1e11 GFLOPS held of 8e11.
	if got := mulDiv(100_000_000_000, shareScale, 800_000_000_000); got != 125_000 {
		t.Fatalf("mulDiv = %d, want 125000", got)
	}
	if got := mulDiv(5, 7, 0); got != 0 {
		t.Fatalf("mulDiv by zero = %d", got)
	}
}

func TestTenantFits(t *testing.T) {
	ts := newTenantState("t")
	ts.t.QuotaGFLOPS = 1000
	ts.t.VendorCaps = map[string]int{"Huawei": 2}
	ts.add(usage{gflops: 600, vendors: []vendorAmount{{"Huawei", 1500}}}, 1)
	tests := []struct {
		name string
		u    usage
		want bool
	}{
		{"within", usage{gflops: 400, vendors: []vendorAmount{{"Huawei", 500}}}, true},
		{"over quota", usage{gflops: 401}, false},
		{"over the cap by a share", usage{gflops: 1, vendors: []vendorAmount{{"Huawei", 501}}}, false},
		{"other vendor uncapped", usage{gflops: 1, vendors: []vendorAmount{{"Cambricon", 8000}}}, true},
	}
	for _, tt := range tests {
		if got := ts.fits(tt.u); got != tt.want {
			t.Errorf("%s: fits = %v, want %v", tt.name, got, tt.want)
		}
	}
	ts.add(usage{gflops: 600, vendors: []vendorAmount{{"Huawei", 1500}}}, -1)
	if ts.gflops != 0 || len(ts.vendorMilli) != 0 {
		t.Errorf("release left %d GFLOPS, %v", ts.gflops, ts.vendorMilli)
	}
}

func testCore(t *testing.T) *Core {
	t.Helper()
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=2 cards=8"})
	if err != nil {
		t.Fatal(err)
	}
	return New(net, Config{})
}

func TestStepRejectsBadEvents(t *testing.T) {
	c := testCore(t)
	job := model.Job{ID: "j", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
	if err := c.Step(JobSubmitted{Job: job}); err != nil {
		t.Fatal(err)
	}
	c.Advance(c.Ready())
	bad := []struct {
		ev   Event
		want error
	}{
		{JobSubmitted{Job: model.Job{ID: "x"}}, ErrInvalidJob},
		{JobSubmitted{Job: job}, ErrDuplicate},
		{NodeLost{Node: "nowhere"}, ErrUnknownNode},
		{NodeHealthy{Node: "nowhere"}, ErrUnknownNode},
		{TenantUpserted{Tenant: model.Tenant{ID: "t", Class: "alien"}}, nil},
		{nil, nil},
	}
	for _, b := range bad {
		err := c.Step(b.ev)
		if err == nil || (b.want != nil && !errors.Is(err, b.want)) {
			t.Errorf("Step(%T): err = %v, want %v", b.ev, err, b.want)
		}
	}
	if c.HasReady() {
		t.Errorf("rejected events changed the core: %s", readyString(new(c.Ready())))
	}
}

func TestStaleReportsIgnored(t *testing.T) {
	c := testCore(t)
	for _, ev := range []Event{
		JobFinished{Job: "ghost"}, JobCancelled{Job: "ghost"}, JobStarted{Job: "ghost"},
		Checkpointed{Job: "ghost", Time: 5}, Tick{At: 10}, NodeHealthy{Node: "a-p0-n0"},
	} {
		if err := c.Step(ev); err != nil {
			t.Errorf("Step(%T): %v", ev, err)
		}
	}
	if c.HasReady() || c.Now() != 10 {
		t.Errorf("stale reports changed the core (now %d)", c.Now())
	}
	// Time never goes back.
	_ = c.Step(Tick{At: 3})
	if c.Now() != 10 {
		t.Errorf("now went back to %d", c.Now())
	}
}

// Steps between Ready and Advance stay in the next Ready.
func TestAdvanceKeepsLaterChanges(t *testing.T) {
	c := testCore(t)
	submit := func(id model.JobID) {
		t.Helper()
		if err := c.Step(JobSubmitted{Job: model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}}); err != nil {
			t.Fatal(err)
		}
	}
	submit("a")
	rd := c.Ready()
	submit("b")
	if err := c.Step(JobFinished{Job: "a"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(rd)
	rd2 := c.Ready()
	got := readyString(&rd2)
	want := "place b: a-p0-n1[0-7] huawei-ascend-910c 6400TF\njob a #1 completed\njob b #2 placed\n"
	if got != want {
		t.Fatalf("second Ready:\n%s\nwant:\n%s", got, want)
	}
	c.Advance(rd2)
	if c.HasReady() {
		t.Fatal("Ready left after Advance")
	}
	if _, ok := c.Job("a"); ok {
		t.Error("a terminal job is still held after Advance")
	}
}

// A job placed and stopped before Advance shows in neither list.
func TestUncommittedPlacementVanishes(t *testing.T) {
	c := testCore(t)
	if err := c.Step(JobSubmitted{Job: model.Job{ID: "a", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(JobCancelled{Job: "a"}); err != nil {
		t.Fatal(err)
	}
	rd := c.Ready()
	if len(rd.Placements) != 0 || len(rd.Stops) != 0 || len(rd.Jobs) != 1 || rd.Jobs[0].State != model.Cancelled {
		t.Fatalf("Ready = %s", readyString(&rd))
	}
}

func TestAwaitRegistration(t *testing.T) {
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=1 cards=8"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{AwaitRegistration: true})
	job := model.Job{ID: "a", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}
	if err := c.Step(JobSubmitted{Job: job}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Job("a"); st.State != model.Blocked {
		t.Fatalf("job placed before any node registered: %s", statusString(&st))
	}
	if err := c.Step(NodeRegistered{Node: "a-p0-n0"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Job("a"); st.State != model.Placed {
		t.Fatalf("job not placed once the node registered: %s", statusString(&st))
	}
}

// A restarted shell restores placed jobs without deciding them again, and
// queued ones at their stored position.
func TestRestore(t *testing.T) {
	net, err := specLines([]string{"site=a model=huawei-ascend-910c nodes=2 cards=8"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{AwaitRegistration: true})
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 8}
	}
	p := &model.Placement{Job: "a", GFLOPS: 6_400_000, Assignments: []model.Assignment{
		{Node: "a-p0-n1", Model: "huawei-ascend-910c", Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}}}}
	steps := []Event{
		JobRestored{Job: job("a"), State: model.Running, Placement: p, Position: 7},
		JobRestored{Job: job("b"), Position: 3},
	}
	for _, ev := range steps {
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
	}
	clash := *p
	clash.Job = "c"
	if err := c.Step(JobRestored{Job: job("c"), Placement: &clash}); err == nil {
		t.Fatal("an overlapping restored placement was accepted")
	}
	if c.HasReady() {
		t.Fatal("restoring decided something")
	}
	for _, n := range []model.NodeID{"a-p0-n0", "a-p0-n1"} {
		if err := c.Step(NodeRegistered{Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.Ready()
	want := "place b: a-p0-n0[0-7] huawei-ascend-910c 6400TF\njob b #3 placed\n"
	if got := readyString(&rd); got != want {
		t.Fatalf("Ready after restore:\n%swant:\n%s", got, want)
	}
	c.Advance(rd)
	if st, _ := c.Job("a"); st.State != model.Running || st.Position != 7 {
		t.Fatalf("restored job: %s", statusString(&st))
	}
	if _, held := c.Tenant("t"); held != 12_800_000 {
		t.Fatalf("tenant holds %d GFLOPS, want 12800000", held)
	}
	if err := c.Step(NodeLost{Node: "a-p0-n1"}); err != nil {
		t.Fatal(err)
	}
	rd = c.Ready()
	if len(rd.Stops) != 1 || rd.Stops[0].Job != "a" || rd.Stops[0].Reason != StopNodeLost {
		t.Fatalf("node loss of a restored job: %s", readyString(&rd))
	}
}
