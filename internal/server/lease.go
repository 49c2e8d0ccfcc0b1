package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// The leader's side of node leases: it follows the node records, keeps the
// core's view of node health in step with them, and sweeps the leases,
// marking lost (in the store, then in the core) every node that missed
// MissedBeats heartbeats in a row; the core requeues the node's jobs whole
// from their last checkpoint.

// loadNodes reads the node records after the jobs are restored: nodes the
// store says are down are stepped down (their jobs requeued, should a lost
// leader have had no time to), and every registered node gets a fresh
// lease from now (heartbeats heard by a lost leader are gone).
func (l *loop) loadNodes(ctx context.Context) error {
	kvs, _, err := l.s.s.List(ctx, nodePrefix)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	l.nodes, l.down = map[model.NodeID]viewNode{}, map[model.NodeID]bool{}
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

// health steps the core so that it sees the node as the record says.
func (l *loop) health(r *nodeRecord) {
	id := r.ID()
	if _, ok := l.s.net.Node(id); !ok {
		return
	}
	down := r.State != v1.NodeReady
	if down == l.down[id] {
		return
	}
	now := l.s.now().Unix()
	if down {
		l.down[id] = true
		_ = l.c.Step(core.NodeLost{At: now, Node: id})
		return
	}
	delete(l.down, id)
	_ = l.c.Step(core.NodeHealthy{At: now, Node: id})
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

// sweep marks lost every ready node whose lease lapsed.
func (l *loop) sweep(ctx context.Context) error {
	now := l.s.now()
	var lost []model.NodeID
	for id, n := range l.nodes {
		if n.rec.State != v1.NodeReady {
			continue
		}
		last := n.rec.RegisteredAt
		if b, ok := l.s.lastBeat(id); ok && b.Lease == n.rec.Lease && b.At.After(last) {
			last = b.At
		}
		if n.rec.lease().Lost(last, now) {
			lost = append(lost, id)
		}
	}
	slices.Sort(lost)
	for _, id := range lost {
		if err := l.markLost(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// markLost records a node lost, fenced by the leader's epoch, then steps
// the core.
func (l *loop) markLost(ctx context.Context, id model.NodeID) error {
	n := l.nodes[id]
	r := *n.rec
	lease := r.lease()
	r.State = v1.NodeLost
	r.Reason = fmt.Sprintf("%d heartbeats missed (period %s)", lease.Missed, lease.Period)
	val, _ := json.Marshal(&r)
	jobs := len(l.s.v.onNode(id))
	rev, err := l.s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: nodeKey(id), ModRev: n.rev}, {Key: epochKey, ModRev: l.epochRev}},
		ops:   []store.Op{store.PutOp(nodeKey(id), val)},
		audit: []audit.Record{{Actor: "scheduler", Action: "node.lost", Target: string(id), Detail: fmt.Sprintf("%s; %d job(s) requeued", r.Reason, jobs)}},
	})
	var ce *store.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Key == epochKey:
		return fmt.Errorf("another replica took over scheduling: %w", err)
	case errors.Is(err, store.ErrConflict):
		return nil // the node changed (a registration): the watch brings it
	default:
		return fmt.Errorf("mark node %s lost: %w", id, err)
	}
	l.nodes[id] = viewNode{&r, rev}
	l.s.v.putNode(&r, rev)
	l.health(&r)
	return nil
}
