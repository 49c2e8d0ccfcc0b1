package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
)

func init() { register(newThroughputCmd) }

func newThroughputCmd() *cobra.Command {
	var (
		net    netFlags
		file   string
		class  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "throughput [MODEL]",
		Short: "Print the throughput matrix: per workload class and accelerator model, what one card delivers, with confidence and sources",
		Long: `Throughput prints the matrix the scheduler can rank accelerators by: for each workload
class (dense LLM pre-training, MoE, fine-tuning, LLM prefill and decode, vision,
recommendation …) and each catalog model, the throughput of one card in the class's
unit. Measured entries carry their confidence and sources; the others are derived:

  rate = peak FP16 FLOPS × stack efficiency × class efficiency ÷ FLOPs per unit

--throughput FILE overlays classes, stack efficiencies and entries (same schema as the
embedded data, internal/catalog/data/throughput.yaml).`,
		Example: `  suanli throughput
  suanli throughput --class dense-llm-pretrain
  suanli throughput "Ascend 910B4" --throughput our-benchmarks.yaml --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := net.loadCatalog()
			if err != nil {
				return err
			}
			tp := catalog.DefaultThroughput()
			if file != "" {
				if tp, err = catalog.LoadThroughputFile(file); err != nil {
					return usageErr(fmt.Errorf("--throughput: %w", err))
				}
			}
			figs, classes, err := throughputFigures(cat, tp, class, args)
			if err != nil {
				return err
			}
			return printThroughput(cmd.OutOrStdout(), tp, classes, figs, asJSON)
		},
	}
	net.add(cmd)
	cmd.AddCommand(newThroughputLearnedCmd())
	cmd.Flags().Lookup("network").Hidden = true
	cmd.Flags().StringVar(&file, "throughput", "", "overlay this throughput file (YAML, the embedded schema) on the defaults")
	cmd.Flags().StringVar(&class, "class", "", "only this workload class")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// newThroughputLearnedCmd prints the server's matrix: default and learned.
func newThroughputLearnedCmd() *cobra.Command {
	var class string
	var learnedOnly bool
	cmd := clientCmd("learned", "The server's throughput matrix: per workload class and model of its network, the default, what workers' progress reports taught and the rate scheduling uses", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			t, err := c.Throughput(ctx)
			if err != nil {
				return err
			}
			var es []v1.ThroughputEntry
			for _, e := range t.Entries {
				if (class == "" || e.Class == class) && (!learnedOnly || e.Reports > 0) {
					es = append(es, e)
				}
			}
			if cc.json {
				return printJSON(out, v1.ThroughputTable{Entries: es})
			}
			return writeLearned(out, es)
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&class, "class", "", "only this workload class")
			cmd.Flags().BoolVar(&learnedOnly, "reported", false, "only pairs with progress reports")
		})
	cmd.Long = `Learned prints GET /v1/throughput: for each workload class and each accelerator model of the
server's network, per card, the default figure (the matrix) and its confidence, the
geometric mean of the workers' progress reports, how many reports and jobs taught it, and
RATE, the figure scheduling uses: the reports shrunk toward the default, which counts as
PRIOR reports. CONF turns observed once the reports outweigh the default.`
	return cmd
}

func writeLearned(out io.Writer, es []v1.ThroughputEntry) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tMODEL\tRATE\tUNIT\tCONF\tDEFAULT\tDEFAULT CONF\tLEARNED\tREPORTS\tJOBS\tPRIOR")
	g := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%g\n", e.Class, e.Model, g(e.Rate), e.Unit, e.Conf,
			g(e.Default), or(e.DefaultConf, "-"), g(e.Learned), e.Reports, e.Jobs, e.PriorWeight)
	}
	return tw.Flush()
}

// throughputFigures is the rate of every model (the catalog's, or the
// one named in args, plus those only the throughput data measures) in
// every workload class (or the one named), and the classes.
func throughputFigures(cat *catalog.Catalog, tp *catalog.Throughput, class string, args []string) ([]catalog.RateFigure, []catalog.WorkloadClass, error) {
	classes := tp.Classes()
	if class != "" {
		c, ok := tp.Class(class)
		if !ok {
			return nil, nil, usageErr(fmt.Errorf("--class %q: no such workload class (run `suanli throughput` for the list)", class))
		}
		classes = []catalog.WorkloadClass{c}
	}
	models := cat.Models()
	if len(args) == 1 {
		m, ok := cat.Lookup(args[0])
		if !ok {
			return nil, nil, usageErr(fmt.Errorf("no model %q in the catalog (run `suanli catalog` for the list)", args[0]))
		}
		models = []*catalog.Model{m}
	}
	// Measured entries for models the catalog lacks still show.
	seen := map[string]bool{}
	for _, m := range models {
		seen[m.ID] = true
	}
	if len(args) == 0 {
		for _, e := range tp.Entries() {
			if !seen[e.Model] {
				seen[e.Model] = true
				models = append(models, &catalog.Model{ID: e.Model})
			}
		}
	}
	var figs []catalog.RateFigure
	for _, c := range classes {
		for _, m := range models {
			if f, ok := tp.Rate(c.ID, m); ok {
				figs = append(figs, f)
			}
		}
	}
	return figs, classes, nil
}

// printThroughput prints the figures as a table with their basis, or as
// JSON.
func printThroughput(out io.Writer, tp *catalog.Throughput, classes []catalog.WorkloadClass, figs []catalog.RateFigure, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"classes": classes, "rates": figs})
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tMODEL\tRATE\tUNIT\tCONF\tBASIS")
	for _, f := range figs {
		basis := f.Note
		for _, s := range f.Sources {
			basis += " [" + s + ": " + tp.Source(s) + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Class, f.Model, strconv.FormatFloat(f.V, 'g', 4, 64), f.Unit, f.Conf, basis)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nPer card. derived = peak FP16 FLOPS × stack efficiency × class efficiency ÷ FLOPs per unit; the stack\n"+
		"efficiencies are assumptions (unverified) until measured rates replace them.")
	return nil
}
