package sim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/sched"
)

// PolicyCore is the core's configuration for a time-based replay under a
// fragmentation policy. "suanli" is the production scheduler: base as
// given (its weights blend fragmentation with topology, heterogeneity and
// cost). The baselines (fgd, bestfit, random) score with their policy
// alone (Weights{Frag: 1}), as protocol A runs them, inside the same core
// and the same search.
func PolicyCore(base core.Config, policy string) (core.Config, error) {
	p, err := sched.ParseFragPolicy(policy)
	if err != nil {
		return core.Config{}, err
	}
	cc := base
	cc.Sched.FragPolicy = p
	if p != sched.FragSuanli {
		cc.Sched.Weights = sched.Weights{Frag: 1}
	}
	return cc, nil
}

// TimedPolicies are the policies a time-based comparison runs by default.
func TimedPolicies() []string {
	out := make([]string, len(sched.FragPolicies))
	for i, p := range sched.FragPolicies {
		out[i] = string(p)
	}
	return out
}

// PolicyRow is one policy's outcome in a time-based comparison.
type PolicyRow struct {
	Policy string `json:"policy"`
	// QueueDelay is first placement − submission over the jobs placed.
	QueueDelay Dist `json:"queue_delay"`
	// MeanUtil is the time-weighted mean allocated share of card capacity.
	MeanUtil float64 `json:"mean_util"`
	// UnallocatedWaiting and WaitingS: TimedReport's (the mean cards left
	// unallocated while some job waited for capacity, and for how long).
	UnallocatedWaiting float64 `json:"unallocated_cards_waiting"`
	WaitingS           int64   `json:"waiting_s"`
	// FragGPUs is the mean over the samples of FGD's fragmentation, where
	// the replay measures it (protocol time on openb).
	FragGPUs    float64 `json:"frag_gpus,omitempty"`
	Placed      int     `json:"placed"`
	NeverPlaced int     `json:"never_placed"`
	Preemptions int     `json:"preemptions"`
}

// PolicyReport compares fragmentation policies on one time-based replay.
type PolicyReport struct {
	Protocol string      `json:"protocol"` // time or synthetic
	Trace    string      `json:"trace,omitempty"`
	Network  string      `json:"network"`
	Cards    int         `json:"cards"`
	Jobs     int         `json:"jobs"`
	Rows     []PolicyRow `json:"policies"`
}

// ReplayFunc runs one time-based replay with a core configuration.
type ReplayFunc func(ctx context.Context, cc core.Config) (*TimedReport, error)

// ComparePolicies runs the replay once per policy (PolicyCore over base),
// `workers` at a time (default GOMAXPROCS), and reports them side by side
// in the order given.
func ComparePolicies(ctx context.Context, policies []string, base core.Config, workers int, run ReplayFunc) (*PolicyReport, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ccs := make([]core.Config, len(policies))
	for i, p := range policies {
		cc, err := PolicyCore(base, p)
		if err != nil {
			return nil, err
		}
		ccs[i] = cc
	}
	reps := make([]*TimedReport, len(policies))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range policies {
		g.Go(func() error {
			r, err := run(gctx, ccs[i])
			if err != nil {
				return fmt.Errorf("policy %s: %w", policies[i], err)
			}
			reps[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := &PolicyReport{}
	for i, r := range reps {
		out.Protocol, out.Trace, out.Network, out.Cards, out.Jobs = r.Protocol, r.Trace, r.Network, r.Cards, r.Jobs
		out.Rows = append(out.Rows, policyRow(policies[i], r))
	}
	return out, nil
}

func policyRow(name string, r *TimedReport) PolicyRow {
	row := PolicyRow{Policy: name, QueueDelay: r.QueueDelay, MeanUtil: r.MeanUtil, UnallocatedWaiting: r.UnallocatedWaiting,
		WaitingS: r.WaitingS, Placed: r.Placed, NeverPlaced: r.NeverPlaced, Preemptions: r.Preemptions}
	var sum float64
	for _, s := range r.Series {
		sum += s.FragGPUs
	}
	if len(r.Series) > 0 {
		row.FragGPUs = sum / float64(len(r.Series))
	}
	return row
}

// PolicyTable renders a comparison.
func PolicyTable(r *PolicyReport) string {
	var b strings.Builder
	what := r.Trace
	if what == "" {
		what = "a synthetic workload"
	}
	fmt.Fprintf(&b, "Replay through the core (%s) of %s on %s (%d cards, %d jobs), per fragmentation policy\n", r.Protocol, what, r.Network, r.Cards, r.Jobs)
	b.WriteString("suanli: the production scorer (blended weights); fgd, bestfit, random: that policy's score alone\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	frag := false
	for _, row := range r.Rows {
		frag = frag || row.FragGPUs > 0
	}
	fmt.Fprint(tw, "POLICY\tMEAN WAIT\tP95 WAIT\tMAX WAIT\tUTIL\tIDLE CARDS WHILE WAITING\tWAITING\tNEVER PLACED\tPREEMPTIONS\t")
	if frag {
		fmt.Fprint(tw, "FRAG GPUS\t")
	}
	fmt.Fprintln(tw)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f%%\t%.1f\t%s\t%d\t%d\t", row.Policy, secs(row.QueueDelay.Mean), hours(float64(row.QueueDelay.P95)),
			hours(float64(row.QueueDelay.Max)), 100*row.MeanUtil, row.UnallocatedWaiting, hours(float64(row.WaitingS)), row.NeverPlaced, row.Preemptions)
		if frag {
			fmt.Fprintf(tw, "%.1f\t", row.FragGPUs)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	return b.String()
}

// secs is hours with a tenth of a second below a minute (the means of
// lightly loaded replays are fractions of a second).
func secs(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.1fs", s)
	}
	return hours(s)
}

// CheckTimedPolicies reports every unknown or repeated policy of a
// time-based comparison.
func CheckTimedPolicies(names []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, n := range names {
		if _, err := sched.ParseFragPolicy(n); err != nil || n == "" {
			errs = append(errs, fmt.Errorf("unknown policy %q for a time-based replay: use some of %v", n, TimedPolicies()))
		} else if seen[n] {
			errs = append(errs, fmt.Errorf("policy %q is listed twice", n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}
