// Package frag places GPU-sharing tasks on nodes while keeping GPU fragmentation
// low. It implements the cluster model, fragmentation measure and baselines of
// Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
// Fragmentation Gradient Descent" (USENIX ATC '23), our own policy `suanli`, and
// the paper's evaluation (protocol A) as a pure function.
//
// The package is pure: no I/O, no clock, no goroutines; randomness comes from a
// seed. Capacity is integer: CPU in milli-cores, memory in MiB, GPU in
// thousandths of a GPU ("milli").
package frag

import (
	"errors"
	"fmt"
	"math/bits"
)

// MilliPerGPU is one whole GPU in thousandths.
const MilliPerGPU = 1000

// MaxGPUs is the most GPUs one node may have.
const MaxGPUs = 16

// NodeSpec describes a node's capacity.
type NodeSpec struct {
	Name     string
	CPUMilli int64
	MemMiB   int64
	GPUs     int
	Model    string // GPU model; empty for CPU-only nodes
}

// TaskSpec describes a task (a pod) with its GPU models by name.
type TaskSpec struct {
	CPUMilli int64
	MemMiB   int64
	NumGPU   int
	GPUMilli int      // per GPU, 1..1000; below 1000 only with NumGPU == 1
	Models   []string // allowed GPU models; empty means any
}

// ModelSet is a set of GPU models of one cluster, as bits. The zero value
// means "any model".
type ModelSet uint64

// UnknownModel is set for models the cluster does not have: no node matches it.
const UnknownModel ModelSet = 1 << 63

// maxModels is how many distinct GPU models a cluster may have.
const maxModels = 63

// Task is a task ready for placement: its models resolved against a cluster.
// Task is comparable and is used as a map key.
type Task struct {
	CPUMilli int64
	MemMiB   int64
	NumGPU   int32
	GPUMilli int32
	Models   ModelSet
}

// Share reports whether the task takes part of one GPU.
func (t Task) Share() bool { return t.NumGPU == 1 && t.GPUMilli < MilliPerGPU }

// GPUMilliTotal is the task's whole GPU request in thousandths.
func (t Task) GPUMilliTotal() int64 { return int64(t.NumGPU) * int64(t.GPUMilli) }

// Node is a node's capacity and what is free on it.
type Node struct {
	CPUCap, MemCap   int64
	CPUFree, MemFree int64
	GPUs             int
	Free             [MaxGPUs]int32 // free thousandths of each GPU, by device index
	Model            ModelSet       // the node's model bit; 0 for CPU-only nodes
}

// IdleMilli is the free GPU capacity of the node.
func (n *Node) IdleMilli() int64 {
	var s int64
	for _, f := range n.Free[:n.GPUs] {
		s += int64(f)
	}
	return s
}

// Accepts reports whether the node's GPU model suits the task.
func (n *Node) Accepts(t *Task) bool {
	if t.NumGPU == 0 {
		return true
	}
	return n.GPUs > 0 && (t.Models == 0 || t.Models&n.Model != 0)
}

// Fits reports whether the task can be placed on the node now.
func (n *Node) Fits(t *Task) bool {
	if n.CPUFree < t.CPUMilli || n.MemFree < t.MemMiB {
		return false
	}
	if t.NumGPU == 0 {
		return true
	}
	if !n.Accepts(t) || int(t.NumGPU) > n.GPUs {
		return false
	}
	k := int32(0)
	for _, f := range n.Free[:n.GPUs] {
		if f >= t.GPUMilli {
			k++
		}
	}
	return k >= t.NumGPU
}

// Placement is where a task goes: a node and a set of its GPUs (bit i = GPU i).
type Placement struct {
	Node int
	GPUs uint32
}

// Cluster is the state of all nodes during placement.
type Cluster struct {
	Nodes []Node
	Names []string // node names, by index
	// Rank orders nodes for breaking score ties: the lower rank wins. NewCluster
	// sets the identity; protocol A shuffles it per seed.
	Rank    []int32
	models  []string
	version []uint32 // bumped on every change to a node; keys caches
	changed []int32  // the node of every change, in order (bestTrees)
	// Totals in thousandths of a GPU.
	CapacityMilli, AllocatedMilli int64
}

// NewCluster builds an empty cluster. It reports every bad node spec.
func NewCluster(specs []NodeSpec) (*Cluster, error) {
	c := &Cluster{Nodes: make([]Node, len(specs)), Names: make([]string, len(specs)), Rank: make([]int32, len(specs)), version: make([]uint32, len(specs))}
	var errs []error
	for i, s := range specs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("node %d (%s): %s", i, s.Name, fmt.Sprintf(format, args...)))
		}
		if s.CPUMilli < 0 || s.MemMiB < 0 {
			bad("negative capacity")
		}
		if s.GPUs < 0 || s.GPUs > MaxGPUs {
			bad("%d GPUs: at most %d per node", s.GPUs, MaxGPUs)
			continue
		}
		if s.GPUs > 0 && s.Model == "" {
			bad("GPUs without a model name")
		}
		n := Node{CPUCap: s.CPUMilli, MemCap: s.MemMiB, CPUFree: s.CPUMilli, MemFree: s.MemMiB, GPUs: s.GPUs}
		for g := 0; g < s.GPUs; g++ {
			n.Free[g] = MilliPerGPU
		}
		if s.GPUs > 0 {
			bit, err := c.addModel(s.Model)
			if err != nil {
				bad("%v", err)
			}
			n.Model = bit
		}
		c.Nodes[i] = n
		c.Names[i] = s.Name
		c.Rank[i] = int32(i)
		c.CapacityMilli += int64(s.GPUs) * MilliPerGPU
	}
	return c, errors.Join(errs...)
}

func (c *Cluster) addModel(name string) (ModelSet, error) {
	for i, m := range c.models {
		if m == name {
			return 1 << i, nil
		}
	}
	if len(c.models) == maxModels {
		return 0, fmt.Errorf("more than %d GPU models", maxModels)
	}
	c.models = append(c.models, name)
	return 1 << (len(c.models) - 1), nil
}

// ModelSet resolves model names; names the cluster lacks match no node.
func (c *Cluster) ModelSet(names []string) ModelSet {
	var s ModelSet
	for _, name := range names {
		found := false
		for i, m := range c.models {
			if m == name {
				s |= 1 << i
				found = true
			}
		}
		if !found {
			s |= UnknownModel
		}
	}
	return s
}

// ModelNames lists the names of the models in s, in the cluster's order
// (the unknown-model bit is not a name and is left out).
func (c *Cluster) ModelNames(s ModelSet) []string {
	var out []string
	for i, m := range c.models {
		if s&(1<<i) != 0 {
			out = append(out, m)
		}
	}
	return out
}

// Task resolves a task spec against the cluster's models.
func (c *Cluster) Task(s TaskSpec) (Task, error) {
	t := Task{CPUMilli: s.CPUMilli, MemMiB: s.MemMiB, NumGPU: int32(s.NumGPU), GPUMilli: int32(s.GPUMilli), Models: c.ModelSet(s.Models)}
	var errs []error
	if s.CPUMilli < 0 || s.MemMiB < 0 {
		errs = append(errs, errors.New("negative CPU or memory request"))
	}
	if s.NumGPU < 0 || s.NumGPU > MaxGPUs {
		errs = append(errs, fmt.Errorf("num GPU %d is out of range 0..%d", s.NumGPU, MaxGPUs))
	}
	switch {
	case s.NumGPU == 0 && s.GPUMilli != 0:
		errs = append(errs, fmt.Errorf("GPU milli %d without GPUs", s.GPUMilli))
	case s.NumGPU > 0 && (s.GPUMilli < 1 || s.GPUMilli > MilliPerGPU):
		errs = append(errs, fmt.Errorf("GPU milli %d is out of range 1..1000", s.GPUMilli))
	case s.NumGPU > 1 && s.GPUMilli != MilliPerGPU:
		errs = append(errs, fmt.Errorf("a share of %d milli needs exactly one GPU, not %d", s.GPUMilli, s.NumGPU))
	}
	if s.NumGPU == 0 {
		t.Models = 0
	}
	return t, errors.Join(errs...)
}

// Version is a counter that changes whenever node i changes.
func (c *Cluster) Version(i int) uint32 { return c.version[i] }

// Apply places t as p, after checking that it fits.
func (c *Cluster) Apply(p Placement, t *Task) error {
	if p.Node < 0 || p.Node >= len(c.Nodes) {
		return fmt.Errorf("placement on node %d: no such node", p.Node)
	}
	n := &c.Nodes[p.Node]
	if n.CPUFree < t.CPUMilli || n.MemFree < t.MemMiB || !n.Accepts(t) {
		return fmt.Errorf("placement on node %s: task does not fit", c.Names[p.Node])
	}
	if bits.OnesCount32(p.GPUs) != int(t.NumGPU) || p.GPUs>>uint(n.GPUs) != 0 {
		return fmt.Errorf("placement on node %s: GPU set %b does not match %d GPUs", c.Names[p.Node], p.GPUs, t.NumGPU)
	}
	for m := p.GPUs; m != 0; m &= m - 1 {
		if g := bits.TrailingZeros32(m); n.Free[g] < t.GPUMilli {
			return fmt.Errorf("placement on node %s: GPU %d has %d milli free, task needs %d", c.Names[p.Node], g, n.Free[g], t.GPUMilli)
		}
	}
	n.CPUFree -= t.CPUMilli
	n.MemFree -= t.MemMiB
	for m := p.GPUs; m != 0; m &= m - 1 {
		n.Free[bits.TrailingZeros32(m)] -= t.GPUMilli
	}
	c.AllocatedMilli += t.GPUMilliTotal()
	c.version[p.Node]++
	c.changed = append(c.changed, int32(p.Node))
	return nil
}

// firstFree picks the first k wholly free GPUs by index (the allocation the
// paper's simulator uses for whole-GPU tasks), or 0 if there are fewer.
func firstFree(n *Node, k int32) uint32 {
	var m uint32
	for g := 0; g < n.GPUs && k > 0; g++ {
		if n.Free[g] == MilliPerGPU {
			m |= 1 << g
			k--
		}
	}
	if k > 0 {
		return 0
	}
	return m
}

// bestFitGPU picks the GPU with the least free capacity that still fits a
// share of milli (lowest index on ties), or -1.
func bestFitGPU(n *Node, milli int32) int {
	best := -1
	for g := 0; g < n.GPUs; g++ {
		if f := n.Free[g]; f >= milli && (best < 0 || f < n.Free[best]) {
			best = g
		}
	}
	return best
}

// defaultGPUs is the paper's "best" GPU selection: best fit for a share,
// first wholly free GPUs otherwise. The task must fit.
func defaultGPUs(n *Node, t *Task) uint32 {
	switch {
	case t.NumGPU == 0:
		return 0
	case t.Share():
		return 1 << bestFitGPU(n, t.GPUMilli)
	default:
		return firstFree(n, t.NumGPU)
	}
}

// after returns a copy of n with t placed on the GPU set m.
func after(n *Node, t *Task, m uint32) Node {
	a := *n
	a.CPUFree -= t.CPUMilli
	a.MemFree -= t.MemMiB
	for ; m != 0; m &= m - 1 {
		a.Free[bits.TrailingZeros32(m)] -= t.GPUMilli
	}
	return a
}
