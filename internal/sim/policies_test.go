package sim_test

import (
	"context"
	"testing"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/sim"
)

// TestComparePolicies: the four fragmentation policies run through the
// same core on a small loaded synthetic workload and give different, sane
// results: every job accounted for, utilisation within (0, 1], and the
// production scorer leaves fewer cards idle while jobs wait than random.
func TestComparePolicies(t *testing.T) {
	net := smallNet(t)
	js, err := sim.Synthesize(net, sim.SynthConfig{Seed: 3, SpanS: 2 * 86400, Jobs: 3000, LoadMilli: 700})
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, cc core.Config) (*sim.TimedReport, error) {
		return sim.ReplayTrace(ctx, net, js, sim.SyntheticConfig{Core: cc})
	}
	r, err := sim.ComparePolicies(context.Background(), sim.TimedPolicies(), core.Config{}, 0, run)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + sim.PolicyTable(r))
	if len(r.Rows) != 4 {
		t.Fatalf("%d rows, want 4", len(r.Rows))
	}
	by := map[string]sim.PolicyRow{}
	distinct := map[sim.PolicyRow]bool{}
	for _, row := range r.Rows {
		by[row.Policy] = row
		distinct[row] = true
		if row.Placed+row.NeverPlaced != r.Jobs || row.MeanUtil <= 0 || row.MeanUtil > 1 || row.QueueDelay.P95 > row.QueueDelay.Max {
			t.Errorf("%s: insane row %+v (%d jobs)", row.Policy, row, r.Jobs)
		}
	}
	if len(distinct) != 4 {
		t.Errorf("only %d distinct outcomes of 4 policies", len(distinct))
	}
	if s, rnd := by["suanli"], by["random"]; s.UnallocatedWaiting >= rnd.UnallocatedWaiting || s.QueueDelay.Mean >= rnd.QueueDelay.Mean {
		t.Errorf("suanli leaves %.1f cards idle while jobs wait (mean wait %.0fs), random %.1f (%.0fs): want suanli lower on both",
			s.UnallocatedWaiting, s.QueueDelay.Mean, rnd.UnallocatedWaiting, rnd.QueueDelay.Mean)
	}
	if _, err := sim.ComparePolicies(context.Background(), []string{"dotprod"}, core.Config{}, 1, run); err == nil {
		t.Error("an unknown policy was accepted")
	}
}
