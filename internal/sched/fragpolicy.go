package sched

import (
	"fmt"
	"hash/fnv"

	"github.com/suanli/suanli/internal/model"
)

// FragPolicy is how the scheduler scores the fragmentation component of a
// single-node or share placement. The production policy is FragSuanli;
// the others are the baselines of the FGD paper, run inside the same
// search so that replays compare scorers, not copies of the scheduler.
// Gangs over several nodes score their component by packing under every
// policy.
type FragPolicy string

// Fragmentation policies.
const (
	// FragSuanli is frag.Measure: FGD's expected fragmentation against the
	// task mix plus the cards the node's free host CPU can no longer feed
	// plus the look-ahead (the default; "" means it).
	FragSuanli FragPolicy = "suanli"
	// FragFGD is FGD's expected fragmentation alone (no stranding, no
	// look-ahead).
	FragFGD FragPolicy = "fgd"
	// FragBestFit prefers the node left with the least free capacity:
	// 1000 × (1 − left), left the mean of the free cards' and free host
	// CPU's fractions of the largest node's after placement (cards alone
	// on a node that reports no CPU), as the FGD paper's best-fit.
	FragBestFit FragPolicy = "bestfit"
	// FragRandom scores each candidate 0..1000 by a hash of the job, the
	// worker, the node, the card and Input.Seed: a deterministic random
	// choice among the candidates the search examines.
	FragRandom FragPolicy = "random"
)

// FragPolicies lists the fragmentation policies, the production one first.
var FragPolicies = []FragPolicy{FragSuanli, FragFGD, FragBestFit, FragRandom}

// ParseFragPolicy returns the policy of that name ("" is FragSuanli).
func ParseFragPolicy(name string) (FragPolicy, error) {
	if name == "" {
		return FragSuanli, nil
	}
	for _, p := range FragPolicies {
		if string(p) == name {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown fragmentation policy %q: use one of %v", name, FragPolicies)
}

// measured reports whether the policy scores with a fragmentation
// measure (suanli, fgd) rather than by fit or at random.
func (p FragPolicy) measured() bool { return p != FragBestFit && p != FragRandom }

// altFragScore is the fragmentation component under bestfit or random of
// taking `taken` thousandths of cards and cpu milli-cores on node n; card
// is the card of a share (−1 for whole cards).
func (s *search) altFragScore(n int32, taken, cpu int64, card int32) int64 {
	if s.cfg.FragPolicy == FragRandom {
		h := mix(s.in.Seed ^ s.jobHash ^ uint64(n)<<20 ^ uint64(card+1)<<8 ^ uint64(len(s.reps))<<44)
		return int64(h % 1001)
	}
	ni := &s.st.nodes[n]
	var idle int64
	for g := ni.cardOff; g < ni.cardOff+ni.cards; g++ {
		idle += int64(s.cardFree(g))
	}
	left := float64(max(idle-taken, 0)) / float64(max(s.st.maxCards, 1)*model.MilliCard)
	if maxCPU := s.c.maxKnownCPU(); ni.cpuMilli < hostUnknown && maxCPU > 0 {
		cpuLeft := float64(max(s.c.cpuFree[n]-cpu, 0)) / float64(maxCPU)
		left = 0.5*left + 0.5*cpuLeft
	}
	return clamp(int64(1000*(1-left)), 0, 1000)
}

// maxKnownCPU is the largest host CPU of a node that reports one (0 when
// none does), computed once per cluster.
func (c *Cluster) maxKnownCPU() int64 {
	if c.cpuNorm == 0 {
		c.cpuNorm = -1
		for i := range c.st.nodes {
			if cpu := c.st.nodes[i].cpuMilli; cpu < hostUnknown {
				c.cpuNorm = max(c.cpuNorm, cpu)
			}
		}
	}
	return max(c.cpuNorm, 0)
}

// jobKey hashes a job's id for FragRandom.
func jobKey(id model.JobID) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}
