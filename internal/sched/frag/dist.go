package frag

import (
	"cmp"
	"slices"
)

// DefaultCoverage is the share of tasks the typical tasks cover (the paper's 95%).
const DefaultCoverage = 0.95

// TypicalTask is a task shape and its popularity (weights sum to 1).
type TypicalTask struct {
	Task
	Weight float64
	// Count is how many tasks of the list had the shape (NewDistribution);
	// Weight is Count over the kept tasks' total.
	Count int
}

// Distribution is the typical-task distribution against which fragmentation is
// measured: the most popular task shapes that together cover a given share of
// a task list, with weights renormalised to sum to 1.
type Distribution struct {
	Tasks []TypicalTask
	// WithMemory counts a node whose free memory is below a typical task's
	// request as unable to host it. The paper's measure ignores memory.
	WithMemory bool

	cpuOnly float64   // total weight of tasks that need no GPU
	gpu     []gpuTask // tasks that need GPUs, grouped by share size
	millis  []int32   // distinct per-GPU shares, ascending
}

type gpuTask struct {
	cpu, mem int64
	num      int32
	milliIdx int // index into millis
	models   ModelSet
	w        float64
}

// NewDistribution picks the typical tasks of a task list the way the paper's
// simulator does: count tasks by shape (CPU, GPU share, GPU count, models; and
// memory when withMemory), sort by count (ties: larger shape first), keep the
// most popular until they cover `coverage` of all tasks, renormalise.
func NewDistribution(tasks []Task, coverage float64, withMemory bool) *Distribution {
	counts := map[Task]int{}
	for _, t := range tasks {
		k := t
		if !withMemory {
			k.MemMiB = 0
		}
		counts[k]++
	}
	shapes := make([]TypicalTask, 0, len(counts))
	for k, n := range counts {
		shapes = append(shapes, TypicalTask{Task: k, Weight: float64(n), Count: n})
	}
	slices.SortFunc(shapes, func(a, b TypicalTask) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return -compareTask(a.Task, b.Task)
	})
	total := float64(len(tasks))
	var cum float64
	keep := 0
	for keep < len(shapes) && cum < coverage*total {
		cum += shapes[keep].Weight
		keep++
	}
	shapes = shapes[:keep]
	for i := range shapes {
		shapes[i].Weight /= cum
	}
	return newDistribution(shapes, withMemory)
}

// compareTask orders shapes as the paper's simulator does: CPU, GPU share,
// GPU count, then models and memory.
func compareTask(a, b Task) int {
	return cmp.Or(cmp.Compare(a.CPUMilli, b.CPUMilli), cmp.Compare(a.GPUMilli, b.GPUMilli),
		cmp.Compare(a.NumGPU, b.NumGPU), cmp.Compare(a.Models, b.Models), cmp.Compare(a.MemMiB, b.MemMiB))
}

// NewDistributionOf is the distribution of the given typical tasks, in the
// order given (the order fixes how the measure sums, to the last bit).
// Weights should sum to 1.
func NewDistributionOf(tasks []TypicalTask, withMemory bool) *Distribution {
	return newDistribution(slices.Clone(tasks), withMemory)
}

// newDistribution precomputes the lookup tables for a list of typical tasks.
func newDistribution(tasks []TypicalTask, withMemory bool) *Distribution {
	d := &Distribution{Tasks: tasks, WithMemory: withMemory}
	for _, t := range tasks {
		if t.NumGPU == 0 {
			d.cpuOnly += t.Weight
			continue
		}
		if !slices.Contains(d.millis, t.GPUMilli) {
			d.millis = append(d.millis, t.GPUMilli)
		}
	}
	slices.Sort(d.millis)
	for _, t := range tasks {
		if t.NumGPU == 0 {
			continue
		}
		g := gpuTask{cpu: t.CPUMilli, num: t.NumGPU, models: t.Models, w: t.Weight,
			milliIdx: slices.Index(d.millis, t.GPUMilli)}
		if withMemory {
			g.mem = t.MemMiB
		}
		d.gpu = append(d.gpu, g)
	}
	return d
}

// maxMillis bounds the distinct GPU shares a distribution handles without
// allocating; larger distributions fall back to a slower path.
const maxMillis = 64

// NodeFrag is the paper's fragmentation of one node: the expected free GPU
// capacity (thousandths) that a typical task cannot use. A typical task that
// cannot run on the node at all (wrong model, too little CPU, too few GPUs
// with room, or no GPU need) makes all free GPU capacity fragment; one that can
// run makes fragment of the GPUs too small for its per-GPU share.
func (d *Distribution) NodeFrag(n *Node) float64 {
	idle := n.IdleMilli()
	if idle == 0 {
		return 0
	}
	var cnt, below [maxMillis]int64
	if len(d.millis) > maxMillis {
		return d.nodeFragSlow(n, idle)
	}
	for i, m := range d.millis {
		for _, f := range n.Free[:n.GPUs] {
			if f >= m {
				cnt[i]++
			} else {
				below[i] += int64(f)
			}
		}
	}
	fIdle := float64(idle)
	frag := d.cpuOnly * fIdle
	for i := range d.gpu {
		t := &d.gpu[i]
		if (t.models != 0 && t.models&n.Model == 0) || n.CPUFree < t.cpu || n.MemFree < t.mem || cnt[t.milliIdx] < int64(t.num) {
			frag += t.w * fIdle
		} else {
			frag += t.w * float64(below[t.milliIdx])
		}
	}
	return frag
}

// Shares is the distinct per-GPU shares (thousandths, ascending) the
// measure tells apart. A GPU-only node's fragmentation depends on its free
// capacity only through its idle total and, for each share, how many GPUs
// have at least that much free and how much the others have free: a caller
// can keep those counts and update them as GPUs change (FragOfCounts).
// The slice belongs to the distribution; do not modify it.
func (d *Distribution) Shares() []int32 { return d.millis }

// FragOfCounts is NodeFrag of node n computed from counts instead of its
// GPUs: n's free CPU, free memory and model are read, its GPUs are not;
// its free GPU capacity totals idle and it has, for the i-th share of
// Shares, fit[i] GPUs with at least that share free and below[i]
// thousandths free on the other GPUs. It returns exactly what NodeFrag
// returns for the node those counts describe.
func (d *Distribution) FragOfCounts(n *Node, idle int64, fit, below []int64) float64 {
	if idle == 0 {
		return 0
	}
	fIdle := float64(idle)
	frag := d.cpuOnly * fIdle
	for i := range d.gpu {
		t := &d.gpu[i]
		if (t.models != 0 && t.models&n.Model == 0) || n.CPUFree < t.cpu || n.MemFree < t.mem || fit[t.milliIdx] < int64(t.num) {
			frag += t.w * fIdle
		} else {
			frag += t.w * float64(below[t.milliIdx])
		}
	}
	return frag
}

func (d *Distribution) nodeFragSlow(n *Node, idle int64) float64 {
	frag := d.cpuOnly * float64(idle)
	for i := range d.gpu {
		t := &d.gpu[i]
		m := d.millis[t.milliIdx]
		var cnt, below int64
		for _, f := range n.Free[:n.GPUs] {
			if f >= m {
				cnt++
			} else {
				below += int64(f)
			}
		}
		if (t.models != 0 && t.models&n.Model == 0) || n.CPUFree < t.cpu || n.MemFree < t.mem || cnt < int64(t.num) {
			frag += t.w * float64(idle)
		} else {
			frag += t.w * float64(below)
		}
	}
	return frag
}

// ClusterFrag sums NodeFrag over the cluster and returns it with the free GPU
// capacity; their ratio is the paper's fragmentation ratio.
func (d *Distribution) ClusterFrag(c *Cluster) (fragMilli float64, idleMilli int64) {
	for i := range c.Nodes {
		fragMilli += d.NodeFrag(&c.Nodes[i])
		idleMilli += c.Nodes[i].IdleMilli()
	}
	return fragMilli, idleMilli
}
