// Package tune searches the scheduler's blend weights by measurement: a
// grid over a coarse simplex, then a pattern search that moves weight
// between pairs of components in halving steps, against an objective
// measured by replays (Objective) on training seeds, and the chosen
// weights measured again on held-out seeds.
package tune

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"
)

// Point is a weight vector: non-negative integers summing to the search's
// Total.
type Point []int64

func (p Point) String() string { return fmt.Sprint([]int64(p)) }

// SearchConfig tunes Search. Zero fields take the defaults.
type SearchConfig struct {
	// Dim is the number of components (default 4).
	Dim int
	// Total is what every point's components sum to (default 1000).
	Total int64
	// CoarseStep is the grid's step (default Total/4).
	CoarseStep int64
	// MinStep ends the refinement: it stops once its step would fall
	// below (default Total/40).
	MinStep int64
	// Budget bounds the evaluations (default 60). The grid takes at most
	// two thirds of it; what is left refines.
	Budget int
	// Seed orders the grid when the budget cannot hold all of it.
	Seed uint64
	// Start are evaluated first, before the grid (the current weights).
	Start []Point
	// Workers evaluate in parallel (default GOMAXPROCS).
	Workers int
}

func (c SearchConfig) withDefaults() SearchConfig {
	if c.Dim <= 0 {
		c.Dim = 4
	}
	if c.Total <= 0 {
		c.Total = 1000
	}
	if c.CoarseStep <= 0 {
		c.CoarseStep = c.Total / 4
	}
	if c.MinStep <= 0 {
		c.MinStep = max(1, c.Total/40)
	}
	if c.Budget <= 0 {
		c.Budget = 60
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

// Eval is one evaluated point.
type Eval struct {
	Point Point   `json:"weights"`
	Value float64 `json:"objective"`
	Phase string  `json:"phase"` // start, grid or refine
}

// SearchResult is the search's outcome: the best point and every
// evaluation in the order made.
type SearchResult struct {
	Best  Eval   `json:"best"`
	Evals []Eval `json:"evaluations"`
}

// Func is an objective to minimise.
type Func func(ctx context.Context, p Point) (float64, error)

// searcher is the state of one Search.
type searcher struct {
	cfg  SearchConfig
	f    Func
	seen map[string]bool
	res  SearchResult
}

// Search minimises f over the simplex: the Start points, then the grid of
// CoarseStep (in a seeded order when the budget cannot hold it), then from
// the best point a pattern search: every move of `step` weight from one
// component to another, taking the best move while it improves, halving
// the step when none does, down to MinStep. Ties keep the point evaluated
// first; the same config and objective give the same result.
func Search(ctx context.Context, cfg SearchConfig, f Func) (*SearchResult, error) {
	cfg = cfg.withDefaults()
	s := &searcher{cfg: cfg, f: f, seen: map[string]bool{}}
	for _, p := range cfg.Start {
		if err := s.check(p); err != nil {
			return nil, err
		}
	}
	if _, err := s.evalAll(ctx, cfg.Start, "start"); err != nil {
		return nil, err
	}
	grid := Grid(cfg.Dim, cfg.Total, cfg.CoarseStep)
	gridBudget := max(0, cfg.Budget*2/3-len(s.res.Evals))
	if len(grid) > gridBudget {
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x7475_6e65))
		rng.Shuffle(len(grid), func(i, j int) { grid[i], grid[j] = grid[j], grid[i] })
		grid = grid[:gridBudget]
	}
	if _, err := s.evalAll(ctx, grid, "grid"); err != nil {
		return nil, err
	}
	if err := s.refine(ctx); err != nil {
		return nil, err
	}
	return &s.res, nil
}

// refine is the pattern search from the best point so far.
func (s *searcher) refine(ctx context.Context) error {
	step := s.cfg.CoarseStep / 2
	for step >= s.cfg.MinStep && len(s.res.Evals) < s.cfg.Budget {
		cur := s.res.Best
		var moves []Point
		for i := range s.cfg.Dim {
			for j := range s.cfg.Dim {
				if i == j || cur.Point[i] < step {
					continue
				}
				p := slices.Clone(cur.Point)
				p[i] -= step
				p[j] += step
				moves = append(moves, p)
			}
		}
		improved, err := s.evalAll(ctx, moves, "refine")
		if err != nil {
			return err
		}
		if !improved {
			step /= 2
		}
	}
	return nil
}

// evalAll evaluates the points not seen yet, in parallel, within the
// budget, and records them in order; it reports whether the best improved.
func (s *searcher) evalAll(ctx context.Context, ps []Point, phase string) (bool, error) {
	var todo []Point
	for _, p := range ps {
		if k := p.String(); !s.seen[k] && len(s.res.Evals)+len(todo) < s.cfg.Budget {
			s.seen[k] = true
			todo = append(todo, p)
		}
	}
	vals := make([]float64, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Workers)
	for i, p := range todo {
		g.Go(func() error {
			v, err := s.f(gctx, p)
			if err != nil {
				return fmt.Errorf("weights %v: %w", p, err)
			}
			vals[i] = v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	improved := false
	for i, p := range todo {
		e := Eval{Point: p, Value: vals[i], Phase: phase}
		if len(s.res.Evals) == 0 || e.Value < s.res.Best.Value {
			s.res.Best, improved = e, true
		}
		s.res.Evals = append(s.res.Evals, e)
	}
	return improved, nil
}

func (s *searcher) check(p Point) error {
	var sum int64
	for _, x := range p {
		if x < 0 {
			return fmt.Errorf("start point %v has a negative weight", p)
		}
		sum += x
	}
	if len(p) != s.cfg.Dim || sum != s.cfg.Total {
		return fmt.Errorf("start point %v: want %d weights summing to %d", p, s.cfg.Dim, s.cfg.Total)
	}
	return nil
}

// Grid is every point of dim non-negative multiples of step summing to
// total (total a multiple of step), in lexicographic order.
func Grid(dim int, total, step int64) []Point {
	var out []Point
	cur := make(Point, dim)
	var rec func(i int, left int64)
	rec = func(i int, left int64) {
		if i == dim-1 {
			cur[i] = left
			out = append(out, slices.Clone(cur))
			return
		}
		for x := int64(0); x <= left; x += step {
			cur[i] = x
			rec(i+1, left-x)
		}
	}
	if dim > 0 && step > 0 {
		rec(0, total)
	}
	return out
}
