package core

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// Service (Config.Service) is attained-service scheduling: least attained
// service first, discretised into queues as in Tiresias (NSDI '19), with
// heterogeneity-aware service. A job's attained service is the work it
// has received, in card-seconds at its fastest model's rate: a second on
// a card where it runs at half its best rate counts half (its Rates, or
// its class's; without rates a card-second is a card-second). It needs
// no job sizes.
//
// Within a priority class and tenant, the queue is ordered by service
// level — the number of LevelsSec thresholds the job's attained service
// has passed — then by position; a job's level is fixed while it waits.
// At each Tick, a waiting job may take the cards of running batch or gang
// jobs of its priority that are at a higher level (they yield: stopped,
// requeued from their checkpoint at their level; StopPreempted with a
// detail that says why). A job yields only after it has run MinRunSec on
// its placement and, with RequireCheckpoint, once it has saved a
// checkpoint; being a whole level above is the hysteresis. A job waiting
// StarveFactorMilli/1000 × its attained service (and at least MinRunSec)
// is promoted to level 0 (the starvation guard), until it runs again. At
// most MaxPerPass jobs take cards this way per Tick, in queue order;
// victims go highest level first, then most attained service.
type Service struct {
	Enabled bool
	// LevelsSec are the thresholds between levels, ascending (default
	// DefaultServiceLevels).
	LevelsSec         []int64
	MinRunSec         int64 // default 1800
	StarveFactorMilli int64 // default 8000
	MaxPerPass        int   // default 8
	RequireCheckpoint bool
	// Faster cards go to lower levels, where they gain most: a running
	// job swaps onto the cards of a job at a higher level on a model
	// where its own speed-up is SwapSpeedupMilli/1000 (default 2000) ×
	// the other's speed-up there over the job's model (so the swap adds
	// throughput as well as serving the lower level), when its age ×
	// (1 − rate_now/rate_new) ≥ 2 × RestoreCostSec (default 120, the cost
	// of a checkpoint-restore); the other job yields and is requeued, and
	// usually takes the cards the job left. NoSwap turns swaps off.
	SwapSpeedupMilli int64
	RestoreCostSec   int64
	NoSwap           bool
}

// DefaultServiceLevels are the default thresholds: 30 min, 2 h and 8 h of
// card time at the job's best rate.
var DefaultServiceLevels = []int64{1800, 2 * 3600, 8 * 3600}

// DefaultService is an enabled Service with the default bounds.
var DefaultService = Service{Enabled: true, LevelsSec: DefaultServiceLevels, MinRunSec: 1800, StarveFactorMilli: 8000, MaxPerPass: 8,
	SwapSpeedupMilli: 2000, RestoreCostSec: 120}

func (s *Service) defaults() {
	d := DefaultService
	if len(s.LevelsSec) == 0 {
		s.LevelsSec = d.LevelsSec
	}
	s.LevelsSec = slices.Clone(s.LevelsSec)
	slices.Sort(s.LevelsSec)
	if s.MinRunSec <= 0 {
		s.MinRunSec = d.MinRunSec
	}
	if s.StarveFactorMilli <= 0 {
		s.StarveFactorMilli = d.StarveFactorMilli
	}
	if s.MaxPerPass <= 0 {
		s.MaxPerPass = d.MaxPerPass
	}
	if s.SwapSpeedupMilli <= 0 {
		s.SwapSpeedupMilli = d.SwapSpeedupMilli
	}
	if s.RestoreCostSec <= 0 {
		s.RestoreCostSec = d.RestoreCostSec
	}
}

// levelOf is the level of an attained service.
func (c *Core) levelOf(service float64) int {
	l := 0
	for _, t := range c.cfg.Service.LevelsSec {
		if service >= float64(t) {
			l++
		}
	}
	return l
}

// stint is the service the job's current placement has given it so far.
func (c *Core) stint(e *entry) float64 {
	p := e.st.Placement
	if p == nil || c.now <= e.placedAt {
		return 0
	}
	best := 0.0
	for _, r := range e.job.Rates {
		best = max(best, r)
	}
	var s float64
	for _, a := range p.Assignments {
		cards := float64(len(a.Cards))
		if a.ShareMilli > 0 {
			cards = float64(a.ShareMilli) / model.MilliCard
		}
		f := 1.0
		if best > 0 {
			f = c.rateOn(e, a.Model) / best
		}
		s += cards * f
	}
	return s * float64(c.now-e.placedAt)
}

// queueCmp orders a priority class's queue: by service level (0 unless
// Service is on), then position.
func queueCmp(a, b *entry) int {
	return cmp.Or(cmp.Compare(a.level, b.level), cmpUint(a.st.Position, b.st.Position))
}

// accrue adds the stint of a placement being stopped to the job's service.
func (c *Core) accrue(e *entry) {
	if c.cfg.Service.Enabled {
		e.attained += c.stint(e)
		e.st.Attained = e.attained
	}
}

// queued sets a requeued job's level from its service.
func (c *Core) queued(e *entry) {
	if c.cfg.Service.Enabled {
		e.level, e.queuedAt = c.levelOf(e.attained), c.now
	}
}

// serviceTick promotes starved jobs and lets waiting jobs take the cards
// of jobs at higher levels; it reports whether any did.
func (c *Core) serviceTick() bool {
	if !c.cfg.Service.Enabled || len(c.placed) == 0 {
		return false
	}
	waiting := c.waiting()
	c.promote(waiting)
	slices.SortFunc(waiting, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(b.job.Priority, a.job.Priority), queueCmp(a, b))
	})
	failed := map[string]int{} // shape → the lowest level that found no victims
	took := 0
	for _, w := range waiting {
		if took == c.cfg.Service.MaxPerPass {
			break
		}
		if l, ok := failed[w.shape()]; ok && w.level >= l {
			continue
		}
		if w.st.Placement != nil || w.st.State != model.Blocked && w.st.State != model.Pending {
			continue
		}
		if c.yieldTo(w) {
			took++
		} else {
			failed[w.shape()] = w.level
		}
	}
	if !c.cfg.Service.NoSwap {
		took += c.swaps(c.cfg.Service.MaxPerPass - took)
	}
	return took > 0
}

// swaps moves running jobs onto faster cards held by jobs at higher
// levels, at most n, lowest level first; it returns how many moved.
func (c *Core) swaps(n int) int {
	if n <= 0 {
		return 0
	}
	var runs []*entry
	for _, set := range c.placed {
		runs = append(runs, set...)
	}
	lv := make(map[*entry]int, len(runs))
	for _, e := range runs {
		lv[e] = c.levelOf(e.attained + c.stint(e))
	}
	slices.SortFunc(runs, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(b.job.Priority, a.job.Priority), cmp.Compare(lv[a], lv[b]), cmpUint(a.st.Position, b.st.Position))
	})
	done := 0
	for _, w := range runs {
		if done == n {
			break
		}
		if w.st.Placement != nil && c.swapUp(w, lv) {
			done++
		}
	}
	return done
}

// swapUp moves w onto the cards of a job at a higher level on a faster
// model, if one pays; it reports whether it did.
func (c *Core) swapUp(w *entry, lv map[*entry]int) bool {
	cfg := c.cfg.Service
	p := w.st.Placement
	if p != w.committed || len(w.job.Rates) == 0 || len(p.Assignments) != 1 || p.Assignments[0].ShareMilli > 0 {
		return false
	}
	from := p.Assignments[0].Model
	rNow, age := c.rateOn(w, from), c.now-w.firstPlaced
	if rNow <= 0 {
		return false
	}
	type cand struct {
		v   *entry
		to  string
		gap float64
	}
	var cands []cand
	for _, v := range c.placed[w.job.Priority] {
		vp := v.st.Placement
		if v == w || lv[v] <= lv[w] || vp == nil || len(vp.Assignments) != 1 || !c.mayYield(v, w) {
			continue
		}
		to := vp.Assignments[0].Model
		r := c.rateOn(w, to)
		vr := c.rateOn(v, to) / max(c.rateOn(v, from), 1e-12)
		if r*1000 < rNow*float64(cfg.SwapSpeedupMilli)*vr || float64(age)*(1-rNow/r) < 2*float64(cfg.RestoreCostSec) {
			continue
		}
		cands = append(cands, cand{v, to, r / rNow})
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.gap, a.gap), cmp.Compare(lv[b.v], lv[a.v]), cmpUint(b.v.st.Position, a.v.st.Position))
	})
	for _, k := range cands {
		v := k.v
		_ = c.cluster.ReleaseAt(v.st.Placement, v.use.nodes)
		job := w.job
		job.Models = []string{k.to}
		d := sched.Brief(c.cluster, &job, c.input(w, []*entry{v}), c.cfg.Sched)
		_ = c.cluster.ApplyAt(v.st.Placement, v.use.nodes)
		if d.Placement == nil || !c.tenantFits(w, []*entry{v}, d.Placement) {
			continue
		}
		svc := v.attained + c.stint(v)
		v.yieldNote = fmt.Sprintf("yielded its %s cards to %s by attained service: %.0f s of service puts it at level %d, above %s's level %d, which runs ×%.2f faster there",
			k.to, w.job.ID, svc, lv[v], w.job.ID, lv[w], k.gap)
		c.unplace(v, StopPreempted, w.job.ID)
		c.requeue(v, StopPreempted)
		w.moveNote = fmt.Sprintf("moved from %s to %s (×%.2f) by attained service: it is at level %d, %s at level %d yielded",
			from, k.to, k.gap, lv[w], v.job.ID, lv[v])
		c.moveTo(w, d)
		return true
	}
	return false
}

// waiting lists the queued jobs: pending and blocked.
func (c *Core) waiting() []*entry {
	out := slices.Clone(c.pending)
	for _, g := range c.groups {
		out = append(out, g.jobs...)
	}
	return out
}

// promote moves every waiting job that has waited StarveFactorMilli/1000
// × its service (and MinRunSec) to level 0.
func (c *Core) promote(waiting []*entry) {
	cfg := c.cfg.Service
	for _, e := range waiting {
		wait := c.now - e.queuedAt
		if e.level > 0 && wait >= cfg.MinRunSec && float64(wait)*1000 >= float64(cfg.StarveFactorMilli)*e.attained {
			c.unqueue(e) // its place in its group depends on its level
			e.level = 0
			c.pend(e)
		}
	}
}

// mayYield reports whether running job v would yield its cards to w.
func (c *Core) mayYield(v, w *entry) bool {
	cfg := c.cfg.Service
	return v != w && v.st.Placement != nil && v.st.Placement == v.committed &&
		(v.job.Kind == model.Batch || v.job.Kind == model.Gang) &&
		c.now-v.placedAt >= cfg.MinRunSec && (!cfg.RequireCheckpoint || v.job.CheckpointTime > 0) &&
		overlaps(v, w) && c.levelOf(v.attained+c.stint(v)) > w.level
}

// yieldTo places w on the cards of running jobs at higher levels, if
// stopping some lets it fit.
func (c *Core) yieldTo(w *entry) bool {
	amt := map[*entry]int64{}
	var cands []*entry
	for _, v := range c.placed[w.job.Priority] {
		if c.mayYield(v, w) {
			if a := c.amountOf(w, &v.use); a > 0 {
				amt[v] = a
				cands = append(cands, v)
			}
		}
	}
	if len(cands) == 0 {
		return false
	}
	svc := make(map[*entry]float64, len(cands))
	for _, v := range cands {
		svc[v] = v.attained + c.stint(v)
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(c.levelOf(svc[b]), c.levelOf(svc[a])), cmp.Compare(svc[b], svc[a]), cmpUint(b.st.Position, a.st.Position))
	})
	cands = cands[:min(len(cands), c.cfg.PreemptCandidates)]
	victims, d := c.victims(w, cands, amt, c.amount(w, c.freeByModel()), w.demand())
	if d == nil {
		return false
	}
	for _, v := range victims {
		v.yieldNote = fmt.Sprintf("yielded to %s by attained service: %.0f s of service puts it at level %d, above %s's level %d (least attained service first; it ran %d s on this placement)",
			w.job.ID, svc[v], c.levelOf(svc[v]), w.job.ID, w.level, c.now-v.placedAt)
		c.unplace(v, StopPreempted, w.job.ID)
		c.requeue(v, StopPreempted)
	}
	if c.commitCheck(w, d.Placement) != "" {
		return false // cannot happen: the placement was found with these victims gone
	}
	d.Explanation.Summary = fmt.Sprintf("preempted %s by attained service (level %d waits, higher levels yield); %s",
		victimList(victims), w.level, d.Explanation.Summary)
	w.st.Decision = d
	return true
}
