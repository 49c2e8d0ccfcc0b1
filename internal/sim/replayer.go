package sim

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
)

// replayer is the state of one replay (replay): the core, the jobs'
// records, the finish queue and the running measures.
type replayer struct {
	net  *network.Network
	jobs source
	cfg  ReplayConfig
	c    *core.Core
	u    *usage
	rep  *TimedReport

	order []int32 // jobs by submit time
	ai    int     // next job of order to submit
	end   int64   // the horizon, or an estimate of the end for the sample step
	hard  bool    // end is the horizon

	runs []run
	byID map[model.JobID]*run // jobs submitted and not yet finished
	fq   finishQueue
	kwh  *ledger.EnergyMeter // the energy of the work, metered as placements end
	// cards and ivs serve meter: the network's cards looked up once, and
	// a buffer for a placement's intervals.
	cards *ledger.Cards
	ivs   []ledger.Interval

	running, queued int
	// capWaiting counts the jobs waiting for capacity (capacityWait).
	capWaiting int
	delays     []int64
	// sinceSum and sinceN are the queueing delays since the last sample.
	sinceSum, sinceN int64
	utilArea         float64
	// idleWaitArea is Σ unallocated thousandths × seconds while some job
	// waited for capacity; waitS is that time.
	idleWaitArea float64
	waitS        int64
	lastT        int64
	step         int64
	nextSample   int64
	progressEach int
	submitted    int
}

func newReplayer(net *network.Network, jobs source, cfg ReplayConfig) (*replayer, error) {
	if cfg.Samples <= 0 {
		cfg.Samples = 240
	}
	n := jobs.len()
	rp := &replayer{net: net, jobs: jobs, cfg: cfg, order: make([]int32, n), runs: make([]run, n),
		byID: map[model.JobID]*run{}, step: 1, progressEach: max(1, n/200),
		rep: &TimedReport{Network: net.Name, Cards: net.Cards()}}
	for i := range rp.order {
		rp.order[i] = int32(i)
	}
	slices.SortStableFunc(rp.order, func(a, b int32) int { return cmp.Compare(jobs.submitTime(int(a)), jobs.submitTime(int(b))) })
	rp.end, rp.hard = cfg.HorizonS, cfg.HorizonS > 0
	if !rp.hard {
		for i := range n {
			rp.end = max(rp.end, jobs.submitTime(i)+jobs.durationS(i))
		}
	}
	if rp.end > 0 {
		rp.step = max(1, (rp.end+int64(cfg.Samples)-1)/int64(cfg.Samples))
	}
	prices := cfg.Prices
	if prices == nil {
		var err error
		if prices, err = ledger.NetworkPrices(net); err != nil {
			return nil, err
		}
	}
	rp.kwh, rp.cards = ledger.NewEnergyMeter(prices), ledger.NewCards(net)
	rp.c = core.New(net, cfg.Core)
	for _, t := range cfg.Tenants {
		if err := rp.c.Step(core.TenantUpserted{At: 0, Tenant: t}); err != nil {
			return nil, err
		}
	}
	rp.u = &usage{net: net, cards: int64(net.Cards()) * model.MilliCard}
	if cfg.measure != nil {
		rp.u.perCard = map[model.NodeID][]int32{}
	}
	return rp, nil
}

// capacityWait reports whether a job waiting for this reason waits for
// capacity (cards, host or a reservation's), not for its tenant's limits.
func capacityWait(reason string) bool {
	switch reason {
	case "", string(sched.QuotaExceeded), string(sched.VendorCapExceeded), core.ReasonNeverFits:
		return false
	}
	return true
}

// setWaiting records whether job r waits for capacity.
func (rp *replayer) setWaiting(r *run, waiting bool) {
	if r.capWait != waiting {
		r.capWait = waiting
		if waiting {
			rp.capWaiting++
		} else {
			rp.capWaiting--
		}
	}
}

func (rp *replayer) meter(p *model.Placement, i int, from, to int64) {
	if to > from {
		rp.ivs = rp.cards.Intervals(rp.ivs[:0], model.TenantID(rp.jobs.tenant(i)), p, from, to)
		for k := range rp.ivs {
			rp.kwh.Add(&rp.ivs[k])
		}
	}
}

// advanceTo moves the clock to t, integrating utilisation and the
// capacity left idle while jobs wait.
func (rp *replayer) advanceTo(t int64) {
	dt := t - rp.lastT
	rp.utilArea += float64(rp.u.used) * float64(dt)
	if rp.capWaiting > 0 {
		rp.idleWaitArea += float64(rp.u.cards-rp.u.used) * float64(dt)
		rp.waitS += dt
	}
	rp.lastT = t
}

func (rp *replayer) sample(t int64) {
	u := rp.u
	s := Sample{T: t, Util: float64(u.used) / float64(u.cards), Running: rp.running, Queued: rp.queued}
	if rp.sinceN > 0 {
		s.QueueDelayS = float64(rp.sinceSum) / float64(rp.sinceN)
	}
	rp.sinceSum, rp.sinceN = 0, 0
	if rp.cfg.measure != nil {
		s.FragGPUs, s.FragRatio = rp.cfg.measure(u)
	}
	rp.rep.PeakUtil = max(rp.rep.PeakUtil, s.Util)
	rp.rep.Series = append(rp.rep.Series, s)
}

// drain takes the core's output at `now`: stopped placements, job states
// and new placements.
func (rp *replayer) drain(now int64) error {
	if !rp.c.HasReady() {
		return nil
	}
	rd := rp.c.Ready()
	for _, s := range rd.Stops {
		r := rp.byID[s.Job]
		if r == nil {
			continue
		}
		rp.u.apply(&s.Placement, -1)
		rp.meter(&s.Placement, r.i, r.placedAt, now)
		r.cardSeconds += r.milli * (now - r.placedAt)
		r.running = false
		r.gen++
		rp.running--
		rp.queued++
		if s.Reason == core.StopPreempted {
			rp.rep.Preemptions++
		}
	}
	for i := range rd.Jobs {
		st := &rd.Jobs[i]
		r := rp.byID[st.Job]
		switch {
		case r == nil:
		case st.State == model.Blocked:
			r.reason = st.Reason
			rp.setWaiting(r, !r.running && capacityWait(st.Reason))
		case st.State == model.Failed && st.Reason == core.ReasonNeverFits && !r.running:
			// Refused: the network can never hold it; it waits no more.
			r.reason = st.Reason
			rp.setWaiting(r, false)
			rp.queued--
		}
	}
	for i := range rd.Placements {
		if err := rp.placed(&rd.Placements[i], now); err != nil {
			return err
		}
	}
	rp.c.Advance(rd)
	return nil
}

// placed records a placement the core made at `now`.
func (rp *replayer) placed(p *model.Placement, now int64) error {
	r := rp.byID[p.Job]
	if r == nil {
		return fmt.Errorf("the core placed %s, a job the replay never submitted", p.Job)
	}
	r.placement = *p
	r.milli = rp.u.apply(p, 1)
	r.placedAt = now
	r.running = true
	rp.setWaiting(r, false)
	rp.running++
	rp.queued--
	if r.firstPlaced < 0 {
		r.firstPlaced = now
		d := now - rp.jobs.submitTime(r.i)
		if d > 0 && r.reason != "" {
			if rp.rep.DelayReasons == nil {
				rp.rep.DelayReasons = map[string]int{}
			}
			rp.rep.DelayReasons[r.reason]++
		}
		rp.delays = append(rp.delays, d)
		rp.sinceSum += d
		rp.sinceN++
	}
	if dur := rp.jobs.durationS(r.i); dur > 0 {
		heap.Push(&rp.fq, finish{t: now + dur, run: r, gen: r.gen})
	}
	return nil
}

// loop runs the replay to its end: samples, finishes and submissions in
// time order, the core stepped at each.
func (rp *replayer) loop(ctx context.Context) error {
	idle := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := int64(-1)
		if rp.ai < len(rp.order) {
			t = rp.jobs.submitTime(int(rp.order[rp.ai]))
		}
		if len(rp.fq) > 0 && (t < 0 || rp.fq[0].t < t) {
			t = rp.fq[0].t
		}
		if t < 0 {
			// No event left, but jobs wait (behind a reservation, say):
			// let time pass in ticks so the core can revisit them.
			if rp.queued == 0 || idle >= maxIdleTicks {
				return nil
			}
			idle++
			t = max(rp.nextSample, rp.lastT)
		} else {
			idle = 0
		}
		if rp.hard && t > rp.end {
			return nil
		}
		if err := rp.at(t); err != nil {
			return err
		}
	}
}

// at handles the events at time t: the samples up to it, the jobs
// finishing and the jobs submitted then.
func (rp *replayer) at(t int64) error {
	for rp.nextSample <= t {
		rp.advanceTo(rp.nextSample)
		rp.sample(rp.nextSample)
		if err := rp.c.Step(core.Tick{At: rp.nextSample}); err != nil {
			return err
		}
		if err := rp.drain(rp.nextSample); err != nil {
			return err
		}
		rp.nextSample += rp.step
	}
	rp.advanceTo(t)
	for len(rp.fq) > 0 && rp.fq[0].t == t {
		if err := rp.finished(heap.Pop(&rp.fq).(finish), t); err != nil {
			return err
		}
	}
	for rp.ai < len(rp.order) && rp.jobs.submitTime(int(rp.order[rp.ai])) == t {
		i := int(rp.order[rp.ai])
		rp.ai++
		j := rp.jobs.job(i)
		if err := rp.c.Step(core.JobSubmitted{At: t, Job: j}); err != nil {
			rp.rep.Rejected++
			continue
		}
		r := &rp.runs[i]
		*r = run{i: i, submitted: true, firstPlaced: -1, endedAt: -1}
		rp.byID[j.ID] = r
		rp.submitted++
		rp.queued++
		if rp.cfg.Progress != nil && rp.submitted%rp.progressEach == 0 {
			rp.cfg.Progress(int64(rp.submitted), int64(rp.jobs.len()))
		}
	}
	return rp.drain(t)
}

// finished ends a job's run at t, unless the placement it belongs to was
// stopped since.
func (rp *replayer) finished(f finish, t int64) error {
	if f.gen != f.run.gen {
		return nil
	}
	r := f.run
	id := r.placement.Job
	if err := rp.c.Step(core.JobFinished{At: t, Job: id}); err != nil {
		return err
	}
	rp.u.apply(&r.placement, -1)
	rp.meter(&r.placement, r.i, r.placedAt, t)
	r.placement = model.Placement{}
	delete(rp.byID, id)
	r.cardSeconds += r.milli * (t - r.placedAt)
	r.endedAt = t
	r.running = false
	rp.running--
	rp.rep.Completed++
	return rp.drain(t)
}

// report closes the series and summarises the replay.
func (rp *replayer) report() (*TimedReport, error) {
	rep := rp.rep
	finalT := rp.lastT
	if rp.hard {
		finalT = rp.end
	}
	for rp.nextSample <= finalT {
		rp.advanceTo(rp.nextSample)
		rp.sample(rp.nextSample)
		rp.nextSample += rp.step
	}
	rp.advanceTo(finalT)
	rep.EndS = finalT
	if finalT > 0 {
		rep.MeanUtil = rp.utilArea / float64(finalT) / float64(rp.u.cards)
	}
	rep.WaitingS = rp.waitS
	if rp.waitS > 0 {
		rep.UnallocatedWaiting = rp.idleWaitArea / float64(rp.waitS) / model.MilliCard
	}
	n := rp.jobs.len()
	if rp.cfg.Progress != nil {
		rp.cfg.Progress(int64(n), int64(n))
	}
	summarizeRuns(rep, rp.jobs, rp.runs, finalT)
	for i := range rp.runs {
		if r := &rp.runs[i]; r.running {
			rp.meter(&r.placement, r.i, r.placedAt, finalT)
		}
	}
	es := rp.kwh.Summary()
	rep.Energy = &es
	for id, r := range rp.byID {
		if r.firstPlaced < 0 {
			if st, ok := rp.c.Job(id); ok {
				if rep.WaitReasons == nil {
					rep.WaitReasons = map[string]int{}
				}
				rep.WaitReasons[st.Reason]++
			}
		}
	}
	rep.QueueDelay = newDist(rp.delays)
	return rep, nil
}
