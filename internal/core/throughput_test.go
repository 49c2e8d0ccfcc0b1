package core

import (
	"math"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// TestClassRatesRankModels: a job naming a workload class and no rates is
// ranked by peak FLOPS until the core has the class's rates, then by them;
// its explanation names the throughput term and where the rates came from.
func TestClassRatesRankModels(t *testing.T) {
	net, err := specLines([]string{
		"site=a model=huawei-ascend-910c nodes=1 cards=1",
		"site=a model=huawei-ascend-910b4 nodes=1 cards=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := New(net, Config{})
	on := func(id model.JobID) (string, JobStatus) {
		st, _ := c.Job(id)
		if st.Placement == nil {
			t.Fatalf("%s not placed: %+v", id, st)
		}
		n, _ := net.Node(st.Placement.Assignments[0].Node)
		return n.Model, st
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, WorkloadClass: "vision-train"}
	}
	step := func(ev Event) {
		t.Helper()
		if err := c.Step(ev); err != nil {
			t.Fatal(err)
		}
		c.Advance(c.Ready())
	}
	step(JobSubmitted{At: 1, Job: job("a")})
	if m, _ := on("a"); m != "huawei-ascend-910c" {
		t.Fatalf("without rates: on %s, want the 910C (higher peak)", m)
	}
	step(JobFinished{At: 2, Job: "a"})
	step(ThroughputRates{At: 3, Rates: map[string]map[string]float64{"vision-train": {"huawei-ascend-910b4": 300, "huawei-ascend-910c": 100}}, Source: "learned"})
	step(JobSubmitted{At: 4, Job: job("b")})
	m, st := on("b")
	if m != "huawei-ascend-910b4" {
		t.Fatalf("with the class's rates: on %s, want the 910B4 (3× the throughput)", m)
	}
	if s := st.Decision.Explanation.Summary; !strings.Contains(s, "heterogeneity term by throughput (class vision-train, learned): huawei-ascend-910b4 at 300/s per card, its fastest model") {
		t.Errorf("explanation %q does not name the throughput term", s)
	}
	// A job with its own rates keeps them whatever the class's say.
	own := job("c")
	own.Rates = map[string]float64{"huawei-ascend-910c": 5, "huawei-ascend-910b4": 1}
	step(JobSubmitted{At: 5, Job: own})
	if m, st := on("c"); m != "huawei-ascend-910c" || !strings.Contains(st.Decision.Explanation.Summary, "the job's own rates") {
		t.Errorf("own rates: on %s, %q", m, st.Decision.Explanation.Summary)
	}
	for _, bad := range []map[string]map[string]float64{{"x": {"m": 0}}, {"x": {"m": math.NaN()}}, {"x": {"m": math.Inf(1)}}} {
		if err := c.Step(ThroughputRates{At: 6, Rates: bad}); err == nil {
			t.Errorf("rates %v accepted", bad)
		}
	}
}

func peakOf(t *testing.T, id string) int64 {
	m, ok := catalog.Default().Lookup(id)
	if !ok {
		t.Fatalf("no %s", id)
	}
	g, _, _ := m.FP16GFLOPS()
	return g
}

// TestEffectiveShareCharges: a tenant whose job runs on chips with a high
// peak but a fifth of the reference model's throughput is charged, in
// effective-share mode, a fifth of a reference card, not the chip's peak:
// a quota its peak would exceed holds it, the explanation says so, and the
// charge is given back exactly when the job ends although the rates
// changed meanwhile. In peak mode the same job is refused by the quota.
func TestEffectiveShareCharges(t *testing.T) {
	const slow, ref = "huawei-ascend-910c", "huawei-ascend-910b4"
	pSlow, pRef := peakOf(t, slow), peakOf(t, ref)
	if pSlow <= pRef/5 {
		t.Fatalf("test premise: %s peak %d not above a fifth of %s's %d", slow, pSlow, ref, pRef)
	}
	net, err := specLines([]string{
		"site=a model=" + slow + " nodes=1 cards=1",
		"site=a model=" + ref + " nodes=1 cards=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	rates := map[string]map[string]float64{"vision-train": {ref: 10, slow: 2}}
	job := model.Job{ID: "j", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, WorkloadClass: "vision-train", Models: []string{slow}}
	run := func(effective bool) (*Core, JobStatus) {
		c := New(net, Config{EffectiveShare: effective, ReferenceModel: ref})
		for _, ev := range []Event{
			TenantUpserted{At: 1, Tenant: model.Tenant{ID: "t", Class: model.Private, QuotaGFLOPS: pSlow - 1, Weight: 1}},
			ThroughputRates{At: 1, Rates: rates, Source: "learned"},
			JobSubmitted{At: 2, Job: job},
		} {
			if err := c.Step(ev); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(c.Ready())
		st, _ := c.Job("j")
		return c, st
	}
	_, st := run(false)
	if st.Placement != nil || st.Reason != string(sched.QuotaExceeded) {
		t.Fatalf("peak mode: %s (%s), want held by the quota", st.State, st.Reason)
	}
	c, st := run(true)
	if st.Placement == nil {
		t.Fatalf("effective mode: %s (%s), want placed", st.State, st.Reason)
	}
	_, held := c.Tenant("t")
	want := float64(pRef) / 5
	if math.Abs(float64(held)/want-1) > 0.005 || held >= pSlow {
		t.Errorf("charged %d GFLOPS, want a fifth of a %s card (%.0f), not the %s's peak %d", held, ref, want, slow, pSlow)
	}
	if s := st.Decision.Explanation.Summary; !strings.Contains(s, "toward fair share and quota (effective throughput)") {
		t.Errorf("explanation %q does not say what it was charged", s)
	}
	if err := c.Step(ThroughputRates{At: 3, Rates: map[string]map[string]float64{"vision-train": {ref: 10, slow: 9}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(JobFinished{At: 4, Job: "j"}); err != nil {
		t.Fatal(err)
	}
	if _, held := c.Tenant("t"); held != 0 {
		t.Errorf("after the job ended the tenant holds %d GFLOPS", held)
	}
}

// TestMixedGangSharesByClassRates: a mixed-vendor gang of a workload class
// splits its work by the class's rates the core was handed, not by peak
// FP16; the explanation names them, learned or default per model. Before
// the core has a table the shares are the peak ratio.
func TestMixedGangSharesByClassRates(t *testing.T) {
	const ascend, metax = "huawei-ascend-910b4", "metax-c500"
	net, err := specLines([]string{
		"site=a model=" + ascend + " nodes=2 cards=8 per-domain=2",
		"site=a model=" + metax + " nodes=2 cards=8 per-domain=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	job := func(id model.JobID) model.Job {
		return model.Job{ID: id, Tenant: "t", Kind: model.Gang, Workers: 4, CardsPerWorker: 8, Mixed: true, WorkloadClass: "llm-pretrain"}
	}
	c := New(net, Config{})
	run := func(id model.JobID) (map[string]int, string) {
		t.Helper()
		if err := c.Step(JobSubmitted{At: 1, Job: job(id)}); err != nil {
			t.Fatal(err)
		}
		c.Advance(c.Ready())
		st, _ := c.Job(id)
		if st.Placement == nil {
			t.Fatalf("%s not placed: %s", id, st.Reason)
		}
		by := map[string]int{}
		for _, a := range st.Placement.Assignments {
			by[a.Model] = a.WorkShareMilli
		}
		if err := c.Step(JobFinished{At: 2, Job: id}); err != nil {
			t.Fatal(err)
		}
		return by, st.Decision.Explanation.Summary
	}
	by, sum := run("peak")
	// 250‰ × 280/260 and × 240/260, rounded.
	if by[ascend] != 269 || by[metax] != 231 || !strings.Contains(sum, "work shares by peak FP16") {
		t.Errorf("without rates: %v, %q", by, sum)
	}
	if err := c.Step(ThroughputRates{At: 3, Rates: map[string]map[string]float64{"llm-pretrain": {ascend: 1, metax: 3}},
		Learned: map[string]map[string]bool{"llm-pretrain": {metax: true}}, Source: "learned where reported, else the default matrix"}); err != nil {
		t.Fatal(err)
	}
	by, sum = run("learned")
	if by[metax] != 375 || by[ascend] != 125 ||
		!strings.Contains(sum, "work shares by throughput (class llm-pretrain, learned where reported, else the default matrix: metax-c500 3/s per card learned, huawei-ascend-910b4 1/s per card default)") {
		t.Errorf("with learned rates: %v, %q", by, sum)
	}
}
