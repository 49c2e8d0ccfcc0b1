package core

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// Migration (Config.Migration): at every Tick, the core moves a running
// job to a faster model that has free cards nobody waits for, when the
// move pays. Job j on model a moves to model b when
//
//	rate_b ≥ rate_a × MinSpeedupMilli/1000      (hysteresis: no ping-pong between near-equal models)
//	remaining × (1 − rate_a/rate_b) ≥ GainFactorMilli/1000 × RestoreCostSec
//
// where remaining is what is left of the job's declared runtime on this
// placement, or, without one, how long it has run since it was first
// placed (the scheduler does not know a job's size; long-running jobs
// tend to run long); it has run MinIntervalSec since its last start, has
// moved fewer than MaxMoves times and, with RequireCheckpoint, has saved a
// checkpoint; no job is queued, and no blocked job waits for b's cards.
// At most MaxPerPass jobs move per Tick, the largest speed-up first. A
// move stops the placement (StopMigrated), requeues the job at its old
// position and places it where the scheduler found room on the faster
// model; its Stop and the job's next decision say why.
type Migration struct {
	Enabled           bool
	MinSpeedupMilli   int64 // default 1150
	RestoreCostSec    int64 // default 120
	GainFactorMilli   int64 // default 2000
	MinIntervalSec    int64 // default 360
	MaxMoves          int   // default 8
	MaxPerPass        int   // default 4
	RequireCheckpoint bool
}

// DefaultMigration is an enabled Migration with the default bounds.
var DefaultMigration = Migration{Enabled: true, MinSpeedupMilli: 1150, RestoreCostSec: 120, GainFactorMilli: 2000,
	MinIntervalSec: 360, MaxMoves: 8, MaxPerPass: 4}

func (m *Migration) defaults() {
	d := DefaultMigration
	if m.MinSpeedupMilli <= 0 {
		m.MinSpeedupMilli = d.MinSpeedupMilli
	}
	if m.RestoreCostSec <= 0 {
		m.RestoreCostSec = d.RestoreCostSec
	}
	if m.GainFactorMilli <= 0 {
		m.GainFactorMilli = d.GainFactorMilli
	}
	if m.MinIntervalSec <= 0 {
		m.MinIntervalSec = d.MinIntervalSec
	}
	if m.MaxMoves <= 0 {
		m.MaxMoves = d.MaxMoves
	}
	if m.MaxPerPass <= 0 {
		m.MaxPerPass = d.MaxPerPass
	}
}

// move is one migration worth making.
type move struct {
	e        *entry
	from, to string
	rNow     float64
	rNew     float64
	left     int64 // the remaining time the gain is reckoned over
	byAge    bool  // left is the job's age, not its declared runtime
	gain     int64 // expected seconds saved
	cards    int
	d        sched.Decision // the placement on the faster model
}

// ratio is the move's speed-up.
func (m *move) ratio() float64 { return m.rNew / m.rNow }

// note says why the job moved, for its Stop and its next decision.
func (m *move) note(cfg Migration) string {
	basis := "its declared runtime left"
	if m.byAge {
		basis = "its age (its size is unknown)"
	}
	return fmt.Sprintf("migrated from %s (%.4g/s per card) to %s (%.4g/s, ×%.2f): expected gain %d s over %d s, %s, ≥ %g × the %d s checkpoint-restore cost",
		m.from, m.rNow, m.to, m.rNew, m.ratio(), m.gain, m.left, basis, float64(cfg.GainFactorMilli)/1000, cfg.RestoreCostSec)
}

// MaxMoveProbes bounds the moves one Tick asks the scheduler to place and
// it finds no room for (topology, quota, policy, though the faster model
// has the cards free), so that a Tick's migration work does not grow with
// the running jobs; such a move is not asked again within the Tick.
const MaxMoveProbes = 16

// moveKey names a move: a job to a model.
type moveKey struct {
	job model.JobID
	to  string
}

// migrate makes the moves that pay, up to MaxPerPass, one at a time (each
// changes what is free): the job's placement is stopped and it is placed
// where the scheduler found room on the faster model.
func (c *Core) migrate() {
	cfg := c.cfg.Migration
	if !cfg.Enabled || len(c.pending) > 0 || len(c.backoff) > 0 {
		return
	}
	noRoom := map[moveKey]bool{}
	for range cfg.MaxPerPass {
		c.work.MoveSearches++
		m, ok := c.bestMove(noRoom)
		if !ok {
			return
		}
		e := m.e
		e.moves++
		e.moveNote = m.note(cfg)
		c.moveTo(e, m.d)
	}
}

// moveTo stops e's placement and commits d, where a probe found it room,
// its explanation led by e.moveNote: a migration's and a swap's last step.
func (c *Core) moveTo(e *entry, d sched.Decision) {
	c.unplace(e, StopMigrated, "")
	c.requeue(e, StopMigrated)
	if c.commitCheck(e, d.Placement) != "" {
		c.pass() // cannot happen: the probe found the room; decide it afresh
		return
	}
	d.Explanation.Summary = e.moveNote + "; " + d.Explanation.Summary
	e.st.Decision = &d
}

// bestMove is the move with the largest speed-up that the scheduler finds
// room for (ties: the job first in id order, then the model: a job's rates
// are a map, so the order must not depend on its iteration), skipping those
// noRoom holds and adding the ones it finds no room for, within
// MaxMoveProbes a Tick.
func (c *Core) bestMove(noRoom map[moveKey]bool) (move, bool) {
	var cands []move
	for _, placed := range c.placed {
		for _, e := range placed {
			if e != nil {
				cands = c.movesOf(e, cands)
			}
		}
	}
	slices.SortFunc(cands, func(a, b move) int {
		if x, y := a.ratio(), b.ratio(); x != y {
			return cmp.Compare(y, x)
		}
		if c := cmp.Compare(a.e.job.ID, b.e.job.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.to, b.to)
	})
	c.work.MoveCandidates += int64(len(cands))
	for i := range cands {
		k := moveKey{cands[i].e.job.ID, cands[i].to}
		if noRoom[k] {
			continue
		}
		if len(noRoom) >= MaxMoveProbes {
			break
		}
		c.work.MoveProbes++
		if c.probe(&cands[i]) {
			return cands[i], true
		}
		noRoom[k] = true
	}
	return move{}, false
}

// movesOf appends the moves of one placed job that would pay, fastest
// first, before asking the scheduler for room.
func (c *Core) movesOf(e *entry, out []move) []move {
	cfg := c.cfg.Migration
	p := e.st.Placement
	if p == nil || p != e.committed || len(e.job.Rates) == 0 || e.moves >= cfg.MaxMoves ||
		c.now-e.placedAt < cfg.MinIntervalSec || cfg.RequireCheckpoint && e.job.CheckpointTime <= 0 {
		return out
	}
	from := p.Assignments[0].Model
	cards := 0
	for _, a := range p.Assignments {
		if a.Model != from || a.ShareMilli > 0 {
			return out // mixed gangs and shares stay
		}
		cards += len(a.Cards)
	}
	base := move{e: e, from: from, rNow: c.rateOn(e, from), cards: cards}
	if base.rNow <= 0 {
		return out
	}
	base.left, base.byAge = e.placedAt+e.job.RuntimeSec-c.now, false
	if e.job.RuntimeSec <= 0 {
		base.left, base.byAge = c.now-e.firstPlaced, true
	}
	for name, r := range e.job.Rates {
		to := c.model(name)
		if to == nil || to.ID == from || r*1000 < base.rNow*float64(cfg.MinSpeedupMilli) {
			continue
		}
		m := base
		m.to, m.rNew = to.ID, r
		m.gain = int64(float64(m.left) * (1 - m.rNow/r))
		if m.gain*1000 < cfg.GainFactorMilli*cfg.RestoreCostSec || !c.mayTake(e, to.ID, cards) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// mayTake reports whether model id has the cards free, nobody waits for
// them, and the job may use the model.
func (c *Core) mayTake(e *entry, id string, cards int) bool {
	if c.cluster.ModelFreeCards(id) < cards || len(c.waiters[modelClass(id)]) > 0 || len(c.waiters[classAny]) > 0 {
		return false
	}
	return len(e.job.Models) == 0 || slices.ContainsFunc(e.job.Models, func(n string) bool { m := c.model(n); return m != nil && m.ID == id })
}

// probe asks the scheduler where the job would go on the move's model,
// besides where it is, within its tenant's quota and the policy.
func (c *Core) probe(m *move) bool {
	e := m.e
	job := e.job
	job.Models = []string{m.to}
	m.d = sched.Brief(c.cluster, &job, c.input(e, nil), c.cfg.Sched)
	p := m.d.Placement
	return p != nil && c.tenant(e.job.Tenant).fitsAfter(e.use, c.usageOf(e, p)) && c.allowed(e, p)
}

// fitsAfter reports whether the tenant fits u once it gives back old.
func (ts *tenantState) fitsAfter(old, u usage) bool {
	t := *ts
	t.vendorMilli = maps0(ts.vendorMilli)
	t.add(old, -1)
	return t.fits(u)
}

// Work counts what the core did that grows with its state, for replays
// and tests that bound it.
type Work struct {
	// MoveSearches counts the searches for a migration (at most
	// Migration.MaxPerPass a Tick); MoveCandidates the moves they
	// weighed, MoveProbes those the scheduler was asked to place.
	MoveSearches, MoveCandidates, MoveProbes int64
}

// Work returns the counts so far.
func (c *Core) Work() Work { return c.work }
