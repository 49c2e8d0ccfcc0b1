package frag

import "math"

// Measure is the fragmentation policy of Suanli's scheduler, one code path
// for the server (package sched scores its fragmentation component with it)
// and for protocol A (the `suanli` policy is an argmax over nodes of Score,
// ties broken by rank): a node's fragmentation is FGD's expected unusable
// free GPU capacity against the typical-task distribution, plus, when
// StrandRho is positive, the GPU capacity its free CPU can no longer feed
// (Stranded), plus, when Fill is set, FillWeight times the capacity its GPUs
// are expected to leave unused once the typical tasks have filled them
// (FillTable). The `fgd` policy is FGD's measure alone.
type Measure struct {
	Dist *Distribution
	// StrandRho is the milli-cores GPU work needs per GPU milli; 0 counts
	// no stranding.
	StrandRho float64
	// Fill is the look-ahead; nil counts none.
	Fill *FillTable
}

// NewMeasure is the policy's measure for a distribution: FGD's alone, or
// with ours set, Suanli's: stranding at the distribution's own CPU-per-GPU
// rate and the look-ahead over the distribution.
func NewMeasure(d *Distribution, ours bool) Measure { return newMeasure(d, ours, false) }

// NewMeasureDropOnDemand is NewMeasure whose look-ahead works out each
// FillDrop when asked instead of tabling every one (a thousand windows
// of a thousand steps) up front: for a caller that asks for few drops
// and remembers them, such as the scheduler, whose measure changes with
// the learned mix. Every figure is NewMeasure's.
func NewMeasureDropOnDemand(d *Distribution, ours bool) Measure { return newMeasure(d, ours, true) }

func newMeasure(d *Distribution, ours, onDemand bool) Measure {
	m := Measure{Dist: d}
	if ours {
		m.StrandRho = d.CPUPerGPUMilli()
		m.Fill = newFillTable(d, FillHorizon, FillWeight, onDemand)
	}
	return m
}

// Frag is the fragmentation of node n in GPU thousandths.
func (m Measure) Frag(n *Node) float64 {
	v := m.Dist.NodeFrag(n)
	if m.StrandRho > 0 {
		v += Stranded(n, m.StrandRho)
	}
	if m.Fill != nil {
		v += float64(m.Fill.NodeLeft(n))
	}
	return v
}

// FragOfCounts is Frag of a node given by its host (free CPU, memory and
// model, read from n) and its GPU counts (Distribution.FragOfCounts), with
// left the sum of CardLeft over its GPUs. It returns exactly what Frag
// returns for that node.
func (m Measure) FragOfCounts(n *Node, idle int64, fit, below []int64, left int64) float64 {
	v := m.Dist.FragOfCounts(n, idle, fit, below)
	if m.StrandRho > 0 {
		v += stranded(idle, n.CPUFree, m.StrandRho)
	}
	if m.Fill != nil {
		v += float64(left)
	}
	return v
}

// CardLeft is the look-ahead's expected unused milli of one GPU with free
// milli free (FillTable.Left), 0 without a look-ahead. A caller keeping
// counts for FragOfCounts keeps their sum too.
func (m Measure) CardLeft(free int32) int64 {
	if m.Fill == nil {
		return 0
	}
	return m.Fill.Left(free)
}

// FillDrop is the most the look-ahead term of Frag can fall on one node
// when taken GPU milli are taken from it (FillWeight × FillTable.Drop).
func (m Measure) FillDrop(taken int64) float64 {
	if m.Fill == nil {
		return 0
	}
	return float64(m.Fill.Drop(taken))
}

// ScoreMax is the highest Score.
const ScoreMax = maxScore

// Score rates a placement that takes a node's fragmentation from before to
// after, as the FGD authors' simulator does: int(100·sigmoid((before −
// after)/1000)), 0..100, higher is better. Changes within about 40 milli
// of each other score alike; equal scores are broken by node rank.
func Score(before, after float64) int64 {
	return int64(maxScore / (1 + math.Exp(-(before-after)/1000)))
}
