package sim

import (
	"fmt"
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
