package sched

import (
	"fmt"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// Schedule decides where one job runs on the cluster: it filters the models
// and nodes the job may use (health, model, stack and PyTorch
// compatibility, memory, residency, the policy hook, quota and vendor caps),
// scores the feasible placements (fragmentation, topology packing,
// heterogeneity, cost) and selects the best. A gang is placed whole or not
// at all, in the tightest scope it fits (one node, one domain, one site,
// several sites if it allows). The cluster is not changed; the caller
// applies the placement it commits.
//
// An unplaceable job gets a decision without a placement whose explanation
// counts the rejections per reason, names the best partial candidate and
// says what would unblock it.
func Schedule(c *Cluster, job *model.Job, in Input, cfg Config) Decision {
	return schedule(c, job, in, cfg, false)
}

// Brief is Schedule for callers that route on a failure rather than show
// it, such as the core's tries around reservations, which only learn from
// it what the job waits for: an unplaced job's explanation counts the
// rejections per reason and names the models it could wait for (the
// counts and Waits Schedule gives), without details, summary, best
// partial candidate or unblock hints. A placed job's decision is
// Schedule's.
func Brief(c *Cluster, job *model.Job, in Input, cfg Config) Decision {
	return schedule(c, job, in, cfg, true)
}

func schedule(c *Cluster, job *model.Job, in Input, cfg Config, brief bool) Decision {
	d := Decision{Job: job.ID}
	if err := job.Validate(); err != nil {
		d.Explanation = Explanation{
			Summary:    "invalid job: " + err.Error(),
			Rejections: []Rejection{{Reason: InvalidJob, Detail: err.Error()}},
			Unblock:    []Unblock{{Reason: InvalidJob, Text: "fix the job: " + err.Error()}},
		}
		return d
	}
	cfg = cfg.withDefaults()
	s := c.newSearch(job, &in, cfg)
	s.brief = brief
	s.filterModels()
	as, mixed := s.place()
	if as != nil && !s.hostHolds(as) {
		as = nil
	}
	if as == nil {
		d.Explanation = s.explain()
		s.explainHost(&d.Explanation)
		return d
	}
	p := &model.Placement{Job: job.ID, Assignments: as}
	p.GFLOPS = c.PlacementGFLOPS(p)
	if mixed {
		p.GFLOPS = p.GFLOPS * int64(cfg.MixedEfficiencyMilli) / 1000
	}
	d.Placement = p
	// The place terms of the placement and its alternatives, allocated
	// together.
	var terms []PlaceTerms
	if s.pl.on {
		terms = make([]PlaceTerms, len(s.top))
	}
	termsAt := func(i int) *PlaceTerms {
		if terms == nil {
			return nil
		}
		return s.terms(&s.top[i], &terms[i])
	}
	best := s.top[0].score
	best.Terms = termsAt(0)
	d.Score = &best
	d.Explanation = Explanation{Placed: true, Summary: s.placedSummary(p, mixed)}
	if len(job.Rates) > 0 {
		d.Explanation.Summary += s.rateNote(p)
	}
	if mixed {
		d.Explanation.Summary += s.shareNote(p)
	}
	if len(s.top) > 1 {
		d.Alternatives = make([]Alternative, 0, len(s.top)-1)
	}
	for i := 1; i < len(s.top); i++ {
		a := s.alternative(&s.top[i])
		a.Score.Terms = termsAt(i)
		d.Alternatives = append(d.Alternatives, a)
	}
	return d
}

// Placement is Schedule's placement alone (nil when Schedule places
// nothing), without the explanation, score and alternatives Schedule
// words around it: for callers that only ask where a job would go, such
// as the core's reservation plans, whose tries mostly fail.
func Placement(c *Cluster, job *model.Job, in Input, cfg Config) *model.Placement {
	if job.Validate() != nil {
		return nil
	}
	cfg = cfg.withDefaults()
	s := c.newSearch(job, &in, cfg)
	s.filterModels()
	as, mixed := s.place()
	if as == nil || !s.hostHolds(as) {
		return nil
	}
	p := &model.Placement{Job: job.ID, Assignments: as}
	p.GFLOPS = c.PlacementGFLOPS(p)
	if mixed {
		p.GFLOPS = p.GFLOPS * int64(cfg.MixedEfficiencyMilli) / 1000
	}
	return p
}

// place routes the job to the placement path of its shape and returns the
// assignments (nil when unplaceable) and whether they span models.
func (s *search) place() ([]model.Assignment, bool) {
	job := s.job
	if len(s.eligible) == 0 {
		return nil, false
	}
	switch {
	case job.Fractional():
		as, ok := s.placeReplicas(true)
		return okOrNil(as, ok), false
	case job.Kind == model.Batch || job.Workers == 1:
		return s.placeOnNode(job.Workers), false
	case job.Topology == model.TopoNode && job.TopologyRequired:
		return s.placeOnNode(job.Workers), false
	case job.Kind == model.Inference && job.Topology == model.TopoNone:
		as, ok := s.placeReplicas(false)
		return okOrNil(as, ok), false
	}
	return s.placeGang()
}

func okOrNil(as []model.Assignment, ok bool) []model.Assignment {
	if !ok {
		return nil
	}
	return as
}

// placeOnNode puts all `workers` workers on one node.
func (s *search) placeOnNode(workers int) []model.Assignment {
	s.top = s.top[:0]
	s.searchNodes(workers)
	if len(s.top) == 0 {
		return nil
	}
	return s.buildNode(&s.top[0], 0, nil)
}

// placeGang tries the scopes from the tightest the job allows outwards:
// one node (when it asks for one), one domain, one site, several sites
// (when it allows crossing sites), then, for mixed gangs, several models.
func (s *search) placeGang() ([]model.Assignment, bool) {
	job := s.job
	required := job.TopologyRequired && job.Topology != model.TopoNone
	if job.Topology == model.TopoNode {
		if as := s.placeOnNode(job.Workers); as != nil {
			return as, false
		}
	}
	s.top = s.top[:0]
	s.searchDomains()
	// Domains are ranked by free cards; the first whose nodes also have
	// the host CPU and memory for every worker holds the gang.
	for i := range s.top {
		cd := s.top[i]
		if as := s.whole(s.buildDomain(cd.where, cd.cards/cd.workers, cd.workers, 0, s.reps[:0])); as != nil {
			s.top = s.top[i:] // the unbuildable ones are no alternatives
			return as, false
		}
	}
	s.top = s.top[:0]
	if required && (job.Topology == model.TopoDomain || job.Topology == model.TopoNode) {
		return nil, false
	}
	// A required scope of node, domain or site keeps the gang in one site
	// whatever CrossSite says.
	s.searchSites()
	for i := range s.top {
		cd := s.top[i]
		if as := s.whole(s.buildSite(cd.where, cd.cards/cd.workers, cd.workers, 0, s.reps[:0])); as != nil {
			s.top = s.top[i:] // the unbuildable ones are no alternatives
			return as, false
		}
	}
	s.top = s.top[:0]
	if job.CrossSite && !required {
		s.searchCrossSite()
		if len(s.top) > 0 {
			cd := &s.top[0]
			if as := s.whole(s.buildCrossSite(cd.model, cd.cards/cd.workers, s.reps[:0])); as != nil {
				return as, false
			}
			s.top = s.top[:0]
		}
	}
	if job.Mixed {
		if as := s.placeMixed(); as != nil {
			return as, true
		}
	}
	return nil, false
}

// whole returns a gang built in the scratch s.reps (which keeps its
// array) as a list of its own when it holds every worker, else nil.
func (s *search) whole(as []model.Assignment) []model.Assignment {
	s.reps = as[:0]
	if len(as) != s.job.Workers {
		return nil
	}
	return slices.Clone(as)
}

// alternative describes a runner-up.
func (s *search) alternative(cd *cand) Alternative {
	a := Alternative{Scope: cd.scope, Cards: cd.cards, Score: cd.score, Model: "mixed"}
	if cd.model >= 0 {
		a.Model = s.st.models[cd.model].id
	}
	a.Where = s.whereName(cd.scope, cd.where, cd.model)
	return a
}

// whereName names a scope's index.
func (s *search) whereName(scope Scope, where, m int32) string {
	switch scope {
	case ScopeCard, ScopeNode:
		return string(s.st.nodes[where].n.ID)
	case ScopeDomain:
		return string(s.st.domains[where].id)
	case ScopeSite, ScopeSites:
		if m < 0 { // a mixed candidate is a site
			return string(s.st.sites[where].s.ID)
		}
		return string(s.st.sites[s.st.sm[where].site].s.ID)
	}
	return ""
}

// hostHolds reports whether the nodes of a placement have the host CPU and
// memory its workers ask for. The node-scoped and fractional searches check
// it per candidate and a gang's domains per node as they are built; this
// checks the whole, summing each run of one node's workers (the paths
// build a node's workers together; replicas, placed one by one, were
// checked with the earlier ones held).
func (s *search) hostHolds(as []model.Assignment) bool {
	if s.job.CPUMilli == 0 && s.job.HostMemMiB == 0 {
		return true
	}
	ok := true
	for i := 0; i < len(as); {
		var cpu, mem int64
		k := i
		for ; k < len(as) && as[k].Node == as[i].Node; k++ {
			cpu += as[k].CPUMilli
			mem += as[k].HostMemMiB
		}
		n := s.st.nodeIdx[as[i].Node]
		switch {
		case s.c.cpuFree[n] < cpu:
			s.noteHostShort(n, 1)
			ok = false
		case s.c.memFree[n] < mem:
			s.noteHostShort(n, 2)
			ok = false
		}
		i = k
	}
	return ok
}

// explainHost adds to an explanation the nodes that had the cards but not
// the host CPU or memory for the job's workers.
func (s *search) explainHost(e *Explanation) {
	if len(s.hostShort) == 0 {
		return
	}
	var rej [2]Rejection
	for n, what := range s.hostShort {
		rej[what-1].Count++
		rej[what-1].Cards += int(s.st.nodes[n].cards)
	}
	for i, r := range []Reason{CPUExhausted, HostMemoryExhausted} {
		if rej[i].Count == 0 {
			continue
		}
		rej[i].Reason, rej[i].Unit = r, UnitNodes
		switch {
		case s.brief:
		case r == CPUExhausted:
			rej[i].Detail = fmt.Sprintf("free host CPU below %d milli-cores per worker", s.job.CPUMilli)
			e.Unblock = append(e.Unblock, Unblock{Reason: r, Text: fmt.Sprintf("ask for less host CPU than %d milli-cores per worker, or wait for jobs on those nodes to end", s.job.CPUMilli)})
		default:
			rej[i].Detail = fmt.Sprintf("free host memory below %d MiB per worker", s.job.HostMemMiB)
			e.Unblock = append(e.Unblock, Unblock{Reason: r, Text: fmt.Sprintf("ask for less host memory than %d MiB per worker, or wait for jobs on those nodes to end", s.job.HostMemMiB)})
		}
		e.Rejections = append(e.Rejections, rej[i])
	}
}
