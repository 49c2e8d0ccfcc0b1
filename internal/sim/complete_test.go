package sim

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

// TestCompleteLogOnGavelMatrix holds back each entry of Gavel's measured
// matrix (26 job types × V100, P100, K80) in turn, completes it from the
// rest and compares with the measurement; the peak-FLOPS conversion the
// scheduler uses without a matrix (the same job's rate on another type ×
// the ratio of peak FP16) is the baseline it must beat.
func TestCompleteLogOnGavelMatrix(t *testing.T) {
	tp, err := ReadThroughputs(filepath.Join(tracetest.GavelDir(t), "throughputs_isolated.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"v100", "p100", "k80"}
	var types []string
	for k := range tp {
		types = append(types, k)
	}
	slices.Sort(types)
	m := make([][]float64, len(types))
	for i, ty := range types {
		for _, c := range cols {
			m[i] = append(m[i], tp[ty][c])
		}
	}
	var errs, base []float64
	for i := range m {
		for j := range cols {
			held := make([][]float64, len(m))
			for k := range m {
				held[k] = slices.Clone(m[k])
			}
			held[i][j] = math.NaN()
			out, err := catalog.CompleteLog(held)
			if err != nil {
				t.Fatal(err)
			}
			errs = append(errs, math.Abs(out[i][j]/m[i][j]-1))
			// Baseline: from each other type by peak FP16, geometric mean.
			var s float64
			for k, c := range cols {
				if k != j {
					s += math.Log(m[i][k] * gavelModels[cols[j]].fp16 / gavelModels[c].fp16)
				}
			}
			base = append(base, math.Abs(math.Exp(s/2)/m[i][j]-1))
		}
	}
	med := func(x []float64) float64 { s := slices.Clone(x); slices.Sort(s); return s[len(s)/2] }
	t.Logf("held-back entries: median relative error %.1f%% (peak-FLOPS conversion %.1f%%), %d entries", 100*med(errs), 100*med(base), len(errs))
	if med(errs) > 0.20 || med(errs) > med(base)/3 {
		t.Errorf("completion median error %.1f%%, peak-FLOPS %.1f%%", 100*med(errs), 100*med(base))
	}
}
