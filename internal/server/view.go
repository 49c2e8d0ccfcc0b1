package server

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// view is every replica's in-memory index of the live (placed or running)
// jobs, kept current by a watch on the job records: the hot read paths
// (an agent's assignments and its heartbeat's assignment revision, the
// capacity ledger, metrics, the compliance report) read it instead of
// listing every job in the store.
type view struct {
	mu      sync.RWMutex // guards everything below
	ready   chan struct{}
	base    int64 // the revision the view was first built at
	live    map[model.JobID]viewJob
	byNode  map[model.NodeID]map[model.JobID]struct{}
	nodeRev map[model.NodeID]int64 // revision of the node's assignment set's last change
	nodes   map[model.NodeID]viewNode
	at      int64 // the store revision the view has taken every change up to
}

type viewNode struct {
	rec *nodeRecord
	rev int64
}

type viewJob struct {
	rec *jobRecord
	rev int64
}

func newView() *view {
	return &view{ready: make(chan struct{}), live: map[model.JobID]viewJob{},
		byNode: map[model.NodeID]map[model.JobID]struct{}{}, nodeRev: map[model.NodeID]int64{}, nodes: map[model.NodeID]viewNode{}}
}

// run keeps the view current until ctx ends, and hands the policy keys
// to policy (each stored record, then every change) and calls policyRead
// after each full read of them.
func (v *view) run(ctx context.Context, s store.Store, policy func(store.KV), policyRead func()) {
	first := true
	follow(ctx, s, []string{jobPrefix, nodePrefix, policyPrefix}, func(prefix string, kvs []store.KV, rev int64) {
		switch prefix {
		case jobPrefix:
			v.reset(kvs, rev)
		case nodePrefix:
			v.resetNodes(kvs)
			if first {
				close(v.ready)
				first = false
			}
		case policyPrefix:
			for _, kv := range kvs {
				policy(kv)
			}
			policyRead()
		}
	}, v.seen, func(ev store.Event) {
		switch k := ev.KV.Key; {
		case strings.HasPrefix(k, jobPrefix):
			v.apply(ev)
		case strings.HasPrefix(k, nodePrefix):
			v.applyNode(ev)
		case strings.HasPrefix(k, policyPrefix):
			if ev.Type == store.Put {
				policy(ev.KV)
			}
		}
	})
}

// follow lists each prefix, then watches every key from the oldest of
// those reads, handing apply each change newer than its prefix's read
// (one scan of the store's event log per commit, however many prefixes);
// a watch cut off (compaction, a store error) reads again. seen is told
// each revision everything up to which has been handed over.
func follow(ctx context.Context, s store.Store, prefixes []string, reset func(string, []store.KV, int64), seen func(int64), apply func(store.Event)) {
	for ctx.Err() == nil {
		revs := make([]int64, len(prefixes))
		ok := true
		for i, p := range prefixes {
			kvs, rev, err := s.List(ctx, p)
			if err != nil {
				ok = false
				break
			}
			reset(p, kvs, rev)
			revs[i] = rev
		}
		if !ok {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		ch, err := s.Watch(ctx, "", revs[0])
		if err != nil {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		seen(slices.Min(revs))
		for ev := range ch {
			for i, p := range prefixes {
				if strings.HasPrefix(ev.KV.Key, p) {
					if ev.Rev > revs[i] {
						apply(ev)
					}
					break
				}
			}
			if len(ch) == 0 {
				// The events of one revision arrive together: once none
				// is waiting, the revision is taken whole.
				seen(ev.Rev)
			}
		}
	}
}

// catchUpWait bounds how long a read waits for the view to take the
// store's latest changes (see catchUp).
const catchUpWait = 2 * time.Second

// seen records that every change up to rev has been taken.
func (v *view) seen(rev int64) {
	v.mu.Lock()
	v.at = max(v.at, rev)
	v.mu.Unlock()
}

// catchUp waits until the view has taken every change the store held when
// it was called, so that a report asked for after a write (a job seen
// moved through the API) shows it. It waits at most catchUpWait: changes
// the view's watch never sees (another prefix on a shared etcd cluster
// moves the revision too) must not stall the read, which then serves what
// the view has.
func (v *view) catchUp(ctx context.Context, s store.Lister) error {
	if err := v.wait(ctx); err != nil {
		return err
	}
	_, rev, err := s.List(ctx, epochKey)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(catchUpWait)
	for {
		v.mu.RLock()
		at := v.at
		v.mu.RUnlock()
		if at >= rev || time.Now().After(deadline) || ctx.Err() != nil {
			return nil
		}
		sleep(ctx, 2*time.Millisecond)
	}
}

// wait blocks until the view has been built once.
func (v *view) wait(ctx context.Context) error {
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		return errors.New("the job index is not built yet; retry shortly")
	}
}

func (v *view) reset(kvs []store.KV, rev int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.byNode
	if v.base == 0 {
		v.base = rev
	}
	clear(v.live)
	v.byNode = map[model.NodeID]map[model.JobID]struct{}{}
	for _, kv := range kvs {
		r, err := decodeJob(kv.Value)
		if err != nil || !liveRecord(r) {
			continue
		}
		v.add(r, kv.ModRev)
	}
	// A relist may have missed changes: every node whose set may differ
	// gets the relist's revision.
	for n := range old {
		v.nodeRev[n] = rev
	}
	for n := range v.byNode {
		v.nodeRev[n] = rev
	}
}

func liveRecord(r *jobRecord) bool {
	return r.Placement != nil && (r.State == model.Placed || r.State == model.Running)
}

// add indexes a live record; v.mu held.
func (v *view) add(r *jobRecord, rev int64) {
	v.live[r.Spec.ID] = viewJob{r, rev}
	for _, a := range r.Placement.Assignments {
		m := v.byNode[a.Node]
		if m == nil {
			m = map[model.JobID]struct{}{}
			v.byNode[a.Node] = m
		}
		m[r.Spec.ID] = struct{}{}
	}
}

// apply takes one job change.
func (v *view) apply(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	id := model.JobID(strings.TrimPrefix(ev.KV.Key, jobPrefix))
	var r *jobRecord
	// A record without a placement is not live: no need to decode it (a
	// submit, a blocked job).
	if bytes.Contains(ev.KV.Value, []byte(`"placement":`)) {
		var err error
		if r, err = decodeJob(ev.KV.Value); err != nil {
			return
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, ok := v.live[id]; ok {
		delete(v.live, id)
		for _, a := range old.rec.Placement.Assignments {
			if m := v.byNode[a.Node]; m != nil {
				delete(m, id)
				if len(m) == 0 {
					delete(v.byNode, a.Node)
				}
			}
			v.nodeRev[a.Node] = ev.Rev
		}
	}
	if r != nil && liveRecord(r) {
		v.add(r, ev.KV.ModRev)
		for _, a := range r.Placement.Assignments {
			v.nodeRev[a.Node] = ev.Rev
		}
	}
}

// onNode returns the live jobs with a worker on the node, in id order.
func (v *view) onNode(node model.NodeID) []viewJob {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]viewJob, 0, len(v.byNode[node]))
	for id := range v.byNode[node] {
		out = append(out, v.live[id])
	}
	sortViewJobs(out)
	return out
}

// assignmentsRev is the revision of the node's assignment set: it changes
// whenever a job is placed on the node or leaves it. Never zero once the
// view is built.
func (v *view) assignmentsRev(node model.NodeID) int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if r := v.nodeRev[node]; r > 0 {
		return r
	}
	return max(v.base, 1)
}

// liveJobs returns every live job, in id order.
func (v *view) liveJobs() []viewJob {
	v.mu.RLock()
	out := make([]viewJob, 0, len(v.live))
	for _, j := range v.live {
		out = append(out, j)
	}
	v.mu.RUnlock()
	sortViewJobs(out)
	return out
}

func sortViewJobs(js []viewJob) {
	slices.SortFunc(js, func(a, b viewJob) int {
		switch {
		case a.rec.Spec.ID < b.rec.Spec.ID:
			return -1
		case a.rec.Spec.ID > b.rec.Spec.ID:
			return 1
		}
		return 0
	})
}

func (v *view) resetNodes(kvs []store.KV) {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.nodes)
	for _, kv := range kvs {
		if r, err := decodeNode(kv.Value); err == nil {
			v.nodes[r.ID()] = viewNode{r, kv.ModRev}
		}
	}
}

func (v *view) applyNode(ev store.Event) {
	if ev.Type != store.Put {
		return
	}
	if r, err := decodeNode(ev.KV.Value); err == nil {
		v.putNode(r, ev.KV.ModRev)
	}
}

// putNode records a node record unless the view holds a newer one.
func (v *view) putNode(r *nodeRecord, rev int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur, ok := v.nodes[r.ID()]; !ok || cur.rev < rev {
		v.nodes[r.ID()] = viewNode{r, rev}
	}
}

// node returns a registered node's record and its revision.
func (v *view) node(id model.NodeID) (*nodeRecord, int64, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n, ok := v.nodes[id]
	return n.rec, n.rev, ok
}
