package frag

import "math"

// Measure is the fragmentation policy of Suanli's scheduler, one code path
// for the server (package sched scores its fragmentation component with it)
// and for protocol A (the `suanli` policy is an argmax over nodes of Score,
// ties broken by rank): a node's fragmentation is FGD's expected unusable
// free GPU capacity against the typical-task distribution, plus, when
// StrandRho is positive, the GPU capacity its free CPU can no longer feed
// (Stranded). The `fgd` policy is the same measure without stranding.
type Measure struct {
	Dist *Distribution
	// StrandRho is the milli-cores GPU work needs per GPU milli; 0 counts
	// no stranding.
	StrandRho float64
}

// NewMeasure is the policy's measure for a distribution: with strand set,
// stranding at the distribution's own CPU-per-GPU rate.
func NewMeasure(d *Distribution, strand bool) Measure {
	m := Measure{Dist: d}
	if strand {
		m.StrandRho = d.CPUPerGPUMilli()
	}
	return m
}

// Frag is the fragmentation of node n in GPU thousandths.
func (m Measure) Frag(n *Node) float64 {
	v := m.Dist.NodeFrag(n)
	if m.StrandRho > 0 {
		v += Stranded(n, m.StrandRho)
	}
	return v
}

// FragOfCounts is Frag of a node given by its host (free CPU, memory and
// model, read from n) and its GPU counts (Distribution.FragOfCounts). It
// returns exactly what Frag returns for that node.
func (m Measure) FragOfCounts(n *Node, idle int64, fit, below []int64) float64 {
	v := m.Dist.FragOfCounts(n, idle, fit, below)
	if m.StrandRho > 0 {
		v += stranded(idle, n.CPUFree, m.StrandRho)
	}
	return v
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
