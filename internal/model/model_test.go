package model

import (
	"math"
	"strings"
	"testing"
)

func TestJobValidate(t *testing.T) {
	ok := Job{ID: "j1", Tenant: "t", Kind: Gang, Workers: 4, CardsPerWorker: 8}
	tests := []struct {
		name string
		mod  func(*Job)
		want []string // substrings; none means valid
	}{
		{"valid gang", func(*Job) {}, nil},
		{"valid fractional", func(j *Job) { j.Kind = Inference; j.CardsPerWorker = 0; j.ShareMilli = 250; j.MemMiB = 8192 }, nil},
		{"valid compute request", func(j *Job) { j.CardsPerWorker = 0; j.ComputeGFLOPS = 4_000_000 }, nil},
		{"everything wrong", func(j *Job) {
			*j = Job{Kind: "train", Workers: 0, CardsPerWorker: -1, Topology: "rack", Priority: -3}
		}, []string{"id: missing", "tenant: missing", `kind: "train"`, "workers: 0", "cards_per_worker: -1", `topology: "rack"`, "priority: -3"}},
		{"fraction too big", func(j *Job) { j.Kind = Inference; j.CardsPerWorker = 0; j.ShareMilli = 1000 }, []string{"share_milli: 1000"}},
		{"fractional gang", func(j *Job) { j.CardsPerWorker = 0; j.ShareMilli = 500 }, []string{"whole cards"}},
		{"models and compute", func(j *Job) { j.Models = []string{"x"}; j.ComputeGFLOPS = 5; j.CardsPerWorker = 0 }, []string{"either models or a compute request"}},
		{"valid rates", func(j *Job) { j.Rates = map[string]float64{"ascend-910b": 7.5, "mlu590": 3} }, nil},
		{"bad rates", func(j *Job) {
			j.Rates = map[string]float64{"a": 0, "b": -1, "c": math.NaN(), "d": math.Inf(1), " ": 1}
		}, []string{`rates["a"]: 0`, `rates["b"]: -1`, `rates["c"]: NaN`, `rates["d"]: +Inf`, "empty model id"}},
		{"batch of two", func(j *Job) { j.Kind = Batch; j.Workers = 2 }, []string{"batch job is one task"}},
		{"lost after a minute", func(j *Job) { j.LostAfterSec = 60 }, nil},
		{"lost after never", func(j *Job) { j.LostAfterSec = MaxLostAfterSec + 1 }, []string{"lost_after_sec: 604801"}},
		{"lost after negative", func(j *Job) { j.LostAfterSec = -1 }, []string{"lost_after_sec: -1"}},
	}
	for _, tt := range tests {
		j := ok
		tt.mod(&j)
		err := j.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tt.name, w, err)
			}
		}
	}
}

func TestTenantValidate(t *testing.T) {
	good := Tenant{ID: "gov", Class: Government, QuotaGFLOPS: 1e9, Weight: 2}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Tenant{Class: "alien", QuotaGFLOPS: -1, VendorCaps: map[string]int{"Huawei": -2}}
	err := bad.Validate()
	for _, w := range []string{"id: missing", `class: "alien"`, "quota_gflops: -1", "vendor_caps.Huawei: -2"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

// TestJobPlaceFields: latency, users and data are checked with their
// field paths; the effective latency follows the kind.
func TestJobPlaceFields(t *testing.T) {
	base := Job{ID: "j", Tenant: "t", Kind: Inference, Workers: 1, CardsPerWorker: 1}
	ok := base
	ok.Latency, ok.Users, ok.Data = LatencyBatch, "Guangdong", &DataLocation{Site: "cm-beijing", SizeGB: 500}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid job: %v", err)
	}
	bad := base
	bad.Latency, bad.Users, bad.Data = "realtime", " ", &DataLocation{SizeGB: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`latency: "realtime" is not one of interactive, batch`, "users: must be a province or a site id", "data.site: missing", "data.size_gb: -1 must be between 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if base.EffectiveLatency() != LatencyInteractive {
		t.Errorf("inference defaults to %q", base.EffectiveLatency())
	}
	g := Job{Kind: Gang}
	if g.EffectiveLatency() != LatencyBatch {
		t.Errorf("gang defaults to %q", g.EffectiveLatency())
	}
	g.Latency = LatencyInteractive
	if g.EffectiveLatency() != LatencyInteractive {
		t.Errorf("a gang's own latency is %q", g.EffectiveLatency())
	}
}
