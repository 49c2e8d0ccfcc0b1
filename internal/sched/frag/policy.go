package frag

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Policy chooses where a task goes. Choose must not change the cluster; the
// caller applies the placement with Place (or Cluster.Apply and Observe).
type Policy interface {
	Name() string
	// Choose returns the placement for t, or false if t fits nowhere.
	Choose(c *Cluster, t *Task, rng *rand.Rand) (Placement, bool)
}

// Observer is a Policy that keeps state about placed tasks.
type Observer interface {
	Observe(p Placement, t *Task)
}

// Place chooses a placement for t with pol and applies it.
func Place(c *Cluster, pol Policy, t *Task, rng *rand.Rand) (Placement, bool, error) {
	p, ok := pol.Choose(c, t, rng)
	if !ok {
		return Placement{}, false, nil
	}
	if err := c.Apply(p, t); err != nil {
		return Placement{}, false, fmt.Errorf("policy %s: %w", pol.Name(), err)
	}
	if o, ok := pol.(Observer); ok {
		o.Observe(p, t)
	}
	return p, true, nil
}

// Policy names.
const (
	Random        = "random"
	DotProd       = "dotprod"
	GpuClustering = "gpuclustering"
	GpuPacking    = "gpupacking"
	BestFit       = "bestfit"
	FGD           = "fgd"
	Suanli        = "suanli"
)

// Names lists the policies New knows, baselines first.
func Names() []string {
	return []string{Random, DotProd, GpuClustering, GpuPacking, BestFit, FGD, Suanli}
}

// New returns a fresh policy by name. d is the typical-task distribution of
// the workload (used by fgd and suanli); nodes is the cluster size.
func New(name string, d *Distribution, nodes int) (Policy, error) {
	switch name {
	case Random:
		return &scored{name: name, randomGPU: true}, nil
	case DotProd:
		return &scored{name: name, s: dotProd{}}, nil
	case GpuClustering:
		return &scored{name: name, s: newClustering(nodes)}, nil
	case GpuPacking:
		return &scored{name: name, s: gpuPacking{}}, nil
	case BestFit:
		return &scored{name: name, s: bestFit{}}, nil
	case FGD:
		return newFGD(name, NewMeasure(d, false), nodes, true), nil
	case Suanli:
		return newSuanli(d, nodes), nil
	}
	return nil, fmt.Errorf("unknown policy %q: use one of %v", name, Names())
}

// scorer rates a node for a task that fits it; higher is better. It also
// returns the GPUs it would use (0 for CPU-only tasks, or when the policy
// picks GPUs at random after choosing the node).
type scorer interface {
	score(c *Cluster, i int, t *Task) (float64, uint32)
}

// scored is a policy that takes the best-scoring node, breaking ties by node
// rank (Cluster.Rank), as the paper's simulator does.
type scored struct {
	name      string
	s         scorer
	randomGPU bool // Random: a uniform node and a random GPU
	// best answers argmax for scorers that are a function of the node
	// and the task alone (not Observers).
	best bestTrees
}

func (p *scored) Name() string { return p.name }

func (p *scored) Choose(c *Cluster, t *Task, rng *rand.Rand) (Placement, bool) {
	var pl Placement
	var ok bool
	if p.randomGPU {
		pl, ok = uniform(c, t, rng)
	} else if _, observes := p.s.(Observer); observes {
		pl, ok = argmax(c, t, rng, p.s)
	} else {
		pl, ok = p.best.choose(c, t, p.s)
	}
	if ok && p.randomGPU && t.NumGPU > 0 {
		pl.GPUs = randomGPUs(&c.Nodes[pl.Node], t, rng)
	} else if ok && pl.GPUs == 0 && t.NumGPU > 0 {
		pl.GPUs = defaultGPUs(&c.Nodes[pl.Node], t)
	}
	return pl, ok
}

func (p *scored) Observe(pl Placement, t *Task) {
	if o, ok := p.s.(Observer); ok {
		o.Observe(pl, t)
	}
}

// argmax scores every node the task fits and keeps the best. Equal scores go
// to the node first in the cluster's tie order (Cluster.Rank), as in the
// paper's simulator, which picks the smallest node name and names nodes with
// a random prefix: ties never break at random. (Random, which scores nothing,
// picks among the fitting nodes with uniform.)
func argmax(c *Cluster, t *Task, rng *rand.Rand, s scorer) (Placement, bool) {
	best := math.Inf(-1)
	var pl Placement
	found := false
	for i := range c.Nodes {
		if !c.Nodes[i].Fits(t) {
			continue
		}
		v, gpus := s.score(c, i, t)
		if v > best || (v == best && c.Rank[i] < c.Rank[pl.Node]) {
			best, pl, found = v, Placement{Node: i, GPUs: gpus}, true
		}
	}
	return pl, found
}

// uniform picks a node that fits uniformly at random.
func uniform(c *Cluster, t *Task, rng *rand.Rand) (Placement, bool) {
	k := 0
	var pl Placement
	for i := range c.Nodes {
		if c.Nodes[i].Fits(t) {
			k++
			if rng.IntN(k) == 0 {
				pl.Node = i
			}
		}
	}
	return pl, k > 0
}

// randomGPUs picks a random GPU with room for a share, or the first wholly
// free GPUs for whole-GPU tasks (the paper's "random" GPU selection).
func randomGPUs(n *Node, t *Task, rng *rand.Rand) uint32 {
	if !t.Share() {
		return firstFree(n, t.NumGPU)
	}
	pick, k := -1, 0
	for g := 0; g < n.GPUs; g++ {
		if n.Free[g] >= t.GPUMilli {
			k++
			if rng.IntN(k) == 0 {
				pick = g
			}
		}
	}
	return 1 << pick
}

// Normalisation constants of the paper's simulator.
const (
	maxSpecCPU = 128000 // milli-cores
	maxSpecGPU = 8000   // GPU milli
	maxScore   = 100
)

// dotProd is Tetris's alignment score as configured in the paper (merged GPU
// dimension, normalised by the largest node): prefer the node whose free
// (CPU, GPU) vector aligns least with the request, i.e. the fullest node.
type dotProd struct{}

func (dotProd) score(c *Cluster, i int, t *Task) (float64, uint32) {
	n := &c.Nodes[i]
	dot := (float64(n.CPUFree)/maxSpecCPU*float64(t.CPUMilli)/maxSpecCPU +
		float64(n.IdleMilli())/maxSpecGPU*float64(t.GPUMilliTotal())/maxSpecGPU) / 2
	return float64(int64(maxScore * (1 - dot))), 0
}

// bestFit prefers the node with the least CPU and GPU left after placement.
type bestFit struct{}

func (bestFit) score(c *Cluster, i int, t *Task) (float64, uint32) {
	n := &c.Nodes[i]
	left := 0.5*float64(n.CPUFree-t.CPUMilli)/maxSpecCPU + 0.5*float64(n.IdleMilli()-t.GPUMilliTotal())/maxSpecGPU
	return float64(int64((1 - left) * maxScore)), 0
}

// gpuPacking prefers, in order: sharing an already used GPU (the fuller the
// better), then free GPUs on a used node, then an idle node (smaller first).
type gpuPacking struct{}

func (gpuPacking) score(c *Cluster, i int, t *Task) (float64, uint32) {
	n := &c.Nodes[i]
	if t.NumGPU == 0 {
		return 0, 0
	}
	full := 0
	for _, f := range n.Free[:n.GPUs] {
		if f == MilliPerGPU {
			full++
		}
	}
	if full == n.GPUs {
		return float64(max(maxScore/3-full, full)), 0
	}
	order := sortedGPUs(n)
	need, fullUsed, sumPct := t.NumGPU, 0, 0
	for _, g := range order[:n.GPUs] {
		if need == 0 {
			break
		}
		if f := n.Free[g]; f >= t.GPUMilli {
			need--
			sumPct += int(f) * 100 / MilliPerGPU
			if f == MilliPerGPU {
				fullUsed++
			}
		}
	}
	if fullUsed > 0 {
		return float64(max(maxScore/2-fullUsed, maxScore/3)), 0
	}
	return float64(max(maxScore-sumPct/10, maxScore/2)), 0
}

// sortedGPUs returns GPU indices by free capacity, least first (stable).
func sortedGPUs(n *Node) [MaxGPUs]int8 {
	var idx [MaxGPUs]int8
	for g := range n.GPUs {
		idx[g] = int8(g)
	}
	s := idx[:n.GPUs]
	slices.SortStableFunc(s, func(a, b int8) int { return int(n.Free[a]) - int(n.Free[b]) })
	return idx
}

// clustering is GpuClustering: keep tasks of the same GPU shape together
// (share, 1-GPU, 2-GPU, ...), preferring nodes that host only that shape,
// then mixed nodes that host it, then idle nodes; fuller nodes first.
type clustering struct {
	counts [][MaxGPUs + 1]int32 // per node: tasks by shape (0: share, k: k GPUs)
}

func newClustering(nodes int) *clustering {
	return &clustering{counts: make([][MaxGPUs + 1]int32, nodes)}
}

func shapeTag(t *Task) int {
	if t.Share() {
		return 0
	}
	return int(t.NumGPU)
}

func (cl *clustering) score(c *Cluster, i int, t *Task) (float64, uint32) {
	if t.NumGPU == 0 {
		return 0, 0
	}
	n := &c.Nodes[i]
	fill := int64(maxScore/4) * (maxSpecGPU - n.IdleMilli()) / maxSpecGPU
	tags := 0
	for _, k := range cl.counts[i] {
		if k > 0 {
			tags++
		}
	}
	switch {
	case cl.counts[i][shapeTag(t)] > 0 && tags == 1:
		fill += maxScore * 3 / 4
	case cl.counts[i][shapeTag(t)] > 0:
		fill += maxScore * 2 / 4
	case tags == 0:
		fill += maxScore / 4
	}
	return float64(fill), 0
}

func (cl *clustering) Observe(p Placement, t *Task) {
	if t.NumGPU > 0 {
		cl.counts[p.Node][shapeTag(t)]++
	}
}
