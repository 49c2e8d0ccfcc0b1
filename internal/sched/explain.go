package sched

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/suanli/suanli/internal/model"
)

// reasonOrder is the filter pipeline: a node is counted under the first
// reason that removes it.
var reasonOrder = []Reason{
	ModelExcluded, UnknownThroughput, StackIncompatible, PyTorchIncompatible, MemoryTooSmall,
	CardsTooFew, QuotaExceeded, VendorCapExceeded, Residency, PolicyDenied, NodeUnhealthy,
	InsufficientCards, TopologyUnsatisfiable,
}

// tally counts the nodes (and their cards) removed per reason, in the
// order of reasonOrder, with up to three distinct details per reason in
// the order met, and what the usable nodes could hold.
type tally struct {
	counts                                  []Rejection
	details                                 [][]string
	usableNodes, usableWorkers, usableCards int
	byModel                                 []int // workers per model
}

func newTally(models int) *tally {
	return &tally{counts: make([]Rejection, len(reasonOrder)), details: make([][]string, len(reasonOrder)), byModel: make([]int, models)}
}

// tally is the search's tally, emptied: one a search, reused across
// searches (what explain keeps of it is copied out).
func (s *search) tally() *tally {
	t := s.tallyBuf
	if t == nil || len(t.byModel) != len(s.st.models) {
		t = newTally(len(s.st.models))
		s.tallyBuf = t
		return t
	}
	clear(t.counts)
	for i := range t.details {
		t.details[i] = t.details[i][:0]
	}
	clear(t.byModel)
	t.usableNodes, t.usableWorkers, t.usableCards = 0, 0, 0
	return t
}

func (t *tally) idx(r Reason) int { return reasonIndex(r) }

// reasonIndex is r's place in reasonOrder (-1: not a node's reason), as
// slices.Index gives it, without comparing r with every reason before it.
func reasonIndex(r Reason) int {
	switch r {
	case ModelExcluded:
		return 0
	case UnknownThroughput:
		return 1
	case StackIncompatible:
		return 2
	case PyTorchIncompatible:
		return 3
	case MemoryTooSmall:
		return 4
	case CardsTooFew:
		return 5
	case QuotaExceeded:
		return 6
	case VendorCapExceeded:
		return 7
	case Residency:
		return 8
	case PolicyDenied:
		return 9
	case NodeUnhealthy:
		return 10
	case InsufficientCards:
		return 11
	case TopologyUnsatisfiable:
		return 12
	}
	return -1
}

func (t *tally) addDetail(i int, d string) {
	if d != "" && len(t.details[i]) < 3 && !slices.Contains(t.details[i], d) {
		t.details[i] = append(t.details[i], d)
	}
}

func (t *tally) add(r Reason, nodes, cards int, detail string) {
	i := t.idx(r)
	t.counts[i].Count += nodes
	t.counts[i].Cards += cards
	t.addDetail(i, detail)
}

// hist counts the healthy nodes of model m in a free-count histogram h,
// each of perNode cards: usable when they hold a unit of C cards.
func (s *search) hist(t *tally, h []int32, m int32, C, perNode int) {
	for f, x := range h {
		if x == 0 {
			continue
		}
		if f >= C {
			t.usableNodes += int(x)
			t.usableWorkers += int(x) * s.workersFor(f, C)
			t.usableCards += int(x) * f
			t.byModel[m] += int(x) * s.workersFor(f, C)
		} else {
			t.add(InsufficientCards, int(x), int(x)*perNode, "")
		}
	}
}

// node counts one node of a usable domain.
func (s *search) node(t *tally, n int32) {
	ni := &s.st.nodes[n]
	switch {
	case !s.classOK(ni.class):
		t.add(PolicyDenied, 1, int(ni.cards), s.classRule[ni.class])
	case !s.c.healthy[n]:
		t.add(NodeUnhealthy, 1, int(ni.cards), "")
	default:
		if w := s.workersOn(n); w > 0 {
			t.usableNodes++
			t.usableWorkers += w
			t.usableCards += int(s.c.free[n])
			t.byModel[ni.model] += w
		} else {
			t.add(InsufficientCards, 1, int(ni.cards), "")
		}
	}
}

// modDetails is the detail of each model's reason (none in brief).
func (s *search) modDetails() []string {
	d := make([]string, len(s.st.models))
	if s.brief {
		return d
	}
	for m := range s.st.models {
		d[m] = s.detail(int32(m))
	}
	return d
}

// tallyNodes attributes every node to the first reason that removes it.
// Runs of domains share a model, a site and a class, so most are
// attributed at once, and a (site, model) group of alike nodes by its
// histogram of healthy nodes (the others are unhealthy) at once; only the
// nodes of other usable domains are looked at one by one, and only when
// the domain's histogram does not suffice. It gives what attributing
// domain by domain (explain_test.go) gives; in brief, without the details.
func (s *search) tallyNodes() *tally {
	t := s.tally()
	modDetail := s.modDetails()
	stride := s.st.maxCards + 1
	fromHist := !s.job.Fractional()
	smDone := make([]bool, len(s.st.sm))
	for ri := range s.st.runs {
		run := &s.st.runs[ri]
		if r := s.modReason[run.model]; r != "" {
			t.add(r, run.nodes, run.cards, modDetail[run.model])
			continue
		}
		if !s.siteOK(run.site) {
			detail := ""
			if !s.brief {
				site := s.st.sites[run.site].s
				detail = fmt.Sprintf("%s (%s)", site.ID, site.Region)
			}
			t.add(Residency, run.nodes, run.cards, detail)
			continue
		}
		if run.class >= 0 && !s.classOK(run.class) {
			t.add(PolicyDenied, run.nodes, run.cards, s.classRule[run.class])
			continue
		}
		C := s.workerCards(run.model)
		if smi := &s.st.sm[run.sm]; fromHist && C > 0 && smi.perNode > 0 {
			// Its nodes are alike and of one class: the histogram of
			// its healthy nodes explains them, the rest are unhealthy.
			if !smDone[run.sm] {
				smDone[run.sm] = true
				h := s.c.smHist[int(run.sm)*stride : int(run.sm+1)*stride]
				if down := smi.nodes - sum(h); down > 0 {
					t.add(NodeUnhealthy, down, down*smi.perNode, "")
				}
				s.hist(t, h, run.model, C, smi.perNode)
			}
			continue
		}
		for d := run.lo; d < run.hi; d++ {
			dom := &s.st.domains[d]
			nodes := int(dom.hi - dom.lo)
			if h := s.c.domHist[int(d)*stride : int(d+1)*stride]; dom.uniform && sum(h) == nodes && fromHist && C > 0 {
				s.hist(t, h, dom.model, C, dom.cards/max(nodes, 1))
				continue
			}
			for n := dom.lo; n < dom.hi; n++ {
				s.node(t, n)
			}
		}
	}
	return t
}

// explain builds the explanation of an unplaced job: every node is
// attributed to the first reason that removes it. In brief it counts them
// only: no details, best partial candidate, unblock hints or summary.
func (s *search) explain() Explanation {
	t := s.tallyNodes()
	counts, details, byModel := t.counts, t.details, t.byModel
	usableNodes, usableWorkers, usableCards := t.usableNodes, t.usableWorkers, t.usableCards
	add, addDetail, idx := t.add, t.addDetail, t.idx
	need := s.job.Workers
	if usableNodes > 0 {
		if usableWorkers < need {
			// Together the usable nodes are too few: they count as short too.
			detail := ""
			if !s.brief {
				detail = fmt.Sprintf("%d usable nodes hold %d of the %d workers", usableNodes, usableWorkers, need)
			}
			add(InsufficientCards, usableNodes, usableCards, detail)
		} else if s.job.Kind == model.Gang && !s.job.Mixed && !s.scopeBelowSite() && slices.Max(byModel) < need {
			detail := ""
			if !s.brief {
				detail = fmt.Sprintf("no single model holds all %d workers (at most %d); allow mixed models", need, slices.Max(byModel))
			}
			add(InsufficientCards, usableNodes, usableCards, detail)
			s.needsMixed = true
		} else {
			i := idx(TopologyUnsatisfiable)
			counts[i].Count = usableNodes
			counts[i].Cards = usableCards
			if !s.brief {
				addDetail(i, s.topologyDetail(usableNodes, usableWorkers))
			}
		}
	}
	e := Explanation{}
	for i, r := range reasonOrder {
		if counts[i].Count == 0 {
			continue
		}
		counts[i].Reason = r
		counts[i].Unit = UnitNodes
		switch {
		case s.brief:
		case r == TopologyUnsatisfiable:
			counts[i].Detail = details[i][0]
		default:
			counts[i].Detail = strings.Join(details[i], "; ")
		}
		e.Rejections = append(e.Rejections, counts[i])
	}
	for _, m := range s.eligible {
		e.Waits = append(e.Waits, s.st.models[m].id)
	}
	if s.brief {
		return e
	}
	if b := s.best; b.ok {
		e.Best = &Partial{Scope: b.scope, Where: s.whereName(b.scope, b.where, b.model), Model: s.st.models[b.model].id, FreeCards: b.have, NeedCards: b.need}
	}
	e.Unblock = s.unblock(&e)
	e.Summary = s.summary(&e)
	return e
}

// workersOn is how many of the job's workers (or replicas, or shares) node
// n could hold now, ignoring scope.
func (s *search) workersOn(n int32) int {
	ni := &s.st.nodes[n]
	if s.job.Fractional() {
		mem := s.st.models[ni.model].memMiB
		w := 0
		for k := ni.cardOff; k < ni.cardOff+ni.cards; k++ {
			if int(s.c.usedMilli[k])+s.job.ShareMilli <= model.MilliCard && (mem == 0 || s.c.usedMiB[k]+s.job.MemMiB <= mem) {
				w += (model.MilliCard - int(s.c.usedMilli[k])) / s.job.ShareMilli
			}
		}
		return w
	}
	C := s.workerCards(ni.model)
	if C <= 0 || int(s.c.free[n]) < C {
		return 0
	}
	return s.workersFor(int(s.c.free[n]), C)
}

// nodeScoped reports whether all the job's workers must share one node.
func (s *search) nodeScoped() bool {
	return s.job.Kind == model.Batch || (s.job.Topology == model.TopoNode && s.job.TopologyRequired)
}

// workerCards is the whole cards the smallest unit of the job takes on a
// model: one worker, or all of them for a node-scoped job.
func (s *search) workerCards(m int32) int {
	if s.nodeScoped() {
		return s.perWorker[m] * s.job.Workers
	}
	return s.perWorker[m]
}

// workersFor is how many workers f free cards hold, C cards a unit.
func (s *search) workersFor(f, C int) int {
	if s.nodeScoped() {
		return s.job.Workers
	}
	return f / C
}

func (s *search) topologyDetail(nodes, workers int) string {
	job := s.job
	scope := "one site"
	switch {
	case job.Topology == model.TopoNode && job.TopologyRequired:
		scope = "one node"
	case job.Topology == model.TopoDomain && job.TopologyRequired:
		scope = "one high-bandwidth domain"
	case job.CrossSite:
		scope = "the allowed sites together"
	}
	return fmt.Sprintf("%d nodes could hold %d workers between them, but no placement within %s holds all %d", nodes, workers, scope, job.Workers)
}

// unblock says what would let the job be placed.
func (s *search) unblock(e *Explanation) []Unblock {
	var out []Unblock
	job := s.job
	if b := e.Best; b != nil {
		out = append(out, Unblock{Reason: InsufficientCards, Model: b.Model, Where: b.Where, Cards: b.NeedCards - b.FreeCards,
			Text: fmt.Sprintf("free %d more %s cards in %s %s (it has %d usable of the %d needed)", b.NeedCards-b.FreeCards, b.Model, b.Scope, b.Where, b.FreeCards, b.NeedCards)})
	}
	if s.needsMixed {
		out = append(out, Unblock{Reason: InsufficientCards, Text: "allow the gang to span models (mixed: true): together the models hold it"})
	}
	if e.Count(TopologyUnsatisfiable) > 0 {
		var t string
		switch {
		case job.TopologyRequired && job.Topology == model.TopoNode:
			t = "make the node topology preferred rather than required, or wait for a node to empty"
		case job.TopologyRequired && job.Topology == model.TopoDomain:
			t = "make the domain topology preferred rather than required, or wait for a domain to free up"
		case !job.CrossSite:
			t = "allow the gang to cross sites (cross_site), or wait for one site to free up"
		case !job.Mixed:
			t = "allow mixed models (mixed), or wait for capacity to free up"
		default:
			t = "wait for capacity to free up"
		}
		out = append(out, Unblock{Reason: TopologyUnsatisfiable, Text: t})
	}
	if e.Count(QuotaExceeded) > 0 && s.in.Tenant != nil {
		var short int64 = -1
		for m := range s.st.models {
			if s.modReason[m] != QuotaExceeded {
				continue
			}
			g := s.quotaGFLOPS(&s.st.models[m], s.perWorker[m]) + s.in.HeldGFLOPS - s.in.Tenant.QuotaGFLOPS
			if short < 0 || g < short {
				short = g
			}
		}
		out = append(out, Unblock{Reason: QuotaExceeded, GFLOPS: short,
			Text: fmt.Sprintf("raise tenant %s's quota by %d GFLOPS, or wait for its running jobs to finish", s.in.Tenant.ID, short)})
	}
	for _, r := range []Reason{VendorCapExceeded, Residency, PolicyDenied, NodeUnhealthy, UnknownThroughput, StackIncompatible, PyTorchIncompatible, MemoryTooSmall, CardsTooFew} {
		n := e.Count(r)
		if n == 0 {
			continue
		}
		var cards int
		var detail string
		for _, x := range e.Rejections {
			if x.Reason == r {
				cards, detail = x.Cards, x.Detail
			}
		}
		var t string
		switch r {
		case VendorCapExceeded:
			t = "raise the tenant's vendor card cap: " + detail
		case Residency:
			t = fmt.Sprintf("allow more sites or regions: %d cards lie outside the job's residency (%s)", cards, detail)
		case PolicyDenied:
			t = fmt.Sprintf("policy denies %d cards (%s); change the job's classification or the rule", cards, detail)
		case NodeUnhealthy:
			t = fmt.Sprintf("%d nodes with %d cards are unhealthy; repair them", n, cards)
		case UnknownThroughput:
			t = "give the FP16 figure of these models in the catalog, or name models instead of a compute request: " + detail
		case StackIncompatible:
			t = "accept more software stacks: " + detail
		case PyTorchIncompatible:
			t = "accept more PyTorch integrations: " + detail
		case MemoryTooSmall:
			t = "ask for less memory per card: " + detail
		case CardsTooFew:
			t = "use fewer cards per worker: " + detail
		}
		out = append(out, Unblock{Reason: r, Cards: cards, Text: t})
	}
	return out
}

func (s *search) summary(e *Explanation) string {
	job := s.job
	var want string
	switch {
	case job.Fractional():
		want = fmt.Sprintf("%d × %d‰ of a card", job.Workers, job.ShareMilli)
	case job.ComputeGFLOPS > 0:
		want = fmt.Sprintf("%d GFLOPS over %d workers", job.ComputeGFLOPS, job.Workers)
	default:
		want = fmt.Sprintf("%d × %d cards", job.Workers, job.CardsPerWorker)
	}
	if len(e.Rejections) == 0 {
		return "cannot place " + want + ": the network has no nodes"
	}
	var parts []string
	for _, r := range e.Rejections {
		parts = append(parts, fmt.Sprintf("%d %s %s", r.Count, r.Unit, r.Reason))
	}
	return "cannot place " + want + ": " + strings.Join(parts, ", ")
}

func (s *search) placedSummary(p *model.Placement, mixed bool) string {
	cards := 0
	for _, a := range p.Assignments {
		cards += len(a.Cards)
	}
	cd := &s.top[0]
	where := s.whereName(cd.scope, cd.where, cd.model)
	kind := s.st.models[s.st.nodes[s.nodeIndex(p.Assignments[0].Node)].model].id
	if mixed {
		kind = "mixed models"
	}
	// fmt.Sprintf("placed %d × %d‰ of %s on %d nodes, first %s", …) for
	// shares, ("placed %d workers, %d cards of %s on %d nodes in %s %s", …)
	// otherwise, appended directly.
	b := make([]byte, 0, 96)
	b = strconv.AppendInt(append(b, "placed "...), int64(len(p.Assignments)), 10)
	if s.job.Fractional() {
		b = strconv.AppendInt(append(b, " × "...), int64(s.job.ShareMilli), 10)
		b = append(append(b, "‰ of "...), kind...)
		b = strconv.AppendInt(append(b, " on "...), int64(distinctNodes(p.Assignments)), 10)
		b = append(append(b, " nodes, first "...), where...)
		return string(b)
	}
	b = strconv.AppendInt(append(b, " workers, "...), int64(cards), 10)
	b = append(append(b, " cards of "...), kind...)
	b = strconv.AppendInt(append(b, " on "...), int64(distinctNodes(p.Assignments)), 10)
	b = append(append(append(append(b, " nodes in "...), cd.scope...), ' '), where...)
	return string(b)
}

// distinctNodes counts the nodes assignments name.
func distinctNodes(as []model.Assignment) int {
	if len(as) > 32 {
		nodes := make(map[model.NodeID]bool, len(as))
		for _, a := range as {
			nodes[a.Node] = true
		}
		return len(nodes)
	}
	n := 0
	for i, a := range as {
		if !slices.ContainsFunc(as[:i], func(b model.Assignment) bool { return b.Node == a.Node }) {
			n++
		}
	}
	return n
}

func (s *search) nodeIndex(id model.NodeID) int32 { return s.st.nodeIdx[id] }

// scopeBelowSite reports whether the job requires one node or one domain,
// which no mixed-model gang can satisfy.
func (s *search) scopeBelowSite() bool {
	return s.job.TopologyRequired && (s.job.Topology == model.TopoNode || s.job.Topology == model.TopoDomain)
}

func sum(h []int32) int {
	t := 0
	for _, x := range h {
		t += int(x)
	}
	return t
}

// rateNote names the throughput terms of a placement of a job with rates:
// its rate on the model chosen against its best model, where the rates
// come from and, when its quota counts effective throughput, the factor.
func (s *search) rateNote(p *model.Placement) string {
	chosen := p.Assignments[0].Model
	rate, best, bestRate := s.rateTerms(chosen)
	from := s.in.RatesFrom
	if from == "" {
		from = "the job's own rates"
	}
	// What these fmt.Sprintf give (rateNoteByFmt), appended directly:
	// "; heterogeneity term by throughput (%s): %s at %.4g/s per card",
	// ", %.0f%% of its best (%s at %.4g/s)" or ", its fastest model", and
	// "; charged %d‰ of peak GFLOPS toward fair share and quota
	// (effective throughput)".
	b := make([]byte, 0, 160)
	b = append(append(b, "; heterogeneity term by throughput ("...), from...)
	b = append(append(append(b, "): "...), chosen...), " at "...)
	b = append(strconv.AppendFloat(b, rate, 'g', 4, 64), "/s per card"...)
	if best != chosen && bestRate > 0 {
		b = strconv.AppendFloat(append(b, ", "...), 100*rate/bestRate, 'f', 0, 64)
		b = append(append(append(b, "% of its best ("...), best...), " at "...)
		b = append(strconv.AppendFloat(b, bestRate, 'g', 4, 64), "/s)"...)
	} else {
		b = append(b, ", its fastest model"...)
	}
	if f, ok := s.in.EffectiveMilli[chosen]; ok {
		b = strconv.AppendInt(append(b, "; charged "...), f, 10)
		b = append(b, "‰ of peak GFLOPS toward fair share and quota (effective throughput)"...)
	}
	return string(b)
}

// rateTerms are the job's rate on model chosen, and its best model and
// rate there (ties to the first id).
func (s *search) rateTerms(chosen string) (rate float64, best string, bestRate float64) {
	for name, r := range s.job.Rates {
		id := s.c.modelID(name)
		if r > bestRate || r == bestRate && id < best {
			best, bestRate = id, r
		}
		if id == chosen {
			rate = r
		}
	}
	return rate, best, bestRate
}
