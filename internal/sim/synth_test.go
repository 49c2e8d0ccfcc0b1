package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

func defaultNet(t testing.TB) *network.Network {
	t.Helper()
	net, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func smallNet(t testing.TB) *network.Network {
	t.Helper()
	net, err := network.LoadFile("testdata/small-network.yaml", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func TestSynthesizeDeterministic(t *testing.T) {
	net := defaultNet(t)
	cfg := sim.SynthConfig{Seed: 7, SpanS: 3600}
	a, err := sim.Synthesize(net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sim.Synthesize(net, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different jobs")
	}
	cfg.Seed = 8
	c, _ := sim.Synthesize(net, cfg)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same jobs")
	}
}

func TestSynthesizeProperties(t *testing.T) {
	net := defaultNet(t)
	const span = 6 * 3600
	js, err := sim.Synthesize(net, sim.SynthConfig{Seed: 1, SpanS: span})
	if err != nil {
		t.Fatal(err)
	}
	// A million jobs a month on the default network, pro rata.
	if want := 1_000_000 * span / (30 * 86400); len(js) < want-1 || len(js) > want+1 {
		t.Fatalf("%d jobs in 6 hours, want about %d", len(js), want)
	}
	vendors, kinds, tenants := map[string]int{}, map[string]int{}, map[string]int{}
	fractional, anyModel := 0, 0
	var offered float64
	for i, j := range js {
		if err := j.Validate(); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if cj := sim.CoreJob(j); cj.Validate() != nil {
			err := cj.Validate()
			t.Fatalf("job %d as a core job: %v", i, err)
		}
		if j.ArrivalS < 0 || j.ArrivalS >= span || i > 0 && j.ArrivalS < js[i-1].ArrivalS {
			t.Fatalf("job %d arrives at %d: want 0..span in order", i, j.ArrivalS)
		}
		kinds[j.Kind]++
		tenants[j.Tenant]++
		if j.ShareMilli > 0 {
			fractional++
			offered += float64(j.Workers*j.ShareMilli) / 1000 * float64(j.DurationS)
		} else {
			offered += float64(j.Workers*j.CardsPerWorker) * float64(j.DurationS)
		}
		if len(j.Models) == 0 {
			anyModel++
		}
		for _, m := range j.Models {
			cm := net.Model(m)
			if cm == nil {
				t.Fatalf("job %d names model %s, which the network lacks", i, m)
			}
			vendors[cm.Vendor]++
		}
	}
	netVendors := map[string]bool{}
	for _, n := range net.Nodes {
		netVendors[net.Model(n.Model).Vendor] = true
	}
	for v := range netVendors {
		if vendors[v] == 0 {
			t.Errorf("no job runs on %s cards", v)
		}
	}
	for _, k := range []string{trace.KindGang, trace.KindInference, trace.KindBatch} {
		if kinds[k] == 0 {
			t.Errorf("no %s jobs", k)
		}
	}
	if len(tenants) < 6 || fractional == 0 || anyModel == 0 {
		t.Errorf("%d tenants, %d fractional jobs, %d any-model jobs: want several of each", len(tenants), fractional, anyModel)
	}
	// Durations are scaled to an offered load of 80% of the cards.
	want := 0.8 * float64(net.Cards()) * span
	if offered < 0.97*want || offered > 1.03*want {
		t.Errorf("offered %.3g card-seconds, want about %.3g", offered, want)
	}
	var buf bytes.Buffer
	if err := trace.WriteJobs(&buf, js); err != nil {
		t.Fatal(err)
	}
	back, _, err := trace.ReadJobs(&buf, "jobs.jsonl", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, js) {
		t.Fatal("the jobs changed through the JSON-lines format")
	}
}

func TestSynthTenantsQuota(t *testing.T) {
	net := defaultNet(t)
	var total int64
	for _, tn := range sim.SynthTenants(net) {
		if err := tn.Validate(); err != nil {
			t.Fatal(err)
		}
		if tn.QuotaGFLOPS <= 0 {
			t.Errorf("tenant %s has no quota", tn.ID)
		}
		total += tn.QuotaGFLOPS
	}
	if total == 0 {
		t.Fatal("no quotas")
	}
}

// replaySmall replays a synthetic week on the small network.
func replaySmall(t *testing.T, seed uint64) *sim.TimedReport {
	t.Helper()
	net := smallNet(t)
	cfg := sim.SyntheticConfig{Synth: sim.SynthConfig{Seed: seed, SpanS: sim.SyntheticSpans["week"], LoadMilli: 950}, Samples: 50}
	cfg.Core.Seed = seed
	r, err := sim.RunSynthetic(context.Background(), net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSyntheticReplayInvariants(t *testing.T) {
	r := replaySmall(t, 3)
	if r.Jobs == 0 || r.Placed+r.NeverPlaced != r.Jobs || r.Completed > r.Placed || r.Completed+r.RunningAtEnd > r.Placed {
		t.Fatalf("inconsistent counts: %+v", r)
	}
	if r.MeanUtil <= 0 || r.MeanUtil > 1 || r.PeakUtil > 1 || r.PeakUtil < r.MeanUtil {
		t.Fatalf("utilisation mean %v peak %v", r.MeanUtil, r.PeakUtil)
	}
	if r.QueueDelay.N != r.Placed || r.QueueDelay.Max < r.QueueDelay.P99 || r.QueueDelay.P99 < r.QueueDelay.P50 {
		t.Fatalf("queue delay %+v for %d placed", r.QueueDelay, r.Placed)
	}
	var sum int
	for _, g := range r.ByKind {
		sum += g.Jobs
	}
	if sum != r.Jobs || len(r.ByTenant) < 2 {
		t.Fatalf("groups: %d jobs by kind of %d, %d tenants", sum, r.Jobs, len(r.ByTenant))
	}
	for i, s := range r.Series {
		if s.Util < 0 || s.Util > 1 || s.Queued < 0 || s.Running < 0 || i > 0 && s.T <= r.Series[i-1].T {
			t.Fatalf("sample %d: %+v", i, s)
		}
	}
	if r.QueueDelay.Max == 0 {
		t.Error("at 95% offered load some job should wait")
	}
}

func TestSyntheticReplayDeterministic(t *testing.T) {
	a, _ := json.Marshal(replaySmall(t, 5))
	b, _ := json.Marshal(replaySmall(t, 5))
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different reports")
	}
}

func TestReplayRejectsInvalidJobs(t *testing.T) {
	net := smallNet(t)
	jobs := []sim.Job{
		{Job: model.Job{ID: "ok", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, SubmitTime: 0}, DurationS: 10},
		{Job: model.Job{ID: "bad", Tenant: "t", Kind: model.Batch, Workers: 2, CardsPerWorker: 1, SubmitTime: 5}, DurationS: 10},
	}
	r, err := sim.Replay(context.Background(), net, jobs, sim.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Jobs != 1 || r.Rejected != 1 || r.Completed != 1 || r.Completion.Max != 10 {
		t.Fatalf("report %+v: want one job completed in 10 s and one rejected", r)
	}
}
