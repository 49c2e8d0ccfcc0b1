package sched

import (
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched/frag"
)

// fragMeasure is the scheduler's fragmentation policy (frag.Measure: FGD's
// expected fragmentation plus stranded cards) for one task mix, cached on
// the cluster.
type fragMeasure struct {
	tasks []TaskShape
	gen   uint64 // the Config.TasksGen that names tasks (0: none)
	ours  bool   // Suanli's measure (stranding, look-ahead), else FGD's alone
	m     frag.Measure
	// host is true when the measure reads a node's free CPU, memory or
	// model, not only its cards.
	host bool
	// Per node: its fragmentation counts and fragmentation, valid while
	// ok (cleared when the node's cards or host use change).
	ok  []bool
	fc  []fragCounts
	cur []float64
	// whole holds per node the fragmentation component of taking k whole
	// cards with a host request, valid while ok (nodeCounts clears it).
	whole []wholeScores
	// share holds per node the fragmentation component of recent share
	// offers, valid while ok (nodeCounts clears it).
	share []shareScores
	drops map[int64]float64 // fillDrop's
}

// wholeScores caches wholeFragScore on one node: per count k of cards
// taken, the score for the host request cpu[k], mem[k].
type wholeScores struct {
	mask  uint32 // bit k: entry k is known
	score [frag.MaxGPUs + 1]int16
	cpu   [frag.MaxGPUs + 1]int64
	mem   [frag.MaxGPUs + 1]int64
}

// shareScores caches shareFragScore on one node: the last few (card free,
// share, host request) asked and their scores, replaced round robin.
type shareScores struct {
	n, next uint8
	e       [shareSlots]shareScore
}

const shareSlots = 4

type shareScore struct {
	free, share int32
	score       int64
	cpu, mem    int64
}

// noShareCache turns the share cache off, for the test that compares
// decisions with and without it.
var noShareCache bool

// measure returns the fragmentation measure for the config's task mix,
// Suanli's (ours) or FGD's alone; gen is the config's TasksGen.
func (c *Cluster) measure(tasks []TaskShape, gen uint64, ours bool) *fragMeasure {
	if fm := c.frag; fm != nil && fm.ours == ours {
		if gen != 0 && gen == fm.gen {
			return fm
		}
		if slices.EqualFunc(fm.tasks, tasks, TaskShape.equal) {
			fm.gen = gen
			return fm
		}
	}
	var list []frag.TypicalTask
	var total int64
	for _, t := range tasks {
		total += int64(max(t.PopularityMilli, 0))
	}
	host := false
	for _, t := range tasks {
		p := int64(max(t.PopularityMilli, 0))
		if p == 0 || total == 0 {
			continue
		}
		ft := c.fragTask(t)
		host = host || ft.CPUMilli > 0 || ft.MemMiB > 0 || ft.Models != 0
		list = append(list, frag.TypicalTask{Task: ft, Weight: float64(p) / float64(total), Count: int(p)})
	}
	m := frag.NewMeasureDropOnDemand(frag.NewDistributionOf(list, true), ours)
	n := len(c.st.nodes)
	fm := &fragMeasure{tasks: cloneShapes(tasks), gen: gen, ours: ours, m: m, host: host || m.StrandRho > 0}
	if old := c.frag; old != nil && len(old.ok) == n {
		// The per-node caches are read only where ok: clearing ok drops
		// them all, and their arrays serve the new mix (the old measure
		// is no longer used).
		clear(old.ok)
		fm.ok, fm.fc, fm.cur, fm.whole, fm.share = old.ok, old.fc, old.cur, old.whole, old.share
	} else {
		fm.ok, fm.fc, fm.cur, fm.whole = make([]bool, n), make([]fragCounts, n), make([]float64, n), make([]wholeScores, n)
		fm.share = make([]shareScores, n)
	}
	c.frag = fm
	return fm
}

// fragTask is a typical task as package frag sees it: models become bits
// of the cluster's model indexes (modelBit).
func (c *Cluster) fragTask(t TaskShape) frag.Task {
	ft := frag.Task{CPUMilli: max(t.CPUMilli, 0), MemMiB: max(t.HostMemMiB, 0)}
	switch {
	case t.Cards > 0:
		ft.NumGPU, ft.GPUMilli = int32(min(t.Cards, frag.MaxGPUs)), model.MilliCard
	case t.ShareMilli > 0:
		ft.NumGPU, ft.GPUMilli = 1, int32(min(t.ShareMilli, model.MilliCard))
	default:
		return ft // needs no card
	}
	for _, name := range t.Models {
		if m, ok := c.st.modelIdx[c.modelID(name)]; ok {
			ft.Models |= modelBit(m)
		} else {
			ft.Models |= frag.UnknownModel
		}
	}
	return ft
}

// modelBit is model m's bit in a frag.ModelSet; models past the 62nd
// share the last bit.
func modelBit(m int32) frag.ModelSet { return 1 << min(m, 62) }

// host is node n's free host, as frag.Node reads it, after taking cpu and
// mem more.
func (s *search) host(n int32, cpu, mem int64) frag.Node {
	return frag.Node{CPUFree: s.c.cpuFree[n] - cpu, MemFree: s.c.memFree[n] - mem, Model: modelBit(s.st.nodes[n].model)}
}

// nodeFrag is a node's fragmentation in thousandths of a card after taking
// `whole` free whole cards and, if card ≥ 0, `share` from that card, and
// cpu and mem of its host.
func (s *search) nodeFrag(n int32, whole int, card int32, share int, cpu, mem int64) float64 {
	ni := &s.st.nodes[n]
	if ni.cards > frag.MaxGPUs {
		return float64(s.bigNodeFrag(n, whole, card, share))
	}
	fn := s.host(n, cpu, mem)
	fn.GPUs = int(ni.cards)
	for k := int32(0); k < ni.cards; k++ {
		g := ni.cardOff + k
		free := s.cardFree(g)
		if k == card {
			free -= int32(share)
		} else if whole > 0 && free == model.MilliCard && s.c.usedMiB[g] == 0 {
			free = 0
			whole--
		}
		fn.Free[k] = free
	}
	return s.meas.m.Frag(&fn)
}

// fragShares bounds the distinct per-card shares of a task mix that the
// counts form of the measure handles; larger mixes use nodeFrag.
const fragShares = 16

// fragCounts is a node's free capacity as the fragmentation measure sees
// it (frag.Distribution.FragOfCounts): the idle total and, per share of
// the task mix, the cards with at least that share free and the free
// capacity of the others. Taking capacity from one card changes it in
// O(shares), so scoring a candidate card does not rescan the node.
type fragCounts struct {
	idle       int64
	fit, below [fragShares]int64
	left       int64 // the look-ahead's expected unused capacity (frag.Measure.CardLeft)
}

// add counts (sign +1) or uncounts (sign -1) a card with `free` thousandths
// free, for the search's measure.
func (fc *fragCounts) add(s *search, free int32, sign int64) {
	fc.idle += sign * int64(free)
	fc.left += sign * s.meas.m.CardLeft(free)
	for i, m := range s.shares {
		if free >= m {
			fc.fit[i] += sign
		} else {
			fc.below[i] += sign * int64(free)
		}
	}
}

// cardFree is card g's free capacity as nodeFrag counts it: memory held
// without a share leaves nothing usable.
func (s *search) cardFree(g int32) int32 {
	if s.c.usedMiB[g] > 0 && s.c.usedMilli[g] == 0 {
		return 0
	}
	return int32(model.MilliCard) - int32(s.c.usedMilli[g])
}

// nodeCounts returns node n's fragmentation counts and its fragmentation
// (what nodeFrag(n, 0, -1, 0, 0, 0) returns), kept on the cluster until
// the node changes. ok is false for nodes and task mixes the counts do not
// cover; the caller uses nodeFrag then.
func (s *search) nodeCounts(n int32) (fc *fragCounts, cur float64, ok bool) {
	ni := &s.st.nodes[n]
	if ni.cards > frag.MaxGPUs || len(s.shares) > fragShares {
		return nil, 0, false
	}
	fm := s.meas
	if !fm.ok[n] {
		fc := &fm.fc[n]
		*fc = fragCounts{}
		for g := ni.cardOff; g < ni.cardOff+ni.cards; g++ {
			fc.add(s, s.cardFree(g), +1)
		}
		fm.cur[n], fm.ok[n] = s.fragOf(n, fc, 0, 0), true
		fm.whole[n].mask = 0
		fm.share[n].n, fm.share[n].next = 0, 0
	}
	return &fm.fc[n], fm.cur[n], true
}

// fragOf is the fragmentation of node n with these counts, after taking
// cpu and mem of its host.
func (s *search) fragOf(n int32, fc *fragCounts, cpu, mem int64) float64 {
	k := len(s.shares)
	h := s.host(n, cpu, mem)
	return s.meas.m.FragOfCounts(&h, fc.idle, fc.fit[:k], fc.below[:k], fc.left)
}

// shareFragScore is the fragmentation component of taking share from a
// card of node n with free thousandths free, with a host request; fc and
// before are the node's counts and fragmentation (nodeCounts). Kept on the
// cluster while the node is unchanged: the nodes a bucket scan visits
// first are offered to every fractional decision.
func (s *search) shareFragScore(n int32, fc *fragCounts, before float64, free int32, share int, cpu, mem int64) int64 {
	sh := &s.meas.share[n]
	if noShareCache {
		sh.n = 0
	}
	for i := range sh.n {
		if x := &sh.e[i]; x.free == free && x.share == int32(share) && x.cpu == cpu && x.mem == mem {
			return x.score
		}
	}
	after := *fc
	after.add(s, free, -1)
	after.add(s, free-int32(share), +1)
	d := fragScore(before, s.fragOf(n, &after, cpu, mem))
	sh.e[sh.next] = shareScore{free: free, share: int32(share), score: d, cpu: cpu, mem: mem}
	sh.next = (sh.next + 1) % shareSlots
	if sh.n < shareSlots {
		sh.n++
	}
	return d
}

// fragScore is the fragmentation component, 0..1000: the policy's score
// (frag.Score) of a change of fragmentation from before to after, times 10.
func fragScore(before, after float64) int64 {
	return 10 * frag.Score(before, after)
}

// fragBound is the most fragScore can give a placement that takes `taken`
// thousandths of cards and cpu milli-cores of host CPU: FGD's measure
// falls by at most what is taken; the stranded capacity, max(0, idle −
// CPUFree/ρ), by at most taken − cpu/ρ (nothing when the placement brings
// the CPU its cards need); the look-ahead by at most its table's largest
// drop for what is taken (frag.Measure.FillDrop).
func (s *search) fragBound(taken, cpu int64) int64 {
	if !s.cfg.FragPolicy.measured() {
		return 1000 // bestfit and random: no bound below the component's range
	}
	drop := float64(taken)
	if rho := s.meas.m.StrandRho; rho > 0 {
		drop += max(0, float64(taken)-float64(cpu)/rho)
	}
	drop += s.meas.fillDrop(taken)
	return fragScore(drop+1, 0)
}

// fillDrop is the measure's FillDrop, remembered per amount taken (the
// measure works each out on demand).
func (fm *fragMeasure) fillDrop(taken int64) float64 {
	if v, ok := fm.drops[taken]; ok {
		return v
	}
	v := fm.m.FillDrop(taken)
	if fm.drops == nil {
		fm.drops = map[int64]float64{}
	}
	if len(fm.drops) < 1024 { // amounts come from jobs: bound what is kept
		fm.drops[taken] = v
	}
	return v
}

// bigNodeFrag is FGD's measure (cards only: no host, no stranding) for
// nodes with more cards than package frag models, computed here in
// integers.
func (s *search) bigNodeFrag(n int32, whole int, card int32, share int) int64 {
	ni := &s.st.nodes[n]
	var idle, pop int64
	wholeFree := 0
	frees := make([]int64, 0, ni.cards)
	for k := int32(0); k < ni.cards; k++ {
		g := ni.cardOff + k
		free := int64(model.MilliCard) - int64(s.c.usedMilli[g])
		if k == card {
			free -= int64(share)
		} else if whole > 0 && free == model.MilliCard && s.c.usedMiB[g] == 0 {
			free = 0
			whole--
		}
		if free == model.MilliCard {
			wholeFree++
		}
		frees = append(frees, free)
		idle += free
	}
	var sum int64
	for _, t := range s.cfg.TypicalTasks {
		p := int64(max(t.PopularityMilli, 0))
		pop += p
		need, cards := int64(model.MilliCard), t.Cards
		if t.Cards == 0 {
			need, cards = int64(t.ShareMilli), 1
		}
		if t.Cards == 0 && t.ShareMilli <= 0 { // needs no card: all idle capacity is fragment
			sum += p * idle
			continue
		}
		var fit int
		var below int64
		for _, f := range frees {
			if f >= need {
				fit++
			} else {
				below += f
			}
		}
		if fit < cards {
			sum += p * idle
		} else {
			sum += p * below
		}
	}
	if pop == 0 {
		return 0
	}
	return sum / pop
}

func clamp(x, lo, hi int64) int64 { return min(max(x, lo), hi) }

// costScore is 1000 for the cheapest site, 0 for the dearest (1000 when
// all sites cost the same).
func (s *search) costScore(site int32) int64 { return s.st.sites[site].costScore }

// costScore computes siteInfo.costScore.
func (st *static) costScore(site int32) int64 {
	span := st.maxCost - st.minCost
	if span <= 0 {
		return 1000
	}
	return (st.maxCost - st.sites[site].cost) * 1000 / span
}

// hetScore is 1000 for the model on which the job's throughput per unit of
// scarce capacity is highest: per-card GFLOPS times the model's free
// fraction, relative to the best eligible model.
func (s *search) hetScore(m int32) int64 {
	if s.maxValue == 0 {
		return 1000
	}
	return s.modValue[m] * 1000 / s.maxValue
}

// total weighs the components.
func (s *search) total(sc *Score) {
	sc.Total = s.weigh(sc.Frag, sc.Topology, sc.Heterogeneity, sc.Cost, sc.Place)
}

// weigh is the weighted total of components given one by one.
func (s *search) weigh(fragm, topo, het, cost, place int64) int64 {
	w := &s.cfg.Weights
	return w.Frag*fragm + w.Topology*topo + w.Heterogeneity*het + w.Cost*cost + w.Place*place
}

// offer keeps a candidate if it is among the best 1+Alternatives; it
// sets the candidate's total and tie-break.
func (s *search) offer(cd *cand) {
	s.total(&cd.score)
	cd.tie = uint64(cd.where)
	if s.in.Seed != 0 {
		cd.tie = mix(s.in.Seed ^ uint64(cd.where)<<20 ^ uint64(cd.card))
	}
	keep := 1 + s.cfg.Alternatives
	i := len(s.top)
	for i > 0 && better(cd, &s.top[i-1]) {
		i--
	}
	if i >= keep {
		return
	}
	if len(s.top) < keep {
		s.top = append(s.top, cand{})
	}
	copy(s.top[i+1:], s.top[i:len(s.top)-1])
	s.top[i] = *cd
}

// noPruning turns outranked off, for tests that compare decisions with
// and without it.
var noPruning bool

// outranked reports whether a candidate scored sc, whose fragmentation
// component can be at most fragMax, cannot be among the candidates offer
// keeps, whatever its fragmentation: then that need not be measured. The
// candidates it skips are exactly some of those offer would drop.
func (s *search) outranked(sc *Score, fragMax int64) bool {
	return s.pruning() && s.weigh(fragMax, sc.Topology, sc.Heterogeneity, sc.Cost, sc.Place) < s.top[len(s.top)-1].score.Total
}

// pruning reports whether outranked may skip candidates: offer keeps as
// many as it can and the fragmentation weight is not negative.
func (s *search) pruning() bool {
	return len(s.top) >= 1+s.cfg.Alternatives && s.cfg.Weights.Frag >= 0 && !noPruning
}

// laterOutranked reports whether no candidate on node n or any later node
// of a bucket scan of model m can be kept: topo and het are the most the
// node's candidates can score for topology and heterogeneity, laterBound
// the most for cost and place, fragMax the most for fragmentation. Later
// nodes lie in sites that cost no less, so with no negative weight their
// bound is no higher. The components are summed as they are, without a
// Score: every node a scan visits asks.
func (s *search) laterOutranked(topo, het int64, m, n int32, fragMax int64) bool {
	w := &s.cfg.Weights
	if w.Topology < 0 || w.Cost < 0 || w.Place < 0 || !s.pruning() {
		return false
	}
	cost, place := s.laterBound(m, n)
	return s.weigh(fragMax, topo, het, cost, place) < s.top[len(s.top)-1].score.Total
}

func better(a, b *cand) bool {
	if a.score.Total != b.score.Total {
		return a.score.Total > b.score.Total
	}
	if a.tie != b.tie {
		return a.tie < b.tie
	}
	if a.model != b.model {
		return a.model < b.model
	}
	return a.card < b.card
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// notePartial records the candidate that came closest to holding the job.
func (s *search) notePartial(scope Scope, where, m int32, have, need int) {
	if have >= need || have <= 0 {
		return
	}
	b := &s.best
	if b.ok && need-have >= b.need-b.have {
		return
	}
	*b = partial{ok: true, scope: scope, where: where, model: m, have: have, need: need}
}
