package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/sim"
)

// checkGavel reports every problem with the flags of a Gavel replay.
func (cfg *replayConfig) checkGavel(cmd *cobra.Command) error {
	var errs []error
	if cfg.gavelPath != "" && cfg.gavelSeed >= 0 {
		errs = append(errs, errors.New("--gavel and --gavel-seed: give one stream"))
	}
	if cfg.throughputs == "" {
		errs = append(errs, errors.New("--throughputs is missing: the replay needs each job type's steps/s per GPU type (Gavel's throughputs_isolated.csv)"))
	}
	if _, err := sim.ParseGavelCluster(cfg.gavelCluster); err != nil {
		errs = append(errs, fmt.Errorf("--cluster: %w", err))
	}
	if cfg.jobsPerHour < 0 || cfg.jobsPerHour > 1000 {
		errs = append(errs, fmt.Errorf("--jobs-per-hour %v: use 0 (the stream's own) up to 1000", cfg.jobsPerHour))
	}
	switch cfg.gavelMode {
	case "all", "both", "las", "aware", "agnostic":
	default:
		errs = append(errs, fmt.Errorf("--mode %q: use las, aware, agnostic, both (aware and agnostic) or all", cfg.gavelMode))
	}
	for _, name := range []string{"protocol", "trace", "nodes", "synthetic", "jobs", "network", "seeds", "policies", "compress", "plot", "write-jobs"} {
		if cmd.Flags().Changed(name) {
			errs = append(errs, fmt.Errorf("--%s does not apply to a Gavel replay", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(err)
	}
	return nil
}

// runGavel runs the Gavel replay in the modes asked and renders the table.
func (cfg *replayConfig) runGavel(ctx context.Context) ([]*sim.GavelReport, string, error) {
	cluster, _ := sim.ParseGavelCluster(cfg.gavelCluster)
	tp, err := sim.ReadThroughputs(cfg.throughputs)
	if err != nil {
		return nil, "", usageErr(fmt.Errorf("--throughputs: %w", err))
	}
	var (
		jobs   []sim.GavelJob
		stream string
	)
	if cfg.gavelSeed >= 0 {
		jobs, err = sim.GenerateGavelJobs(uint64(cfg.gavelSeed), 7000, 1125, tp)
		if err != nil {
			return nil, "", usageErr(err)
		}
		stream = fmt.Sprintf("regenerated with seed %d (Gavel's distribution)", cfg.gavelSeed)
	} else {
		f, err := os.Open(cfg.gavelPath)
		if err != nil {
			return nil, "", usageErr(fmt.Errorf("--gavel: %w", err))
		}
		jobs, err = sim.ReadGavelJobs(f)
		f.Close()
		if err != nil {
			return nil, "", usageErr(fmt.Errorf("--gavel %s: %w", cfg.gavelPath, err))
		}
		stream = filepath.Base(cfg.gavelPath)
	}
	var published []sim.GavelPublished
	results := cfg.gavelResults
	if results == "" && cfg.gavelPath != "" {
		results = filepath.Join(filepath.Dir(cfg.gavelPath), "gavel_results", "summary.csv")
		if _, err := os.Stat(results); err != nil {
			results = ""
		}
	}
	if results != "" && (cfg.gavelSeed < 0 || cfg.gavelResults != "") {
		f, err := os.Open(results)
		if err != nil {
			return nil, "", usageErr(fmt.Errorf("--gavel-results: %w", err))
		}
		published, err = sim.ReadGavelSummary(f)
		f.Close()
		if err != nil {
			return nil, "", usageErr(fmt.Errorf("--gavel-results %s: %w", results, err))
		}
	}
	var reports []*sim.GavelReport
	runs := map[string][]string{"all": {"las", "aware", "agnostic"}, "both": {"aware", "agnostic"}}[cfg.gavelMode]
	if runs == nil {
		runs = []string{cfg.gavelMode}
	}
	for _, mode := range runs {
		gc := sim.GavelConfig{Cluster: cluster, Throughputs: tp, Aware: mode != "agnostic", LAS: mode == "las", JobsPerHour: cfg.jobsPerHour}
		gc.Core.Seed = cfg.firstSeed
		r, err := sim.RunGavel(ctx, jobs, gc)
		if err != nil {
			if strings.Contains(err.Error(), "throughput matrix") {
				return nil, "", usageErr(err)
			}
			return nil, "", err
		}
		reports = append(reports, r)
	}
	return reports, sim.GavelTable(stream, reports, published), nil
}
