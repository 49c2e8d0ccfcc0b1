package catalog

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDefaultThroughput(t *testing.T) {
	tp := DefaultThroughput()
	cat := Default()
	if len(tp.Classes()) < 7 {
		t.Fatalf("%d classes", len(tp.Classes()))
	}
	// Every catalog model with a peak FP16 figure has a figure for every
	// class, derived unless measured.
	for _, m := range cat.Models() {
		if _, _, ok := m.FP16GFLOPS(); !ok {
			continue
		}
		for _, c := range tp.Classes() {
			f, ok := tp.Rate(c.ID, m)
			if !ok || !(f.V > 0) || f.Unit != c.Unit {
				t.Errorf("%s on %s: %+v, %v", c.ID, m.ID, f, ok)
			}
		}
	}
	// A derived figure is the formula.
	m, ok := cat.Lookup("huawei-ascend-910b4")
	if !ok {
		t.Fatal("no 910B4 in the catalog")
	}
	f, ok := tp.Rate("dense-llm-pretrain", m)
	gflops, _, _ := m.FP16GFLOPS()
	want := float64(gflops) * 1e9 * 0.35 / 4.2e10
	if !ok || f.Conf != Derived || math.Abs(f.V-want) > 1e-9*want || !strings.Contains(f.Note, "CANN") {
		t.Errorf("910B4 dense: %+v, want %v derived with CANN's efficiency", f, want)
	}
	// A measured entry wins over the derivation.
	v100 := &Model{ID: "nvidia-v100-16g", Stack: "CUDA"}
	f, ok = tp.Rate("vision-train", v100)
	if !ok || f.Conf != Observed || f.V != 281.27 || tp.Source(f.Sources[0]) == "" {
		t.Errorf("V100 vision: %+v", f)
	}
	if _, ok := tp.Rate("no-such-class", m); ok {
		t.Error("unknown class gave a figure")
	}
}

func TestThroughputOverlay(t *testing.T) {
	tp := DefaultThroughput()
	next, err := tp.Overlay([]byte(`
classes:
  - {id: speech, name: Speech recognition, unit: samples/s, flops_per_unit: 1e9}
stack_efficiency:
  - {stack: CANN, v: 0.5, conf: observed}
entries:
  - {class: speech, model: huawei-ascend-910b4, v: 1234, conf: observed, src: [lab]}
sources:
  - {id: lab, ref: "our lab, 2026-11"}
`), "mine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Default().Lookup("huawei-ascend-910b4")
	if f, ok := next.Rate("speech", m); !ok || f.V != 1234 || f.Conf != Observed {
		t.Errorf("overlay entry: %+v", f)
	}
	f, _ := next.Rate("dense-llm-pretrain", m)
	g, _ := tp.Rate("dense-llm-pretrain", m)
	if math.Abs(f.V/g.V-0.5/0.35) > 1e-9 {
		t.Errorf("overlaid CANN efficiency: %v vs %v", f.V, g.V)
	}
	if _, ok := tp.Class("speech"); ok {
		t.Error("the overlay changed the matrix it was applied to")
	}
	_, err = tp.Overlay([]byte(`
classes:
  - {id: "", unit: x, flops_per_unit: 1}
  - {id: a, flops_per_unit: 1}
  - {id: b, unit: x, flops_per_unit: -1}
stack_efficiency:
  - {stack: X, v: 2}
entries:
  - {class: nope, model: m, v: 1, conf: observed}
  - {class: vision-train, model: m, v: 0, conf: guessed, src: [missing]}
`), "bad.yaml")
	for _, want := range []string{"classes[0].id: missing", "classes[1].unit", "classes[2].flops_per_unit", "stack_efficiency[0].v",
		`entries[0].class: "nope"`, "entries[1].v", `entries[1].conf: "guessed"`, `source "missing"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad overlay: error lacks %q:\n%v", want, err)
		}
	}
	if _, err := tp.Overlay([]byte("classes: [{id: a, unit: x, flops_per_unit: 1, bogus: 1}]"), "strict.yaml"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: %v", err)
	}
}

// TestRateEstimatorConverges feeds noisy reports (log-normal, σ = 0.25:
// a quarter of reports off by more than 25%) of true rates 0.5× to 2× the
// matrix's figures; after N = 100 reports per pair every estimate is within
// 10% of the truth, and after 2 it has barely left the default.
func TestRateEstimatorConverges(t *testing.T) {
	tp := DefaultThroughput()
	cat := Default()
	rng := rand.New(rand.NewPCG(7, 11))
	est := NewRateEstimator(tp)
	obs := map[[2]string]Observation{}
	type pair struct {
		class string
		m     *Model
		truth float64
		prior float64
	}
	var pairs []pair
	for _, c := range tp.Classes() {
		for _, m := range cat.Models() {
			f, ok := tp.Rate(c.ID, m)
			if !ok {
				continue
			}
			pairs = append(pairs, pair{c.ID, m, f.V * math.Exp2(2*rng.Float64()-1), f.V})
		}
	}
	report := func(n int) {
		for _, p := range pairs {
			for range n {
				secs := 60 + 600*rng.Float64()
				r, err := CheckRate(p.truth*math.Exp(0.25*rng.NormFloat64())*secs, secs)
				if err != nil {
					t.Fatal(err)
				}
				k := [2]string{p.class, p.m.ID}
				obs[k] = obs[k].Add(r)
				est.Set(p.class, p.m.ID, obs[k])
			}
		}
	}
	report(2)
	moved := 0
	for _, p := range pairs {
		f, _ := est.Estimate(p.class, p.m)
		if math.Abs(math.Log(f.V/p.prior)) > 0.5*math.Abs(math.Log(p.truth/p.prior))+0.15 {
			moved++
		}
		if f.Conf == Observed {
			t.Fatalf("%s on %s: observed after 2 reports", p.class, p.m.ID)
		}
	}
	if moved > len(pairs)/10 {
		t.Errorf("%d of %d estimates left the default after 2 reports", moved, len(pairs))
	}
	report(98)
	worst := 0.0
	for _, p := range pairs {
		f, _ := est.Estimate(p.class, p.m)
		worst = max(worst, math.Abs(f.V/p.truth-1))
		if f.Conf != Observed {
			t.Errorf("%s on %s: %s after 100 reports", p.class, p.m.ID, f.Conf)
		}
	}
	t.Logf("%d pairs, worst error after 100 reports: %.1f%%", len(pairs), 100*worst)
	if worst > 0.10 {
		t.Errorf("worst estimate %.1f%% off after 100 reports", 100*worst)
	}
	for _, bad := range [][2]float64{{0, 1}, {1, 0}, {-1, 1}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		if _, err := CheckRate(bad[0], bad[1]); err == nil {
			t.Errorf("report %v accepted", bad)
		}
	}
}
