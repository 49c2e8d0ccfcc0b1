package sim_test

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

// TestSynthesizePlaceHints: inference jobs name a province of users,
// training gangs and most batch tasks a site holding their data; the
// hints come from a stream of their own, so every other field is what a
// workload without them had (pinned by an FNV hash of the first jobs).
func TestSynthesizePlaceHints(t *testing.T) {
	net := defaultNet(t)
	js, err := sim.Synthesize(net, sim.SynthConfig{Seed: 1, SpanS: 6 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	users, data, batch, batchData := 0, 0, 0, 0
	for i, j := range js {
		switch j.Kind {
		case trace.KindInference:
			if _, ok := network.ProvinceCapitals[j.Users]; !ok || j.DataSite != "" {
				t.Fatalf("job %d: inference with users %q, data %q", i, j.Users, j.DataSite)
			}
			users++
		case trace.KindGang:
			if _, ok := net.Site(siteID(j.DataSite)); !ok || j.DataGB < 1 || j.Users != "" {
				t.Fatalf("job %d: gang with data %q %d GB", i, j.DataSite, j.DataGB)
			}
			data++
		default:
			batch++
			if j.DataSite != "" {
				batchData++
			}
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if users == 0 || data == 0 || batchData < batch/2 || batchData > batch*9/10 {
		t.Fatalf("%d inference with users, %d gangs with data, %d of %d batch with data", users, data, batchData, batch)
	}
	// Without the hints the jobs are those of the workload before them.
	for i := range js {
		js[i].Users, js[i].DataSite, js[i].DataGB = "", "", 0
	}
	if got, want := jobsHash(t, js[:2000]), uint64(0x5d2dd2d7ad5e3784); got != want {
		t.Fatalf("jobs without hints hash to %#x, want %#x", got, want)
	}
}

// TestPlaceCostLowersEnergyCost: the same synthetic hours on the default
// network cost less electricity per PFLOP-hour with the place terms than
// without them, and the replay without them is the scheduler before them.
func TestPlaceCostLowersEnergyCost(t *testing.T) {
	net := defaultNet(t)
	run := func(w sched.Weights) *sim.TimedReport {
		cfg := sim.SyntheticConfig{Synth: sim.SynthConfig{Seed: 3, SpanS: 3 * 3600}, Samples: 20}
		cfg.Core.Sched.Weights = w
		r, err := sim.RunSynthetic(context.Background(), net, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	on, off := run(sched.Weights{}), run(sched.Weights{}.WithoutPlace())
	if on.Energy == nil || off.Energy == nil {
		t.Fatal("no energy summary")
	}
	t.Logf("CNY per PFLOP-h: on %.4f, off %.4f", on.Energy.CNYPerPFLOPHour, off.Energy.CNYPerPFLOPHour)
	if !(on.Energy.CNYPerPFLOPHour < off.Energy.CNYPerPFLOPHour) {
		t.Errorf("energy CNY per PFLOP-hour with place terms %.4f, without %.4f", on.Energy.CNYPerPFLOPHour, off.Energy.CNYPerPFLOPHour)
	}
	if on.Placed != off.Placed {
		t.Errorf("placed %d with, %d without", on.Placed, off.Placed)
	}
}

func siteID(s string) model.SiteID { return model.SiteID(s) }

// jobsHash is the FNV-1a hash of the jobs' JSON lines.
func jobsHash(t *testing.T, js []trace.Job) uint64 {
	t.Helper()
	h := fnv.New64a()
	for _, j := range js {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(append(b, '\n'))
	}
	return h.Sum64()
}
