package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/sim"
)

func init() { register(newEffectiveCmd) }

func newEffectiveCmd() *cobra.Command {
	var (
		net        netFlags
		span, mode string
		seed       uint64
		tpFile     string
		reference  string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "replay-throughput",
		Short: "Replay the synthetic workload where a job's speed depends on its chips (the throughput matrix): effective work and JCT, throughput-aware vs peak-FLOPS scheduling",
		Long: `Replay-throughput runs the seeded synthetic workload on --network at virtual time with a
throughput matrix (the default, or --throughput FILE over it). Each job gets a workload class
(drawn from its id) and an amount of work: its duration on reference cards (--reference-model)
of the size it asks for. Placed, it runs at its cards × rate(class, model) ÷ rate(class,
reference), the slowest model setting a gang's pace. "aware" hands the core the matrix and the
jobs their class (placement ranks models by the class's throughput); "peak" ranks by peak FP16
FLOPS. Printed: effective work delivered within the span in reference card-hours, jobs
completed, their average JCT and first wait.`,
		Example: `  suanli replay-throughput --span week
  suanli replay-throughput --span month --mode both --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, ok := sim.SyntheticSpans[span]
			if !ok {
				return usageErr(fmt.Errorf("--span %q: use day, week or month", span))
			}
			modes := map[string][]bool{"aware": {true}, "peak": {false}, "both": {false, true}}[mode]
			if modes == nil {
				return usageErr(fmt.Errorf("--mode %q: use aware, peak or both", mode))
			}
			nw, err := net.load()
			if err != nil {
				return err
			}
			tp := catalog.DefaultThroughput()
			if tpFile != "" {
				if tp, err = catalog.LoadThroughputFile(tpFile); err != nil {
					return usageErr(fmt.Errorf("--throughput: %w", err))
				}
			}
			var reps []*sim.EffectiveReport
			for _, aware := range modes {
				r, err := sim.RunEffective(cmd.Context(), nw, sim.EffectiveConfig{Synth: sim.SynthConfig{Seed: seed, SpanS: s}, Throughput: tp, Aware: aware, ReferenceModel: reference})
				if err != nil {
					return usageErr(err)
				}
				reps = append(reps, r)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, reps)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "MODE\tJOBS\tCOMPLETED\tWORK (%s card-h)\tAVG JCT (h)\tAVG WAIT (h)\n", reps[0].Reference)
			for _, r := range reps {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\n", r.Mode, r.Jobs, r.Completed, r.WorkCardHours, r.AvgJCTS/3600, r.AvgWaitS/3600)
			}
			return tw.Flush()
		},
	}
	net.add(cmd)
	cmd.Flags().StringVar(&span, "span", "week", "day, week or month")
	cmd.Flags().StringVar(&mode, "mode", "both", "aware, peak or both")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "the synthetic workload's seed")
	cmd.Flags().StringVar(&tpFile, "throughput", "", "overlay this throughput file on the default matrix")
	cmd.Flags().StringVar(&reference, "reference-model", "huawei-ascend-910b4", "the model work is counted in")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
