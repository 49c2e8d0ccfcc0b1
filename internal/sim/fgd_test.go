package sim_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sim -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./internal/sim -rewrite, then review the diff):\n%s", name, got)
	}
}

func fixtureFGD(t *testing.T, workers int) *sim.FGDReport {
	t.Helper()
	r, err := sim.RunFGD(context.Background(), sim.FGDConfig{
		NodesPath: "testdata/nodes.csv", PodsPath: "testdata/pods.csv",
		Seeds: sim.Seeds(1, 4), Workers: workers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFGDGoldenSummary(t *testing.T) {
	r := fixtureFGD(t, 2)
	if len(r.Policies) != len(frag.Names()) {
		t.Fatalf("%d policies, want all %d", len(r.Policies), len(frag.Names()))
	}
	golden(t, "fgd-summary.txt", sim.FGDTable(r))
}

func TestFGDDeterministic(t *testing.T) {
	a, _ := json.Marshal(fixtureFGD(t, 1))
	b, _ := json.Marshal(fixtureFGD(t, 3))
	if string(a) != string(b) {
		t.Fatal("the same seeds gave different reports with different worker counts")
	}
}

func TestFGDCurveProperties(t *testing.T) {
	r := fixtureFGD(t, 2)
	for _, p := range r.Policies {
		prev := -1.0
		for _, pt := range p.Points {
			a := pt.AllocRatio
			if a.Min < 0 || a.Max > 1 || a.Min > a.Mean || a.Mean > a.Max || a.Std < 0 {
				t.Errorf("%s at %d%%: bad alloc ratio %+v", p.Policy, pt.ArrivedPct, a)
			}
			// No departures: allocation never falls as work arrives.
			if a.Mean < prev-1e-12 {
				t.Errorf("%s: alloc ratio falls to %v at %d%%", p.Policy, a.Mean, pt.ArrivedPct)
			}
			prev = a.Mean
			got := (1 - a.Mean) * float64(r.ClusterGPUs)
			if d := got - pt.UnallocatedGPUs.Mean; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s at %d%%: unallocated %v, want (1-alloc)×GPUs = %v", p.Policy, pt.ArrivedPct, pt.UnallocatedGPUs.Mean, got)
			}
		}
	}
}

func TestFGDBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sim.FGDConfig
		want string
	}{
		{"unknown policy", sim.FGDConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/pods.csv", Policies: []string{"fgd", "nope"}}, `unknown policy "nope"`},
		{"missing trace", sim.FGDConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/absent.csv"}, "absent.csv"},
		{"bad row", sim.FGDConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/bad-pods.csv"}, "bad-pods.csv:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.RunFGD(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	r, err := sim.RunFGD(context.Background(), sim.FGDConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/bad-pods.csv", SkipBad: true, Seeds: []uint64{1}, Policies: []string{"bestfit"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped != 1 {
		t.Errorf("skipped %d rows, want 1", r.Skipped)
	}
}

func TestFGDCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sim.RunFGD(ctx, sim.FGDConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/pods.csv"}); err == nil {
		t.Fatal("a cancelled run returned no error")
	}
}

// TestFGDRealDefault runs protocol A on the real default pod list with two
// seeds and checks the paper's ordering at 130% arrived workload.
func TestFGDRealDefault(t *testing.T) {
	dir := tracetest.OpenbDir(t)
	var last int64
	r, err := sim.RunFGD(context.Background(), sim.FGDConfig{
		NodesPath: filepath.Join(dir, "openb_node_list_gpu_node.csv"),
		PodsPath:  filepath.Join(dir, "openb_pod_list_default.csv"),
		Policies:  []string{frag.Random, frag.BestFit, frag.FGD, frag.Suanli},
		Seeds:     sim.Seeds(1, 2),
		Progress: func(done, total int64) {
			if done < last || done > total {
				t.Errorf("progress %d of %d after %d", done, total, last)
			}
			last = done
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ClusterGPUs != 6212 {
		t.Errorf("cluster has %d GPUs, want 6212", r.ClusterGPUs)
	}
	if last != 4*2*1000 {
		t.Errorf("progress ended at %d, want %d", last, 4*2*1000)
	}
	u := map[string]float64{}
	for _, p := range r.Policies {
		pt, ok := p.At(130)
		if !ok {
			t.Fatalf("%s has no 130%% point", p.Policy)
		}
		u[p.Policy] = pt.UnallocatedGPUs.Mean
	}
	t.Log(fmt.Sprint(u))
	if !(u[frag.FGD] < u[frag.BestFit] && u[frag.BestFit] < u[frag.Random]) {
		t.Errorf("unallocated GPUs at 130%%: want fgd < bestfit < random, got %v", u)
	}
}
