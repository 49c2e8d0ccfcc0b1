package catalog

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// RateEstimator learns per-(class, model) throughput from workers' progress
// reports. Each estimate is the geometric mean of the reports and the
// matrix's figure, the figure counting as PriorWeight reports: with few
// reports it stays near the default, with many it follows the
// measurements. Throughput noise is multiplicative (a slow step, a
// straggler), hence the log scale; a few wild reports move it little.
// Pairs without reports and without a matrix figure are completed from
// the others (CompleteLog).
type RateEstimator struct {
	// PriorWeight is how many reports the matrix figure is worth
	// (default 4; observed entries count double).
	PriorWeight float64
	tp          *Throughput
	obs         map[[2]string]Observation
}

// Observation is what the progress reports on one (class, model) pair add
// up to: how many, and the sum of their log rates. It is what a store
// keeps; the estimate follows from it and the matrix.
type Observation struct {
	Reports float64 `json:"reports"`
	SumLog  float64 `json:"sum_log"`
}

// Add is o with one more report of rate (units per second per card).
func (o Observation) Add(rate float64) Observation {
	return Observation{Reports: o.Reports + 1, SumLog: o.SumLog + math.Log(rate)}
}

// Mean is the reports' geometric mean (0 without reports).
func (o Observation) Mean() float64 {
	if o.Reports <= 0 {
		return 0
	}
	return math.Exp(o.SumLog / o.Reports)
}

// CheckRate is the rate of work units done in seconds, or why the two
// cannot be a throughput.
func CheckRate(work, seconds float64) (float64, error) {
	if !(work > 0) || !(seconds > 0) || math.IsInf(work, 0) || math.IsInf(seconds, 0) {
		return 0, fmt.Errorf("%v units in %v s: both must be positive and finite", work, seconds)
	}
	r := work / seconds
	if math.IsInf(r, 0) || r == 0 {
		return 0, fmt.Errorf("%v units in %v s: not a finite positive rate", work, seconds)
	}
	return r, nil
}

// NewRateEstimator starts from a matrix.
func NewRateEstimator(tp *Throughput) *RateEstimator {
	return &RateEstimator{PriorWeight: 4, tp: tp, obs: map[[2]string]Observation{}}
}

// Set replaces what is known of a pair (a stored observation).
func (e *RateEstimator) Set(class, model string, o Observation) { e.obs[[2]string{class, model}] = o }

// WeightOf is how many reports a matrix figure counts as.
func (e *RateEstimator) WeightOf(prior RateFigure) float64 {
	if prior.Conf == Observed || prior.Conf == VendorSpec {
		return 2 * e.PriorWeight
	}
	return e.PriorWeight
}

// Estimate is the current figure for a pair: the reports shrunk toward the
// matrix's figure (conf observed once the reports outweigh it), the
// figure alone without reports, and ok false when neither exists.
func (e *RateEstimator) Estimate(class string, m *Model) (RateFigure, bool) {
	prior, hasPrior := e.tp.Rate(class, m)
	o := e.obs[[2]string{class, m.ID}]
	if o.Reports <= 0 {
		return prior, hasPrior
	}
	c, _ := e.tp.Class(class)
	f := RateFigure{Class: class, Model: m.ID, Unit: c.Unit, Conf: Observed}
	if !hasPrior {
		f.V = o.Mean()
		f.Note = fmt.Sprintf("%g reports", o.Reports)
		return f, true
	}
	w := e.WeightOf(prior)
	f.V = math.Exp((w*math.Log(prior.V) + o.SumLog) / (w + o.Reports))
	if o.Reports < w {
		f.Conf = prior.Conf
	}
	f.Note = fmt.Sprintf("%g reports shrunk toward %.4g (%s, weight %g)", o.Reports, prior.V, prior.Conf, w)
	return f, true
}

// CompleteLog fills a matrix's missing entries (NaN) from the others with
// an additive model in log space, log r[i][j] ≈ a[i] + b[j]: row i's
// speed times column j's speed, fitted by alternating least squares with a
// small ridge toward zero (a workload's relative speed on an accelerator
// is taken to follow the others'), then corrected by the residuals of the
// rows that depart from that fit as this row does on the columns both
// know (workloads alike in how they use the hardware, e.g. the same
// network at other batch sizes). Gavel completes its matrix by low-rank
// factorisation; with few columns this neighbour form is what the data
// supports. Entries must be positive or NaN.
func CompleteLog(m [][]float64) ([][]float64, error) {
	rows := len(m)
	if rows == 0 {
		return nil, errors.New("empty matrix")
	}
	cols := len(m[0])
	for i, r := range m {
		if len(r) != cols {
			return nil, fmt.Errorf("row %d has %d entries, row 0 has %d", i, len(r), cols)
		}
		for j, v := range r {
			if !math.IsNaN(v) && !(v > 0 && !math.IsInf(v, 0)) {
				return nil, fmt.Errorf("entry [%d][%d] = %v: want a positive rate or NaN for unknown", i, j, v)
			}
		}
	}
	const ridge = 1e-6
	a, b := make([]float64, rows), make([]float64, cols)
	for range 200 {
		for i := range a {
			var s, n float64
			for j := range cols {
				if v := m[i][j]; !math.IsNaN(v) {
					s += math.Log(v) - b[j]
					n++
				}
			}
			a[i] = s / (n + ridge)
		}
		for j := range b {
			var s, n float64
			for i := range rows {
				if v := m[i][j]; !math.IsNaN(v) {
					s += math.Log(v) - a[i]
					n++
				}
			}
			b[j] = s / (n + ridge)
		}
	}
	// Residuals of the additive fit: how a row departs from "every
	// workload gains the same across columns".
	res := make([][]float64, rows)
	for i := range res {
		res[i] = make([]float64, cols)
		for j := range cols {
			res[i][j] = math.NaN()
			if v := m[i][j]; !math.IsNaN(v) {
				res[i][j] = math.Log(v) - a[i] - b[j]
			}
		}
	}
	out := make([][]float64, rows)
	for i := range out {
		out[i] = slices.Clone(m[i])
		for j := range out[i] {
			if math.IsNaN(out[i][j]) {
				out[i][j] = math.Exp(a[i] + b[j] + neighbourResidual(res, i, j))
			}
		}
	}
	return out, nil
}

// neighbourResidual is the residual at column j of the rows most like row
// i: rows with column j known, weighted by how closely their residuals on
// the columns both know match row i's (a Gaussian kernel of width
// residualWidth in log space). 0 when no row qualifies.
func neighbourResidual(res [][]float64, i, j int) float64 {
	var sw, s float64
	for k := range res {
		if k == i || math.IsNaN(res[k][j]) {
			continue
		}
		var d2, n float64
		for c := range res[i] {
			if c != j && !math.IsNaN(res[i][c]) && !math.IsNaN(res[k][c]) {
				d := res[i][c] - res[k][c]
				d2 += d * d
				n++
			}
		}
		if n == 0 {
			continue
		}
		w := math.Exp(-d2 / n / (2 * residualWidth * residualWidth))
		sw += w
		s += w * res[k][j]
	}
	if sw == 0 {
		return 0
	}
	return s / sw
}

// residualWidth is the kernel width of neighbourResidual (log scale: 0.1
// is about 10% of throughput).
const residualWidth = 0.1
