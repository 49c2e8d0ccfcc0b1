package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/sched/schedbench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the scheduler on a generated network",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchScheduleCmd())
	return cmd
}

// benchScheduleReport is what `suanli bench schedule --json` prints: the
// scheduler's figures and the process's peak memory.
type benchScheduleReport struct {
	schedbench.Result
	Config         schedbench.Config `json:"config"`
	PeakRSSBytes   int64             `json:"peak_rss_bytes"`
	PeakHeapBytes  uint64            `json:"peak_heap_sys_bytes"`
	GoVersion      string            `json:"go_version"`
	TargetsOneCore map[string]string `json:"targets_one_core"`
	TargetsMet     map[string]bool   `json:"targets_met"`
}

func newBenchScheduleCmd() *cobra.Command {
	var (
		cfg       schedbench.Config
		asJSON    bool
		procs     int
		scenarios []string
	)
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Decisions/s, latency, allocations and memory of the scheduler on a generated 100,000-card network",
		Long: `Builds a generated network (by default 12,500 nodes of 8 cards on 32 sites with 9
models) and schedules three job streams one decision at a time, applying each
placement and releasing the oldest jobs above 70% utilisation:

  mixed        70% single-node jobs, 20% fractional inference, 10% gangs of 16–1,024 cards
  single-node  1–8 cards on one node
  gang-256     256-card training gangs

It prints decisions/s, placements/s, p50/p99 decision latency, allocations and
bytes per decision, the scheduler's state for the network and the process's
peak memory. The decision itself runs on one goroutine; --procs sets GOMAXPROCS
(default 1, so the garbage collector shares the one core).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Nodes < 0 || cfg.Decisions < 0 || cfg.Sites < 0 {
				return usageErr(fmt.Errorf("--nodes, --sites and --decisions must not be negative"))
			}
			if procs < 1 {
				return usageErr(fmt.Errorf("--procs must be at least 1, got %d", procs))
			}
			if err := schedbench.CheckScenarios(scenarios); err != nil {
				return usageErr(err)
			}
			cfg.Scenarios = scenarios
			old := runtime.GOMAXPROCS(procs)
			defer runtime.GOMAXPROCS(old)
			res, err := schedbench.Run(cfg)
			if err != nil {
				return err
			}
			rep := benchScheduleReport{Result: res, Config: cfg, GoVersion: runtime.Version(), PeakRSSBytes: peakRSSBytes()}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			rep.PeakHeapBytes = ms.HeapSys
			rep.TargetsOneCore, rep.TargetsMet = benchTargets, benchTargetsMet(rep)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBenchSchedule(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 0, "nodes of 8 cards in the generated network (default 12,500: 100,000 cards)")
	f.IntVar(&cfg.Sites, "sites", 0, "sites in the generated network (default 32)")
	f.IntVar(&cfg.Decisions, "decisions", 0, "decisions per scenario (default 20,000)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the network and the job streams (default 1)")
	f.StringSliceVar(&scenarios, "scenario", nil, "scenarios to run: "+strings.Join(schedbench.ScenarioNames, ", ")+" (default all)")
	f.IntVar(&procs, "procs", 1, "GOMAXPROCS for the run")
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	return cmd
}

// benchTargets are the scheduler's targets on one core, host CPU and
// memory in the model.
var benchTargets = map[string]string{
	"single_node_decisions_per_sec": ">= 100000",
	"gang_256_decisions_per_sec":    ">= 10000",
	"p99_latency_us":                "< 200 (mixed)",
	"state_bytes":                   "< 50000000",
}

// benchTargetsMet compares the run with benchTargets; a scenario not run
// has no entry.
func benchTargetsMet(r benchScheduleReport) map[string]bool {
	met := map[string]bool{"state_bytes": r.StateBytes < 50_000_000}
	for _, s := range r.Scenarios {
		switch s.Name {
		case "single-node":
			met["single_node_decisions_per_sec"] = s.DecisionsPerSec >= 100_000
		case "gang-256":
			met["gang_256_decisions_per_sec"] = s.DecisionsPerSec >= 10_000
		case "mixed":
			met["p99_latency_us"] = s.P99LatencyUS < 200
		}
	}
	return met
}

func printBenchSchedule(w io.Writer, r benchScheduleReport) {
	fmt.Fprintf(w, "network: %d cards on %d nodes, %d sites, %d models; GOMAXPROCS %d, %s\n",
		r.NetworkCards, r.NetworkNodes, r.Sites, r.Models, r.GoMaxProcs, r.GoVersion)
	fmt.Fprintf(w, "state: %.1f MB estimated, %.1f MB on the heap; clone %.0f µs; peak RSS %.0f MB\n\n",
		float64(r.StateBytes)/1e6, float64(r.StateHeapBytes)/1e6, r.CloneUS, float64(r.PeakRSSBytes)/1e6)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdecisions\tplaced\tdecisions/s\tplacements/s\tp50 µs\tp99 µs\tmax µs\tallocs/dec\tB/dec\tmean util\t")
	for _, s := range r.Scenarios {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.0f\t%.1f\t%.0f\t%.1f%%\t\n",
			s.Name, s.Decisions, s.Placed, s.DecisionsPerSec, s.PlacementsPerSec,
			s.P50LatencyUS, s.P99LatencyUS, s.MaxLatencyUS, s.AllocsPerDecision, s.BytesPerDecision,
			float64(s.MeanUtilMilli)/10)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, k := range []string{"single_node_decisions_per_sec", "gang_256_decisions_per_sec", "p99_latency_us", "state_bytes"} {
		met, ok := r.TargetsMet[k]
		state := "not run"
		if ok {
			state = map[bool]string{true: "met", false: "NOT met"}[met]
		}
		fmt.Fprintf(w, "target %-30s %-24s %s\n", k, r.TargetsOneCore[k], state)
	}
}
