package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// GavelPublished is one of Gavel's own simulator runs on the stream (a row
// of gavel_results/summary.csv).
type GavelPublished struct {
	Policy      string  `json:"policy"`
	JobsPerHour float64 `json:"jobs_per_hour"`
	AvgJCTS     float64 `json:"avg_jct_s"`
	Utilization float64 `json:"utilization"`
	MakespanS   float64 `json:"makespan_s"`
}

// ReadGavelSummary reads gavel_results/summary.csv.
func ReadGavelSummary(r io.Reader) ([]GavelPublished, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 1 {
		return nil, errors.New("empty summary")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"policy", "jobs_per_hr", "avg_jct_s", "utilization", "total_duration_h"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("summary header lacks %s", h)
		}
	}
	var out []GavelPublished
	for i, row := range rows[1:] {
		var v [4]float64
		for k, h := range []string{"jobs_per_hr", "avg_jct_s", "utilization", "total_duration_h"} {
			f, err := strconv.ParseFloat(row[col[h]], 64)
			if err != nil {
				return nil, fmt.Errorf("summary row %d, %s: %q is not a number", i+2, h, row[col[h]])
			}
			v[k] = f
		}
		out = append(out, GavelPublished{Policy: row[col["policy"]], JobsPerHour: v[0], AvgJCTS: v[1], Utilization: v[2], MakespanS: v[3] * 3600})
	}
	return out, nil
}

// GavelTable renders our runs beside Gavel's published ones at the same
// rate (within 0.05 jobs/hour).
func GavelTable(stream string, ours []*GavelReport, published []GavelPublished) string {
	var b strings.Builder
	if len(ours) == 0 {
		return ""
	}
	r0 := ours[0]
	fmt.Fprintf(&b, "Gavel's stream %s at %.2f jobs/hour: %d jobs, %d cards; average JCT over the %d window jobs\n",
		stream, r0.JobsPerHour, r0.Jobs, r0.Cards, r0.WindowJobs)
	fmt.Fprintf(&b, "no-wait limit (each window job alone on its fastest type from arrival): %.0f s = %.2f h\n\n", r0.NoWaitAvgJCTS, r0.NoWaitAvgJCTS/3600)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "RUN\tAVG JCT (s)\tAVG JCT (h)\tVS NO-WAIT\tUTILISATION\tMAKESPAN (h)\tMIGRATIONS\tPREEMPTIONS\t\n")
	for _, r := range ours {
		fmt.Fprintf(tw, "suanli %s\t%.0f\t%.2f\t%+.1f%%\t%.3f\t%.0f\t%d\t%d\t\n", r.Mode, r.WindowAvgJCTS, r.WindowAvgJCTS/3600,
			100*(r.WindowAvgJCTS/r.NoWaitAvgJCTS-1), r.Utilization, r.MakespanS/3600, r.Migrations, r.Preemptions)
	}
	for _, p := range published {
		if math.Abs(p.JobsPerHour-r0.JobsPerHour) > 0.05 {
			continue
		}
		fmt.Fprintf(tw, "gavel %s\t%.0f\t%.2f\t%+.1f%%\t%.3f\t%.0f\t-\t-\t\n", p.Policy, p.AvgJCTS, p.AvgJCTS/3600,
			100*(p.AvgJCTS/r0.NoWaitAvgJCTS-1), p.Utilization, p.MakespanS/3600)
	}
	tw.Flush()
	b.WriteString("\nsuanli aware: each job carries its throughput per type (Job.Rates) and the scheduler's heterogeneity\n" +
		"term places it where it runs fastest among free types.\n")
	for _, r := range ours {
		if m := r.Migration; m != nil {
			fmt.Fprintf(&b, "A running job moves to a faster free type when age × (1 − rate_now/rate_new) ≥ %g × the %d s restore\n"+
				"cost (speed-up ≥ %g, %d s dwell, at most %d moves); age stands in for the remaining time, which is unknown.\n",
				m.GainFactor, m.RestoreCostS, m.MinSpeedup, m.MinDwellS, m.MaxMoves)
			break
		}
	}
	for _, r := range ours {
		if strings.HasSuffix(r.Mode, "LAS") {
			b.WriteString("suanli aware, LAS: the core's attained-service scheduling (serve --las): queues by levels of service\n" +
				"received (30 min, 2 h, 8 h of card time at the job's best rate); a job 30 min into its placement\n" +
				"yields from its checkpoint to a waiting job of a lower level, or its card to a running one of a\n" +
				"lower level that gains 2× its own speed-up there; every resume costs the restore.\n")
			break
		}
	}
	b.WriteString("suanli agnostic: peak FP16 FLOPS × free fraction, no migration. Neither knows a job's steps.\n" +
		"gavel …: Gavel's simulator (6-minute rounds; _perf = heterogeneity-aware).\n")
	return b.String()
}
