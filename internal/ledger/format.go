package ledger

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// percent formats part/whole with one decimal from integers.
func percent(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	t := model.PerMille(part, whole)
	return fmt.Sprintf("%d.%d%%", t/10, t%10)
}

func thousands(v int64) string {
	s := strconv.FormatInt(v, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// confidenceSummary says how a total splits by confidence, strongest first.
func confidenceSummary(b *Bucket) string {
	var parts []string
	for _, c := range catalog.Confidences {
		if g := b.ByConfidence[c]; g > 0 {
			parts = append(parts, fmt.Sprintf("%s %s EF", c, EF(g)))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteTable renders the report for a terminal.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	live := r.Total.AllocatedMilli > 0
	title := r.Network
	if r.Illustrative {
		title += " — an illustrative reconstruction from public facts"
	}
	fmt.Fprintf(w, "Network: %s\n", title)
	t := &r.Total
	fmt.Fprintf(w, "AI compute (FP16 dense): %s EFLOPS on %s cards\n", EF(t.GFLOPS), thousands(t.Cards))
	fmt.Fprintf(w, "  rests on estimates: %s EFLOPS (%s) — %s\n", EF(t.EstimatedGFLOPS()), percent(t.EstimatedGFLOPS(), t.GFLOPS), confidenceSummary(t))
	if live {
		fmt.Fprintf(w, "  allocated: %s EFLOPS (%s), free: %s EFLOPS\n", EF(t.AllocatedGFLOPS), percent(t.AllocatedGFLOPS, t.GFLOPS), EF(t.FreeGFLOPS()))
	}
	if d, ok := r.Find("origin", "domestic"); ok {
		fmt.Fprintf(w, "  domestic: %s of FLOPS, %s of cards\n", percent(d.GFLOPS, t.GFLOPS), percent(d.Cards, t.Cards))
	}
	fmt.Fprintf(w, "General-purpose compute (CPU): %s EFLOPS on %s cores\n", EF(r.General.GFLOPS), thousands(r.General.CPUCores))
	if p := r.Target; p != nil {
		fmt.Fprintf(w, "Target: %s EFLOPS", EF(p.TargetGFLOPS))
		if p.ByYear > 0 {
			fmt.Fprintf(w, " by %d", p.ByYear)
		}
		fmt.Fprintf(w, " — %d.%03d%% reached, %s EFLOPS to go", p.PercentMilli/1000, p.PercentMilli%1000, EF(max(0, p.TargetGFLOPS-p.InstalledGFLOPS)))
		if p.GrowthPermille > 0 {
			fmt.Fprintf(w, ", needs +%d.%d%% a year from %d", (p.GrowthPermille-1000)/10, (p.GrowthPermille-1000)%10, p.FromYear)
		}
		fmt.Fprintln(w)
	}
	for _, dim := range Dimensions {
		title := strings.ReplaceAll(dim, "-", " and ")
		fmt.Fprintf(w, "\nBy %s\n", title)
		col := strings.ToUpper(strings.ReplaceAll(dim, "-", ", "))
		width := len(col)
		for _, b := range r.Breakdowns[dim] {
			width = max(width, len(b.Key))
		}
		head := fmt.Sprintf("%-*s", width, col) + "\tCARDS\tEFLOPS\tSHARE\tON ESTIMATES\t"
		if live {
			head += "ALLOCATED EF\tFREE EF\t"
		}
		fmt.Fprintln(tw, head)
		for _, b := range r.Breakdowns[dim] {
			line := fmt.Sprintf("%-*s\t%s\t%s\t%s\t%s\t", width, b.Key, thousands(b.Cards), EF(b.GFLOPS), percent(b.GFLOPS, t.GFLOPS), percent(b.EstimatedGFLOPS(), b.GFLOPS))
			if live {
				line += fmt.Sprintf("%s\t%s\t", EF(b.AllocatedGFLOPS), EF(b.FreeGFLOPS()))
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if dim == "operator-ownership" {
			for _, f := range r.Reported {
				fmt.Fprintf(w, "  reported: %s %s EFLOPS", f.Key, EF(f.ReportedGFLOPS))
				if f.Source != "" {
					fmt.Fprintf(w, " (%s)", f.Source)
				}
				fmt.Fprintf(w, "; its sites here sum to %s EFLOPS\n", EF(f.SumGFLOPS))
			}
		}
	}
	if r.Power != nil {
		return WritePowerTable(w, r.Power)
	}
	return nil
}

// WriteCSV writes one row per bucket with exact integer columns.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	head := []string{"dimension", "key", "cards", "gflops", "estimated_gflops", "allocated_milli_cards", "allocated_gflops"}
	for _, c := range catalog.Confidences {
		head = append(head, "gflops_"+string(c))
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	row := func(dim string, b *Bucket) []string {
		rec := []string{dim, b.Key, strconv.FormatInt(b.Cards, 10), strconv.FormatInt(b.GFLOPS, 10),
			strconv.FormatInt(b.EstimatedGFLOPS(), 10), strconv.FormatInt(b.AllocatedMilli, 10), strconv.FormatInt(b.AllocatedGFLOPS, 10)}
		for _, c := range catalog.Confidences {
			rec = append(rec, strconv.FormatInt(b.ByConfidence[c], 10))
		}
		return rec
	}
	if err := cw.Write(row("total", &r.Total)); err != nil {
		return err
	}
	for _, dim := range Dimensions {
		for i := range r.Breakdowns[dim] {
			if err := cw.Write(row(dim, &r.Breakdowns[dim][i])); err != nil {
				return err
			}
		}
	}
	gen := []string{"general", "cpu", strconv.FormatInt(r.General.CPUCores, 10), strconv.FormatInt(r.General.GFLOPS, 10)}
	for len(gen) < len(head) {
		gen = append(gen, "")
	}
	if err := cw.Write(gen); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
