package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// The leader's side of node leases: it follows the node records, keeps the
// core's view of node health in step with them, and sweeps the leases. A
// node that missed MissedBeats heartbeats in a row is disconnected: it
// takes no new work, but its jobs stay placed (they run on behind a
// partition, and nothing else is put on their cards). A node disconnected
// for longer than its site's lost_after (Config.LostAfter by default) is
// lost: the core requeues its jobs whole from their last checkpoint. An
// agent that comes back registers again: the node is ready, the work still
// placed on it stays, and the agent stops the copies of work that was
// requeued meanwhile (its assignments no longer list them).

// loadNodes reads the node records after the jobs are restored: nodes the
// store says are down are stepped down (their jobs requeued, should a lost
// leader have had no time to), and every registered node gets a fresh
// lease from now (heartbeats heard by a lost leader are gone).
func (l *loop) loadNodes(ctx context.Context) error {
	kvs, _, err := l.s.s.List(ctx, nodePrefix)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	l.nodes, l.down = map[model.NodeID]viewNode{}, map[model.NodeID]string{}
	now := l.s.now().UTC()
	for _, kv := range kvs {
		r, err := decodeNode(kv.Value)
		if err != nil {
			continue
		}
		l.nodes[r.ID()] = viewNode{r, kv.ModRev}
		l.s.noteBeat(r.ID(), beat{Lease: r.Lease, At: now})
		l.health(r)
	}
	return nil
}

// health steps the core so that it sees the node as the record says:
// ready; disconnected (no new work, its jobs held); anything else down
// with its jobs requeued.
func (l *loop) health(r *nodeRecord) {
	id := r.ID()
	if _, ok := l.s.net.Node(id); !ok {
		return
	}
	// A registered agent reports its workers' ends in its heartbeats: the
	// cards of a placement stopped there stay taken until it has.
	_ = l.c.Step(core.NodeReports{At: l.s.now().Unix(), Node: id, On: r.State == v1.NodeReady || r.State == v1.NodeDisconnected})
	want := ""
	switch r.State {
	case v1.NodeReady:
	case v1.NodeDisconnected:
		want = v1.NodeDisconnected
	default:
		want = v1.NodeLost
	}
	if want == l.down[id] {
		return
	}
	now := l.s.now().Unix()
	switch want {
	case "":
		delete(l.down, id)
		_ = l.c.Step(core.NodeHealthy{At: now, Node: id})
	case v1.NodeDisconnected:
		l.down[id] = want
		_ = l.c.Step(core.NodeDisconnected{At: now, Node: id})
	default:
		l.down[id] = want
		_ = l.c.Step(core.NodeLost{At: now, Node: id})
	}
}

func (l *loop) nodeEvent(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	r, err := decodeNode(ev.KV.Value)
	if err != nil {
		return
	}
	id := r.ID()
	if cur, ok := l.nodes[id]; ok && cur.rev >= ev.KV.ModRev {
		return
	}
	if cur, ok := l.nodes[id]; !ok || cur.rec.Lease != r.Lease {
		l.s.noteBeat(id, beat{Lease: r.Lease, At: r.RegisteredAt})
	}
	l.nodes[id] = viewNode{r, ev.KV.ModRev}
	l.health(r)
}

func (l *loop) beatEvent(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	var b beat
	if json.Unmarshal(ev.KV.Value, &b) == nil {
		l.s.noteBeat(model.NodeID(ev.KV.Key[len(beatPrefix):]), b)
	}
}

// lostAfter is how long a node may stay disconnected before its work is
// requeued: its site's lost_after, else Config.LostAfter.
func (s *Server) lostAfter(id model.NodeID) time.Duration {
	if n, ok := s.net.Node(id); ok {
		if site, ok := s.net.Site(n.Site); ok && site.LostAfterSec > 0 {
			return time.Duration(site.LostAfterSec) * time.Second
		}
	}
	return s.cfg.LostAfter
}

// sweep disconnects every ready node whose lease lapsed and loses every
// node disconnected for longer than its lost_after.
func (l *loop) sweep(ctx context.Context) error {
	now := l.s.now()
	var silent, lost []model.NodeID
	for id, n := range l.nodes {
		switch n.rec.State {
		case v1.NodeReady:
			last := n.rec.RegisteredAt
			if b, ok := l.s.lastBeat(id); ok && b.Lease == n.rec.Lease && b.At.After(last) {
				last = b.At
			}
			if n.rec.lease().Lost(last, now) {
				silent = append(silent, id)
			}
		case v1.NodeDisconnected:
			since := n.rec.RegisteredAt
			if n.rec.DisconnectedAt != nil {
				since = *n.rec.DisconnectedAt
			}
			if now.Sub(since) >= l.s.lostAfter(id) {
				lost = append(lost, id)
			} else {
				l.jobsLost(id, now.Sub(since), now)
			}
		}
	}
	l.released(now)
	slices.Sort(silent)
	slices.Sort(lost)
	for _, id := range silent {
		if err := l.markDisconnected(ctx, id, now); err != nil {
			return err
		}
	}
	for _, id := range lost {
		if err := l.markLost(ctx, id, now); err != nil {
			return err
		}
	}
	return nil
}

// released steps WorkersGone for every held stop whose node's agent has
// since sent a heartbeat (on its current lease, in a later second than the
// stop) that lists no worker of the job but those of its current
// placement.
func (l *loop) released(now time.Time) {
	for _, h := range l.c.Holds() {
		n, ok := l.nodes[h.Node]
		if !ok {
			continue
		}
		b, ok := l.s.lastBeat(h.Node)
		if !ok || !b.Heard || b.Lease != n.rec.Lease || b.At.Unix() <= h.Since {
			continue
		}
		var placed *time.Time
		if r := l.recs[h.Job]; r != nil && r.Placement != nil {
			placed = r.PlacedAt
		}
		if slices.ContainsFunc(b.Running, func(w v1.WorkerRef) bool {
			return w.Job == string(h.Job) && (w.PlacedAt == nil || placed == nil || !w.PlacedAt.Equal(*placed))
		}) {
			continue // a worker of the stopped placement still runs there
		}
		_ = l.c.Step(core.WorkersGone{At: now.Unix(), Job: h.Job, Node: h.Node})
	}
}

// jobsLost requeues the jobs on a node disconnected for d whose own
// lost_after_sec is shorter than the node's.
func (l *loop) jobsLost(id model.NodeID, d time.Duration, now time.Time) {
	for _, vj := range l.s.v.onNode(id) {
		if s := vj.rec.Spec.LostAfterSec; s > 0 && d >= time.Duration(s)*time.Second {
			_ = l.c.Step(core.JobLost{At: now.Unix(), Job: vj.rec.Spec.ID})
		}
	}
}

// markDisconnected records a silent node disconnected: its work is held.
func (l *loop) markDisconnected(ctx context.Context, id model.NodeID, now time.Time) error {
	r := *l.nodes[id].rec
	lease, after := r.lease(), l.s.lostAfter(id)
	at := now.UTC()
	r.State, r.DisconnectedAt = v1.NodeDisconnected, &at
	r.Reason = fmt.Sprintf("%d heartbeats missed (period %s); its work is held until %s (lost_after %s), then requeued",
		lease.Missed, lease.Period, at.Add(after).Format(time.RFC3339), after)
	jobs := len(l.s.v.onNode(id))
	return l.markNode(ctx, &r, audit.Record{Actor: "scheduler", Action: "node.disconnected", Target: string(id),
		Detail: fmt.Sprintf("%s; %d job(s) held", r.Reason, jobs)})
}

// markLost records a node lost, fenced by the leader's epoch, then steps
// the core, which requeues its work.
func (l *loop) markLost(ctx context.Context, id model.NodeID, now time.Time) error {
	r := *l.nodes[id].rec
	since := r.RegisteredAt
	if r.DisconnectedAt != nil {
		since = *r.DisconnectedAt
	}
	r.State = v1.NodeLost
	r.Reason = fmt.Sprintf("disconnected since %s, longer than lost_after %s", since.UTC().Format(time.RFC3339), l.s.lostAfter(id))
	jobs := len(l.s.v.onNode(id))
	return l.markNode(ctx, &r, audit.Record{Actor: "scheduler", Action: "node.lost", Target: string(id),
		Detail: fmt.Sprintf("%s; %d job(s) requeued", r.Reason, jobs)})
}

// markNode writes a node's new state, fenced by the leader's epoch and the
// record's revision, then steps the core.
func (l *loop) markNode(ctx context.Context, r *nodeRecord, rec audit.Record) error {
	id := r.ID()
	n := l.nodes[id]
	val, _ := json.Marshal(r)
	rev, err := l.s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: nodeKey(id), ModRev: n.rev}, {Key: epochKey, ModRev: l.epochRev}},
		ops:   []store.Op{store.PutOp(nodeKey(id), val)},
		audit: []audit.Record{rec},
	})
	var ce *store.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Key == epochKey:
		return fmt.Errorf("another replica took over scheduling: %w", err)
	case errors.Is(err, store.ErrConflict):
		return nil // the node changed (a registration): the watch brings it
	default:
		return fmt.Errorf("mark node %s %s: %w", id, r.State, err)
	}
	l.nodes[id] = viewNode{r, rev}
	l.s.v.putNode(r, rev)
	l.health(r)
	return nil
}
