package tune

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
)

// quadratic is Σ (p_i − t_i)², minimal at t.
func quadratic(t Point) Func {
	return func(_ context.Context, p Point) (float64, error) {
		var v float64
		for i := range p {
			d := float64(p[i] - t[i])
			v += d * d
		}
		return v, nil
	}
}

func TestGrid(t *testing.T) {
	g := Grid(4, 1000, 250)
	if len(g) != 35 { // C(4+3, 3)
		t.Fatalf("%d points, want 35", len(g))
	}
	for _, p := range g {
		var sum int64
		for _, x := range p {
			sum += x
		}
		if sum != 1000 {
			t.Fatalf("%v sums to %d", p, sum)
		}
	}
}

// TestSearchFindsKnownOptimum: the optimum off the coarse grid but on the
// refinement's lattice is found exactly; one on no lattice, within the
// last step.
func TestSearchFindsKnownOptimum(t *testing.T) {
	for _, tc := range []struct {
		target Point
		tol    int64
	}{
		{Point{625, 125, 250, 0}, 0},
		{Point{560, 140, 230, 70}, 31},
	} {
		var calls atomic.Int64
		f := quadratic(tc.target)
		count := func(ctx context.Context, p Point) (float64, error) { calls.Add(1); return f(ctx, p) }
		r, err := Search(context.Background(), SearchConfig{Budget: 200, Seed: 1, Start: []Point{{400, 300, 200, 100}}}, count)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.target {
			if d := r.Best.Point[i] - tc.target[i]; d > tc.tol || d < -tc.tol {
				t.Fatalf("target %v: best %v (%.0f), off by %d in component %d", tc.target, r.Best.Point, r.Best.Value, d, i)
			}
		}
		if int(calls.Load()) != len(r.Evals) || len(r.Evals) > 200 {
			t.Fatalf("%d calls, %d evaluations recorded", calls.Load(), len(r.Evals))
		}
		if r.Evals[0].Phase != "start" || r.Evals[1].Phase != "grid" || r.Evals[len(r.Evals)-1].Phase != "refine" {
			t.Fatalf("phases %s, %s … %s", r.Evals[0].Phase, r.Evals[1].Phase, r.Evals[len(r.Evals)-1].Phase)
		}
	}
}

// TestSearchBudgetAndDeterminism: a small budget is held, the grid is
// sampled by the seed, and the same seed gives the same evaluations.
func TestSearchBudgetAndDeterminism(t *testing.T) {
	f := quadratic(Point{100, 200, 300, 400})
	cfg := SearchConfig{Budget: 12, Seed: 5, Workers: 3}
	a, err := Search(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Evals) != 12 {
		t.Fatalf("%d evaluations, want the budget's 12", len(a.Evals))
	}
	b, _ := Search(context.Background(), cfg, f)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different searches")
	}
	cfg.Seed = 6
	c, _ := Search(context.Background(), cfg, f)
	if reflect.DeepEqual(a.Evals, c.Evals) {
		t.Fatal("another seed sampled the same grid")
	}
}

func TestSearchErrors(t *testing.T) {
	if _, err := Search(context.Background(), SearchConfig{Start: []Point{{500, 500}}}, quadratic(Point{0, 0, 0, 0})); err == nil {
		t.Error("a start point of the wrong size was accepted")
	}
	boom := errors.New("boom")
	_, err := Search(context.Background(), SearchConfig{Budget: 5}, func(context.Context, Point) (float64, error) { return 0, boom })
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want the objective's", err)
	}
}
