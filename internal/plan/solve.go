package plan

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// solve runs the simplex with the rows' right-hand sides (changed by delta
// on row delta.i when given) and returns the columns and the objective.
func (p *problem) solve(delta *struct {
	i int
	d float64
}) ([]float64, float64, error) {
	return p.solveWith(p.rows, delta)
}

func (p *problem) solveWith(rows []row, delta *struct {
	i int
	d float64
}) ([]float64, float64, error) {
	nv, nr := len(p.vars), len(rows)
	a := mat.NewDense(nr, nv+nr, nil)
	b := make([]float64, nr)
	c := make([]float64, nv+nr)
	for j, v := range p.vars {
		c[j] = v.cost
	}
	for i, r := range rows {
		for j, v := range r.coef {
			a.Set(i, j, v)
		}
		if r.ge {
			a.Set(i, nv+i, -1)
		} else {
			a.Set(i, nv+i, 1)
		}
		b[i] = r.rhs
		if delta != nil && delta.i == i {
			b[i] += delta.d
		}
	}
	obj, x, err := lp.Simplex(c, a, b, 1e-10, nil)
	if err != nil {
		return nil, 0, err
	}
	return x[:nv], obj, nil
}

func (p *problem) feasible(x []float64) (ok bool, firstViolated int) {
	for i, r := range p.rows {
		var s float64
		for j, v := range r.coef {
			s += v * x[j]
		}
		if r.ge && s < r.rhs-1e-9 || !r.ge && s > r.rhs+1e-9 {
			return false, i
		}
	}
	return true, -1
}

// round turns the LP's fractional servers into whole ones: round down
// (keeping every ≤ row), then add one server at a time where it keeps the ≤
// rows and costs least per EF, until the ≥ rows (target, domestic share)
// hold again.
func (p *problem) round(x []float64) ([]float64, error) {
	ints := make([]float64, len(x))
	for j, v := range x {
		ints[j] = math.Floor(v + 1e-7)
	}
	for iter := 0; iter < 100_000; iter++ {
		ok, i := p.feasible(ints)
		if ok {
			return ints, nil
		}
		r := p.rows[i]
		if !r.ge {
			return nil, fmt.Errorf("rounding broke the %s limit of %d (report this: rounding down must not)", r.name, r.year)
		}
		best, bestScore := -1, math.Inf(1)
		for j, coef := range r.coef {
			if coef <= 0 {
				continue
			}
			ints[j]++
			if p.leRowsHold(ints) {
				if s := p.vars[j].cost / coef; s < bestScore || (s == bestScore && j < best) {
					best, bestScore = j, s
				}
			}
			ints[j]--
		}
		if best < 0 {
			return nil, fmt.Errorf("no whole-server plan found for the %s of %d: the limits leave less than one server of room", r.name, r.year)
		}
		ints[best]++
	}
	return nil, errors.New("rounding did not converge")
}

func (p *problem) leRowsHold(x []float64) bool {
	for _, r := range p.rows {
		if r.ge {
			continue
		}
		var s float64
		for j, v := range r.coef {
			s += v * x[j]
		}
		if s > r.rhs+1e-9 {
			return false
		}
	}
	return true
}

func (p *problem) objective(x []float64) float64 {
	var s float64
	for j, v := range p.vars {
		s += v.cost * x[j]
	}
	return s
}

// binding re-solves with each row at (or within a hair of) its limit
// relaxed by one step and reports the objective saved.
func (p *problem) binding(x []float64, obj float64) []Binding {
	var out []Binding
	unit := "M CNY"
	if p.cfg.Objective == MinCarbon {
		unit = "t CO2"
	}
	for i, r := range p.rows {
		var s float64
		for j, v := range r.coef {
			s += v * x[j]
		}
		scale := math.Max(1, math.Abs(r.rhs))
		if math.Abs(s-r.rhs) > 1e-7*scale {
			continue
		}
		if !r.ge && r.rhs == 0 && s == 0 && r.kind == "power" {
			// A site already at its envelope: relaxing still tells.
		}
		_, o2, err := p.solve(&struct {
			i int
			d float64
		}{i, r.relax})
		b := Binding{Constraint: r.name, Year: r.year, Relax: r.step, Unit: unit}
		if err != nil {
			continue
		}
		b.Saves = obj - o2
		if b.Saves <= 1e-9*math.Max(1, obj) {
			continue // degenerate: at the limit but not what holds the plan back
		}
		out = append(out, b)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Saves > out[j].Saves })
	return out
}

// branchAndBound improves the rounded plan by a depth-first search on the
// most fractional server count, pruning by the incumbent, within maxNodes LP
// solves. It returns the best plan, its objective, the best bound on any
// integer plan, and whether the search finished (the plan is optimal).
func (p *problem) branchAndBound(root []float64, rootObj float64, inc []float64, incObj float64, maxNodes int, tol float64) ([]float64, float64, float64, bool) {
	type node struct {
		extra []row
		x     []float64
		obj   float64
	}
	stack := []node{{x: root, obj: rootObj}}
	solved := 0
	openBound := func() float64 {
		b := incObj
		for _, nd := range stack {
			b = math.Min(b, nd.obj)
		}
		return b
	}
	for len(stack) > 0 && solved < maxNodes {
		if b := openBound(); tol >= 0 && b > 0 && (incObj-b)/b <= tol {
			break
		}
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if nd.obj >= incObj-1e-9*math.Max(1, math.Abs(incObj)) {
			continue
		}
		j, frac := -1, 0.0
		for k, v := range nd.x {
			f := v - math.Floor(v)
			if d := math.Min(f, 1-f); d > 1e-6 && d > frac {
				j, frac = k, d
			}
		}
		if j < 0 {
			ints := make([]float64, len(nd.x))
			for k, v := range nd.x {
				ints[k] = math.Round(v)
			}
			if ok, _ := p.feasible(ints); ok {
				if o := p.objective(ints); o < incObj {
					inc, incObj = ints, o
				}
			}
			continue
		}
		v := nd.x[j]
		var children []node
		for _, br := range []row{
			{coef: map[int]float64{j: 1}, rhs: math.Ceil(v), ge: true},
			{coef: map[int]float64{j: 1}, rhs: math.Floor(v)},
		} {
			extra := append(append([]row(nil), nd.extra...), br)
			x, obj, err := p.solveWith(append(append([]row(nil), p.rows...), extra...), nil)
			solved++
			if err != nil {
				continue // infeasible branch
			}
			children = append(children, node{extra: extra, x: x, obj: obj})
		}
		// Explore the cheaper child first (pushed last).
		sort.Slice(children, func(a, b int) bool { return children[a].obj > children[b].obj })
		stack = append(stack, children...)
	}
	bound := math.Max(openBound(), rootObj)
	// Nodes no better than the plan are pruned, not open.
	proven := true
	for _, nd := range stack {
		if nd.obj < incObj-1e-9*math.Max(1, math.Abs(incObj)) {
			proven = false
		}
	}
	if proven {
		bound = incObj
	}
	return inc, incObj, bound, proven
}
