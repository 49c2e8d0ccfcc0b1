package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/suanli/suanli/internal/model"
)

// search is the working state of one decision. A Cluster keeps one and
// reuses it, so that a decision allocates little.
type search struct {
	c   *Cluster
	st  *static
	job *model.Job
	in  *Input
	// input is newSearch's copy of the caller's input, which in points
	// to: the caller's stays off the heap.
	input Input
	cfg   Config

	// Per model: the reason it is out (empty when eligible), a detail, and
	// the whole cards per worker it would take.
	modReason []Reason
	perWorker []int
	modValue  []int64 // heterogeneity value (GFLOPS × free fraction, or the job's rate)
	maxValue  int64
	eligible  []int32 // eligible models, in id order

	// Per class: 0 not asked yet, 1 allowed, 2 residency, 3 policy.
	classVerdict []uint8
	classRule    []string
	siteVerdict  []uint8 // 0 not asked, 1 in residency, 2 out

	meas   *fragMeasure
	shares []int32 // meas.m.Dist.Shares()
	// jobHash is the job's id hashed, for FragRandom.
	jobHash uint64

	top []cand // best candidates, best first
	// first is placeReplicas' scratch: the first replica's candidates.
	first []cand
	best  partial
	// cache of fragmentation changes on nodes without partly used cards,
	// keyed by (cards, free, taken); valid when gen matches.
	fragGen  []uint32
	fragVal  []int64
	gen      uint32
	tempUsed []model.Assignment // assignments applied during the decision
	tempAt   []int32            // their nodes' indexes
	reps     []model.Assignment // placed replicas; a gang being built
	caps     []domCapacity
	// scratch of sortCaps
	capCount  []int
	capSorted []domCapacity
	mixedPer  []int
	// mixedByRate: a mixed gang's work shares follow the job's rates
	// (they cover every model it may use), not peak FLOPS.
	mixedByRate bool
	// needsMixed: only a mixed-model gang would fit.
	needsMixed bool
	// brief: a failure's explanation only counts (Brief).
	brief bool
	// named and modRate: filterModels' per-model scratch.
	named   []bool
	modRate []float64
	// tallyBuf is explain's tally, kept across searches.
	tallyBuf *tally
	// pens is initPlace's cache, kept with the search on the cluster.
	pens penCache
	// hostShort holds the nodes passed over for want of host CPU (1) or
	// memory (2); nil until one is.
	hostShort map[int32]uint8
	pl        placeJob
}

// partial is the best partial candidate, by index.
type partial struct {
	ok         bool
	scope      Scope
	where      int32
	model      int32
	have, need int
}

// cand is one scored candidate placement.
type cand struct {
	scope   Scope
	where   int32 // node, domain, (site, model) group, or site index
	model   int32 // -1 for mixed
	card    int32 // card index on the node for a share
	cards   int
	score   Score
	tie     uint64
	workers int // workers it holds (for scopes above a node)
}

func (c *Cluster) newSearch(job *model.Job, in *Input, cfg Config) *search {
	s := c.scratch
	if s == nil {
		s = &search{c: c, st: c.st}
		c.scratch = s
	}
	nm, nc := len(c.st.models), len(c.st.classes)
	prev := s.pl
	*s = search{
		c: c, st: c.st, job: job, input: *in, cfg: cfg,
		modReason:    resize(s.modReason, nm),
		perWorker:    resize(s.perWorker, nm),
		modValue:     resize(s.modValue, nm),
		eligible:     s.eligible[:0],
		classVerdict: resize(s.classVerdict, nc),
		classRule:    resize(s.classRule, nc),
		siteVerdict:  resize(s.siteVerdict, len(c.st.sites)),
		top:          s.top[:0],
		first:        s.first[:0],
		fragGen:      s.fragGen,
		fragVal:      s.fragVal,
		gen:          s.gen + 1,
		tempUsed:     s.tempUsed[:0],
		tempAt:       s.tempAt[:0],
		reps:         s.reps[:0],
		caps:         s.caps[:0],
		capCount:     s.capCount,
		capSorted:    s.capSorted,
		mixedPer:     s.mixedPer,
		pens:         s.pens,
		tallyBuf:     s.tallyBuf,
		named:        s.named,
		modRate:      s.modRate,
	}
	s.in = &s.input
	if s.fragGen == nil {
		s.fragGen = make([]uint32, fragKeys)
		s.fragVal = make([]int64, fragKeys)
	}
	s.initPlace(prev)
	s.meas = c.measure(cfg.TypicalTasks, cfg.TasksGen, cfg.FragPolicy != FragFGD)
	s.shares = s.meas.m.Dist.Shares()
	if cfg.FragPolicy == FragRandom {
		s.jobHash = jobKey(job.ID)
	}
	return s
}

// rateScale is the heterogeneity value of the model where a job with a
// throughput table runs fastest.
const rateScale = 1_000_000_000

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// filterModels decides, per model, whether the job can use it at all and
// how many whole cards one worker takes on it.
func (s *search) filterModels() {
	job := s.job
	named := s.namedModels(s.c.modelID)
	var rates []float64 // per model: the job's rate there (0: none given)
	var maxRate float64
	if len(job.Rates) > 0 {
		rates = resize(s.modRate, len(s.st.models))
		s.modRate = rates
		for name, r := range job.Rates {
			if m, ok := s.st.modelIdx[s.c.modelID(name)]; ok {
				rates[m] = r
			}
			maxRate = max(maxRate, r)
		}
	}
	eff := int64(job.EfficiencyMilli)
	if eff == 0 {
		eff = int64(s.cfg.DefaultEfficiencyMilli)
	}
	for m := range s.st.models {
		mi := &s.st.models[m]
		reason := s.modelReason(m, named)
		if reason == "" {
			switch {
			case job.Fractional():
				s.perWorker[m] = 0
			case job.ComputeGFLOPS > 0:
				total := mulDivCeil(uint64(job.ComputeGFLOPS), 1000, uint64(mi.gflops)*uint64(eff))
				s.perWorker[m] = int(min(ceilDiv(total, uint64(job.Workers)), 1<<30))
			default:
				s.perWorker[m] = job.CardsPerWorker
			}
			reason = s.capReason(mi, s.perWorker[m])
		}
		s.modReason[m] = reason
		if reason == "" {
			s.eligible = append(s.eligible, int32(m))
			switch {
			case rates != nil:
				// Measured throughput: the model where the job runs
				// fastest ranks first, whatever else is free.
				s.modValue[m] = int64(rates[m] / maxRate * rateScale)
			case mi.cards > 0:
				s.modValue[m] = mi.gflops * int64(s.c.modFree[m]) / int64(mi.cards)
			}
			s.maxValue = max(s.maxValue, s.modValue[m])
		}
	}
}

// namedModels marks, per model, whether the job names it (its names
// resolved to catalog ids by id); nil when it names none (any model).
func (s *search) namedModels(id func(name string) string) []bool {
	if len(s.job.Models) == 0 {
		return nil
	}
	named := resize(s.named, len(s.st.models))
	s.named = named
	for _, name := range s.job.Models {
		if m, ok := s.st.modelIdx[id(name)]; ok {
			named[m] = true
		}
	}
	return named
}

// modelReason is why the job cannot use model m at all ("" when it can);
// modelDetail says more for the explanation.
func (s *search) modelReason(m int, named []bool) Reason {
	job, mi := s.job, &s.st.models[m]
	if named != nil && !named[m] {
		return ModelExcluded
	}
	if job.ComputeGFLOPS > 0 && (!mi.known || mi.gflops <= 0) {
		return UnknownThroughput
	}
	stack, pt := mi.stacks()
	if !fieldMatches(job.Stacks, stack) {
		return StackIncompatible
	}
	if !fieldMatches(job.PyTorch, pt) {
		return PyTorchIncompatible
	}
	if need := s.memNeed(); need > 0 && mi.memMiB < need {
		return MemoryTooSmall
	}
	return ""
}

func (mi *modelInfo) stacks() (stack, pytorch string) {
	if mi.m == nil {
		return "", ""
	}
	return mi.m.Stack, mi.m.PyTorch
}

// memNeed is the card memory the job needs.
func (s *search) memNeed() int64 {
	need := s.job.MinMemMiB
	if s.job.Fractional() {
		need = max(need, s.job.MemMiB)
	}
	return need
}

// detail describes why model m is out, for the explanation; it is built
// only when a decision is explained, from the same state as the reason.
func (s *search) detail(m int32) string {
	mi := &s.st.models[m]
	stack, pt := mi.stacks()
	switch s.modReason[m] {
	case UnknownThroughput:
		return fmt.Sprintf("%s has no FP16 figure, so a compute request cannot be sized on it", mi.id)
	case StackIncompatible:
		return fmt.Sprintf("%s runs %q", mi.id, stack)
	case PyTorchIncompatible:
		return fmt.Sprintf("%s offers %q", mi.id, pt)
	case MemoryTooSmall:
		if mi.memMiB == 0 {
			return fmt.Sprintf("%s card memory is unknown; %d MiB needed", mi.id, s.memNeed())
		}
		return fmt.Sprintf("%s has %d MiB per card, %d MiB needed", mi.id, mi.memMiB, s.memNeed())
	case CardsTooFew:
		return fmt.Sprintf("%s nodes have at most %d cards; one %s needs %d", mi.id, mi.maxCards, workerWord(s.nodeScoped()), s.workerCards(m))
	case CPUTooFew:
		return fmt.Sprintf("%s nodes have at most %s of host CPU; one %s asks for %s", mi.id, coresText(mi.maxCPU), workerWord(s.nodeScoped()), coresText(s.hostUnit(s.job.CPUMilli)))
	case HostMemoryTooSmall:
		return fmt.Sprintf("%s nodes have at most %d MiB of host memory; one %s asks for %d MiB", mi.id, mi.maxMem, workerWord(s.nodeScoped()), s.hostUnit(s.job.HostMemMiB))
	case QuotaExceeded:
		t := s.in.Tenant
		if f, ok := s.in.EffectiveMilli[mi.id]; ok {
			return fmt.Sprintf("on %s the job holds %d effective GFLOPS (%d‰ of its peak, by its throughput there against the reference model's); tenant %s holds %d of its %d",
				mi.id, s.quotaGFLOPS(mi, s.perWorker[m]), f, t.ID, s.in.HeldGFLOPS, t.QuotaGFLOPS)
		}
		return fmt.Sprintf("on %s the job holds %d GFLOPS; tenant %s holds %d of its %d", mi.id, s.modelGFLOPS(mi, s.perWorker[m]), t.ID, s.in.HeldGFLOPS, t.QuotaGFLOPS)
	case VendorCapExceeded:
		t := s.in.Tenant
		cards := s.job.Workers * max(s.perWorker[m], 1)
		return fmt.Sprintf("%s cards: tenant %s holds %d of its cap %d, the job needs %d", mi.vendor, t.ID, s.in.HeldCards[mi.vendor], t.VendorCaps[mi.vendor], cards)
	}
	return ""
}

// capReason checks the worker size against the model's nodes and the
// tenant's quota and vendor cap.
func (s *search) capReason(mi *modelInfo, perWorker int) Reason {
	job := s.job
	nodeScoped := s.nodeScoped()
	need := perWorker
	if nodeScoped {
		need = perWorker * job.Workers
	}
	if need > mi.maxCards {
		return CardsTooFew
	}
	if t := s.in.Tenant; t != nil {
		g := s.quotaGFLOPS(mi, perWorker)
		if t.QuotaGFLOPS > 0 && s.in.HeldGFLOPS+g > t.QuotaGFLOPS {
			return QuotaExceeded
		}
		if lim, ok := t.VendorCaps[mi.vendor]; ok {
			cards := job.Workers * max(perWorker, 1)
			if s.in.HeldCards[mi.vendor]+cards > lim {
				return VendorCapExceeded
			}
		}
	}
	return ""
}

func workerWord(node bool) string {
	if node {
		return "node-scoped task"
	}
	return "worker"
}

// modelGFLOPS is what the job holds on a model with perWorker cards each.
func (s *search) modelGFLOPS(mi *modelInfo, perWorker int) int64 {
	if s.job.Fractional() {
		return mi.gflops * int64(s.job.ShareMilli) / model.MilliCard * int64(s.job.Workers)
	}
	return mi.gflops * int64(perWorker) * int64(s.job.Workers)
}

// quotaGFLOPS is what the job would be charged on a model toward its
// tenant's quota: modelGFLOPS, scaled by Input.EffectiveMilli where given.
func (s *search) quotaGFLOPS(mi *modelInfo, perWorker int) int64 {
	g := s.modelGFLOPS(mi, perWorker)
	if f, ok := s.in.EffectiveMilli[mi.id]; ok {
		g = g * f / 1000
	}
	return g
}

// siteOK applies the residency rules to a site.
func (s *search) siteOK(site int32) bool {
	switch s.siteVerdict[site] {
	case 1:
		return true
	case 2:
		return false
	}
	ok := residencyOK(s.job, s.st.sites[site].s)
	s.siteVerdict[site] = 2
	if ok {
		s.siteVerdict[site] = 1
	}
	return ok
}

func residencyOK(job *model.Job, site *model.Site) bool {
	if len(job.Sites) > 0 && !slices.Contains(job.Sites, site.ID) {
		return false
	}
	if len(job.Regions) > 0 && !slices.Contains(job.Regions, site.Region) {
		return false
	}
	return true
}

// classOK applies residency and the policy hook to a class of nodes,
// asking the policy once per class and decision.
func (s *search) classOK(class int32) bool {
	switch s.classVerdict[class] {
	case 1:
		return true
	case 2, 3:
		return false
	}
	ci := &s.st.classes[class]
	v := uint8(1)
	if !s.siteOK(ci.site) {
		v = 2
	} else if s.in.Policy != nil {
		n := s.st.nodes[ci.node].n
		if ok, rule := s.in.Policy.Allow(s.job, s.st.sites[ci.site].s, n, s.st.models[ci.model].m); !ok {
			v = 3
			s.classRule[class] = rule
		}
	}
	s.classVerdict[class] = v
	return v == 1
}

// nodeOK is every static filter for one node of an eligible model.
func (s *search) nodeOK(n int32) bool {
	return s.c.healthy[n] && s.classOK(s.st.nodes[n].class)
}

// fieldMatches reports whether a model's stack (or PyTorch) description
// matches one of the job's accepted values: the value equals the
// description, or appears as a whole word in its head (the text before any
// parenthesis), ignoring case. An empty list accepts anything.
func fieldMatches(accept []string, field string) bool {
	if len(accept) == 0 {
		return true
	}
	f := strings.ToLower(strings.TrimSpace(field))
	head := f
	if i := strings.IndexByte(head, '('); i >= 0 {
		head = strings.TrimSpace(head[:i])
	}
	for _, a := range accept {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		if a == f || a == head || containsWord(head, a) {
			return true
		}
	}
	return false
}

func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !wordByte(s[j-1])
		after := j+len(w) == len(s) || !wordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func wordByte(b byte) bool {
	return b == '_' || b == '-' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

func ceilDiv(a, b uint64) uint64 {
	if b == 0 {
		return 1 << 62
	}
	return (a + b - 1) / b
}

// mulDivCeil is ⌈a×b÷c⌉ without overflow (saturating at 2^62).
func mulDivCeil(a, b, c uint64) uint64 {
	if c == 0 {
		return 1 << 62
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 1 << 62
	}
	q, r := bits.Div64(hi, lo, c)
	if r != 0 {
		q++
	}
	return min(q, 1<<62)
}

// hostUnit is a per-worker host request for the job's smallest unit: one
// worker, or all of them for a node-scoped job.
func (s *search) hostUnit(perWorker int64) int64 {
	if s.nodeScoped() {
		return perWorker * int64(s.job.Workers)
	}
	return perWorker
}

// hostReason is CPUTooFew or HostMemoryTooSmall when no node of the model
// has the host CPU or memory for one unit of the job, even empty.
func (s *search) hostReason(mi *modelInfo) Reason {
	switch {
	case s.hostUnit(s.job.CPUMilli) > mi.maxCPU:
		return CPUTooFew
	case s.hostUnit(s.job.HostMemMiB) > mi.maxMem:
		return HostMemoryTooSmall
	}
	return ""
}

// coresText writes thousandths of a core as cores.
func coresText(milli int64) string {
	if milli%1000 == 0 {
		return fmt.Sprintf("%d cores", milli/1000)
	}
	return fmt.Sprintf("%.3f cores", float64(milli)/1000)
}
