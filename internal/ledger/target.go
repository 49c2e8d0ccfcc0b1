package ledger

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Progress compares installed capacity with a target.
type Progress struct {
	TargetGFLOPS    int64 `json:"target_gflops"`
	InstalledGFLOPS int64 `json:"installed_gflops"`
	// PercentMilli is installed ÷ target in thousandths of a percent.
	PercentMilli int64 `json:"percent_milli"`
	ByYear       int   `json:"by_year,omitempty"`
	FromYear     int   `json:"from_year,omitempty"`
	// GrowthPermille is the compound yearly growth needed to reach the
	// target by ByYear, in thousandths (1414 = +41.4% a year).
	GrowthPermille int64 `json:"growth_permille_per_year,omitempty"`
}

// NewProgress computes progress toward target; byYear and fromYear are
// optional (0).
func NewProgress(installed, target int64, fromYear, byYear int) *Progress {
	p := &Progress{TargetGFLOPS: target, InstalledGFLOPS: installed, ByYear: byYear, FromYear: fromYear}
	if target > 0 {
		p.PercentMilli = installed * 100_000 / target
	}
	if years := byYear - fromYear; byYear > 0 && years > 0 && installed > 0 && target > installed {
		// The growth rate is derived, so a float is fine here; the capacity
		// figures themselves stay integers.
		g := math.Pow(float64(target)/float64(installed), 1/float64(years))
		p.GrowthPermille = int64(g*1000 + 0.5)
	}
	return p
}

// ParseFLOPS reads a throughput such as "100EF", "29.2 EFLOPS", "500PF" or
// "313TF" into GFLOPS, exactly.
func ParseFLOPS(s string) (int64, error) {
	t := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	t = strings.TrimSuffix(t, "LOPS")
	t = strings.TrimSuffix(t, "FLOP/S")
	units := []struct {
		suffix string
		gflops int64
	}{{"EF", 1e9}, {"PF", 1e6}, {"TF", 1e3}, {"GF", 1}, {"E", 1e9}, {"P", 1e6}, {"T", 1e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok && num != "" {
			r, ok := new(big.Rat).SetString(num)
			if !ok || r.Sign() < 0 {
				break
			}
			r.Mul(r, new(big.Rat).SetInt64(u.gflops))
			if !r.IsInt() || r.Num().BitLen() > 62 {
				return 0, fmt.Errorf("throughput %q is not a whole number of GFLOPS or is too large", s)
			}
			return r.Num().Int64(), nil
		}
	}
	return 0, fmt.Errorf("throughput %q: want a number with a unit EF, PF, TF or GF (e.g. 100EF)", s)
}

// EF formats GFLOPS as EFLOPS with three decimals, rounded half up, from
// integers only.
func EF(gflops int64) string { return scaled(gflops, 1_000_000) }

func scaled(v, div int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	q := (v + div/2) / div // thousandths of the unit
	s := fmt.Sprintf("%d.%03d", q/1000, q%1000)
	if neg {
		s = "-" + s
	}
	return s
}
