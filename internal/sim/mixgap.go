package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/trace"
)

// Task mixes the scheduler can measure fragmentation against in
// SchedulerProtocolA.
const (
	MixOracle  = "oracle"  // the pod list's own typical tasks (protocol A's)
	MixFixed   = "fixed"   // sched.DefaultTypicalTasks
	MixLearned = "learned" // sched.Mix, from its prior, learning from the arriving pods
)

// SchedulerProtocolA runs protocol A's sequence of the GPU pods of a list
// (seed) through the server's scheduler — sched.Schedule on the openb
// cluster, nodes in the protocol's tie order, fragmentation only, every
// candidate examined — measuring against the named task mix, and returns
// the GPUs left unallocated at the end (130% arrived). With MixOracle it
// places every pod as protocol A's `suanli` policy does.
func SchedulerProtocolA(nodes []trace.Node, pods []trace.Pod, seed uint64, mix string) (float64, error) {
	return SchedulerProtocolAWith(nodes, pods, seed, mix, sched.Config{Weights: sched.Weights{Frag: 1}, Candidates: 1 << 20, Alternatives: -1})
}

// SchedulerProtocolAWith is SchedulerProtocolA with the scheduler's
// configuration given (its weights, its candidates per bucket); the task
// mix comes from mix.
func SchedulerProtocolAWith(nodes []trace.Node, pods []trace.Pod, seed uint64, mix string, cfg sched.Config) (float64, error) {
	pods = slices.DeleteFunc(slices.Clone(pods), func(p trace.Pod) bool { return p.NumGPU == 0 })
	ns, ps := FragSpecs(nodes, pods)
	fc, tasks, err := frag.Setup(ns, ps)
	if err != nil {
		return 0, err
	}
	seq, _ := frag.Sequence(fc, tasks, seed, 1.3)
	order := make([]int, len(nodes))
	for i, r := range fc.Rank {
		order[r] = i
	}
	oc, err := OpenbNetworkInOrder(nodes, order, nil)
	if err != nil {
		return 0, err
	}
	var learn *sched.Mix
	switch mix {
	case MixOracle:
		cfg.TypicalTasks = OracleMix(fc, frag.NewDistribution(tasks, frag.DefaultCoverage, false))
	case MixFixed:
		cfg.TypicalTasks = sched.DefaultTypicalTasks
	case MixLearned:
		learn = sched.NewMix(sched.MixConfig{}, nil)
		cfg.TypicalTasks = learn.TypicalTasks()
	default:
		return 0, fmt.Errorf("unknown task mix %q: use %s, %s or %s", mix, MixOracle, MixFixed, MixLearned)
	}
	c := sched.NewCluster(oc.Net)
	var allocated int64
	for i := range seq {
		job := taskJob(fc, &seq[i], i)
		if learn != nil && learn.Observe(&job) {
			cfg.TypicalTasks = learn.TypicalTasks()
		}
		d := sched.Schedule(c, &job, sched.Input{}, cfg)
		if !d.Placed() {
			continue
		}
		if err := c.Apply(*d.Placement); err != nil {
			return 0, err
		}
		allocated += seq[i].GPUMilliTotal()
	}
	return float64(fc.CapacityMilli-allocated) / frag.MilliPerGPU, nil
}

// OracleMix is a protocol A distribution as the scheduler's task mix, in
// its order, with its counts as popularities and models as catalog ids.
func OracleMix(fc *frag.Cluster, d *frag.Distribution) []sched.TaskShape {
	var mix []sched.TaskShape
	for _, tt := range d.Tasks {
		shape := sched.TaskShape{CPUMilli: tt.CPUMilli, HostMemMiB: tt.MemMiB, PopularityMilli: tt.Count}
		if tt.Share() {
			shape.ShareMilli = int(tt.GPUMilli)
		} else {
			shape.Cards = int(tt.NumGPU)
		}
		shape.Models = catalogIDs(fc, tt.Models)
		if tt.Models&frag.UnknownModel != 0 {
			shape.Models = append(shape.Models, "no-such-model")
		}
		mix = append(mix, shape)
	}
	return mix
}

// taskJob is a protocol A task as a batch job of the scheduler.
func taskJob(fc *frag.Cluster, tk *frag.Task, i int) model.Job {
	job := model.Job{ID: model.JobID(fmt.Sprint("pod-", i)), Tenant: "openb", Kind: model.Batch, Workers: 1,
		CPUMilli: tk.CPUMilli, HostMemMiB: tk.MemMiB, Models: catalogIDs(fc, tk.Models)}
	if tk.Share() {
		job.ShareMilli = int(tk.GPUMilli)
	} else {
		job.CardsPerWorker = int(tk.NumGPU)
	}
	return job
}

func catalogIDs(fc *frag.Cluster, s frag.ModelSet) []string {
	var ids []string
	for _, name := range fc.ModelNames(s) {
		id, _ := OpenbModelID(name)
		ids = append(ids, id)
	}
	return ids
}

// MixGapConfig sets up RunMixGap.
type MixGapConfig struct {
	NodesPath, PodsPath string
	Seeds               []uint64 // default 1..DefaultSeeds
	SkipBad             bool
	Workers             int // runs in parallel (default GOMAXPROCS)
	Progress            ProgressFunc
}

// MixGapReport is the GPUs left unallocated at 130% by the server's
// scheduler on protocol A's sequences, per task mix, over the seeds.
type MixGapReport struct {
	Protocol    string          `json:"protocol"` // "mix"
	Trace       string          `json:"trace"`
	Seeds       []uint64        `json:"seeds"`
	Unallocated map[string]Stat `json:"unallocated_gpus"` // by mix
}

// MixNames lists the task mixes, in report order.
var MixNames = []string{MixOracle, MixLearned, MixFixed}

// RunMixGap runs SchedulerProtocolA for every mix and seed, in parallel.
func RunMixGap(ctx context.Context, cfg MixGapConfig) (*MixGapReport, error) {
	nodes, pods, _, err := LoadOpenb(cfg.NodesPath, cfg.PodsPath, cfg.SkipBad)
	if err != nil {
		return nil, err
	}
	seeds := cfg.Seeds
	if len(seeds) == 0 {
		seeds = Seeds(1, DefaultSeeds)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := make([][]float64, len(MixNames))
	for i := range res {
		res[i] = make([]float64, len(seeds))
	}
	prog := newProgress(cfg.Progress, len(MixNames)*len(seeds))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for mi, mix := range MixNames {
		for si, seed := range seeds {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				u, err := SchedulerProtocolA(nodes, pods, seed, mix)
				if err != nil {
					return fmt.Errorf("mix %s, seed %d: %w", mix, seed, err)
				}
				res[mi][si] = u
				prog.set(mi*len(seeds)+si, 1, 1)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r := &MixGapReport{Protocol: "mix", Trace: filepath.Base(cfg.PodsPath), Seeds: seeds, Unallocated: map[string]Stat{}}
	for mi, mix := range MixNames {
		r.Unallocated[mix] = NewStat(res[mi])
	}
	return r, nil
}

// MixGapTable is the report as text.
func MixGapTable(r *MixGapReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Protocol A through the server's scheduler (GPU pods of %s, %d seeds): GPUs unallocated at 130%%\n", r.Trace, len(r.Seeds))
	for _, mix := range MixNames {
		s := r.Unallocated[mix]
		fmt.Fprintf(&b, "  %-8s %6.1f ± %4.1f  (%+.1f vs the list's own mix)\n", mix, s.Mean, s.Std, s.Mean-r.Unallocated[MixOracle].Mean)
	}
	return b.String()
}
