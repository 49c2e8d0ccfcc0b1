package sim_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

func fixtureTimed(t *testing.T) *sim.TimedReport {
	t.Helper()
	// Compressed four times, the fixture queues.
	r, err := sim.RunTimed(context.Background(), sim.TimedConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/pods.csv", Samples: 20, Compress: 4})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTimedGoldenSummary(t *testing.T) {
	golden(t, "time-summary.txt", sim.TimedTable(fixtureTimed(t)))
}

func TestTimedDeterministic(t *testing.T) {
	a, _ := json.Marshal(fixtureTimed(t))
	b, _ := json.Marshal(fixtureTimed(t))
	if string(a) != string(b) {
		t.Fatal("the same trace gave different reports")
	}
}

func TestTimedFixtureMeasures(t *testing.T) {
	r := fixtureTimed(t)
	pods, _, err := trace.LoadPods("testdata/pods.csv", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gpuPods := 0
	for _, p := range pods {
		if p.NumGPU > 0 {
			gpuPods++
		}
	}
	if r.Jobs != gpuPods || r.Ignored != len(pods)-gpuPods {
		t.Fatalf("%d jobs and %d ignored, want %d GPU pods and %d CPU-only", r.Jobs, r.Ignored, gpuPods, len(pods)-gpuPods)
	}
	frag := false
	for _, s := range r.Series {
		if s.FragRatio < 0 || s.FragRatio > 1 || s.Util < 0 || s.Util > 1 {
			t.Fatalf("sample %+v out of range", s)
		}
		frag = frag || s.FragGPUs > 0
	}
	if !frag || r.PeakUtil == 0 {
		t.Fatal("no fragmentation or utilisation measured")
	}
}

func TestOpenbNetwork(t *testing.T) {
	nodes, _, err := trace.LoadNodes("testdata/nodes.csv", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := sim.OpenbNetwork(nodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	gpus := 0
	for _, n := range nodes {
		gpus += n.GPUs
		id, ok := oc.NodeID[n.Name]
		if !ok {
			t.Fatalf("node %s not mapped", n.Name)
		}
		nn, _ := oc.Net.Node(id)
		want, _ := sim.OpenbModelID(n.GPUModel)
		if nn.Cards != n.GPUs || nn.Model != want || nn.CPUCores != n.CPUMilli/1000 {
			t.Errorf("node %s became %+v", n.Name, nn)
		}
	}
	if oc.Net.Cards() != gpus {
		t.Fatalf("%d cards, want %d", oc.Net.Cards(), gpus)
	}
	for _, g := range []string{"G2", "G3", "T4", "P100", "V100M16", "V100M32", "A10"} {
		id, _ := sim.OpenbModelID(g)
		m := oc.Net.Model(id)
		if m == nil {
			t.Fatalf("%s (%s) is not in the network's catalog", g, id)
		}
		if f, conf, ok := m.FP16GFLOPS(); !ok || f <= 0 || conf != catalog.Override {
			t.Errorf("%s: FP16 %d %s, want a positive override", g, f, conf)
		}
	}
	_, err = sim.OpenbNetwork([]trace.Node{{Name: "x", GPUs: 2, GPUModel: "H100"}, {Name: "y", GPUs: 1, GPUModel: "Q9"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `"H100"`) || !strings.Contains(err.Error(), `"Q9"`) {
		t.Fatalf("error %v: want both unknown models named", err)
	}
}

func TestPodJob(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  trace.Pod
		ok   bool
		want model.Job
		err  string
	}{
		{"cpu only", trace.Pod{Name: "c", CPUMilli: 1000}, false, model.Job{}, ""},
		{"share", trace.Pod{Name: "s", NumGPU: 1, GPUMilli: 250, CreationTime: 9}, true,
			model.Job{ID: "s", Tenant: "openb", Kind: model.Batch, Workers: 1, ShareMilli: 250, SubmitTime: 9}, ""},
		{"whole with spec", trace.Pod{Name: "w", NumGPU: 4, GPUMilli: 1000, GPUSpec: []string{"V100M16", "V100M32"}}, true,
			model.Job{ID: "w", Tenant: "openb", Kind: model.Batch, Workers: 1, CardsPerWorker: 4, Models: []string{"nvidia-v100-16g", "nvidia-v100-32g"}}, ""},
		{"unknown spec", trace.Pod{Name: "u", NumGPU: 1, GPUMilli: 1000, GPUSpec: []string{"Z1"}}, false, model.Job{}, `unknown model "Z1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, ok, err := sim.PodJob(tc.pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != tc.ok {
				t.Fatalf("ok %v err %v", ok, err)
			}
			if ok {
				if err := j.Validate(); err != nil {
					t.Fatal(err)
				}
				if b1, b2 := mustMarshal(j), mustMarshal(tc.want); b1 != b2 {
					t.Fatalf("got %s\nwant %s", b1, b2)
				}
			}
		})
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOpenbJobsNeedTimes(t *testing.T) {
	_, _, _, err := sim.OpenbJobs([]trace.Pod{{Name: "p", NumGPU: 1, GPUMilli: 1000, CreationTime: trace.NoTime}})
	if err == nil || !strings.Contains(err.Error(), "protocol A (fgd)") {
		t.Fatalf("error %v: want a pointer to protocol A", err)
	}
}

// TestTimedRealDefault replays the real default pod list through the core.
func TestTimedRealDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 8,000 pods")
	}
	dir := tracetest.OpenbDir(t)
	r, err := sim.RunTimed(context.Background(), sim.TimedConfig{
		NodesPath: filepath.Join(dir, "openb_node_list_gpu_node.csv"),
		PodsPath:  filepath.Join(dir, "openb_pod_list_default.csv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cards != 6212 || r.Jobs+r.Ignored != 8152 {
		t.Fatalf("%d cards, %d jobs + %d ignored: want 6212 cards and 8152 pods", r.Cards, r.Jobs, r.Ignored)
	}
	if r.Placed != r.Jobs || r.NeverPlaced != 0 {
		t.Errorf("%d of %d pods placed: the trace's own cluster ran them all", r.Placed, r.Jobs)
	}
	t.Logf("%d jobs, mean util %.4f, peak %.4f, queue delay %+v", r.Jobs, r.MeanUtil, r.PeakUtil, r.QueueDelay)
}
