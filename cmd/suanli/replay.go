package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

func init() { register(newReplayCmd) }

// openbRel is where the openb traces are, relative to the repository root.
const openbRel = "../shared/data/alibaba-gpu-v2023"

// openbHelp says where to get the openb traces.
const openbHelp = "get Alibaba's cluster-trace-gpu-v2023 (the openb node and pod lists) from " +
	"https://github.com/alibaba/clusterdata (cluster-trace-gpu-v2023/csv) and pass --trace and --nodes"

// replayConfig is the configuration of `suanli replay`.
type replayConfig struct {
	protocol  string   // fgd (protocol A) or time (protocol B); default fgd
	tracePath string   // openb pod list; default the shared default pod list
	nodesPath string   // openb node list; default the gpu node list next to the trace
	seeds     int      // protocol A seeds; default 10
	firstSeed uint64   // the first seed; default 1
	policies  []string // protocol A policies (default all); time-based: fragmentation scorers to compare
	skipBad   bool     // skip bad trace rows
	synthetic string   // day, week or month: replay the synthetic workload on --network
	jobsPath  string   // replay a JSON-lines job trace on --network
	writeJobs string   // write the synthetic jobs as JSON lines
	asJSON    bool
	plotPath  string
	timing    bool   // add wall time and peak memory to the output
	workers   int    // protocol A runs in parallel; default GOMAXPROCS
	samples   int    // time series points; default 240
	compress  int64  // protocol B: divide arrival times by this; default 1
	mix       string // time-based replays: fixed or learned task mix; default fixed
	scale     int    // --synthetic and --jobs: divide every pool's nodes by this; default 1
	net       netFlags

	// Gavel's benchmark
	gavelPath    string  // Gavel's job stream (JSON lines)
	gavelSeed    int64   // generate a stream from Gavel's distribution with this seed instead (-1: none)
	throughputs  string  // throughput matrix (Gavel's isolated CSV or simulation_throughputs.json)
	gavelCluster string  // type:cards,…
	jobsPerHour  float64 // rescale arrivals (0: the stream's own)
	gavelResults string  // Gavel's summary.csv (default: gavel_results/summary.csv beside the stream)
	gavelMode    string  // all, both, las, aware, agnostic
	placeCost    bool    // the scheduler's place component on

	prof profiles
}

func newReplayCmd() *cobra.Command {
	var cfg replayConfig
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay cluster traces at virtual time: FGD's protocol over every policy, or a time-based replay through the core",
		Long: `Replay measures scheduling on real and synthetic workloads at virtual time.

  --protocol fgd   the FGD paper's experiment on an openb pod list: pods arrive in a
                   seeded random order and never leave; every policy is measured on the
                   same sequences; allocation ratio, fragmentation and unallocated GPUs
                   at each arrived-workload point, mean and spread over seeds.
  --protocol time  the pods arrive and leave at the trace's times on the openb cluster
                   and are placed by the same core as the server: queueing delay,
                   utilisation and fragmentation over time, job completion.
  --protocol mix   protocol A's sequences of the list's GPU pods through the server's
                   scheduler, measuring fragmentation against the list's own task mix,
                   the mix it learns from the arriving pods, and the fixed default mix:
                   unallocated GPUs at 130%, mean and spread over seeds.
  --synthetic month  a seeded synthetic national month (about a million jobs) on
                   --network, replayed through the core.
  --policies suanli,fgd,bestfit,random  with --protocol time or --synthetic: the same
                   replay once per fragmentation scorer inside the same core (suanli:
                   the production blend; the baselines score with their policy alone):
                   queueing delay (mean, p95), utilisation and the cards left
                   unallocated while jobs wait for capacity, side by side.
  --gavel JOBS     Gavel's (OSDI '20) job stream on its cluster (--cluster), through the core:
                   a job's runtime on a type is its steps ÷ the type's throughput (--throughputs);
                   the scheduler sees rates only (aware) or peak FLOPS (agnostic). Average JCT over
                   jobs 4000–4999, utilisation and makespan, beside Gavel's own runs.

The openb traces are Alibaba's cluster-trace-gpu-v2023 (research use only); by default
they are read from ` + openbRel + ` next to the repository.`,
		Example: `  suanli replay --protocol fgd --trace ../shared/data/alibaba-gpu-v2023/openb_pod_list_default.csv --plot fgd.svg
  suanli replay --protocol time --json
  suanli replay --network default --synthetic month --plot month.svg
  suanli replay --synthetic week --policies suanli,fgd,bestfit,random
  suanli replay --gavel ../shared/data/gavel/jobs_seed0_lam1125_singlegpu.jsonl \
      --throughputs ../shared/data/gavel/throughputs_isolated.csv --cluster v100:36,p100:36,k80:36`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd, &cfg) },
	}
	f := cmd.Flags()
	f.StringVar(&cfg.protocol, "protocol", "fgd", "fgd (FGD's protocol A), mix (protocol A through the scheduler, per task mix) or time (protocol B, through the core)")
	f.StringVar(&cfg.tracePath, "trace", "", "openb pod list (default: "+openbRel+"/openb_pod_list_default.csv)")
	f.StringVar(&cfg.nodesPath, "nodes", "", "openb node list (default: openb_node_list_gpu_node.csv next to the trace)")
	f.IntVar(&cfg.seeds, "seeds", sim.DefaultSeeds, "protocol A: number of seeds")
	f.Uint64Var(&cfg.firstSeed, "seed", 1, "the first seed (protocol A runs seed, seed+1, …; the others use it alone)")
	f.StringSliceVar(&cfg.policies, "policies", nil, "protocol A: policies to compare (default: all); time-based replays: fragmentation scorers to compare through the same core, some of suanli,fgd,bestfit,random (default: the production scorer alone)")
	f.BoolVar(&cfg.skipBad, "skip-bad", false, "skip bad trace rows, counting them, instead of failing")
	f.StringVar(&cfg.synthetic, "synthetic", "", "replay a synthetic workload on --network: day, week or month")
	f.StringVar(&cfg.jobsPath, "jobs", "", "replay a JSON-lines job trace on --network")
	f.StringVar(&cfg.writeJobs, "write-jobs", "", "with --synthetic: also write the jobs as JSON lines to this file")
	f.BoolVar(&cfg.asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cfg.plotPath, "plot", "", "write a plot of the report as SVG to this file")
	f.BoolVar(&cfg.timing, "timing", false, "add wall time and peak memory to the report")
	f.BoolVar(&cfg.placeCost, "place-cost", true, "time-based replays: weigh what a placement costs the job (energy per unit of work, moving its data, latency to its users); false: leave these terms out, for comparison")
	f.IntVar(&cfg.workers, "workers", 0, "protocol A, and time-based replays with --policies: runs in parallel (default: the CPUs)")
	f.IntVar(&cfg.samples, "samples", 240, "time-based replays: points in the time series")
	f.StringVar(&cfg.mix, "mix", "fixed", "time-based replays (--protocol time, --synthetic, --jobs): the scheduler's task mix, fixed (the default mix) or learned from the arriving jobs, as the server does")
	f.IntVar(&cfg.scale, "scale", 1, "--synthetic and --jobs: replay on --network with every pool's nodes divided by this (rounded up); the synthetic jobs scale with the cards")
	f.Int64Var(&cfg.compress, "compress", 1, "protocol time: divide the pods' arrival times by this, raising the load (run times stay)")
	f.StringVar(&cfg.gavelPath, "gavel", "", "replay Gavel's job stream (JSON lines) on --cluster; needs --throughputs")
	f.Int64Var(&cfg.gavelSeed, "gavel-seed", -1, "replay a stream drawn from Gavel's generator distribution with this seed (7,000 jobs); needs --throughputs")
	f.StringVar(&cfg.throughputs, "throughputs", "", "with --gavel: throughput matrix, steps/s per job type and GPU type (Gavel's throughputs_isolated.csv or simulation_throughputs.json)")
	f.StringVar(&cfg.gavelCluster, "cluster", "v100:36,p100:36,k80:36", "with --gavel: GPU types and cards, one GPU per server")
	f.Float64Var(&cfg.jobsPerHour, "jobs-per-hour", 0, "with --gavel: rescale arrivals to this rate (default: the stream's own, 3.2)")
	f.StringVar(&cfg.gavelResults, "gavel-results", "", "with --gavel: Gavel's summary.csv to show beside (default: gavel_results/summary.csv next to the stream, if there)")
	f.StringVar(&cfg.gavelMode, "mode", "all", "with --gavel: las (aware with attained-service scheduling), aware, agnostic, both (aware and agnostic) or all")
	f.StringVar(&cfg.prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	f.StringVar(&cfg.prof.mem, "memprofile", "", "write an allocation profile of the run to this file (go tool pprof)")
	cfg.net.add(cmd)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	return cmd
}

// check reports every problem with the flags.
func (cfg *replayConfig) check(cmd *cobra.Command) error {
	if cfg.gavelPath != "" || cfg.gavelSeed >= 0 {
		return cfg.checkGavel(cmd)
	}
	var errs []error
	for _, name := range []string{"throughputs", "cluster", "jobs-per-hour", "gavel-results", "mode", "gavel-seed"} {
		if cmd.Flags().Changed(name) {
			errs = append(errs, fmt.Errorf("--%s needs --gavel or --gavel-seed", name))
		}
	}
	synthetic := cfg.synthetic != "" || cfg.jobsPath != ""
	switch cfg.protocol {
	case "fgd", "time", "mix":
	default:
		errs = append(errs, fmt.Errorf("--protocol %q: use fgd, mix or time", cfg.protocol))
	}
	if cfg.protocol == "mix" && (cmd.Flags().Changed("policies") || cfg.plotPath != "") {
		errs = append(errs, errors.New("--protocol mix runs the server's scheduler (one policy) and has no plot: drop --policies and --plot"))
	}
	if cfg.synthetic != "" {
		if _, ok := sim.SyntheticSpans[cfg.synthetic]; !ok {
			errs = append(errs, fmt.Errorf("--synthetic %q: use day, week or month", cfg.synthetic))
		}
		if cfg.jobsPath != "" {
			errs = append(errs, errors.New("--synthetic and --jobs: give one workload"))
		}
	}
	if cfg.writeJobs != "" && cfg.synthetic == "" {
		errs = append(errs, errors.New("--write-jobs needs --synthetic"))
	}
	if synthetic && (cmd.Flags().Changed("trace") || cmd.Flags().Changed("nodes") || cmd.Flags().Changed("protocol")) {
		errs = append(errs, errors.New("--synthetic and --jobs replay on --network: drop --trace, --nodes and --protocol"))
	}
	if !synthetic && cmd.Flags().Changed("network") {
		errs = append(errs, errors.New("--network needs --synthetic or --jobs (the openb protocols use the trace's own cluster)"))
	}
	if cfg.seeds < 1 || cfg.seeds > 1000 {
		errs = append(errs, fmt.Errorf("--seeds %d: use 1..1000", cfg.seeds))
	}
	errs = append(errs, cfg.checkTimeBased(cmd, synthetic)...)
	if cfg.samples < 2 || cfg.samples > 100000 {
		errs = append(errs, fmt.Errorf("--samples %d: use 2..100000", cfg.samples))
	}
	if cfg.workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d must not be negative", cfg.workers))
	}
	if cfg.plotPath != "" && !strings.EqualFold(filepath.Ext(cfg.plotPath), ".svg") {
		errs = append(errs, fmt.Errorf("--plot %q: the plot is SVG; name the file .svg", cfg.plotPath))
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(err)
	}
	return nil
}

// checkTimeBased reports the problems with the flags of time-based
// replays (--protocol time, --synthetic, --jobs) and those that apply to
// them only.
func (cfg *replayConfig) checkTimeBased(cmd *cobra.Command, synthetic bool) []error {
	var errs []error
	if cfg.protocol == "time" || synthetic {
		if cmd.Flags().Changed("seeds") {
			errs = append(errs, errors.New("--seeds applies to --protocol fgd and mix only (a time-based replay runs one seed: --seed)"))
		}
		if err := sim.CheckTimedPolicies(cfg.policies); err != nil {
			errs = append(errs, err)
		}
		if len(cfg.policies) > 0 && cfg.plotPath != "" {
			errs = append(errs, errors.New("--plot draws one replay: drop it or --policies"))
		}
	} else if err := sim.CheckPolicies(cfg.policies); cfg.protocol != "mix" && err != nil {
		errs = append(errs, err)
	}
	if cfg.compress < 1 || cfg.compress > 1_000_000 {
		errs = append(errs, fmt.Errorf("--compress %d: use 1..1000000", cfg.compress))
	}
	if cfg.scale < 1 || cfg.scale > 100000 {
		errs = append(errs, fmt.Errorf("--scale %d: use 1..100000", cfg.scale))
	} else if cfg.scale > 1 && !synthetic {
		errs = append(errs, errors.New("--scale applies to --synthetic and --jobs"))
	}
	if cmd.Flags().Changed("compress") && (cfg.protocol != "time" || synthetic) {
		errs = append(errs, errors.New("--compress applies to --protocol time only"))
	}
	switch {
	case cfg.mix != "fixed" && cfg.mix != "learned":
		errs = append(errs, fmt.Errorf("--mix %q: use fixed or learned", cfg.mix))
	case cmd.Flags().Changed("mix") && cfg.protocol != "time" && !synthetic:
		errs = append(errs, errors.New("--mix applies to time-based replays (--protocol time, --synthetic, --jobs); --protocol mix compares the mixes on protocol A"))
	}
	return errs
}

// defaultTrace finds the shared openb folder next to the repository that
// holds the working directory.
func defaultTrace() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, openbRel, "openb_pod_list_default.csv")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", usageErr(fmt.Errorf("no --trace given and no openb traces found at %s next to the repository: %s", openbRel, openbHelp))
}

func (cfg *replayConfig) paths() error {
	if cfg.tracePath == "" {
		p, err := defaultTrace()
		if err != nil {
			return err
		}
		cfg.tracePath = p
	}
	if cfg.nodesPath == "" {
		cfg.nodesPath = filepath.Join(filepath.Dir(cfg.tracePath), "openb_node_list_gpu_node.csv")
	}
	var errs []error
	for _, p := range []string{cfg.tracePath, cfg.nodesPath} {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return usageErr(fmt.Errorf("%w; %s", errors.Join(errs...), openbHelp))
	}
	return nil
}

func runReplay(cmd *cobra.Command, cfg *replayConfig) error {
	if err := cfg.check(cmd); err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	bar := newBar(cmd.ErrOrStderr())
	stop, err := cfg.prof.start()
	if err != nil {
		return err
	}
	start := time.Now()
	o, err := cfg.run(ctx, bar)
	if err := errors.Join(err, stop()); err != nil {
		return err
	}
	bar.finish()
	return cfg.write(cmd.OutOrStdout(), o, time.Since(start))
}

// replayOutput is what a replay produced: the report (JSON), its table
// and, where it has one, its plot.
type replayOutput struct {
	report any
	table  string
	plot   func(io.Writer) error
}

// run runs the replay the flags ask for.
func (cfg *replayConfig) run(ctx context.Context, bar *bar) (replayOutput, error) {
	switch {
	case cfg.gavelPath != "" || cfg.gavelSeed >= 0:
		rs, tbl, err := cfg.runGavel(ctx)
		return replayOutput{report: rs, table: tbl}, err
	case cfg.synthetic != "" || cfg.jobsPath != "" || cfg.protocol == "time":
		return cfg.runTimeBased(ctx, bar)
	case cfg.protocol == "mix":
		if err := cfg.paths(); err != nil {
			return replayOutput{}, err
		}
		r, err := sim.RunMixGap(ctx, sim.MixGapConfig{NodesPath: cfg.nodesPath, PodsPath: cfg.tracePath,
			Seeds: sim.Seeds(cfg.firstSeed, cfg.seeds), SkipBad: cfg.skipBad, Workers: cfg.workers,
			Progress: bar.update("protocol A through the scheduler")})
		if err != nil {
			return replayOutput{}, inputErr(err)
		}
		return replayOutput{report: r, table: sim.MixGapTable(r)}, nil
	}
	if err := cfg.paths(); err != nil {
		return replayOutput{}, err
	}
	r, err := sim.RunFGD(ctx, sim.FGDConfig{NodesPath: cfg.nodesPath, PodsPath: cfg.tracePath, Policies: cfg.policies,
		Seeds: sim.Seeds(cfg.firstSeed, cfg.seeds), SkipBad: cfg.skipBad, Workers: cfg.workers,
		Progress: bar.update("protocol A")})
	if err != nil {
		return replayOutput{}, inputErr(err)
	}
	return replayOutput{report: r, table: sim.FGDTable(r), plot: func(w io.Writer) error { return sim.PlotFGD(w, r) }}, nil
}

// runTimeBased runs a replay through the core (--protocol time,
// --synthetic, --jobs): once, or once per scorer of --policies.
func (cfg *replayConfig) runTimeBased(ctx context.Context, bar *bar) (replayOutput, error) {
	var (
		replay sim.ReplayFunc
		err    error
	)
	progress := bar.update("replaying jobs")
	if len(cfg.policies) > 0 {
		progress = nil // runs in parallel: no one bar
	}
	if cfg.protocol == "time" && cfg.synthetic == "" && cfg.jobsPath == "" {
		replay, err = cfg.openbReplay(progress)
	} else {
		replay, err = cfg.syntheticReplay(progress)
	}
	if err != nil {
		return replayOutput{}, err
	}
	if len(cfg.policies) > 0 {
		r, err := sim.ComparePolicies(ctx, cfg.policies, cfg.coreConfig(), cfg.workers, replay)
		if err != nil {
			return replayOutput{}, inputErr(err)
		}
		return replayOutput{report: r, table: sim.PolicyTable(r)}, nil
	}
	r, err := replay(ctx, cfg.coreConfig())
	if err != nil {
		return replayOutput{}, inputErr(err)
	}
	return replayOutput{report: r, table: sim.TimedTable(r), plot: func(w io.Writer) error { return sim.PlotTimed(w, r) }}, nil
}

// openbReplay returns protocol B on the openb lists (each run reads them:
// a few thousand rows).
func (cfg *replayConfig) openbReplay(progress sim.ProgressFunc) (sim.ReplayFunc, error) {
	if err := cfg.paths(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cc core.Config) (*sim.TimedReport, error) {
		return sim.RunTimed(ctx, sim.TimedConfig{NodesPath: cfg.nodesPath, PodsPath: cfg.tracePath, SkipBad: cfg.skipBad,
			Samples: cfg.samples, Compress: cfg.compress, Progress: progress, Core: cc})
	}, nil
}

// write prints the report as a table or JSON, and writes the plot.
func (cfg *replayConfig) write(out io.Writer, o replayOutput, wall time.Duration) error {
	if cfg.plotPath != "" {
		var buf bytes.Buffer
		if err := o.plot(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(cfg.plotPath, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write plot: %w", err)
		}
	}
	if cfg.asJSON {
		var v any = o.report
		if cfg.timing {
			v = timed{Report: o.report, Timing: measureTiming(wall, cfg.workers)}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprint(out, o.table)
	if cfg.timing {
		t := measureTiming(wall, cfg.workers)
		fmt.Fprintf(out, "\nwall time %.1f s on %d CPUs, peak memory %d MiB\n", t.WallS, t.CPUs, t.PeakRSSMiB)
	}
	if cfg.plotPath != "" {
		fmt.Fprintf(out, "\nplot written to %s\n", cfg.plotPath)
	}
	return nil
}

// coreConfig is the core's configuration for time-based replays: the
// learned task mix with --mix learned.
func (cfg *replayConfig) coreConfig() core.Config {
	var cc core.Config
	if cfg.mix == "learned" {
		cc.Mix = &sched.MixConfig{}
	}
	if !cfg.placeCost {
		cc.Sched.Weights = sched.Weights{}.WithoutPlace()
	}
	return cc
}

// syntheticReplay loads --network and the jobs (--jobs, or --synthetic
// generated with --seed) once, and returns their replay through the core.
func (cfg *replayConfig) syntheticReplay(progress sim.ProgressFunc) (sim.ReplayFunc, error) {
	net, err := cfg.net.loadScaled(cfg.scale)
	if err != nil {
		return nil, err
	}
	var (
		js      []trace.Job
		name    string
		skipped int
	)
	if cfg.jobsPath != "" {
		f, err := os.Open(cfg.jobsPath)
		if err != nil {
			return nil, usageErr(fmt.Errorf("open job trace: %w", err))
		}
		defer f.Close()
		var rep trace.Report
		js, rep, err = trace.ReadJobs(f, filepath.Base(cfg.jobsPath), trace.Options{SkipBad: cfg.skipBad})
		if err != nil {
			return nil, usageErr(err)
		}
		name, skipped = filepath.Base(cfg.jobsPath), rep.Skipped
	} else {
		if js, err = sim.Synthesize(net, sim.SynthConfig{Seed: cfg.firstSeed, SpanS: sim.SyntheticSpans[cfg.synthetic]}); err != nil {
			return nil, err
		}
		if cfg.writeJobs != "" {
			if err := writeJobsFile(cfg.writeJobs, js); err != nil {
				return nil, err
			}
		}
	}
	return func(ctx context.Context, cc core.Config) (*sim.TimedReport, error) {
		cc.Seed = cfg.firstSeed
		r, err := sim.ReplayTrace(ctx, net, js, sim.SyntheticConfig{Samples: cfg.samples, Progress: progress, Core: cc})
		if err != nil {
			return nil, err
		}
		r.Trace, r.Ignored = name, skipped
		return r, nil
	}, nil
}

func writeJobsFile(path string, js []trace.Job) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write jobs: %w", err)
	}
	if err := trace.WriteJobs(f, js); err != nil {
		f.Close()
		return fmt.Errorf("write jobs %s: %w", path, err)
	}
	return f.Close()
}

// inputErr makes a trace problem (a bad row, a missing file) exit 2.
func inputErr(err error) error {
	var re *trace.RowError
	if errors.As(err, &re) || errors.Is(err, os.ErrNotExist) {
		return usageErr(err)
	}
	return err
}

// timed is a report with the run's timing.
type timed struct {
	Report any    `json:"report"`
	Timing timing `json:"timing"`
}

type timing struct {
	WallS      float64 `json:"wall_s"`
	CPUs       int     `json:"cpus"`
	Workers    int     `json:"workers"`
	PeakRSSMiB int64   `json:"peak_rss_mib"`
}

func measureTiming(wall time.Duration, workers int) timing {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return timing{WallS: wall.Seconds(), CPUs: runtime.NumCPU(), Workers: workers, PeakRSSMiB: peakRSSBytes() >> 20}
}

// peakRSSBytes is this process's peak resident memory (0 where the
// system does not say).
func peakRSSBytes() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024 // kilobytes on Linux
}

// bar is a progress bar on a terminal; silent when stderr is not one.
type bar struct {
	w  io.Writer
	pb *progressbar.ProgressBar
}

func newBar(w io.Writer) *bar {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return &bar{}
	}
	return &bar{w: w}
}

// update returns the progress callback for a phase (nil when silent).
func (b *bar) update(what string) sim.ProgressFunc {
	if b.w == nil {
		return nil
	}
	return func(done, total int64) {
		if b.pb == nil {
			b.pb = progressbar.NewOptions64(total, progressbar.OptionSetWriter(b.w), progressbar.OptionSetDescription(what),
				progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
		b.pb.Set64(done)
	}
}

func (b *bar) finish() {
	if b.pb != nil {
		b.pb.Finish()
		fmt.Fprintln(b.w)
	}
}
