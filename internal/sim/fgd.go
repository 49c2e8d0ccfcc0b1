// Package sim is the replay simulator: it measures scheduling policies on
// real and synthetic workloads at virtual time.
//
//   - Protocol A (FGD's experiment): pods of an openb pod list arrive in a
//     seeded random order and never leave; every policy of package
//     sched/frag is measured on the same sequences (RunFGD).
//   - Protocol B (time-based): pods arrive and leave at the trace's
//     creation and deletion times on the openb cluster, mapped to a
//     network.Network, and are placed by the same core the server runs
//     (RunTimed).
//   - The synthetic national month: a seeded generator of about a million
//     jobs for the default network (Synthesize), replayed through the core
//     (RunJobs).
//
// The simulator is a thin shell: decisions are made by packages sched,
// sched/frag and core; sim reads traces, feeds events in virtual time and
// measures. The same inputs and seeds give byte-identical reports.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/trace"
)

// DefaultSeeds is how many seeds protocol A runs by default.
const DefaultSeeds = 10

// ProgressFunc is told how much of a replay is done, in units of total; it
// may be called from several goroutines, but never concurrently.
type ProgressFunc func(done, total int64)

// FGDConfig sets up protocol A.
type FGDConfig struct {
	// NodesPath and PodsPath are the openb node and pod lists.
	NodesPath, PodsPath string
	// Policies to compare (default: every policy of sched/frag).
	Policies []string
	// Seeds to run (default: 1..DefaultSeeds).
	Seeds []uint64
	// SkipBad skips bad trace rows (counted in the report) instead of failing.
	SkipBad bool
	// Workers bounds the runs in parallel (default GOMAXPROCS). The result
	// does not depend on it.
	Workers int
	// Points are the arrived-workload percentages to record (default 70,
	// 75, ..., 130).
	Points []int
	// Progress, if set, hears about every 1000 tasks placed.
	Progress ProgressFunc
}

// Seeds returns the seeds first, first+1, ..., first+n-1.
func Seeds(first uint64, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = first + uint64(i)
	}
	return s
}

// Stat is a mean over seeds and its spread: the population standard
// deviation, the minimum and the maximum.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// NewStat summarises xs (zero for none).
func NewStat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := Stat{Min: xs[0], Max: xs[0]}
	var sum float64
	for _, x := range xs {
		sum += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean = sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	s.Std = math.Sqrt(ss / float64(len(xs)))
	return s
}

// FGDPoint is one arrived-workload point of a policy's curve, over seeds.
type FGDPoint struct {
	ArrivedPct int `json:"arrived_pct"`
	// AllocRatio is allocated GPU capacity / cluster GPU capacity.
	AllocRatio Stat `json:"alloc_ratio"`
	// FragGPUs is the paper's cluster fragmentation, in GPUs; FragRatio is
	// it over the idle GPU capacity.
	FragGPUs  Stat `json:"frag_gpus"`
	FragRatio Stat `json:"frag_ratio"`
	// UnallocatedGPUs is the GPU capacity left unallocated, in GPUs.
	UnallocatedGPUs Stat `json:"unallocated_gpus"`
	// FailedTasks is the tasks that found no room so far.
	FailedTasks Stat `json:"failed_tasks"`
}

// FGDPolicy is one policy's curve.
type FGDPolicy struct {
	Policy string     `json:"policy"`
	Points []FGDPoint `json:"points"`
}

// FGDReport is the outcome of protocol A.
type FGDReport struct {
	Protocol string `json:"protocol"` // "fgd"
	Trace    string `json:"trace"`    // the pod list's file name
	Nodes    string `json:"nodes"`    // the node list's file name
	// Pods and GPUs describe the inputs: pods in the list, GPU nodes and
	// GPUs in the cluster.
	Pods        int      `json:"pods"`
	ClusterGPUs int      `json:"cluster_gpus"`
	GPUNodes    int      `json:"gpu_nodes"`
	Skipped     int      `json:"skipped_rows,omitempty"`
	Seeds       []uint64 `json:"seeds"`
	// Tasks is the mean length of the seeded task sequences.
	Tasks    float64     `json:"tasks"`
	Policies []FGDPolicy `json:"policies"`
}

// Policy returns the named policy's curve.
func (r *FGDReport) Policy(name string) (FGDPolicy, bool) {
	for _, p := range r.Policies {
		if p.Policy == name {
			return p, true
		}
	}
	return FGDPolicy{}, false
}

// At returns the point of the curve at pct% arrived workload.
func (p FGDPolicy) At(pct int) (FGDPoint, bool) {
	for _, x := range p.Points {
		if x.ArrivedPct == pct {
			return x, true
		}
	}
	return FGDPoint{}, false
}

// LoadOpenb reads an openb node list and pod list, adding the rows skipped
// of both to skipped.
func LoadOpenb(nodesPath, podsPath string, skipBad bool) ([]trace.Node, []trace.Pod, int, error) {
	opt := trace.Options{SkipBad: skipBad}
	nodes, nrep, err := trace.LoadNodes(nodesPath, opt)
	if err != nil {
		return nil, nil, 0, err
	}
	pods, prep, err := trace.LoadPods(podsPath, opt)
	if err != nil {
		return nil, nil, 0, err
	}
	return nodes, pods, nrep.Skipped + prep.Skipped, nil
}

// FragSpecs converts openb rows to the specs of package sched/frag.
func FragSpecs(nodes []trace.Node, pods []trace.Pod) ([]frag.NodeSpec, []frag.TaskSpec) {
	ns := make([]frag.NodeSpec, len(nodes))
	for i, n := range nodes {
		ns[i] = frag.NodeSpec{Name: n.Name, CPUMilli: n.CPUMilli, MemMiB: n.MemMiB, GPUs: n.GPUs, Model: n.GPUModel}
	}
	ps := make([]frag.TaskSpec, len(pods))
	for i, p := range pods {
		ps[i] = frag.TaskSpec{CPUMilli: p.CPUMilli, MemMiB: p.MemMiB, NumGPU: p.NumGPU, GPUMilli: p.GPUMilli, Models: p.GPUSpec}
	}
	return ns, ps
}

// RunFGD runs protocol A: every policy on every seed, in parallel, and
// summarises each policy's curve over the seeds. Cancelling ctx stops it.
func RunFGD(ctx context.Context, cfg FGDConfig) (*FGDReport, error) {
	nodes, pods, skipped, err := LoadOpenb(cfg.NodesPath, cfg.PodsPath, cfg.SkipBad)
	if err != nil {
		return nil, err
	}
	r, err := CompareFGD(ctx, nodes, pods, cfg)
	if err != nil {
		return nil, err
	}
	r.Trace, r.Nodes, r.Skipped = filepath.Base(cfg.PodsPath), filepath.Base(cfg.NodesPath), skipped
	return r, nil
}

// CompareFGD is RunFGD on rows already read.
func CompareFGD(ctx context.Context, nodes []trace.Node, pods []trace.Pod, cfg FGDConfig) (*FGDReport, error) {
	policies := cfg.Policies
	if len(policies) == 0 {
		policies = frag.Names()
	}
	if err := CheckPolicies(policies); err != nil {
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
	ns, ps := FragSpecs(nodes, pods)
	c, _, err := frag.Setup(ns, ps)
	if err != nil {
		return nil, fmt.Errorf("openb cluster: %w", err)
	}
	r := &FGDReport{Protocol: "fgd", Pods: len(pods), ClusterGPUs: int(c.CapacityMilli / frag.MilliPerGPU), Seeds: seeds}
	for _, n := range nodes {
		if n.GPUs > 0 {
			r.GPUNodes++
		}
	}

	curves := make([][]frag.Curve, len(policies))
	for i := range curves {
		curves[i] = make([]frag.Curve, len(seeds))
	}
	prog := newProgress(cfg.Progress, len(policies)*len(seeds))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for pi, pol := range policies {
		for si, seed := range seeds {
			if gctx.Err() != nil {
				break
			}
			run := pi*len(seeds) + si
			g.Go(func() error {
				fc := frag.Config{Points: cfg.Points, Progress: func(p frag.Progress) {
					prog.set(run, p.Task, p.Tasks)
				}}
				if err := gctx.Err(); err != nil {
					return err
				}
				cv, err := frag.RunProtocolA(ns, ps, pol, seed, fc)
				if err != nil {
					return fmt.Errorf("policy %s, seed %d: %w", pol, seed, err)
				}
				curves[pi][si] = cv
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var tasks []float64
	for pi, pol := range policies {
		r.Policies = append(r.Policies, summarize(pol, curves[pi]))
		for _, cv := range curves[pi] {
			tasks = append(tasks, float64(cv.Tasks))
		}
	}
	r.Tasks = NewStat(tasks).Mean
	return r, nil
}

// CheckPolicies reports every unknown policy name.
func CheckPolicies(names []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case !slices.Contains(frag.Names(), n):
			errs = append(errs, fmt.Errorf("unknown policy %q: use one of %v", n, frag.Names()))
		case seen[n]:
			errs = append(errs, fmt.Errorf("policy %q is listed twice", n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}

func summarize(policy string, curves []frag.Curve) FGDPolicy {
	out := FGDPolicy{Policy: policy}
	if len(curves) == 0 {
		return out
	}
	for k, p := range curves[0].Points {
		col := func(f func(frag.Point) float64) Stat {
			xs := make([]float64, len(curves))
			for i, c := range curves {
				xs[i] = f(c.Points[k])
			}
			return NewStat(xs)
		}
		out.Points = append(out.Points, FGDPoint{
			ArrivedPct:      p.ArrivedPct,
			AllocRatio:      col(func(p frag.Point) float64 { return p.AllocRatio }),
			FragGPUs:        col(func(p frag.Point) float64 { return p.FragMilli / frag.MilliPerGPU }),
			FragRatio:       col(func(p frag.Point) float64 { return p.FragRatio }),
			UnallocatedGPUs: col(func(p frag.Point) float64 { return p.UnallocatedGPUs }),
			FailedTasks:     col(func(p frag.Point) float64 { return float64(p.Failed) }),
		})
	}
	return out
}

// progress adds up the progress of parallel runs, each counted in
// thousandths of its tasks.
type progress struct {
	f ProgressFunc

	mu   sync.Mutex // guards done and sum, and serialises calls to f
	done []int64
	sum  int64
}

func newProgress(f ProgressFunc, runs int) *progress {
	return &progress{f: f, done: make([]int64, runs)}
}

func (p *progress) set(run, task, tasks int) {
	if p.f == nil || tasks == 0 {
		return
	}
	milli := int64(task) * 1000 / int64(tasks)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sum += milli - p.done[run]
	p.done[run] = milli
	p.f(p.sum, int64(len(p.done))*1000)
}
