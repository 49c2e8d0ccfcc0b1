package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
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
		migrate    bool
		scale      int
		prof       profiles
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
completed, their average JCT and first wait, and the mean utilisation (cards held ÷
cards). With --migrate the aware run's core also moves running jobs to faster free
models, as the server does with --migrate; each move costs the job its checkpoint
restore.`,
		Example: `  suanli replay-throughput --span week
  suanli replay-throughput --span month --mode both --json
  suanli replay-throughput --span month --scale 4 --migrate`,
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
			if scale < 1 || scale > 100000 {
				return usageErr(fmt.Errorf("--scale %d: use 1..100000", scale))
			}
			nw, err := net.loadScaled(scale)
			if err != nil {
				return err
			}
			tp := catalog.DefaultThroughput()
			if tpFile != "" {
				if tp, err = catalog.LoadThroughputFile(tpFile); err != nil {
					return usageErr(fmt.Errorf("--throughput: %w", err))
				}
			}
			cfg := sim.EffectiveConfig{Synth: sim.SynthConfig{Seed: seed, SpanS: s}, Throughput: tp, Migrate: migrate, ReferenceModel: reference}
			reps, err := runEffectiveModes(cmd.Context(), nw, cfg, modes, prof)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, reps)
			}
			return printEffective(out, reps)
		},
	}
	net.add(cmd)
	cmd.Flags().StringVar(&span, "span", "week", "day, week or month")
	cmd.Flags().StringVar(&mode, "mode", "both", "aware, peak or both")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "the synthetic workload's seed")
	cmd.Flags().StringVar(&tpFile, "throughput", "", "overlay this throughput file on the default matrix")
	cmd.Flags().StringVar(&reference, "reference-model", "huawei-ascend-910b4", "the model work is counted in")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "aware runs: the core moves running jobs to faster free models (its default migration bounds; a move costs the job a 120 s checkpoint restore)")
	cmd.Flags().IntVar(&scale, "scale", 1, "replay on --network with every pool's nodes divided by this (rounded up); the synthetic jobs scale with the cards")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
	cmd.Flags().StringVar(&prof.mem, "memprofile", "", "write an allocation profile of the runs to this file (go tool pprof)")
	return cmd
}

// printEffective prints the replays' reports as a table.
// runEffectiveModes replays cfg once per mode (aware or not; migration
// only in an aware run), profiled as prof asks.
func runEffectiveModes(ctx context.Context, nw *network.Network, cfg sim.EffectiveConfig, modes []bool, prof profiles) ([]*sim.EffectiveReport, error) {
	stop, err := prof.start()
	if err != nil {
		return nil, err
	}
	var reps []*sim.EffectiveReport
	for _, aware := range modes {
		c := cfg
		c.Aware, c.Migrate = aware, cfg.Migrate && aware
		r, err := sim.RunEffective(ctx, nw, c)
		if err != nil {
			return nil, usageErr(err)
		}
		reps = append(reps, r)
	}
	return reps, stop()
}

func printEffective(out io.Writer, reps []*sim.EffectiveReport) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "MODE\tJOBS\tCOMPLETED\tWORK (%s card-h)\tAVG JCT (h)\tAVG WAIT (h)\tUTIL\tMOVES\n", reps[0].Reference)
	for _, r := range reps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.1f%%\t%d\n", r.Mode, r.Jobs, r.Completed, r.WorkCardHours, r.AvgJCTS/3600, r.AvgWaitS/3600, 100*r.Utilisation, r.Migrations)
	}
	return tw.Flush()
}
