package frag

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Config sets up protocol A.
type Config struct {
	// Load is the total GPU request of the arrived tasks as a multiple of the
	// cluster's GPU capacity (default 1.3).
	Load float64
	// Points are the arrived-workload percentages to record (default 70, 75, ..., 130).
	Points []int
	// Coverage is the share of tasks the typical tasks cover (default 0.95).
	Coverage float64
	// Progress, if set, is called every ProgressEvery tasks and at the end of a run.
	Progress func(Progress)
	// ProgressEvery is the task interval between Progress calls (default 1000).
	ProgressEvery int
}

// Progress reports how far runs have got.
type Progress struct {
	Policy      string
	Seed        uint64
	Run, Runs   int // this run (1-based) of all runs (Compare), or 1 of 1
	Task, Tasks int // tasks placed (or failed) so far in this run, of all
}

func (cfg Config) withDefaults() Config {
	if cfg.Load == 0 {
		cfg.Load = 1.3
	}
	if cfg.Points == nil {
		for p := 70; p <= 130; p += 5 {
			cfg.Points = append(cfg.Points, p)
		}
	}
	if cfg.Coverage == 0 {
		cfg.Coverage = DefaultCoverage
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = 1000
	}
	return cfg
}

// Point is the cluster's state once the arrived workload reaches a percentage
// of GPU capacity: the state after the last task whose arrival keeps the
// arrived GPU request at or below it.
type Point struct {
	ArrivedPct      int     // the requested point
	Arrived         float64 // the arrived workload actually reached (fraction)
	Tasks, Failed   int     // tasks arrived and failed so far
	AllocRatio      float64 // allocated GPU milli / capacity
	UnallocatedGPUs float64 // (1 − AllocRatio) × GPUs
	FragMilli       float64 // cluster fragmentation (paper's measure)
	FragRatio       float64 // fragmentation / idle GPU milli
}

// Curve is one run of protocol A.
type Curve struct {
	Policy         string
	Seed           uint64
	Tasks, Failed  int
	FailedGPUMilli int64
	Points         []Point
}

// Workload prepares the task sequence of protocol A as the paper's simulator
// does: all tasks of the list, shuffled; then, if their GPU request is below
// load × capacity, tasks drawn from the list with replacement are appended
// until one more would pass it; if above, random tasks are removed until it
// is not.
func Workload(tasks []Task, capacityMilli int64, load float64, rng *rand.Rand) []Task {
	seq := append([]Task(nil), tasks...)
	rng.Shuffle(len(seq), func(i, j int) { seq[i], seq[j] = seq[j], seq[i] })
	var total int64
	for _, t := range seq {
		total += t.GPUMilliTotal()
	}
	target := load * float64(capacityMilli)
	for len(seq) > 0 && float64(total) > target {
		i := rng.IntN(len(seq))
		total -= seq[i].GPUMilliTotal()
		seq = append(seq[:i], seq[i+1:]...)
	}
	if len(tasks) == 0 || float64(total) == target {
		return seq
	}
	for {
		t := tasks[rng.IntN(len(tasks))]
		// The simulator tests the per-GPU share, not the total, here; kept for fidelity.
		if float64(total+int64(t.GPUMilli)) > target {
			return seq
		}
		total += t.GPUMilliTotal()
		seq = append(seq, t)
	}
}

// Sequence prepares a run of protocol A on a fresh cluster: it sets the
// cluster's tie order (Rank) from the seed and draws the task sequence
// (Workload), and returns the sequence and the random source the run goes
// on with.
func Sequence(c *Cluster, tasks []Task, seed uint64, load float64) ([]Task, *rand.Rand) {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	for i, r := range rng.Perm(len(c.Rank)) {
		c.Rank[i] = int32(r)
	}
	if load == 0 {
		load = Config{}.withDefaults().Load
	}
	return Workload(tasks, c.CapacityMilli, load, rng), rng
}

// Setup resolves specs into a cluster and tasks, reporting every bad spec.
func Setup(nodes []NodeSpec, pods []TaskSpec) (*Cluster, []Task, error) {
	c, err := NewCluster(nodes)
	if err != nil {
		return nil, nil, err
	}
	tasks := make([]Task, len(pods))
	var errs []error
	for i, p := range pods {
		t, err := c.Task(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", i, err))
		}
		tasks[i] = t
	}
	if c.CapacityMilli == 0 {
		errs = append(errs, errors.New("the cluster has no GPUs"))
	}
	return c, tasks, errors.Join(errs...)
}

// RunProtocolA runs the paper's protocol A once: build the workload from the
// pod list with the seed, place tasks one at a time with the policy (never
// removing any), and record the points. The same inputs give the same curve.
func RunProtocolA(nodes []NodeSpec, pods []TaskSpec, policy string, seed uint64, cfg Config) (Curve, error) {
	cfg = cfg.withDefaults()
	c, tasks, err := Setup(nodes, pods)
	if err != nil {
		return Curve{}, err
	}
	d := NewDistribution(tasks, cfg.Coverage, false)
	return run(c, tasks, d, policy, seed, cfg, 1, 1)
}

func run(c *Cluster, tasks []Task, d *Distribution, policy string, seed uint64, cfg Config, runNo, runs int) (Curve, error) {
	pol, err := New(policy, d, len(c.Nodes))
	if err != nil {
		return Curve{}, err
	}
	return runPolicy(c, tasks, d, pol, seed, cfg, runNo, runs)
}

// runPolicy is run with a policy instance.
func runPolicy(c *Cluster, tasks []Task, d *Distribution, pol Policy, seed uint64, cfg Config, runNo, runs int) (Curve, error) {
	policy := pol.Name()
	seq, rng := Sequence(c, tasks, seed, cfg.Load)
	cv := Curve{Policy: policy, Seed: seed, Tasks: len(seq)}
	var arrived int64
	next := 0
	record := func(upto int) {
		frag, idle := d.ClusterFrag(c)
		p := Point{
			ArrivedPct: cfg.Points[next],
			Arrived:    float64(arrived) / float64(c.CapacityMilli),
			Tasks:      upto,
			Failed:     cv.Failed,
			AllocRatio: float64(c.AllocatedMilli) / float64(c.CapacityMilli),
			FragMilli:  frag,
		}
		p.UnallocatedGPUs = float64(c.CapacityMilli-c.AllocatedMilli) / MilliPerGPU
		if idle > 0 {
			p.FragRatio = frag / float64(idle)
		}
		cv.Points = append(cv.Points, p)
		next++
	}
	reached := func(milli int64) bool { // arrived workload passes the next point
		return next < len(cfg.Points) && milli*100 > int64(cfg.Points[next])*c.CapacityMilli
	}
	for i := range seq {
		t := &seq[i]
		for reached(arrived + t.GPUMilliTotal()) {
			record(i)
		}
		arrived += t.GPUMilliTotal()
		if _, ok, err := Place(c, pol, t, rng); err != nil {
			return cv, err
		} else if !ok {
			cv.Failed++
			cv.FailedGPUMilli += t.GPUMilliTotal()
		}
		if cfg.Progress != nil && (i+1)%cfg.ProgressEvery == 0 {
			cfg.Progress(Progress{Policy: policy, Seed: seed, Run: runNo, Runs: runs, Task: i + 1, Tasks: len(seq)})
		}
	}
	for next < len(cfg.Points) {
		record(len(seq))
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Policy: policy, Seed: seed, Run: runNo, Runs: runs, Task: len(seq), Tasks: len(seq)})
	}
	return cv, nil
}

// Stat is a mean and a (population) standard deviation over seeds.
type Stat struct{ Mean, Std float64 }

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	var s, ss float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return Stat{Mean: m, Std: math.Sqrt(ss / float64(len(xs)))}
}

// PointStats summarises one arrived-workload point over seeds.
type PointStats struct {
	ArrivedPct                                        int
	AllocRatio, UnallocatedGPUs, FragMilli, FragRatio Stat
	Failed                                            Stat
}

// Summary is one policy's curves summarised over seeds.
type Summary struct {
	Policy string
	Seeds  []uint64
	Points []PointStats
	Curves []Curve
}

// Summarize averages curves of one policy (same points) over their seeds.
func Summarize(curves []Curve) Summary {
	if len(curves) == 0 {
		return Summary{}
	}
	s := Summary{Policy: curves[0].Policy, Curves: curves}
	for _, c := range curves {
		s.Seeds = append(s.Seeds, c.Seed)
	}
	for k, p := range curves[0].Points {
		col := func(f func(Point) float64) Stat {
			xs := make([]float64, len(curves))
			for i, c := range curves {
				xs[i] = f(c.Points[k])
			}
			return stat(xs)
		}
		s.Points = append(s.Points, PointStats{
			ArrivedPct:      p.ArrivedPct,
			AllocRatio:      col(func(p Point) float64 { return p.AllocRatio }),
			UnallocatedGPUs: col(func(p Point) float64 { return p.UnallocatedGPUs }),
			FragMilli:       col(func(p Point) float64 { return p.FragMilli }),
			FragRatio:       col(func(p Point) float64 { return p.FragRatio }),
			Failed:          col(func(p Point) float64 { return float64(p.Failed) }),
		})
	}
	return s
}

// Compare runs protocol A for every policy and seed and summarises each policy.
func Compare(nodes []NodeSpec, pods []TaskSpec, policies []string, seeds []uint64, cfg Config) ([]Summary, error) {
	cfg = cfg.withDefaults()
	c0, tasks, err := Setup(nodes, pods)
	if err != nil {
		return nil, err
	}
	d := NewDistribution(tasks, cfg.Coverage, false)
	var out []Summary
	runs := len(policies) * len(seeds)
	for pi, pol := range policies {
		var curves []Curve
		for si, seed := range seeds {
			c := c0.clone()
			cv, err := run(c, tasks, d, pol, seed, cfg, pi*len(seeds)+si+1, runs)
			if err != nil {
				return nil, err
			}
			curves = append(curves, cv)
		}
		out = append(out, Summarize(curves))
	}
	return out, nil
}

// clone copies the cluster state.
func (c *Cluster) clone() *Cluster {
	d := *c
	d.Nodes = append([]Node(nil), c.Nodes...)
	d.version = append([]uint32(nil), c.version...)
	d.Rank = append([]int32(nil), c.Rank...)
	return &d
}
