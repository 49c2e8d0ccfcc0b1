package sim

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/suanli/suanli/internal/sched/frag"
)

// FGDTable renders protocol A's summary: per policy, the allocation ratio at
// 100% arrived workload, and the unallocated GPUs, fragmentation and failed
// tasks at the last point (130% by default), as mean ± std over the seeds;
// then how our policy compares with FGD and best-fit.
func FGDTable(r *FGDReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Protocol A (FGD) on %s: %d pods, %d GPU nodes, %d GPUs; %d seeds, %.0f tasks per run\n",
		r.Trace, r.Pods, r.GPUNodes, r.ClusterGPUs, len(r.Seeds), r.Tasks)
	if r.Skipped > 0 {
		fmt.Fprintf(&b, "%d bad rows skipped\n", r.Skipped)
	}
	last := 0
	if len(r.Policies) > 0 && len(r.Policies[0].Points) > 0 {
		pts := r.Policies[0].Points
		last = pts[len(pts)-1].ArrivedPct
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "POLICY\tALLOC@100%%\tUNALLOC GPUS@%d%%\tFRAG GPUS@%d%%\tFRAG RATIO@%d%%\tFAILED TASKS@%d%%\t\n", last, last, last, last)
	for _, p := range r.Policies {
		a, _ := p.At(100)
		z, _ := p.At(last)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Policy,
			pct(a.AllocRatio), num(z.UnallocatedGPUs), num(z.FragGPUs), pct(z.FragRatio), num(z.FailedTasks))
	}
	tw.Flush()
	if s, ok := r.Policy(frag.Suanli); ok {
		for _, other := range []string{frag.FGD, frag.BestFit} {
			o, ok := r.Policy(other)
			if !ok {
				continue
			}
			sp, _ := s.At(last)
			op, _ := o.At(last)
			d := op.UnallocatedGPUs.Mean - sp.UnallocatedGPUs.Mean
			rel := 0.0
			if op.UnallocatedGPUs.Mean > 0 {
				rel = 100 * d / op.UnallocatedGPUs.Mean
			}
			word := "fewer"
			if d < 0 {
				word, d, rel = "more", -d, -rel
			}
			fmt.Fprintf(&b, "\nsuanli leaves %.1f %s GPUs unallocated than %s at %d%% (%.1f%%)", d, word, other, last, rel)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func num(s Stat) string { return fmt.Sprintf("%.1f ± %.1f", s.Mean, s.Std) }

func pct(s Stat) string { return fmt.Sprintf("%.2f%% ± %.2f", 100*s.Mean, 100*s.Std) }

// TimedTable renders a replay through the core: jobs, queueing delay,
// completion, utilisation, and the same per kind and per tenant.
func TimedTable(r *TimedReport) string {
	var b strings.Builder
	what := r.Trace
	if what == "" {
		what = "a synthetic workload"
	}
	fmt.Fprintf(&b, "Replay through the core (%s) of %s on %s: %d cards\n", r.Protocol, what, r.Network, r.Cards)
	fmt.Fprintf(&b, "%d jobs", r.Jobs)
	if r.Ignored > 0 {
		fmt.Fprintf(&b, " (%d CPU-only pods left out)", r.Ignored)
	}
	if r.Rejected > 0 {
		fmt.Fprintf(&b, ", %d rejected as invalid", r.Rejected)
	}
	fmt.Fprintf(&b, "; %d placed, %d completed, %d running at the end, %d never placed; %d preemptions\n",
		r.Placed, r.Completed, r.RunningAtEnd, r.NeverPlaced, r.Preemptions)
	fmt.Fprintf(&b, "virtual time %s; utilisation mean %.1f%%, peak %.1f%%\n", hours(float64(r.EndS)), 100*r.MeanUtil, 100*r.PeakUtil)
	if e := r.Energy; e != nil && e.PFLOPHours > 0 {
		fmt.Fprintf(&b, "energy: %.0f FP16 PFLOP-h delivered; %.0f kWh (%.3f per PFLOP-h), %.0f kg CO2 (%.3f per PFLOP-h), electricity CNY %.0f (%.3f per PFLOP-h), priced CNY %.0f\n",
			e.PFLOPHours, e.KWh, e.KWhPerPFLOPHour, e.KgCO2, e.KgCO2PerPFLOPHour, e.EnergyCNY, e.CNYPerPFLOPHour, e.PricedCNY)
		if e.UnmeteredCardHours > 0 {
			fmt.Fprintf(&b, "  %.0f card-hours ran on cards with no power figure (not in the kWh)\n", e.UnmeteredCardHours)
		}
	}
	fmt.Fprintf(&b, "queueing delay: mean %s, p50 %s, p90 %s, p95 %s, p99 %s, max %s\n", hours(r.QueueDelay.Mean),
		hours(float64(r.QueueDelay.P50)), hours(float64(r.QueueDelay.P90)), hours(float64(r.QueueDelay.P95)), hours(float64(r.QueueDelay.P99)), hours(float64(r.QueueDelay.Max)))
	fmt.Fprintf(&b, "completion time: mean %s, p50 %s, p99 %s\n", hours(r.Completion.Mean), hours(float64(r.Completion.P50)), hours(float64(r.Completion.P99)))
	if r.WaitingS > 0 {
		fmt.Fprintf(&b, "jobs waited for capacity during %s; %.1f cards were unallocated then, on average\n", hours(float64(r.WaitingS)), r.UnallocatedWaiting)
	}
	if len(r.DelayReasons) > 0 {
		fmt.Fprintf(&b, "jobs that waited, by the reason they waited: %s\n", counts(r.DelayReasons))
	}
	if len(r.WaitReasons) > 0 {
		fmt.Fprintf(&b, "jobs never placed, by reason: %s\n", counts(r.WaitReasons))
	}
	for _, gs := range []struct {
		title string
		g     []Group
	}{{"KIND", r.ByKind}, {"TENANT", r.ByTenant}} {
		if len(gs.g) == 0 {
			continue
		}
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tJOBS\tPLACED\tCOMPLETED\tMEAN WAIT\tP99 WAIT\tCARD-HOURS\t\n", gs.title)
		for _, g := range gs.g {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%.0f\t\n", g.Name, g.Jobs, g.Placed, g.Completed,
				hours(g.QueueDelay.Mean), hours(float64(g.QueueDelay.P99)), g.CardHours)
		}
		tw.Flush()
	}
	return b.String()
}

func hours(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.0fs", s)
	case s < 3600:
		return fmt.Sprintf("%.1fm", s/60)
	case s < 3*86400:
		return fmt.Sprintf("%.1fh", s/3600)
	}
	return fmt.Sprintf("%.1fd", s/86400)
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "unspecified"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}
