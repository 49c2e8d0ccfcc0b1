package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/sim/tune"
)

func init() { register(newTuneCmd) }

// tuneConfig is the configuration of `suanli tune`.
type tuneConfig struct {
	lists        []string // training openb lists: names (default → openb_pod_list_default.csv) or paths
	holdoutLists []string // held-out lists; default the training ones
	nodesPath    string   // openb node list; default the gpu node list next to the first list
	openbDir     string   // folder of the named lists; default the shared one next to the repository
	firstSeed    uint64   // first training seed; default 42
	seeds        int      // training seeds; default 2
	holdout      int      // held-out seeds, after the training ones; default 3
	budget       int      // evaluations; default 40
	searchSeed   uint64   // orders the grid when the budget cannot hold it; default 1
	synthetic    string   // day, week or month, or none; default week
	scale        int      // the synthetic network's nodes divided by this; default 128
	workers      int
	top          int
	asJSON       bool
	baseline     []int64 // the weights the search starts from and compares with; default the scheduler's
	net          netFlags
}

func newTuneCmd() *cobra.Command {
	var cfg tuneConfig
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Search the scheduler's blend weights (fragmentation, topology, heterogeneity, cost) by measurement",
		Long: `Tune searches the weights the scheduler blends its score components with
(fragmentation, topology, heterogeneity, cost; summing to 1000) on training seeds and
reports the best against the current weights on held-out seeds.

Each weight vector is measured on protocol A's sequences of the openb lists' GPU pods
through the server's scheduler (GPUs left unallocated at 130% arrived), and on a seeded
synthetic workload replayed through the core on the national network scaled down
(--scale) so that it loads and queues within seconds (mean queueing delay, utilisation).
The scheduler runs as the server does: 8 candidates per bucket, the task mix learned
from the arriving jobs. The objective, lower is better, is relative to the current
weights on the same seeds:

  ` + tune.ObjectiveText + `

The search: the current weights, a grid over the simplex in steps of 250, then a
pattern search moving 125, 62 and 31 between pairs of components while it improves;
--budget bounds the evaluations and --search-seed orders the grid when it cannot
hold it all. The weights it recommends are the chosen ones only if they beat the
current weights on the held-out seeds.`,
		Example: `  suanli tune                                 # default list, seeds 42-43, held out 44-46
  suanli tune --budget 12 --seeds 1 --holdout 1 --synthetic day
  suanli tune --lists default,multigpu50 --holdout-lists default,gpushare40,multigpu50 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTune(cmd, &cfg) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.lists, "lists", []string{"default"}, "openb pod lists to train on: names (default, multigpu50 …: openb_pod_list_<name>.csv in "+openbRel+") or paths")
	f.StringSliceVar(&cfg.holdoutLists, "holdout-lists", []string{"default", "gpushare40", "multigpu50"}, "openb pod lists measured on the held-out seeds")
	f.StringVar(&cfg.openbDir, "openb", "", "folder of the lists given by name (default: "+openbRel+" next to the repository)")
	f.StringVar(&cfg.nodesPath, "nodes", "", "openb node list (default: openb_node_list_gpu_node.csv next to the first list)")
	f.Uint64Var(&cfg.firstSeed, "seed", 42, "the first training seed (training seed, seed+1, …; the held-out seeds follow)")
	f.IntVar(&cfg.seeds, "seeds", 2, "training seeds")
	f.IntVar(&cfg.holdout, "holdout", 3, "held-out seeds")
	f.IntVar(&cfg.budget, "budget", 40, "weight vectors evaluated at most")
	f.Uint64Var(&cfg.searchSeed, "search-seed", 1, "orders the grid when the budget cannot hold it")
	f.StringVar(&cfg.synthetic, "synthetic", "week", "synthetic workload span: day, week, month, or none")
	f.IntVar(&cfg.scale, "scale", 128, "the synthetic workload's network: --network with every pool's nodes divided by this")
	f.IntVar(&cfg.workers, "workers", 0, "evaluations in parallel (default: the CPUs)")
	f.IntVar(&cfg.top, "top", 10, "search evaluations listed, best first")
	f.BoolVar(&cfg.asJSON, "json", false, "print the report as JSON")
	f.Int64SliceVar(&cfg.baseline, "baseline", nil, "frag,topology,heterogeneity,cost summing to 1000: the weights to start from and compare with (default: the scheduler's defaults, which the search then also evaluates)")
	cfg.net.add(cmd)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	return cmd
}

func (cfg *tuneConfig) check() error {
	var errs []error
	if cfg.seeds < 1 || cfg.seeds > 100 {
		errs = append(errs, fmt.Errorf("--seeds %d: use 1..100", cfg.seeds))
	}
	if cfg.holdout < 1 || cfg.holdout > 100 {
		errs = append(errs, fmt.Errorf("--holdout %d: use 1..100", cfg.holdout))
	}
	if cfg.budget < 1 || cfg.budget > 10000 {
		errs = append(errs, fmt.Errorf("--budget %d: use 1..10000", cfg.budget))
	}
	if _, ok := sim.SyntheticSpans[cfg.synthetic]; !ok && cfg.synthetic != "none" {
		errs = append(errs, fmt.Errorf("--synthetic %q: use day, week, month or none", cfg.synthetic))
	}
	if cfg.scale < 1 || cfg.scale > 100000 {
		errs = append(errs, fmt.Errorf("--scale %d: use 1..100000", cfg.scale))
	}
	if len(cfg.lists) == 0 && cfg.synthetic == "none" {
		errs = append(errs, errors.New("nothing to measure: give --lists or a --synthetic span"))
	}
	if len(cfg.baseline) > 0 {
		var sum int64
		for _, w := range cfg.baseline {
			sum += w
			if w < 0 {
				sum = -1 << 40
			}
		}
		if len(cfg.baseline) != 4 || sum != 1000 {
			errs = append(errs, fmt.Errorf("--baseline %v: give four non-negative weights summing to 1000", cfg.baseline))
		}
	}
	if cfg.workers < 0 || cfg.top < 0 {
		errs = append(errs, errors.New("--workers and --top must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(err)
	}
	return nil
}

// listPath is a list flag's file: a path as given, or a name in the
// openb folder (--openb, or the shared one).
func (cfg *tuneConfig) listPath(name string) (string, error) {
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, ".csv") {
		return name, nil
	}
	if cfg.openbDir != "" {
		return filepath.Join(cfg.openbDir, "openb_pod_list_"+name+".csv"), nil
	}
	def, err := defaultTrace()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(def), "openb_pod_list_"+name+".csv"), nil
}

// loadLists reads the openb lists with the node list.
func (cfg *tuneConfig) loadLists(names []string) ([]tune.OpenbList, error) {
	var out []tune.OpenbList
	for _, name := range names {
		p, err := cfg.listPath(name)
		if err != nil {
			return nil, err
		}
		if cfg.nodesPath == "" {
			cfg.nodesPath = filepath.Join(filepath.Dir(p), "openb_node_list_gpu_node.csv")
		}
		nodes, pods, _, err := sim.LoadOpenb(cfg.nodesPath, p, false)
		if err != nil {
			return nil, inputErr(fmt.Errorf("%w; %s", err, openbHelp))
		}
		out = append(out, tune.OpenbList{Name: strings.TrimSuffix(filepath.Base(p), ".csv"), Nodes: nodes, Pods: pods})
	}
	return out, nil
}

// workloads builds the training and held-out workloads.
func (cfg *tuneConfig) workloads() (train, held *tune.Workloads, err error) {
	train, held = &tune.Workloads{}, &tune.Workloads{}
	if train.Openb, err = cfg.loadLists(cfg.lists); err != nil {
		return nil, nil, err
	}
	if held.Openb, err = cfg.loadLists(cfg.holdoutLists); err != nil {
		return nil, nil, err
	}
	if cfg.synthetic != "none" {
		net, err := cfg.net.loadScaled(cfg.scale)
		if err != nil {
			return nil, nil, err
		}
		synth := sim.SynthConfig{SpanS: sim.SyntheticSpans[cfg.synthetic]}
		train.Net, train.Synth = net, synth
		held.Net, held.Synth = net, synth
	}
	return train, held, nil
}

func runTune(cmd *cobra.Command, cfg *tuneConfig) error {
	if err := cfg.check(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	train, held, err := cfg.workloads()
	if err != nil {
		return err
	}
	sc := tune.SearchConfig{Budget: cfg.budget, Seed: cfg.searchSeed, Workers: cfg.workers}
	var base sched.Weights
	if len(cfg.baseline) == 4 {
		base = tune.Weights(cfg.baseline)
		sc.Start = []tune.Point{tune.PointOf(sched.DefaultConfig().Weights)}
	}
	r, err := tune.Run(ctx, train, tune.Config{
		Search:           sc,
		Baseline:         base,
		Train:            sim.Seeds(cfg.firstSeed, cfg.seeds),
		Holdout:          sim.Seeds(cfg.firstSeed+uint64(cfg.seeds), cfg.holdout),
		HoldoutWorkloads: held,
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if cfg.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprint(out, tune.Table(r, cfg.top))
	return nil
}
