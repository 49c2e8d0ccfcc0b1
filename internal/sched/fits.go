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
	// maxNode is, per model, the most cards on one allowed node whose host
	// holds the job's units that must share a node.
	maxNode []int
	// Nodes removed by residency and by the policy, with a rule.
	residency, denied int
	rule              string
	// hostShort counts the allowed nodes with the cards for a unit of the
	// job but not the host CPU or memory (for all its workers, when they
	// must share a node).
	hostShort int
	bestD     int32 // the domain holding the most workers, bestW
	bestW     int
}

// models applies the per-model filters; it reports an unfit job when no
// model is left.
func (f *fitter) models() *Unfit {
	s, job := f.s, f.s.job
	named := s.namedModels(func(name string) string { return lookupModel(s.st, name) })
	eff := int64(job.EfficiencyMilli)
	if eff == 0 {
		eff = int64(s.cfg.DefaultEfficiencyMilli)
	}
	var why []string
	first := Reason("")
	for m := range s.st.models {
		mi := &s.st.models[m]
		reason := s.modelReason(m, named)
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
			} else {
				reason = s.hostReason(mi)
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
	p := f.paths()
	f.sm, f.total = make([]int, len(f.s.st.sm)), make([]int, len(f.s.st.models))
	f.maxNode = make([]int, len(f.s.st.models))
	anyAllowed, fits := f.scan(p)
	switch {
	case fits:
		return nil
	case !anyAllowed:
		return f.noNodes()
	case p.replicas:
		return f.replicasShort()
	case p.onNode:
		return f.nodeShort()
	}
	return f.gangShort(p)
}

// fitPaths are the paths Schedule takes (place) for the job: replicas
// anywhere, all on one node, or a gang, which fits when one domain holds
// it (every gang path tries domains first), or one site, or the network.
type fitPaths struct {
	replicas, onNode, gang    bool
	required, siteOK, crossOK bool
}

func (f *fitter) paths() fitPaths {
	s, job := f.s, f.s.job
	W := job.Workers
	var p fitPaths
	p.replicas = job.Fractional() || job.Kind == model.Inference && job.Topology == model.TopoNone && !s.nodeScoped() && W > 1
	p.onNode = !p.replicas && (job.Kind == model.Batch || W == 1 || job.Topology == model.TopoNode && job.TopologyRequired)
	p.gang = !p.replicas && !p.onNode
	p.required = job.TopologyRequired && job.Topology != model.TopoNone
	p.siteOK = p.gang && !(p.required && (job.Topology == model.TopoDomain || job.Topology == model.TopoNode))
	p.crossOK = p.gang && job.CrossSite && !p.required
	return p
}

// scan visits the allowed nodes of the eligible models, summing the
// workers they hold empty per domain, (site, model) group and model, and
// reports whether some path fits (most jobs do: it stops at the first
// proof) and whether any node was allowed at all.
func (f *fitter) scan(p fitPaths) (anyAllowed, fits bool) {
	s, W := f.s, f.s.job.Workers
	all := 0
	for _, m := range s.eligible {
		need := s.workerCards(m)
		for _, sm := range s.st.models[m].sms {
			for _, d := range s.st.sm[sm].domains {
				w, allowed, onNodeFits := f.scanDomain(d, m, need, p.onNode)
				anyAllowed = anyAllowed || allowed
				if onNodeFits || p.gang && w >= W {
					return true, true
				}
				if f.bestD < 0 || w > f.bestW {
					f.bestD, f.bestW = d, w
				}
				f.sm[sm] += w
				f.total[m] += w
				if all += w; p.replicas && all >= W || p.siteOK && f.sm[sm] >= W || p.crossOK && f.total[m] >= W {
					return true, true
				}
			}
		}
	}
	return anyAllowed, false
}

// scanDomain sums the workers the allowed nodes of domain d (model m) hold
// empty, within each node's host CPU and memory; onNodeFits reports a node
// that holds the whole of a node-scoped job (need cards).
func (f *fitter) scanDomain(d, m int32, need int, onNode bool) (w int, allowed, onNodeFits bool) {
	s := f.s
	dom := &s.st.domains[d]
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
		allowed = true
		hostW := f.hostUnits(n)
		if onNode && int(ni.cards) >= need && hostW >= 1 {
			return w, true, true
		}
		w += min(f.workersOnEmpty(n, m), hostW)
		if hostW >= f.nodeUnits() {
			f.maxNode[m] = max(f.maxNode[m], int(ni.cards))
		} else if int(ni.cards) >= need {
			f.hostShort++
		}
	}
	return w, allowed, false
}

// replicasShort reports replicas the allowed cards cannot hold.
func (f *fitter) replicasShort() *Unfit {
	s := f.s
	all := 0
	for _, m := range s.eligible {
		all += f.total[m]
	}
	return f.short(TopologyUnsatisfiable, fmt.Sprintf("%d replicas of %s each: the allowed cards of the whole network hold at most %d", s.job.Workers, f.unit(), all),
		"ask for fewer replicas, or allow more models or sites")
}

// nodeShort reports a job that must lie on one node and fits none.
func (f *fitter) nodeShort() *Unfit {
	s := f.s
	best, bestM := 0, int32(-1)
	for _, m := range s.eligible {
		if f.maxNode[m] > best || bestM < 0 {
			best, bestM = f.maxNode[m], m
		}
	}
	if f.hostShort > 0 {
		return f.hostTooSmall()
	}
	return f.short(CardsTooFew, fmt.Sprintf("the job needs %d cards on one node; the largest allowed node has %d (%s)",
		s.workerCards(f.smallest()), best, s.st.models[bestM].id), "use fewer cards per node, or allow more models or sites")
}

// gangShort checks a gang's remaining paths (one node when preferred,
// mixed models) and reports the scope that falls short.
func (f *fitter) gangShort(p fitPaths) *Unfit {
	s, job := f.s, f.s.job
	W := job.Workers
	if job.Topology == model.TopoNode {
		for _, m := range s.eligible {
			if f.maxNode[m] >= s.perWorker[m]*W {
				return nil
			}
		}
	}
	if p.required && (job.Topology == model.TopoDomain || job.Topology == model.TopoNode) {
		dom := &s.st.domains[f.bestD]
		return f.short(TopologyUnsatisfiable, fmt.Sprintf("%s must lie in one high-bandwidth domain; the largest allowed domain holds %d such workers (%s, %d cards of %s at %s)",
			f.want(), f.bestW, dom.id, dom.cards, s.st.models[dom.model].id, s.st.sites[dom.site].s.ID),
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
		if p.crossOK && f.total[m] >= W {
			return nil
		}
		if f.total[m] > bestTotal {
			bestTotal, bestM = f.total[m], m
		}
	}
	if job.Mixed && f.mixedFits(p.required) {
		return nil
	}
	mixed := ""
	if job.Mixed {
		mixed = " (mixed models included)"
	}
	if p.crossOK {
		return f.short(TopologyUnsatisfiable, fmt.Sprintf("%s need cards of one model across the allowed sites%s; the most any model holds is %d such workers (%s)",
			f.want(), mixed, bestTotal, s.st.models[bestM].id), "ask for fewer or smaller workers, or allow more models (mixed) or sites")
	}
	g := &s.st.sm[bestG]
	fix := "allow the gang to cross sites (cross_site), or ask for fewer or smaller workers"
	if p.required {
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

// hostUnits is how many units of the job (workers; the whole job when
// node-scoped) empty node n's host CPU and memory hold (a large number
// when the job asks for none).
func (f *fitter) hostUnits(n int32) int {
	s := f.s
	ni := &s.st.nodes[n]
	w := int64(1 << 30)
	if cpu := s.hostUnit(s.job.CPUMilli); cpu > 0 {
		w = min(w, ni.cpuMilli/cpu)
	}
	if mem := s.hostUnit(s.job.HostMemMiB); mem > 0 {
		w = min(w, ni.memMiB/mem)
	}
	return int(w)
}

// nodeUnits is how many units of the job one node must hold on the paths
// that put the whole job on one node: one unit, or every worker for a gang
// preferring one node.
func (f *fitter) nodeUnits() int {
	if job := f.s.job; job.Kind == model.Gang && job.Topology == model.TopoNode && !f.s.nodeScoped() {
		return job.Workers
	}
	return 1
}

// hostTooSmall reports a job whose unit fits some allowed node's cards but
// never its host CPU or memory.
func (f *fitter) hostTooSmall() *Unfit {
	s, job := f.s, f.s.job
	var cpu, mem int64
	for _, m := range s.eligible {
		cpu, mem = max(cpu, s.st.models[m].maxCPU), max(mem, s.st.models[m].maxMem)
	}
	limit, why := CPUTooFew, fmt.Sprintf("%s asks for %s of host CPU on one node; the allowed nodes with the cards have less (at most %s on any node of its models)",
		f.want(), coresText(s.hostUnit(job.CPUMilli)*int64(f.nodeUnits())), coresText(cpu))
	if s.hostUnit(job.HostMemMiB)*int64(f.nodeUnits()) > 0 && (job.CPUMilli == 0 || s.hostUnit(job.CPUMilli)*int64(f.nodeUnits()) <= cpu) {
		limit, why = HostMemoryTooSmall, fmt.Sprintf("%s asks for %d MiB of host memory on one node; the allowed nodes with the cards have less (at most %d MiB on any node of its models)",
			f.want(), s.hostUnit(job.HostMemMiB)*int64(f.nodeUnits()), mem)
	}
	return f.short(limit, why, "ask for less host CPU or memory per worker (cpu_milli, host_mem_mib), or allow more models or sites")
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
						w += min(int(s.st.nodes[n].cards)/C, f.hostUnits(n))
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
	var u string
	switch {
	case job.Fractional():
		u = fmt.Sprintf("%d‰ of a card", job.ShareMilli)
	case job.ComputeGFLOPS > 0:
		u = "its part of the compute request"
	case job.CardsPerWorker == 1:
		u = "1 card"
	default:
		u = fmt.Sprintf("%d cards", job.CardsPerWorker)
	}
	if job.CPUMilli > 0 {
		u += " with " + coresText(job.CPUMilli) + " of host CPU"
	}
	if job.HostMemMiB > 0 {
		u += fmt.Sprintf(" and %d MiB of host memory", job.HostMemMiB)
	}
	return u
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
