package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/plan"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

// scenarioReplay is how one scenario's planned network serves the same
// synthetic workload.
type scenarioReplay struct {
	Name        string   `json:"name"`
	Year        int      `json:"year"`
	Cards       int      `json:"cards,omitempty"`
	Jobs        int      `json:"jobs,omitempty"`
	Placed      int      `json:"placed,omitempty"`
	NeverPlaced int      `json:"never_placed,omitempty"`
	QueueDelay  sim.Dist `json:"queue_delay"`
	MeanUtil    float64  `json:"mean_util"`
	Error       string   `json:"error,omitempty"`
}

// maxReplaySpan bounds --replay: a month of arrivals.
const maxReplaySpan = 31 * 24 * time.Hour

func (c *planConfig) replayFlagErrs() []error {
	switch {
	case c.replaySpan == 0:
		return nil
	case c.scenario == "":
		return []error{errors.New("--replay needs --scenario: it replays a workload on each scenario's planned network")}
	case c.replaySpan < time.Minute || c.replaySpan > maxReplaySpan:
		return []error{fmt.Errorf("--replay %v: want from 1m to %v of arrivals, e.g. 24h", c.replaySpan, maxReplaySpan)}
	}
	return nil
}

// replayScenarios replays one synthetic workload, sized for the first
// scenario's planned network, on every scenario's network planned for the
// target year; a scenario without a plan, or whose network fails, says
// why.
func replayScenarios(ctx context.Context, c *planConfig, n *network.Network, rs []plan.ScenarioResult) ([]scenarioReplay, error) {
	var jobs []trace.Job
	out := make([]scenarioReplay, 0, len(rs))
	for _, r := range rs {
		sr := scenarioReplay{Name: r.Name, Year: c.by}
		if r.Result == nil {
			sr.Error = "no plan"
			out = append(out, sr)
			continue
		}
		spec, err := plannedSpec(c, r.Result, c.by)
		if err != nil {
			return nil, err
		}
		pn, err := network.Parse(spec, "planned network of "+r.Name, n.Catalog)
		if err != nil {
			sr.Error = err.Error()
			out = append(out, sr)
			continue
		}
		if jobs == nil {
			if jobs, err = sim.Synthesize(pn, sim.SynthConfig{Seed: 1, SpanS: int64(c.replaySpan / time.Second)}); err != nil {
				return nil, err
			}
		}
		rep, err := sim.ReplayTrace(ctx, pn, jobs, sim.SyntheticConfig{Samples: 20})
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			sr.Error = err.Error()
			out = append(out, sr)
			continue
		}
		sr.Cards, sr.Jobs, sr.Placed, sr.NeverPlaced = pn.Cards(), rep.Jobs, rep.Placed, rep.NeverPlaced
		sr.QueueDelay, sr.MeanUtil = rep.QueueDelay, rep.MeanUtil
		out = append(out, sr)
	}
	return out, nil
}

// writeScenarioReplays prints the replays under the scenario table.
func writeScenarioReplays(w io.Writer, c *planConfig, rs []scenarioReplay) error {
	if len(rs) == 0 {
		fmt.Fprintln(w, "Queueing delay and utilisation of each planned network: add --replay 24h (or write one with --write-network and run `suanli replay --network` on it).")
		return nil
	}
	fmt.Fprintf(w, "\nReplay: the same synthetic workload (%v of arrivals, sized for the first planned network at 80%% load) on each scenario's network planned for end-%d\n", c.replaySpan, c.by)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SCENARIO\tCARDS\tJOBS\tPLACED\tNEVER\tQUEUE MEAN s\tQUEUE P99 s\tMEAN UTIL\t")
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%d\t%.1f%%\t\n", r.Name, r.Cards, r.Jobs, r.Placed, r.NeverPlaced, r.QueueDelay.Mean, r.QueueDelay.P99, 100*r.MeanUtil)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: not replayed: %s\n", r.Name, r.Error)
		}
	}
	return nil
}
