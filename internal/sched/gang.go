package sched

import (
	"cmp"
	"slices"
	"sort"

	"github.com/suanli/suanli/internal/model"
)

// domCap is how many workers of C cards the healthy, allowed nodes of a
// domain can hold now.
func (s *search) domCap(d int32, C int) int {
	dom := &s.st.domains[d]
	if C <= 0 {
		return 0
	}
	if dom.uniform {
		if !s.classOK(s.st.nodes[dom.lo].class) {
			return 0
		}
		if dom.hi-dom.lo == 1 { // one node: its free cards, if healthy
			if !s.c.healthy[dom.lo] {
				return 0
			}
			return int(s.c.free[dom.lo]) / C
		}
		stride := s.st.maxCards + 1
		h := s.c.domHist[int(d)*stride : int(d+1)*stride]
		w := 0
		for f := C; f < len(h); f++ {
			w += int(h[f]) * (f / C)
		}
		return w
	}
	w := 0
	for n := dom.lo; n < dom.hi; n++ {
		if s.nodeOK(n) {
			w += int(s.c.free[n]) / C
		}
	}
	return w
}

// searchDomains offers every domain that can hold the whole gang.
func (s *search) searchDomains() {
	W := s.job.Workers
	for _, m := range s.eligible {
		C := s.perWorker[m]
		need := W * C
		if C <= 0 || C > s.st.models[m].maxCards {
			continue
		}
		for _, sm := range s.st.models[m].sms {
			smi := &s.st.sm[sm]
			if int(s.c.smFree[sm]) < C || !s.siteOK(smi.site) {
				continue
			}
			for _, d := range smi.domains {
				if int(s.c.domFree[d]) < C {
					continue
				}
				capW := s.domCap(d, C)
				if capW < W {
					s.notePartial(ScopeDomain, d, m, capW*C, need)
					continue
				}
				s.offerDomain(d, m, C, capW)
			}
		}
	}
}

// greedyLeftover simulates best-fit filling of a histogram of nodes by free
// cards with W workers of C cards and returns the free cards left on the
// nodes it touches.
func greedyLeftover(h []int32, W, C int) int {
	left := 0
	for f := C; f < len(h) && W > 0; f++ {
		per := f / C
		nodes := min(int(h[f]), (W+per-1)/per)
		if nodes == 0 {
			continue
		}
		take := min(W, nodes*per)
		left += nodes*f - take*C
		W -= take
	}
	return left
}

func (s *search) offerDomain(d, m int32, C, capW int) {
	dom := &s.st.domains[d]
	W := s.job.Workers
	need := W * C
	var sc Score
	used := dom.cards - int(s.c.domFree[d])
	sc.Topology = int64(500*used/max(dom.cards, 1)) + int64(500*need/max(capW*C, 1))
	stride := s.st.maxCards + 1
	left := greedyLeftover(s.c.domHist[int(d)*stride:int(d+1)*stride], W, C)
	sc.Frag = clamp(1000-int64(1000*left/need), 0, 1000)
	sc.Heterogeneity = s.hetScore(m)
	sc.Cost = s.costScore(dom.site)
	sc.Place = s.placeScore(dom.site, m)
	s.offer(&cand{scope: ScopeDomain, where: d, model: m, cards: need, workers: W, score: sc})
}

// buildDomain assigns `workers` workers of C cards to the domain's nodes,
// best fit first (the nodes with the fewest free cards that hold one).
func (s *search) buildDomain(d int32, C, workers, firstWorker int, out []model.Assignment) []model.Assignment {
	dom := &s.st.domains[d]
	type nf struct {
		n    int32
		free int16
	}
	var nodes []nf
	for n := dom.lo; n < dom.hi; n++ {
		if int(s.c.free[n]) >= C && s.nodeOK(n) {
			nodes = append(nodes, nf{n, s.c.free[n]})
		}
	}
	slices.SortFunc(nodes, func(a, b nf) int { return cmp.Or(cmp.Compare(a.free, b.free), cmp.Compare(a.n, b.n)) })
	w := 0
	for _, x := range nodes {
		if w == workers {
			break
		}
		if s.hostWorkers(x.n) == 0 {
			s.noteHostShort(x.n, s.hostShortOf(x.n))
			continue
		}
		take := min(int(x.free)/C, workers-w, s.hostWorkers(x.n))
		out = s.buildNode(&cand{where: x.n, model: dom.model, cards: take * C, workers: take}, firstWorker+w, out)
		w += take
	}
	return out
}

// siteCaps fills s.caps with the worker capacity of each domain of a
// (site, model) group and returns their sum.
func (s *search) siteCaps(sm int32, C int) int {
	s.caps = s.caps[:0]
	total := 0
	for _, d := range s.st.sm[sm].domains {
		w := 0
		if int(s.c.domFree[d]) >= C {
			w = s.domCap(d, C)
		}
		s.caps = append(s.caps, domCapacity{d: d, w: w})
		total += w
	}
	return total
}

type domCapacity struct {
	d int32
	w int
}

// pickDomains chooses domains from s.caps for `workers` workers: the
// largest first, and for the rest the smallest domain that holds it, so
// that the gang spans as few domains as it can.
func (s *search) pickDomains(workers int) []domCapacity {
	caps := s.sortCaps()
	var out []domCapacity
	for len(caps) > 0 && workers > 0 && caps[0].w > 0 {
		// The smallest domain that holds the rest, if any: the last of
		// those that do (they come first).
		fit := sort.Search(len(caps), func(i int) bool { return caps[i].w < workers }) - 1
		if fit >= 0 {
			out = append(out, domCapacity{d: caps[fit].d, w: workers})
			return out
		}
		out = append(out, caps[0])
		workers -= caps[0].w
		caps = caps[1:]
	}
	return out
}

// sortCaps orders s.caps by capacity, the largest first, then by domain.
// siteCaps lists domains in index order, so a stable counting sort by
// capacity gives that order in linear time; any other input is sorted.
func (s *search) sortCaps() []domCapacity {
	caps := s.caps
	maxW := 0
	for i, c := range caps {
		if i > 0 && c.d <= caps[i-1].d || c.w < 0 {
			slices.SortFunc(caps, func(a, b domCapacity) int { return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(a.d, b.d)) })
			return caps
		}
		maxW = max(maxW, c.w)
	}
	if len(caps) < 2 {
		return caps
	}
	count := resize(s.capCount, maxW+2)
	for _, c := range caps {
		count[maxW-c.w+1]++ // position maxW−w: the largest first
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	out := resize(s.capSorted, len(caps))
	for _, c := range caps {
		k := maxW - c.w
		out[count[k]] = c
		count[k]++
	}
	s.capCount, s.capSorted = count, out
	return out
}

// searchSites offers every (site, model) group that can hold the gang
// across its domains.
func (s *search) searchSites() {
	W := s.job.Workers
	for _, m := range s.eligible {
		C := s.perWorker[m]
		if C <= 0 || C > s.st.models[m].maxCards {
			continue
		}
		need := W * C
		for _, sm := range s.st.models[m].sms {
			smi := &s.st.sm[sm]
			if int(s.c.smFree[sm]) < C || !s.siteOK(smi.site) {
				continue
			}
			total := s.siteCaps(sm, C)
			if total < W {
				s.notePartial(ScopeSite, sm, m, total*C, need)
				continue
			}
			picked := len(s.pickDomains(W))
			ideal := (need + smi.maxDomain - 1) / max(smi.maxDomain, 1)
			var sc Score
			sc.Topology = int64(1000 * ideal / max(picked, 1))
			sc.Frag = 500
			sc.Heterogeneity = s.hetScore(m)
			sc.Cost = s.costScore(smi.site)
			sc.Place = s.placeScore(smi.site, m)
			s.offer(&cand{scope: ScopeSite, where: sm, model: m, cards: need, workers: W, score: sc})
		}
	}
}

// buildSite places `workers` workers of C cards across a (site, model)
// group's domains.
func (s *search) buildSite(sm int32, C, workers, firstWorker int, out []model.Assignment) []model.Assignment {
	s.siteCaps(sm, C)
	for _, dc := range s.pickDomains(workers) {
		out = s.buildDomain(dc.d, C, dc.w, firstWorker, out)
		firstWorker += dc.w
	}
	return out
}

// searchCrossSite offers, per model, the fewest sites that together hold
// the gang (only for jobs that allow crossing sites).
func (s *search) searchCrossSite() {
	W := s.job.Workers
	for _, m := range s.eligible {
		C := s.perWorker[m]
		if C <= 0 || C > s.st.models[m].maxCards {
			continue
		}
		groups := s.groupCaps(m, C)
		total := 0
		for _, g := range groups {
			total += g.w
		}
		if total < W {
			if len(groups) > 0 {
				s.notePartial(ScopeSites, groups[0].d, m, total*C, W*C)
			}
			continue
		}
		sites, w := 0, 0
		for _, g := range groups {
			sites++
			if w += g.w; w >= W {
				break
			}
		}
		var sc Score
		sc.Topology = int64(1000 / sites)
		sc.Frag = 500
		sc.Heterogeneity = s.hetScore(m)
		sc.Cost = s.costScore(s.st.sm[groups[0].d].site)
		sc.Place = s.placeScore(s.st.sm[groups[0].d].site, m)
		s.offer(&cand{scope: ScopeSites, where: groups[0].d, model: m, cards: W * C, workers: W, score: sc})
	}
}

// groupCaps lists the allowed (site, model) groups of a model with their
// worker capacity, the largest first.
func (s *search) groupCaps(m int32, C int) []domCapacity {
	var groups []domCapacity
	for _, sm := range s.st.models[m].sms {
		if int(s.c.smFree[sm]) < C || !s.siteOK(s.st.sm[sm].site) {
			continue
		}
		if w := s.siteCaps(sm, C); w > 0 {
			groups = append(groups, domCapacity{d: sm, w: w})
		}
	}
	slices.SortFunc(groups, func(a, b domCapacity) int { return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(a.d, b.d)) })
	return groups
}

// buildCrossSite places the gang over the largest groups of one model.
func (s *search) buildCrossSite(m int32, C int, out []model.Assignment) []model.Assignment {
	rem, first := s.job.Workers, 0
	for _, g := range s.groupCaps(m, C) {
		if rem == 0 {
			break
		}
		take := min(g.w, rem)
		out = s.buildSite(g.d, C, take, first, out)
		first += take
		rem -= take
	}
	return out
}
