package sched

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched/frag"
)

// fragKeys sizes the cache of fragmentation changes on nodes without partly
// used cards: (cards, free, taken), each 0..MaxGPUs.
const fragKeys = (frag.MaxGPUs + 1) * (frag.MaxGPUs + 1) * (frag.MaxGPUs + 1)

// searchNodes offers every good node for `workers` workers of the job on
// one node: for each eligible model and each count of free whole cards from
// the need upwards (best fit first), the first few nodes in preference
// order that pass the filters.
func (s *search) searchNodes(workers int) {
	for _, m := range s.eligible {
		k := s.perWorker[m] * workers
		mi := &s.st.models[m]
		if k <= 0 || k > mi.maxCards {
			continue
		}
		het := s.hetScore(m)
		// Taking k cards scores at most this for fragmentation (offerNode).
		fragMax := s.fragBound(int64(k)*model.MilliCard, int64(workers)*s.job.CPUMilli)
		for f := k; f <= mi.maxCards; f++ {
			s.scanBucket(s.c.byFree[m][f], m, func(n int32) bool {
				// No later node of the bucket costs less (nodes come
				// cheapest site first): once the best score this one could
				// reach is outranked, so is every later one's.
				if s.laterOutranked(1000, het, m, n, fragMax) {
					return false
				}
				s.offerNode(n, m, k, f, workers, fragMax)
				return true
			})
		}
	}
}

// scanBucket calls visit for the first Candidates nodes of a bucket that
// pass the filters, skipping whole domains (and, under residency rules,
// whole sites) that are filtered out, until visit returns false.
func (s *search) scanBucket(set bitset, m int32, visit func(n int32) bool) {
	if s.pl.ordered {
		s.scanOrdered(set, m, visit)
		return
	}
	taken := 0
	hi := int32(len(s.st.nodes))
	for n := set.next(0, hi); n >= 0 && taken < s.cfg.Candidates; n = set.next(n+1, hi) {
		ni := &s.st.nodes[n]
		if !s.siteOK(ni.site) {
			n = s.st.sites[ni.site].hi - 1
			continue
		}
		if !s.classOK(ni.class) {
			if d := &s.st.domains[ni.domain]; d.uniform {
				n = d.hi - 1
			}
			continue
		}
		if !visit(n) {
			return
		}
		taken++
	}
}

// offerNode scores k whole cards on node n (f free); fragMax bounds its
// fragmentation component (fragBound).
func (s *search) offerNode(n, m int32, k, f, workers int, fragMax int64) {
	ni := &s.st.nodes[n]
	var sc Score
	cards := int(ni.cards)
	if f < cards {
		sc.Topology += 400 // a partly used node: whole nodes stay free for gangs
	}
	if d := &s.st.domains[ni.domain]; int(s.c.domFree[ni.domain]) < d.cards {
		sc.Topology += 300 // a partly used domain: fill it before opening another
	}
	sc.Topology += int64(300 * (cards - (f - k)) / cards)
	sc.Heterogeneity = s.hetScore(m)
	sc.Cost = s.costScore(ni.site)
	sc.Place = s.placeScore(ni.site, m)
	// Taking k whole cards lowers the fragmentation by at most their
	// capacity, and the stranded capacity by less (fragBound).
	if s.outranked(&sc, fragMax) {
		return
	}
	if !s.hostFits(n, workers) {
		return
	}
	sc.Frag = s.wholeFragScore(n, k, f, workers)
	s.offer(&cand{scope: ScopeNode, where: n, model: m, card: -1, cards: k, workers: workers, score: sc})
}

// hostFits reports whether node n has the host CPU and memory for
// `workers` workers of the job, and counts the node against the job when
// it has not.
func (s *search) hostFits(n int32, workers int) bool {
	cpu, mem := int64(workers)*s.job.CPUMilli, int64(workers)*s.job.HostMemMiB
	switch {
	case s.c.cpuFree[n] < cpu:
		s.noteHostShort(n, 1)
	case s.c.memFree[n] < mem:
		s.noteHostShort(n, 2)
	default:
		return true
	}
	return false
}

// hostWorkers is how many of the job's workers node n's free host CPU
// and memory hold (a large number when the job asks for none).
func (s *search) hostWorkers(n int32) int {
	w := int64(1 << 30)
	if cpu := s.job.CPUMilli; cpu > 0 {
		w = min(w, s.c.cpuFree[n]/cpu)
	}
	if mem := s.job.HostMemMiB; mem > 0 {
		w = min(w, s.c.memFree[n]/mem)
	}
	return int(w)
}

// hostShortOf is what node n is short of for one worker: CPU (1) or
// memory (2).
func (s *search) hostShortOf(n int32) uint8 {
	if s.c.cpuFree[n] < s.job.CPUMilli {
		return 1
	}
	return 2
}

// noteHostShort records node n as short of host CPU (1) or memory (2).
func (s *search) noteHostShort(n int32, what uint8) {
	if s.hostShort == nil {
		s.hostShort = map[int32]uint8{}
	}
	s.hostShort[n] = what
}

// wholeFragScore is the fragmentation component of taking k of node n's f
// free whole cards for `workers` workers; cached for nodes without partly
// used cards when the measure reads cards only.
func (s *search) wholeFragScore(n int32, k, f, workers int) int64 {
	ni := &s.st.nodes[n]
	cpu, mem := int64(workers)*s.job.CPUMilli, int64(workers)*s.job.HostMemMiB
	if !s.cfg.FragPolicy.measured() {
		return s.altFragScore(n, int64(k)*model.MilliCard, cpu, -1)
	}
	clean := ni.cards <= frag.MaxGPUs && !s.meas.host
	if clean {
		for _, p := range s.c.partial[int(n)*shareBuckets : int(n+1)*shareBuckets] {
			if p != 0 {
				clean = false
				break
			}
		}
	}
	// A clean node's other cards are fully used, so its fragmentation
	// depends only on (cards, free, taken).
	key := (int(ni.cards)*(frag.MaxGPUs+1)+f)*(frag.MaxGPUs+1) + k
	if clean && s.fragGen[key] == s.gen {
		return s.fragVal[key]
	}
	var d int64
	if fc, before, ok := s.nodeCounts(n); ok {
		// Kept on the cluster while the node is unchanged: the first nodes
		// of a bucket are measured again by every decision.
		w := &s.meas.whole[n]
		if k <= frag.MaxGPUs && w.mask&(1<<k) != 0 && w.cpu[k] == cpu && w.mem[k] == mem {
			return int64(w.score[k])
		}
		after := *fc
		for range min(k, int(s.c.free[n])) { // nodeFrag takes at most the free whole cards
			after.add(s, model.MilliCard, -1)
			after.add(s, 0, +1)
		}
		d = fragScore(before, s.fragOf(n, &after, cpu, mem))
		if k <= frag.MaxGPUs {
			w.mask |= 1 << k
			w.score[k], w.cpu[k], w.mem[k] = int16(d), cpu, mem
		}
	} else {
		d = fragScore(s.nodeFrag(n, 0, -1, 0, 0, 0), s.nodeFrag(n, k, -1, 0, cpu, mem))
	}
	if clean {
		s.fragGen[key], s.fragVal[key] = s.gen, d
	}
	return d
}

// buildNode assigns `workers` workers of k/workers cards each to the first
// free whole cards of node n.
func (s *search) buildNode(cd *cand, firstWorker int, out []model.Assignment) []model.Assignment {
	ni := &s.st.nodes[cd.where]
	per := cd.cards / cd.workers
	w := 0
	// The workers' cards, allocated together; each worker's from start.
	cards := make([]int, 0, cd.cards)
	start := 0
	for k := int32(0); k < ni.cards && w < cd.workers; k++ {
		g := ni.cardOff + k
		if s.c.usedMilli[g] != 0 || s.c.usedMiB[g] != 0 {
			continue
		}
		cards = append(cards, int(k))
		if len(cards)-start == per {
			end := len(cards)
			out = append(out, model.Assignment{Worker: firstWorker + w, Node: ni.n.ID, Model: s.st.models[cd.model].id, Cards: cards[start:end:end],
				CPUMilli: s.job.CPUMilli, HostMemMiB: s.job.HostMemMiB})
			start = end
			w++
		}
	}
	return out
}

// searchShares offers cards for one fractional replica: partly used cards
// whose free share fits (tightest first), then free cards on the nodes
// with the fewest free whole cards.
func (s *search) searchShares() {
	share, mem := s.job.ShareMilli, s.job.MemMiB
	fragMax := s.fragBound(int64(share), s.job.CPUMilli) // offerShare
	for _, m := range s.eligible {
		mi := &s.st.models[m]
		for b := share / 100; b < shareBuckets; b++ {
			s.scanBucket(s.c.shareSet[m][b], m, func(n int32) bool {
				ni := &s.st.nodes[n]
				if s.laterOutranked(1000, s.hetScore(m), m, n, fragMax) {
					return false // so is every later node's (searchNodes)
				}
				for k := int32(0); k < ni.cards; k++ {
					g := ni.cardOff + k
					u := int(s.c.usedMilli[g])
					if u == 0 || u+share > model.MilliCard || (mi.memMiB > 0 && s.c.usedMiB[g]+mem > mi.memMiB) {
						continue
					}
					if (model.MilliCard-u)/100 != b {
						continue
					}
					s.offerShare(n, m, k, true, fragMax)
				}
				return true
			})
		}
		for f := 1; f <= mi.maxCards; f++ {
			s.scanBucket(s.c.byFree[m][f], m, func(n int32) bool {
				ni := &s.st.nodes[n]
				if s.laterOutranked(500, s.hetScore(m), m, n, fragMax) {
					return false // a free card scores at most 500 for topology (offerShare)
				}
				for k := int32(0); k < ni.cards; k++ {
					g := ni.cardOff + k
					if s.c.usedMilli[g] == 0 && s.c.usedMiB[g] == 0 {
						s.offerShare(n, m, k, false, fragMax)
						return true
					}
				}
				return true
			})
		}
	}
}

// offerShare scores the job's share on card k of node n; fragMax bounds
// its fragmentation component (fragBound).
func (s *search) offerShare(n, m, k int32, shared bool, fragMax int64) {
	ni := &s.st.nodes[n]
	var sc Score
	if shared {
		sc.Topology += 500 // pack onto a card already shared
	}
	if int(s.c.free[n]) < int(ni.cards) {
		sc.Topology += 300 // a partly used node
	}
	if d := &s.st.domains[ni.domain]; int(s.c.domFree[ni.domain]) < d.cards {
		sc.Topology += 200
	}
	sc.Heterogeneity = s.hetScore(m)
	sc.Cost = s.costScore(ni.site)
	sc.Place = s.placeScore(ni.site, m)
	// The share lowers the fragmentation by at most itself, and the
	// stranded capacity by less (fragBound).
	share := s.job.ShareMilli
	if s.outranked(&sc, fragMax) {
		return
	}
	if !s.hostFits(n, 1) {
		return
	}
	cpu, mem := s.job.CPUMilli, s.job.HostMemMiB
	if !s.cfg.FragPolicy.measured() {
		sc.Frag = s.altFragScore(n, int64(share), cpu, k)
	} else if fc, before, ok := s.nodeCounts(n); ok {
		sc.Frag = s.shareFragScore(n, fc, before, s.cardFree(ni.cardOff+k), share, cpu, mem)
	} else {
		sc.Frag = fragScore(s.nodeFrag(n, 0, -1, 0, 0, 0), s.nodeFrag(n, 0, k, share, cpu, mem))
	}
	s.offer(&cand{scope: ScopeCard, where: n, model: m, card: k, workers: 1, score: sc})
}

// placeReplicas places the job's workers one at a time, each on the best
// node (or card, for shares) given those placed before it; all or none.
// Cards are taken from the cluster while deciding and given back before
// returning.
func (s *search) placeReplicas(fractional bool) ([]model.Assignment, bool) {
	first := s.first[:0]
	ok := true
	for w := 0; w < s.job.Workers; w++ {
		s.top = s.top[:0]
		s.gen++
		if fractional {
			s.searchShares()
		} else {
			s.searchNodes(1)
		}
		if len(s.top) == 0 {
			ok = false
			break
		}
		if w == 0 {
			first = append(first, s.top...)
		}
		cd := &s.top[0]
		start := len(s.reps)
		if fractional {
			ni := &s.st.nodes[cd.where]
			s.reps = append(s.reps, model.Assignment{Worker: w, Node: ni.n.ID, Model: s.st.models[cd.model].id,
				Cards: []int{int(cd.card)}, ShareMilli: s.job.ShareMilli, MemMiB: s.job.MemMiB,
				CPUMilli: s.job.CPUMilli, HostMemMiB: s.job.HostMemMiB})
		} else {
			s.reps = s.buildNode(cd, w, s.reps)
		}
		if w+1 < s.job.Workers {
			if err := s.c.assignAt(&s.reps[start], cd.where, +1); err != nil {
				ok = false // cannot happen: the search checked the card
				s.reps = s.reps[:start]
				break
			}
			s.tempUsed = append(s.tempUsed, s.reps[start])
			s.tempAt = append(s.tempAt, cd.where)
		}
	}
	for i := len(s.tempUsed) - 1; i >= 0; i-- {
		_ = s.c.assignAt(&s.tempUsed[i], s.tempAt[i], -1)
	}
	s.tempUsed, s.tempAt = s.tempUsed[:0], s.tempAt[:0]
	s.top = append(s.top[:0], first...)
	s.first = first
	if !ok {
		return nil, false
	}
	return append([]model.Assignment(nil), s.reps...), true
}
