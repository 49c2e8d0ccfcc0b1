package sim

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

func loadGavel(t testing.TB) ([]GavelJob, Throughputs) {
	t.Helper()
	d := tracetest.GavelDir(t)
	f, err := os.Open(filepath.Join(d, "jobs_seed0_lam1125_singlegpu.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jobs, err := ReadGavelJobs(f)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ReadThroughputs(filepath.Join(d, "throughputs_isolated.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return jobs, tp
}

var gavelCluster = []GavelCard{{"v100", 36}, {"p100", 36}, {"k80", 36}}

// TestRatesSteerPlacement checks the production path: the core places a
// job without a throughput table on the model of highest peak FLOPS (×
// free fraction), and one with a table where it runs fastest.
func TestRatesSteerPlacement(t *testing.T) {
	net, ids, err := GavelNetwork([]GavelCard{{"v100", 2}, {"k80", 2}})
	if err != nil {
		t.Fatal(err)
	}
	c := core.New(net, core.Config{})
	// place submits jobs together (one pass of the core) and returns the
	// model each landed on.
	place := func(js ...model.Job) map[model.JobID]string {
		t.Helper()
		for _, j := range js {
			if err := c.Step(core.JobSubmitted{At: 1, Job: j}); err != nil {
				t.Fatal(err)
			}
		}
		rd := c.Ready()
		c.Advance(rd)
		got := map[model.JobID]string{}
		for _, p := range rd.Placements {
			n, _ := net.Node(p.Assignments[0].Node)
			got[p.Job] = n.Model
		}
		return got
	}
	base := model.Job{Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
	j := base
	j.ID = "peak"
	if got := place(j)[j.ID]; got != ids["v100"] {
		t.Errorf("without rates: placed on %s, want %s (peak FLOPS)", got, ids["v100"])
	}
	// Same shape but for the rates: the core must not reuse one decision
	// for the other.
	a, b := base, base
	a.ID, a.Rates = "k80-faster", map[string]float64{ids["v100"]: 1, ids["k80"]: 3}
	b.ID, b.Rates = "v100-faster", map[string]float64{ids["v100"]: 3, ids["k80"]: 1}
	got := place(a, b)
	if got[a.ID] != ids["k80"] || got[b.ID] != ids["v100"] {
		t.Errorf("rates favour k80 for %s, v100 for %s: placed %v", a.ID, b.ID, got)
	}
}

func TestReadGavelInputErrors(t *testing.T) {
	for _, in := range []string{
		"",
		`{"job_id": 1, "arrival_time_s": 0, "job_type": "A3C", "total_steps": 0}`,
		`{"job_id": 1, "arrival_time_s": -5, "job_type": "A3C", "total_steps": 10}`,
		`{"job_id": 1, "arrival_time_s": 0, "total_steps": 10}`,
		`{"job_id": 1, "arrival_time_s": 0, "job_type": "A3C", "total_steps": 10, "scale_factor": 4}`,
		`not json`,
	} {
		if _, err := ReadGavelJobs(strings.NewReader(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	for _, s := range []string{"", "v100", "v100:0", "v100:x", "v100:2,v100:3", ":4"} {
		if _, err := ParseGavelCluster(s); err == nil {
			t.Errorf("cluster %q accepted", s)
		}
	}
	if _, _, err := GavelNetwork([]GavelCard{{"h800", 1}}); err == nil || !strings.Contains(err.Error(), "v100") {
		t.Errorf("unknown type: %v", err)
	}
	tp := Throughputs{"A3C": {"v100": 7}}
	jobs := []GavelJob{{ID: 0, Type: "A3C", TotalSteps: 70, InWindow: true}}
	if _, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: []GavelCard{{"v100", 1}, {"k80", 1}}, Throughputs: tp}); err == nil || !strings.Contains(err.Error(), "A3C on k80") {
		t.Errorf("missing rate: %v", err)
	}
}

// TestGavelSmall checks the machinery on a hand-made stream: one V100 and
// one K80; a job that runs 10× faster on the V100 arrives while the V100
// is taken by one that runs as fast on either. Aware, the scheduler places
// the second on the K80 and migrates it to the V100 when that frees,
// paying the restore cost once.
func TestGavelSmall(t *testing.T) {
	tp := Throughputs{"same": {"v100": 1, "k80": 1}, "fast": {"v100": 10, "k80": 1}}
	jobs := []GavelJob{
		{ID: 0, ArrivalS: 0, Type: "same", TotalSteps: 3600},
		{ID: 1, ArrivalS: 10, Type: "fast", TotalSteps: 36000, InWindow: true},
	}
	cl := []GavelCard{{"v100", 1}, {"k80", 1}}
	agn, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: cl, Throughputs: tp})
	if err != nil {
		t.Fatal(err)
	}
	// Agnostic: job 0 on the V100 (peak FLOPS), job 1 on the K80 for 36,000 s.
	if agn.WindowAvgJCTS != 36000 || agn.Migrations != 0 {
		t.Errorf("agnostic: JCT %v, %d migrations; want 36000, 0", agn.WindowAvgJCTS, agn.Migrations)
	}
	aw, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: cl, Throughputs: tp, Aware: true})
	if err != nil {
		t.Fatal(err)
	}
	// Aware: job 0 also lands on the V100 (equal rates, first in id order),
	// job 1 on the K80 from 10 s; at 3600 s the V100 frees: job 1 has done
	// 3590 steps, moves, pays 120 s and runs 32,410 steps at 10/s.
	want := 3600 + 120 + 3241.0 - 10
	if aw.Migrations != 1 || aw.WindowAvgJCTS != want {
		t.Errorf("aware: JCT %v, %d migrations; want %v, 1", aw.WindowAvgJCTS, aw.Migrations, want)
	}
	if aw.NoWaitAvgJCTS != 3600 {
		t.Errorf("no-wait limit %v, want 3600", aw.NoWaitAvgJCTS)
	}
}

// TestGavelSeed0 replays Gavel's own stream (seed 0, 3.2 jobs/hour) and
// holds the aware run to the target: at most 56,880 s average JCT over
// jobs 4000–4999 (within 3% of the no-wait limit, below Gavel's best run
// here, 58,364 s), far below the agnostic run.
func TestGavelSeed0(t *testing.T) {
	jobs, tp := loadGavel(t)
	run := func(aware bool) *GavelReport {
		r, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: aware})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	aw, agn := run(true), run(false)
	t.Logf("aware %.0f s, agnostic %.0f s, no-wait %.0f s", aw.WindowAvgJCTS, agn.WindowAvgJCTS, aw.NoWaitAvgJCTS)
	if math.Abs(aw.NoWaitAvgJCTS-55230) > 1 {
		t.Errorf("no-wait limit %.0f s, the data README says 55,230 s", aw.NoWaitAvgJCTS)
	}
	if aw.WindowAvgJCTS > 56880 {
		t.Errorf("aware: %.0f s average JCT, target at most 56,880 s", aw.WindowAvgJCTS)
	}
	if agn.WindowAvgJCTS < 1.2*aw.WindowAvgJCTS {
		t.Errorf("agnostic %.0f s is not clearly worse than aware %.0f s", agn.WindowAvgJCTS, aw.WindowAvgJCTS)
	}
	if aw.WindowJobs != 1000 || aw.Completed < 5000 {
		t.Errorf("window %d jobs, %d completed", aw.WindowJobs, aw.Completed)
	}
}

// TestGavelOtherSeeds regenerates streams from the generator's
// distribution: aware stays within 5% of the no-wait limit at 3.2
// jobs/hour and beats agnostic.
func TestGavelOtherSeeds(t *testing.T) {
	_, tp := loadGavel(t)
	for _, seed := range []uint64{1, 2} {
		jobs, err := GenerateGavelJobs(seed, 7000, 1125, tp)
		if err != nil {
			t.Fatal(err)
		}
		aw, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: true})
		if err != nil {
			t.Fatal(err)
		}
		agn, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: aware %.0f s, agnostic %.0f s, no-wait %.0f s", seed, aw.WindowAvgJCTS, agn.WindowAvgJCTS, aw.NoWaitAvgJCTS)
		if aw.WindowAvgJCTS > 1.05*aw.NoWaitAvgJCTS || aw.WindowAvgJCTS >= agn.WindowAvgJCTS {
			t.Errorf("seed %d: aware %.0f s (no-wait %.0f s), agnostic %.0f s", seed, aw.WindowAvgJCTS, aw.NoWaitAvgJCTS, agn.WindowAvgJCTS)
		}
	}
}

// BenchmarkGavelReplay times the whole seed-0 stream (7,000 jobs) through
// the core, aware, at 3.2 and 4.8 jobs/hour, and reports the average JCT.
func BenchmarkGavelReplay(b *testing.B) {
	jobs, tp := loadGavel(b)
	for _, jph := range []float64{3.2, 4.8} {
		b.Run(fmt.Sprintf("%.1f-per-hour", jph), func(b *testing.B) {
			var r *GavelReport
			for b.Loop() {
				var err error
				r, err = RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: true, JobsPerHour: jph})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.WindowAvgJCTS, "jct-s")
			b.ReportMetric(float64(r.Migrations), "migrations")
		})
	}
}

// TestGavelLAS holds the aware run with attained-service scheduling
// (core.Service) to the targets on Gavel's seed-0 stream: at 4.8 jobs/hour
// at least 10% below Gavel's heterogeneity-aware LAS (19.22 h → at most
// 17.30 h = 62,280 s), and still at most 56,880 s at 3.2 jobs/hour; and
// checks that it preempts, and beats the run without it at 4.8.
func TestGavelLAS(t *testing.T) {
	jobs, tp := loadGavel(t)
	for _, tc := range []struct {
		jph, most float64
	}{{4.8, 62280}, {3.2, 56880}} {
		las, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: true, LAS: true, JobsPerHour: tc.jph})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.1f jobs/hour: LAS %.0f s, %d preemptions, %d migrations", tc.jph, las.WindowAvgJCTS, las.Preemptions, las.Migrations)
		if las.WindowAvgJCTS > tc.most || las.Preemptions == 0 || las.Mode != "aware, LAS" {
			t.Errorf("%.1f jobs/hour: %s %.0f s average JCT (target at most %.0f s), %d preemptions", tc.jph, las.Mode, las.WindowAvgJCTS, tc.most, las.Preemptions)
		}
		if tc.jph == 4.8 {
			aw, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: true, JobsPerHour: tc.jph})
			if err != nil {
				t.Fatal(err)
			}
			if las.WindowAvgJCTS >= aw.WindowAvgJCTS {
				t.Errorf("LAS %.0f s is not below aware without it, %.0f s", las.WindowAvgJCTS, aw.WindowAvgJCTS)
			}
		}
	}
}
