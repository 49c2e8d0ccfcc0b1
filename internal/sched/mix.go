package sched

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/suanli/suanli/internal/model"
)

// Mix learns the task mix the fragmentation measure is taken against from
// the jobs that arrive: a histogram of worker shapes (whole cards or a
// share per worker, host CPU and memory, the models the job names),
// decayed so that old arrivals count less, and started from a prior. It is
// pure and deterministic: the same arrivals give the same mix.
//
// Decay is applied per batch of Every arrivals: each batch multiplies
// every weight by 2^(−Every/HalfLife); the typical tasks (TypicalTasks)
// change only then, and only when they have drifted by DriftMilli, so
// that the scheduler's cached measure stays valid between changes.
type Mix struct {
	cfg     MixConfig
	state   MixState
	batch   map[mixKey]float64
	inBatch int // the batch's worker arrivals (the sum of its weights)
	cur     []TaskShape
	gen     uint64 // replacements of cur
}

// MixConfig tunes a Mix. The zero value means the defaults.
type MixConfig struct {
	// HalfLife is the arrivals after which a shape's weight halves
	// (default 20,000 workers).
	HalfLife int `json:"half_life"`
	// Every is the arrivals per batch (default 256).
	Every int `json:"every"`
	// Prior is the mix before any arrival (default DefaultTypicalTasks),
	// worth PriorWeight arrivals (default 2,000).
	Prior       []TaskShape `json:"prior,omitempty"`
	PriorWeight float64     `json:"prior_weight"`
	// Coverage is the share of the weight the typical tasks cover (the
	// FGD authors' 0.95); MaxShapes bounds the shapes kept (default 256).
	Coverage  float64 `json:"coverage"`
	MaxShapes int     `json:"max_shapes"`
	// MaxShares bounds the distinct per-card shares of the typical tasks
	// (default 16, what the scheduler measures from per-node counts);
	// lighter shapes with other shares are left out.
	MaxShares int `json:"max_shares"`
	// DriftMilli is how much popularity (thousandths) must move, or the
	// shapes change, before the typical tasks in use are replaced (default
	// 20): each replacement drops the scheduler's per-node caches.
	DriftMilli int `json:"drift_milli"`
}

func (c MixConfig) withDefaults() MixConfig {
	if c.HalfLife <= 0 {
		c.HalfLife = 20_000
	}
	if c.Every <= 0 {
		c.Every = 256
	}
	if len(c.Prior) == 0 {
		c.Prior = DefaultTypicalTasks
	}
	if c.PriorWeight <= 0 {
		c.PriorWeight = 2_000
	}
	if c.Coverage <= 0 || c.Coverage > 1 {
		c.Coverage = 0.95
	}
	if c.MaxShapes <= 0 {
		c.MaxShapes = 256
	}
	if c.MaxShares <= 0 || c.MaxShares > fragShares {
		c.MaxShares = fragShares
	}
	if c.DriftMilli <= 0 {
		c.DriftMilli = 20
	}
	return c
}

// MixState is what a Mix has learned, as the store keeps it: the worker
// arrivals seen and the decayed weight of each shape, heaviest first.
type MixState struct {
	Observed int64       `json:"observed"`
	Shapes   []MixWeight `json:"shapes"`
	Config   *MixConfig  `json:"config,omitempty"`
	Typical  []TaskShape `json:"typical,omitempty"` // the typical tasks now in use
}

// MixWeight is one shape's decayed weight, in arrivals.
type MixWeight struct {
	TaskShape
	Weight float64 `json:"weight"`
}

// mixKey is a shape as a map key (models joined by commas).
type mixKey struct {
	cards, share int
	cpu, mem     int64
	models       string
}

func keyOf(t TaskShape) mixKey {
	return mixKey{t.Cards, t.ShareMilli, t.CPUMilli, t.HostMemMiB, strings.Join(t.Models, ",")}
}

func (k mixKey) shape() TaskShape {
	t := TaskShape{Cards: k.cards, ShareMilli: k.share, CPUMilli: k.cpu, HostMemMiB: k.mem}
	if k.models != "" {
		t.Models = strings.Split(k.models, ",")
	}
	return t
}

// NewMix starts a mix from a stored state, or from the prior when st is
// nil or empty.
func NewMix(cfg MixConfig, st *MixState) *Mix {
	m := &Mix{cfg: cfg.withDefaults(), batch: map[mixKey]float64{}}
	if st != nil && len(st.Shapes) > 0 {
		m.state = MixState{Observed: st.Observed, Shapes: slices.Clone(st.Shapes)}
	} else {
		var total float64
		for _, p := range m.cfg.Prior {
			total += float64(max(p.PopularityMilli, 0))
		}
		for _, p := range m.cfg.Prior {
			if w := float64(max(p.PopularityMilli, 0)); w > 0 && total > 0 {
				s := p
				s.PopularityMilli = 0
				m.state.Shapes = append(m.state.Shapes, MixWeight{TaskShape: s, Weight: m.cfg.PriorWeight * w / total})
			}
		}
	}
	m.normalize()
	m.cur = m.typical()
	if st != nil && len(st.Shapes) > 0 && len(st.Typical) > 0 {
		m.cur = cloneShapes(st.Typical) // the tasks in use, drift and all
	}
	return m
}

// Observe counts a job's workers (at most 64 a job, so that one huge gang
// does not swamp the mix). A compute request, whose cards per worker the
// scheduler chooses, is not counted. It reports whether a batch closed:
// the learned state changed (and the typical tasks may have).
func (m *Mix) Observe(j *model.Job) bool {
	t := TaskShape{Cards: j.CardsPerWorker, CPUMilli: j.CPUMilli, HostMemMiB: j.HostMemMiB}
	if j.Fractional() {
		t.Cards, t.ShareMilli = 0, j.ShareMilli
	}
	if t.Cards == 0 && t.ShareMilli == 0 {
		return false
	}
	if len(j.Models) > 0 {
		t.Models = slices.Clone(j.Models)
		slices.Sort(t.Models)
		t.Models = slices.Compact(t.Models)
	}
	w := min(max(j.Workers, 1), 64)
	m.batch[keyOf(t)] += float64(w)
	m.inBatch += w
	m.state.Observed += int64(w)
	if m.inBatch < m.cfg.Every {
		return false
	}
	m.fold()
	if next := m.typical(); drift(m.cur, next) >= m.cfg.DriftMilli {
		m.cur = next
		m.gen++
	}
	return true
}

// drift is how far apart two lists of typical tasks are, in thousandths:
// the popularity that moved, half the L1 distance over the union of their
// shapes (a shape in one list only counts its whole popularity). A light
// shape entering or leaving the tail moves little; a new heavy one moves
// much.
func drift(a, b []TaskShape) int {
	pop := make(map[mixKey]int, len(a)+len(b))
	for _, t := range a {
		pop[keyOf(t)] += t.PopularityMilli
	}
	for _, t := range b {
		pop[keyOf(t)] -= t.PopularityMilli
	}
	d := 0
	for _, p := range pop {
		d += abs(p)
	}
	return d / 2
}

func abs(x int) int { return max(x, -x) }

// fold decays the weights by the batch's arrivals and adds the batch.
func (m *Mix) fold() {
	decay := math.Exp2(-float64(m.inBatch) / float64(m.cfg.HalfLife))
	idx := map[mixKey]int{}
	for i := range m.state.Shapes {
		m.state.Shapes[i].Weight *= decay
		idx[keyOf(m.state.Shapes[i].TaskShape)] = i
	}
	keys := make([]mixKey, 0, len(m.batch))
	for k := range m.batch {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKey)
	for _, k := range keys {
		if i, ok := idx[k]; ok {
			m.state.Shapes[i].Weight += m.batch[k]
		} else {
			m.state.Shapes = append(m.state.Shapes, MixWeight{TaskShape: k.shape(), Weight: m.batch[k]})
		}
	}
	clear(m.batch)
	m.inBatch = 0
	m.normalize()
}

func compareKey(a, b mixKey) int {
	return cmp.Or(cmp.Compare(a.cards, b.cards), cmp.Compare(a.share, b.share), cmp.Compare(a.cpu, b.cpu),
		cmp.Compare(a.mem, b.mem), cmp.Compare(a.models, b.models))
}

// normalize sorts the shapes heaviest first (ties by shape) and keeps the
// MaxShapes heaviest.
func (m *Mix) normalize() {
	slices.SortStableFunc(m.state.Shapes, func(a, b MixWeight) int {
		return cmp.Or(cmp.Compare(b.Weight, a.Weight), compareKey(keyOf(a.TaskShape), keyOf(b.TaskShape)))
	})
	if len(m.state.Shapes) > m.cfg.MaxShapes {
		m.state.Shapes = m.state.Shapes[:m.cfg.MaxShapes]
	}
}

// typical is the heaviest shapes covering Coverage of the weight (of at
// most MaxShares distinct shares), with popularities in thousandths of
// what they cover.
func (m *Mix) typical() []TaskShape {
	var total float64
	for _, s := range m.state.Shapes {
		total += s.Weight
	}
	var kept []MixWeight
	var cum float64
	var shares []int // distinct per-card shares of the kept shapes
	for _, s := range m.state.Shapes {
		if cum >= m.cfg.Coverage*total {
			break
		}
		sh := s.ShareMilli
		if s.Cards > 0 {
			sh = model.MilliCard
		}
		if !slices.Contains(shares, sh) {
			if len(shares) == m.cfg.MaxShares {
				continue // a share the scheduler's fast measure cannot tell apart
			}
			shares = append(shares, sh)
		}
		kept = append(kept, s)
		cum += s.Weight
	}
	var out []TaskShape
	for _, s := range kept {
		if p := int(math.Round(1000 * s.Weight / cum)); p > 0 {
			t := s.TaskShape
			t.PopularityMilli = p
			out = append(out, t)
		}
	}
	return out
}

// TypicalTasks is the mix the scheduler measures against now (it changes
// only when a batch closes).
func (m *Mix) TypicalTasks() []TaskShape { return cloneShapes(m.cur) }

// TasksGen counts the replacements of the typical tasks: while it stays,
// TypicalTasks does too, and so does every plan measured against them.
func (m *Mix) TasksGen() uint64 { return m.gen }

// State is what the mix has learned, for the store and the API.
func (m *Mix) State() MixState {
	cfg := m.cfg
	st := MixState{Observed: m.state.Observed, Shapes: slices.Clone(m.state.Shapes), Config: &cfg, Typical: m.TypicalTasks()}
	return st
}
