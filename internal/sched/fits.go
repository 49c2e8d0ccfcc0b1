package sched

import (
	"fmt"
	"strings"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Limits is the static shape of a network — models, nodes, domains, sites —
// without allocation state: what decides whether a job could ever be
// placed. It is immutable and safe for concurrent use (as far as the
// policy given to FitsEmpty is).
type Limits struct{ st *static }

// NewLimits builds the static tables of a network (as NewCluster does).
func NewLimits(net *network.Network) *Limits { return &Limits{st: newStatic(net)} }

// Limits returns the cluster's static tables.
func (c *Cluster) Limits() *Limits { return &Limits{st: c.st} }

// Unfit says why a job can never be placed, even on the empty network with
// every node healthy.
type Unfit struct {
	// Limit is the limit that rules the job out: node-too-small,
	// topology-unsatisfiable (no domain, site or network holds the gang),
	// residency, policy-denied, or a model filter (model-excluded,
	// stack-incompatible, …) when no model is left.
	Limit Reason `json:"limit"`
	// Policy is true when the network alone would hold the job and the
	// policy given rules it out: a policy change can make it fit.
	Policy bool `json:"policy,omitempty"`
	// Text says why in words, starting "can never fit: ".
	Text string `json:"text"`
	// Fix says what to change in the job.
	Fix string `json:"fix"`
}

func (u *Unfit) Error() string { return u.Text }

// Explanation is the decision's explanation of an unfit job.
func (u *Unfit) Explanation() Explanation {
	return Explanation{
		Summary:    u.Text,
		Rejections: []Rejection{{Reason: CanNeverFit, Count: 1, Unit: UnitJob, Detail: string(u.Limit)}},
		Unblock:    []Unblock{{Reason: CanNeverFit, Text: u.Fix}},
	}
}

// FitsEmpty checks a job against the static network: every model, node
// size, domain, site, the job's residency and the policy (nil allows
// everything), with every card free and every node healthy. It returns nil
// when some placement could hold the job, else why none ever can. Quotas
// and vendor caps are not limits of the network and are not checked. It
// agrees with Schedule on an empty cluster (TestFitsEmptyMatchesSchedule).
func (l *Limits) FitsEmpty(job *model.Job, pol Policy, cfg Config) *Unfit {
	if err := job.Validate(); err != nil {
		return &Unfit{Limit: InvalidJob, Text: "can never fit: invalid job: " + err.Error(), Fix: "fix the job"}
	}
	cfg = cfg.withDefaults()
	u := l.check(job, pol, cfg)
	if u != nil {
		// Whether the policy is what rules the job out: without it, would
		// the network hold the job?
		u.Policy = pol != nil && l.check(job, nil, cfg) == nil
	}
	return u
}

func (l *Limits) check(job *model.Job, pol Policy, cfg Config) *Unfit {
	st := l.st
	in := Input{Policy: pol}
	s := &search{st: st, job: job, in: &in, cfg: cfg,
		modReason: make([]Reason, len(st.models)), perWorker: make([]int, len(st.models)),
		classVerdict: make([]uint8, len(st.classes)), classRule: make([]string, len(st.classes)),
		siteVerdict: make([]uint8, len(st.sites))}
	f := &fitter{s: s, bestD: -1}
	if u := f.models(); u != nil {
		return u
	}
	return f.capacity()
}

// fitter is the working state of one FitsEmpty check.
type fitter struct {
	s *search
	// Per eligible model: workers of the job each allowed node could hold
	// when empty, summed per domain, per (site, model) group and in all.
	sm    []int // by (site, model) group
	total []int // by model
	// Nodes removed by residency and by the policy, with a rule.
	residency, denied int
	rule              string
	bestD             int32 // the domain holding the most workers, bestW
	bestW             int
}

// models applies the per-model filters; it reports an unfit job when no
// model is left.
func (f *fitter) models() *Unfit {
	s, job := f.s, f.s.job
	var named map[string]bool
	if len(job.Models) > 0 {
		named = make(map[string]bool, len(job.Models))
		for _, name := range job.Models {
			named[lookupModel(s.st, name)] = true
		}
	}
	eff := int64(job.EfficiencyMilli)
	if eff == 0 {
		eff = int64(s.cfg.DefaultEfficiencyMilli)
	}
	var why []string
	first := Reason("")
	for m := range s.st.models {
		mi := &s.st.models[m]
		reason := s.modelReason(mi, named)
		if reason == "" {
			switch {
			case job.Fractional():
			case job.ComputeGFLOPS > 0:
				total := mulDivCeil(uint64(job.ComputeGFLOPS), 1000, uint64(mi.gflops)*uint64(eff))
				s.perWorker[m] = int(min(ceilDiv(total, uint64(job.Workers)), 1<<30))
			default:
				s.perWorker[m] = job.CardsPerWorker
			}
			if need := s.workerCards(int32(m)); need > mi.maxCards {
				reason = CardsTooFew
			}
		}
		s.modReason[m] = reason
		if reason == "" {
			s.eligible = append(s.eligible, int32(m))
			continue
		}
		if reason == ModelExcluded {
			continue
		}
		if first == "" {
			first = reason
		}
		why = append(why, fmt.Sprintf("%s (%s: %s)", mi.id, reason, s.detail(int32(m))))
	}
	if len(s.eligible) > 0 {
		return nil
	}
	if first == "" {
		names := strings.Join(job.Models, ", ")
		return &Unfit{Limit: ModelExcluded, Text: "can never fit: the network has no node of " + names,
			Fix: "name models the network has"}
	}
	return &Unfit{Limit: first, Text: "can never fit: no model of the network suits the job: " + strings.Join(why, "; "),
		Fix: "change what the job asks of its cards (" + string(first) + ")"}
}

// capacity sums what the allowed nodes of each eligible model could hold
// when empty and checks the scopes the job may use.
func (f *fitter) capacity() *Unfit {
	s, job := f.s, f.s.job
	W := job.Workers
	// The path Schedule takes (place): replicas anywhere, all on one node,
	// or a gang, which fits when one domain holds it (every gang path tries
	// domains first). Most jobs fit: the scan stops at the first proof.
	replicas := job.Fractional() || job.Kind == model.Inference && job.Topology == model.TopoNone && !s.nodeScoped() && W > 1
	onNode := !replicas && (job.Kind == model.Batch || W == 1 || job.Topology == model.TopoNode && job.TopologyRequired)
	gang := !replicas && !onNode
	required := job.TopologyRequired && job.Topology != model.TopoNone
	siteOK := gang && !(required && (job.Topology == model.TopoDomain || job.Topology == model.TopoNode))
	crossOK := gang && job.CrossSite && !required
	f.sm, f.total = make([]int, len(s.st.sm)), make([]int, len(s.st.models))
	maxNode := make([]int, len(s.st.models)) // most cards on one allowed node, per model
	anyAllowed := false
	all := 0
	for _, m := range s.eligible {
		need := s.workerCards(m)
		mi := &s.st.models[m]
		for _, sm := range mi.sms {
			smi := &s.st.sm[sm]
			for _, d := range smi.domains {
				dom := &s.st.domains[d]
				w := 0
				for n := dom.lo; n < dom.hi; n++ {
					ni := &s.st.nodes[n]
					if !s.classOK(ni.class) {
						if s.classVerdict[ni.class] == 2 {
							f.residency++
						} else {
							f.denied++
							if f.rule == "" {
								f.rule = s.classRule[ni.class]
							}
						}
						continue
					}
					anyAllowed = true
					if onNode && int(ni.cards) >= need {
						return nil
					}
					w += f.workersOnEmpty(n, m)
					maxNode[m] = max(maxNode[m], int(ni.cards))
				}
				if gang && w >= W {
					return nil
				}
				if f.bestD < 0 || w > f.bestW {
					f.bestD, f.bestW = d, w
				}
				f.sm[sm] += w
				f.total[m] += w
				if all += w; replicas && all >= W || siteOK && f.sm[sm] >= W || crossOK && f.total[m] >= W {
					return nil
				}
			}
		}
	}
	if !anyAllowed {
		return f.noNodes()
	}
	switch {
	case job.Fractional() || job.Kind == model.Inference && job.Topology == model.TopoNone && !s.nodeScoped() && W > 1:
		// Replicas go anywhere, one at a time.
		all := 0
		for _, m := range s.eligible {
			all += f.total[m]
		}
		if all >= W {
			return nil
		}
		return f.short(TopologyUnsatisfiable, fmt.Sprintf("%d replicas of %s each: the allowed cards of the whole network hold at most %d", W, f.unit(), all),
			"ask for fewer replicas, or allow more models or sites")
	case job.Kind == model.Batch || W == 1 || job.Topology == model.TopoNode && job.TopologyRequired:
		best, bestM := 0, int32(-1)
		for _, m := range s.eligible {
			if need := s.workerCards(m); maxNode[m] >= need {
				return nil
			}
			if maxNode[m] > best {
				best, bestM = maxNode[m], m
			}
		}
		return f.short(CardsTooFew, fmt.Sprintf("the job needs %d cards on one node; the largest allowed node has %d (%s)",
			s.workerCards(f.smallest()), best, s.st.models[bestM].id), "use fewer cards per node, or allow more models or sites")
	}
	// A gang.
	if job.Topology == model.TopoNode {
		for _, m := range s.eligible {
			if maxNode[m] >= s.perWorker[m]*W {
				return nil
			}
		}
	}
	bestD, bestDom := f.bestD, f.bestW
	if required && (job.Topology == model.TopoDomain || job.Topology == model.TopoNode) {
		dom := &s.st.domains[bestD]
		return f.short(TopologyUnsatisfiable, fmt.Sprintf("%s must lie in one high-bandwidth domain; the largest allowed domain holds %d such workers (%s, %d cards of %s at %s)",
			f.want(), bestDom, dom.id, dom.cards, s.st.models[dom.model].id, s.st.sites[dom.site].s.ID),
			"make the domain topology preferred rather than required, or ask for fewer or smaller workers")
	}
	bestSM, bestG := -1, int32(-1)
	for _, m := range s.eligible {
		for _, sm := range s.st.models[m].sms {
			if w := f.sm[sm]; w >= W {
				return nil
			} else if w > bestSM {
				bestSM, bestG = w, sm
			}
		}
	}
	bestTotal, bestM := -1, int32(-1)
	for _, m := range s.eligible {
		if crossOK && f.total[m] >= W {
			return nil
		}
		if f.total[m] > bestTotal {
			bestTotal, bestM = f.total[m], m
		}
	}
	if job.Mixed {
		if f.mixedFits(required) {
			return nil
		}
	}
	mixed := ""
	if job.Mixed {
		mixed = " (mixed models included)"
	}
	if crossOK {
		return f.short(TopologyUnsatisfiable, fmt.Sprintf("%s need cards of one model across the allowed sites%s; the most any model holds is %d such workers (%s)",
			f.want(), mixed, bestTotal, s.st.models[bestM].id), "ask for fewer or smaller workers, or allow more models (mixed) or sites")
	}
	g := &s.st.sm[bestG]
	fix := "allow the gang to cross sites (cross_site), or ask for fewer or smaller workers"
	if required {
		fix = "make the topology preferred rather than required, or ask for fewer or smaller workers"
	}
	return f.short(TopologyUnsatisfiable, fmt.Sprintf("%s must lie in one site%s; the largest allowed pool holds %d such workers (%s at %s; %d workers of one model in the whole network)",
		f.want(), mixed, bestSM, s.st.models[g.model].id, s.st.sites[g.site].s.ID, bestTotal), fix)
}

// workersOnEmpty is how many of the job's workers (or shares) empty node n
// of model m holds.
func (f *fitter) workersOnEmpty(n, m int32) int {
	s := f.s
	ni := &s.st.nodes[n]
	if s.job.Fractional() {
		per := model.MilliCard / s.job.ShareMilli
		if mem := s.st.models[m].memMiB; mem > 0 && s.job.MemMiB > 0 {
			per = min(per, int(mem/s.job.MemMiB))
		}
		return per * int(ni.cards)
	}
	C := s.workerCards(m)
	if C <= 0 || int(ni.cards) < C {
		return 0
	}
	return s.workersFor(int(ni.cards), C)
}

// mixedFits is the mixed-model path's check: the models together, within
// one site, or across the allowed sites when the job may cross them.
func (f *fitter) mixedFits(required bool) bool {
	s, job := f.s, f.s.job
	W := job.Workers
	pen := uint64(s.cfg.MixedEfficiencyMilli)
	eff := uint64(job.EfficiencyMilli)
	if eff == 0 {
		eff = uint64(s.cfg.DefaultEfficiencyMilli)
	}
	perSite := map[int32]int{}
	all := 0
	for _, m := range s.eligible {
		mi := &s.st.models[m]
		if !mi.known || mi.gflops <= 0 {
			continue
		}
		C := s.perWorker[m]
		if job.ComputeGFLOPS > 0 {
			C = int(min(mulDivCeil(uint64(job.ComputeGFLOPS), 1_000_000, uint64(W)*uint64(mi.gflops)*eff*pen), 1<<30))
		}
		if C <= 0 || C > mi.maxCards {
			continue
		}
		for _, sm := range mi.sms {
			w := 0
			for _, d := range s.st.sm[sm].domains {
				dom := &s.st.domains[d]
				for n := dom.lo; n < dom.hi; n++ {
					if s.classOK(s.st.nodes[n].class) {
						w += int(s.st.nodes[n].cards) / C
					}
				}
			}
			perSite[s.st.sm[sm].site] += w
			all += w
		}
	}
	if job.Topology != model.TopoNode && job.Topology != model.TopoDomain || !job.TopologyRequired {
		for _, w := range perSite {
			if w >= W {
				return true
			}
		}
	}
	return job.CrossSite && !required && all >= W
}

// want describes the job's request.
func (f *fitter) want() string {
	job := f.s.job
	if job.ComputeGFLOPS > 0 {
		return fmt.Sprintf("%d GFLOPS over %d workers", job.ComputeGFLOPS, job.Workers)
	}
	return fmt.Sprintf("%d workers × %s", job.Workers, f.unit())
}

// unit describes one worker's request.
func (f *fitter) unit() string {
	job := f.s.job
	switch {
	case job.Fractional():
		return fmt.Sprintf("%d‰ of a card", job.ShareMilli)
	case job.ComputeGFLOPS > 0:
		return "its part of the compute request"
	case job.CardsPerWorker == 1:
		return "1 card"
	}
	return fmt.Sprintf("%d cards", job.CardsPerWorker)
}

// smallest is the eligible model whose unit takes the fewest cards.
func (f *fitter) smallest() int32 {
	best := f.s.eligible[0]
	for _, m := range f.s.eligible {
		if f.s.workerCards(m) < f.s.workerCards(best) {
			best = m
		}
	}
	return best
}

// short reports a job the allowed nodes cannot hold, naming the nodes
// residency and the policy removed.
func (f *fitter) short(limit Reason, why, fix string) *Unfit {
	u := &Unfit{Limit: limit, Text: "can never fit: " + why, Fix: fix}
	if f.residency > 0 {
		u.Text += fmt.Sprintf("; %d nodes lie outside the job's sites or regions", f.residency)
	}
	if f.denied > 0 {
		u.Text += fmt.Sprintf("; the policy denies %d nodes (%s)", f.denied, f.rule)
	}
	return u
}

// noNodes reports a job whose models have no allowed node at all.
func (f *fitter) noNodes() *Unfit {
	job := f.s.job
	if f.denied > 0 && f.residency == 0 {
		return &Unfit{Limit: PolicyDenied,
			Text: fmt.Sprintf("can never fit: the policy denies every node of the models the job can use (%d nodes: %s)", f.denied, f.rule),
			Fix:  "change the job's classification, its models, or the rule"}
	}
	u := &Unfit{Limit: Residency,
		Text: fmt.Sprintf("can never fit: no node of the models the job can use lies in its sites %v or regions %v", job.Sites, job.Regions),
		Fix:  "allow more sites or regions"}
	if f.denied > 0 {
		u.Text += fmt.Sprintf("; the policy denies %d more nodes (%s)", f.denied, f.rule)
	}
	return u
}

// lookupModel is the catalog id a job's model name stands for (the name
// itself when the catalog does not know it).
func lookupModel(st *static, name string) string {
	if st.net.Catalog != nil {
		if m, ok := st.net.Catalog.Lookup(name); ok {
			return m.ID
		}
	}
	return name
}
