package policy

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Text renders the report as the tables `suanli compliance` prints.
// Capacity is in FP16 TFLOPS; cards whose model has no FP16 figure show in
// the "unknown-FP16 cards" column instead.
func (r *Report) Text() string {
	var b strings.Builder
	name := r.PolicyName
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(&b, "Compliance at %s — policy %s version %d (revision %d)\n\n", time.Unix(r.At, 0).UTC().Format(time.RFC3339), name, r.PolicyVersion, r.Revision)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "capacity \tcards\tFP16 TFLOPS\tdomestic\tunknown-FP16 cards\t")
	for _, row := range []struct {
		name string
		s    Share
	}{{"installed", r.Installed}, {"allocated", r.Allocated}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", row.name, cards(row.s.CardsMilli), tflops(row.s.GFLOPS), percent(row.s), unknown(row.s))
	}
	tw.Flush()

	r.groupTables(&b)
	r.listTables(&b)
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// groupTables writes the capacity tables by operator, site and tenant
// class.
func (r *Report) groupTables(b *strings.Builder) {
	for _, sec := range []struct {
		title  string
		groups []Group
	}{{"operator", r.ByOperator}, {"site", r.BySite}, {"tenant class", r.ByTenantClass}} {
		fmt.Fprintf(b, "\nBy %s\n", sec.title)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
		// Names read left-aligned, numbers right-aligned: pad the names.
		w := len(sec.title)
		for _, g := range sec.groups {
			w = max(w, len(g.Key))
		}
		left := func(s string) string { return s + strings.Repeat(" ", w-len(s)) }
		if sec.title == "tenant class" {
			fmt.Fprintln(tw, left(sec.title)+"\tallocated TFLOPS\tdomestic\tunknown-FP16 cards\t")
		} else {
			fmt.Fprintln(tw, left(sec.title)+"\tinstalled TFLOPS\tdomestic\tunknown-FP16 cards\tallocated TFLOPS\tdomestic\tunknown-FP16 cards\t")
		}
		for _, g := range sec.groups {
			a := g.Allocated
			if g.Installed == nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", left(g.Key), tflops(a.GFLOPS), percent(a), unknown(a))
				continue
			}
			in := *g.Installed
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", left(g.Key), tflops(in.GFLOPS), percent(in), unknown(in),
				tflops(a.GFLOPS), percent(a), unknown(a))
		}
		tw.Flush()
	}

}

// listTables writes the violations, the exemptions and the advisories in
// force.
func (r *Report) listTables(b *strings.Builder) {
	fmt.Fprintf(b, "\nViolations: %d\n", len(r.Violations))
	if len(r.Violations) > 0 {
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tTENANT\tCLASS\tRULE\tCARDS\tNODES\tWHY")
		for _, v := range r.Violations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Job, v.Tenant, orUnknown(string(v.Classification)), v.Rule,
				cards(v.CardsMilli), joinT(v.Nodes, ","), withNote(v))
		}
		tw.Flush()
	}
	if len(r.Exempted) > 0 {
		fmt.Fprintf(b, "\nExempted: %d\n", len(r.Exempted))
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tTENANT\tRULE\tEXEMPTION\tUNTIL\tWHY")
		for _, v := range r.Exempted {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.Job, v.Tenant, v.Rule, v.Exemption, v.ExemptUntil, v.Explanation)
		}
		tw.Flush()
	}
	fmt.Fprintf(b, "\nAdvisories in force: %d\n", len(r.Advisories))
	if len(r.Advisories) > 0 {
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACTION\tSEVERITY\tCARDS\tRUNNING JOBS\tSUMMARY")
		for _, a := range r.Advisories {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.Action, a.Severity, Thousands(a.Cards), a.RunningJobs, a.Summary)
		}
		tw.Flush()
	}
}

func withNote(v Violation) string {
	if v.Note == "" {
		return v.Explanation
	}
	return v.Explanation + " (" + v.Note + ")"
}

// cards renders thousandths of a card: "12,480" or "3.25".
func cards(milli int64) string {
	s := Thousands(milli / 1000)
	if f := milli % 1000; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", f), "0")
	}
	return s
}

// tflops renders GFLOPS as TFLOPS with one decimal, truncated.
func tflops(gflops int64) string {
	return fmt.Sprintf("%s.%d", Thousands(gflops/1000), gflops%1000/100)
}

func percent(s Share) string {
	if s.GFLOPS == 0 {
		return "-"
	}
	return fmt.Sprintf("%d.%d%%", s.DomesticPerMille/10, s.DomesticPerMille%10)
}

func unknown(s Share) string {
	if s.UnknownCardsMilli == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%s domestic)", cards(s.UnknownCardsMilli), cards(s.UnknownDomesticCardsMilli))
}
