package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// jobsPerCommit bounds one scheduler transaction: a job's record and its
// audit entry are two ops, under store.MaxTxnOps with the head and epoch.
const jobsPerCommit = 60

// loop is the leader's scheduling state: the core and the store's view of
// every live job.
type loop struct {
	s        *Server
	epochRev int64
	c        *core.Core
	recs     map[model.JobID]*jobRecord
	revs     map[model.JobID]int64
	nodes    map[model.NodeID]viewNode // registered nodes, as the store holds them
	down     map[model.NodeID]string   // nodes the core holds disconnected or lost, by v1 state
	tenants  map[model.TenantID]*model.Tenant
	polSnap  *policy.Snapshot // the policy the core was last given
	queueAt  time.Time        // when the queue-depth gauge was last set
	// mixVersion is the version of the learned task mix last stored.
	mixVersion uint64
	// ratesDirty: a learned throughput figure changed since the core was
	// last given the table (at ratesAt).
	ratesDirty bool
	ratesAt    time.Time
}

// lead fences the store with a new epoch and runs the scheduling loop
// until ctx ends or the store refuses the epoch.
func (s *Server) lead(ctx context.Context) error {
	b, _ := json.Marshal(map[string]any{"since": s.now().UTC()})
	epochRev, err := s.w.apply(ctx, &mutation{
		ops:   []store.Op{store.PutOp(epochKey, b)},
		audit: []audit.Record{{Actor: "scheduler", Action: "sched.lead"}},
	})
	if err != nil {
		return fmt.Errorf("write epoch: %w", err)
	}
	l := &loop{s: s, epochRev: epochRev}
	rev, err := l.load(ctx)
	if err != nil {
		return err
	}
	// One watch over every key, dispatched by prefix: one scan of the
	// store's event log per commit instead of one per prefix.
	all, err := s.s.Watch(ctx, "", rev)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	tick := time.NewTicker(s.cfg.TickEvery)
	defer tick.Stop()
	sweep := time.NewTicker(max(s.cfg.Heartbeat/4, time.Millisecond))
	defer sweep.Stop()
	var compact <-chan time.Time
	var compactTo int64 // the revision one period ago
	cs, canCompact := s.s.(store.Compactor)
	if canCompact && s.cfg.CompactEvery > 0 {
		t := time.NewTicker(s.cfg.CompactEvery)
		defer t.Stop()
		compact = t.C
	}
	for {
		if err := l.flush(ctx); err != nil {
			return err
		}
		if err := l.saveWorkload(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			_ = l.c.Step(core.Tick{At: s.now().Unix()})
			if err := l.pushRates(ctx, false); err != nil {
				return err
			}
		case <-sweep.C:
			if err := l.sweep(ctx); err != nil {
				return err
			}
		case <-compact:
			compactTo = l.compact(ctx, cs, compactTo)
		case ev, ok := <-all:
			if !ok {
				return errors.New("watch closed")
			}
			l.event(ev)
		drain:
			for range 1000 {
				select {
				case ev, ok := <-all:
					if !ok {
						return errors.New("watch closed")
					}
					l.event(ev)
				default:
					break drain
				}
			}
		}
	}
}

// compact discards the store's history up to to (the revision read one
// period ago) and returns the revision now, for the next period. A failure
// is logged: history is only kept longer.
func (l *loop) compact(ctx context.Context, cs store.Compactor, to int64) int64 {
	_, now, err := l.s.s.List(ctx, epochKey)
	if err != nil {
		l.s.log.Warn("read the store's revision for compaction", "err", err)
		return to
	}
	if to > 0 {
		if err := cs.Compact(ctx, to); err != nil && !errors.Is(err, store.ErrCompacted) {
			l.s.log.Warn("compact the store's history", "revision", to, "err", err)
		} else {
			l.s.log.Debug("compacted the store's history", "revision", to)
		}
	}
	return now
}

// load builds a fresh core from the store's snapshot and returns its
// revision.
func (l *loop) load(ctx context.Context) (int64, error) {
	s := l.s
	recs, revs, rev, err := s.jobsSorted(ctx)
	if err != nil {
		return 0, err
	}
	tkvs, _, err := s.s.List(ctx, tenantPrefix)
	if err != nil {
		return 0, fmt.Errorf("list tenants: %w", err)
	}
	cc := core.Config{Sched: s.cfg.Sched, ReleaseWithin: max(int64(s.cfg.ReleaseWithin/time.Second), 1),
		EffectiveShare: s.cfg.EffectiveShare, ReferenceModel: s.cfg.ReferenceModel, Migration: s.cfg.Migration}
	cc.Migration.RequireCheckpoint = true
	cc.Service = s.cfg.Service
	cc.Service.RequireCheckpoint = true
	if !s.cfg.FixedMix {
		mc := sched.MixConfig{}
		if s.cfg.Mix != nil {
			mc = *s.cfg.Mix
		}
		cc.Mix = &mc
		if kv, err := s.s.Get(ctx, workloadKey); err == nil {
			var st sched.MixState
			if err := json.Unmarshal(kv.Value, &st); err != nil {
				s.log.Warn("stored task mix unreadable; starting from the prior", "err", err)
			} else {
				cc.MixState = &st
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("read task mix: %w", err)
		}
	}
	l.c = core.New(s.net, cc)
	_, l.mixVersion, _ = l.c.Workload()
	l.recs, l.revs = map[model.JobID]*jobRecord{}, map[model.JobID]int64{}
	l.tenants = map[model.TenantID]*model.Tenant{}
	now := s.now().Unix()
	for _, kv := range tkvs {
		var t model.Tenant
		if json.Unmarshal(kv.Value, &t) == nil {
			l.tenants[t.ID] = &t
			_ = l.c.Step(core.TenantUpserted{At: now, Tenant: t})
		}
	}
	// The class rates before any job, so that a restored placement is
	// charged as it was.
	if err := l.pushRates(ctx, true); err != nil {
		return 0, err
	}
	// Placed jobs first, so that every committed placement is held again
	// before a queued job is decided; then the queued ones.
	for _, placed := range []bool{true, false} {
		for i, r := range recs {
			if r.State.Terminal() || (r.Placement != nil) != placed {
				continue
			}
			l.restore(r, revs[i])
		}
	}
	// Reports that arrived while no loop ran.
	for _, r := range recs {
		if _, ok := l.recs[r.Spec.ID]; ok {
			l.take(r, l.revs[r.Spec.ID])
		}
	}
	if err := l.loadNodes(ctx); err != nil {
		return 0, err
	}
	pkvs, _, err := s.s.List(ctx, policyPrefix)
	if err != nil {
		return 0, fmt.Errorf("list policy: %w", err)
	}
	for _, kv := range pkvs {
		s.applyPolicyKV(kv)
	}
	l.policyChanged()
	// Restoring decides nothing: a tick lets the core decide the queue.
	_ = l.c.Step(core.Tick{At: now})
	return rev, nil
}

// restore re-creates a stored job in the core: a placed one holds its
// committed placement again (the same cards), a queued one keeps its queue
// position.
func (l *loop) restore(r *jobRecord, rev int64) {
	id := r.Spec.ID
	l.recs[id], l.revs[id] = r, rev
	ev := core.JobRestored{At: l.s.now().Unix(), Job: r.Spec, State: r.State, Placement: r.Placement, Position: r.Position, Attained: r.Attained}
	if r.State != model.Placed && r.State != model.Running {
		ev.Placement = nil
		// A retried job keeps its pause across leaders: the record holds
		// the not-before time of its last retry.
		if n := len(r.Retries); n > 0 && r.Placement == nil {
			ev.NotBefore = r.Retries[n-1].NotBefore.Unix()
		}
	}
	err := l.c.Step(ev)
	if err != nil && ev.Placement != nil {
		// The store holds placements that overlap (it never should): keep
		// the first, decide this one again.
		l.s.log.Error("stored placement refused; the job is queued again", "job", id, "err", err)
		ev.Placement, ev.State = nil, model.Pending
		err = l.c.Step(ev)
	}
	if err != nil {
		l.s.log.Warn("stored job refused by the scheduler", "job", id, "err", err)
		delete(l.recs, id)
		delete(l.revs, id)
	}
}

// event dispatches one change by its key's prefix.
func (l *loop) event(ev store.Event) {
	k := ev.KV.Key
	switch {
	case strings.HasPrefix(k, jobPrefix):
		l.jobEvent(ev)
	case strings.HasPrefix(k, tenantPrefix):
		l.tenantEvent(ev)
	case strings.HasPrefix(k, nodePrefix):
		l.nodeEvent(ev)
	case strings.HasPrefix(k, beatPrefix):
		l.beatEvent(ev)
	case strings.HasPrefix(k, throughputPrefix):
		l.ratesDirty = true
	case strings.HasPrefix(k, policyPrefix):
		if ev.Type == store.Put {
			l.s.applyPolicyKV(ev.KV)
		}
		l.policyChanged()
	}
}

func (l *loop) tenantEvent(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	var t model.Tenant
	if json.Unmarshal(ev.KV.Value, &t) == nil {
		l.tenants[t.ID] = &t
		_ = l.c.Step(core.TenantUpserted{At: l.s.now().Unix(), Tenant: t})
	}
}

// jobEvent takes up a change another writer made to a job: a submit, a
// cancel or an agent's report.
func (l *loop) jobEvent(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	// Our own commits (most of the stream) are skipped without decoding.
	if ev.KV.ModRev <= l.revs[model.JobID(strings.TrimPrefix(ev.KV.Key, jobPrefix))] {
		return // our own commit, or older
	}
	r, err := decodeJob(ev.KV.Value)
	if err != nil {
		return
	}
	if ev.KV.ModRev <= l.revs[r.Spec.ID] {
		return
	}
	l.take(r, ev.KV.ModRev)
}

func (l *loop) take(r *jobRecord, rev int64) {
	id := r.Spec.ID
	now := l.s.now().Unix()
	prev, known := l.recs[id]
	l.recs[id], l.revs[id] = r, rev
	st, inCore := l.c.Job(id)
	switch {
	case !known && !inCore && r.State == model.Pending:
		_ = l.c.Step(core.JobSubmitted{At: now, Job: r.Spec})
	case r.State == model.Cancelled && inCore && !st.State.Terminal():
		_ = l.c.Step(core.JobCancelled{At: now, Job: id})
	case r.Reported == model.Running && inCore && st.State == model.Placed:
		_ = l.c.Step(core.JobStarted{At: now, Job: id})
	case r.Reported == reportedRetry && inCore && (st.State == model.Placed || st.State == model.Running) && len(r.Retries) > 0:
		_ = l.c.Step(core.JobRetried{At: now, Job: id, NotBefore: r.Retries[len(r.Retries)-1].NotBefore.Unix()})
	case r.Reported == reportedRequeue && inCore && (st.State == model.Placed || st.State == model.Running):
		_ = l.c.Step(core.JobRetried{At: now, Job: id, Reason: core.StopRequeued})
	case (r.Reported == model.Completed || r.Reported == model.Failed) && inCore && !st.State.Terminal():
		_ = l.c.Step(core.JobFinished{At: now, Job: id, Failed: r.Reported == model.Failed})
	}
	if inCore && !r.State.Terminal() && (prev == nil || r.Spec.CheckpointTime > prev.Spec.CheckpointTime) && r.Spec.CheckpointTime > 0 {
		_ = l.c.Step(core.Checkpointed{At: now, Job: id, Time: r.Spec.CheckpointTime})
	}
	if r.State.Terminal() && !inCore {
		delete(l.recs, id)
		delete(l.revs, id)
	}
}

// advance tells the core what of rd the store holds: every job but the
// changes not done; quarantined ones as failed.
func (l *loop) advance(rd core.Ready, changes []change, done map[model.JobID]bool, quarantined []model.JobID, now time.Time) {
	undone := map[model.JobID]bool{}
	for _, ch := range changes {
		if !done[ch.id] {
			undone[ch.id] = true
		}
	}
	if len(undone) == 0 {
		l.c.Advance(rd)
	} else {
		l.c.Advance(rd.Only(func(id model.JobID) bool { return !undone[id] }))
	}
	for _, id := range quarantined {
		// The core placed or queued it; the store holds it failed.
		_ = l.c.Step(core.JobFinished{At: now.Unix(), Job: id, Failed: true})
	}
}

// refresh re-reads a job whose revision check failed.
func (l *loop) refresh(ctx context.Context, key string) error {
	kv, err := l.s.s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("re-read %s: %w", key, err)
	}
	r, err := decodeJob(kv.Value)
	if err != nil {
		return err
	}
	l.take(r, kv.ModRev)
	return nil
}

func (l *loop) queued() int {
	n := 0
	for _, r := range l.recs {
		if r.State == model.Pending || r.State == model.Blocked || r.State == model.Preempted {
			n++
		}
	}
	return n
}

func samePlacement(a, b *model.Placement) bool {
	if a == b {
		return true
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// stopActions names the audit action of a stopped placement by its
// reason.
var stopActions = map[string]string{
	core.StopEvicted:   "sched.evict",
	core.StopPreempted: "sched.preempt",
	core.StopNodeLost:  "sched.requeue",
	core.StopRequeued:  "sched.requeue",
	core.StopMigrated:  "sched.migrate",
}

// decisionAudit is the audit record of one committed decision: a stop (an
// eviction, a preemption, a requeue off a lost node) says where the job
// was and where it went.
func decisionAudit(id model.JobID, r *jobRecord, stop *core.Stop) audit.Record {
	rec := audit.Record{Actor: "scheduler", Action: "sched." + string(r.State), Target: string(id), Detail: decisionDetail(r)}
	if stop == nil {
		return rec
	}
	if a, ok := stopActions[stop.Reason]; ok {
		rec.Action = a
		rec.Detail = fmt.Sprintf("%s, off%s; now %s: %s", stop.Reason, nodeList(&stop.Placement), r.State, rec.Detail)
		if stop.By != "" {
			rec.Detail += "; by " + string(stop.By)
		}
		if stop.Detail != "" {
			rec.Detail += "; " + stop.Detail
		}
	}
	return rec
}

func nodeList(p *model.Placement) string {
	nodes := ""
	for i, a := range p.Assignments {
		if i == 4 {
			nodes += fmt.Sprintf(" +%d", len(p.Assignments)-4)
			break
		}
		nodes += fmt.Sprintf(" %s%v", a.Node, a.Cards)
	}
	return nodes
}

func decisionDetail(r *jobRecord) string {
	if r.Placement != nil && (r.State == model.Placed || r.State == model.Running) {
		return fmt.Sprintf("gflops=%d on%s", r.Placement.GFLOPS, nodeList(r.Placement))
	}
	return r.Reason
}

// policyChanged gives the core the policy in force when it changed: the
// filter new placements pass, and the running jobs that must move (the
// policy package's violations: rules broken, evict advisories), which the
// core stops whole and requeues at their queue position in the same pass.
func (l *loop) policyChanged() {
	snap := l.s.pol.Load().Snapshot()
	if snap == l.polSnap {
		return
	}
	l.polSnap = snap
	if snap.Revision() == 0 {
		return // no policy yet: nothing to filter
	}
	now := l.s.now().Unix()
	var running []policy.Running
	for _, r := range l.recs {
		if r.Placement != nil && (r.State == model.Placed || r.State == model.Running) {
			running = append(running, policy.Running{Job: &r.Spec, Tenant: l.tenants[r.Spec.Tenant], Placement: r.Placement})
		}
	}
	off := map[model.JobID]map[model.NodeID]bool{}
	for _, v := range snap.Violations(l.s.net, running, nil, now) {
		m := map[model.NodeID]bool{}
		for _, n := range v.Nodes {
			m[n] = true
		}
		off[v.Job] = m
	}
	_ = l.c.Step(core.PolicyChanged{At: now, Policy: &policyFilter{snap: snap, tenants: l.tenants, off: off}})
}
