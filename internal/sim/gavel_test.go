package sim

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
)

// gavelDir finds Gavel's benchmark data (shared/data/gavel beside the
// repository or above it, or $SUANLI_GAVEL_DATA). Without it the test
// skips, except under CI, where a missing prerequisite is a failure.
func gavelDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SUANLI_GAVEL_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "gavel")
		if _, err := os.Stat(filepath.Join(p, "throughputs_isolated.csv")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Gavel's benchmark data (shared/data/gavel) not found above the repository and SUANLI_GAVEL_DATA unset")
	}
	t.Skip("Gavel's benchmark data (shared/data/gavel) not present")
	return ""
}

func loadGavel(t testing.TB) ([]GavelJob, Throughputs) {
	t.Helper()
	d := gavelDir(t)
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

func TestGavelFull(t *testing.T) {
	if os.Getenv("SUANLI_LONG") == "" {
		t.Skip("long: set SUANLI_LONG=1")
	}
	jobs, tp := loadGavel(t)
	for _, jph := range []float64{3.2, 4.8} {
		for _, aware := range []bool{false, true} {
			r, err := RunGavel(context.Background(), jobs, GavelConfig{Cluster: gavelCluster, Throughputs: tp, Aware: aware, JobsPerHour: jph})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%.1f/h %s: jct %.0f s (no-wait %.0f) util %.3f makespan %.0f h migrations %d %v", jph, r.Mode, r.WindowAvgJCTS, r.NoWaitAvgJCTS, r.Utilization, r.MakespanS/3600, r.Migrations, r.PerType)
		}
	}
}

var _ = core.Config{}
var _ = model.Job{}
