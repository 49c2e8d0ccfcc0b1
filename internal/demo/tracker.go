package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/core"
)

// tracker follows every job change through the API's event stream: the
// counts of the status line, the nodes running work (to pick a victim)
// and the jobs of killed agents until they are placed again.
type tracker struct {
	mu       sync.Mutex // guards the fields below
	live     map[string]trackedJob
	watched  map[string]Killed // job → the kill that hit it
	requeued map[string]bool   // jobs taken off their placement, not yet placed again
	counts   trackerStats
}

type trackedJob struct {
	state    string
	nodes    []string
	placedAt time.Time
}

// trackerStats are the status line's counts. Requeued counts every job
// taken off its placement (a lost node, a preemption, a policy eviction, a
// migration, a retry); recovered counts those placed again, whatever took
// them off; preempted counts the requeues a higher-priority job caused.
type trackerStats struct {
	running, started, completed, failed, preempted, requeued, recovered int64
}

func newTracker() *tracker {
	return &tracker{live: map[string]trackedJob{}, watched: map[string]Killed{}, requeued: map[string]bool{}}
}

// follow reads the event stream until ctx ends, reconnecting when it
// breaks.
func (t *tracker) follow(ctx context.Context, c *v1.Client, say func(string, ...any), log *slog.Logger) {
	for ctx.Err() == nil {
		err := c.Events(ctx, func(ev v1.Event) error {
			if ev.Job != nil {
				if note := t.apply(ev.Job); note != "" {
					say("%s", note)
				}
			}
			return nil
		})
		if ctx.Err() == nil {
			log.Debug("event stream broke; reconnecting", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// apply takes one job change; it returns a line to print when a watched
// job is placed again or ends.
func (t *tracker) apply(j *v1.Job) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, had := t.live[j.ID]
	var nodes []string
	if j.Placement != nil {
		for _, a := range j.Placement.Assignments {
			if !slices.Contains(nodes, a.Node) {
				nodes = append(nodes, a.Node)
			}
		}
	}
	var placedAt time.Time
	if j.PlacedAt != nil {
		placedAt = *j.PlacedAt
	}
	if j.State == v1.StateRunning && (prev.state != v1.StateRunning || !placedAt.Equal(prev.placedAt)) {
		t.counts.started++
	}
	t.requeue(j, prev, had, placedAt)
	switch j.State {
	case v1.StateCompleted, v1.StateFailed, v1.StateCancelled:
		delete(t.live, j.ID)
		delete(t.requeued, j.ID)
		if j.State == v1.StateCompleted {
			t.counts.completed++
		} else if j.State == v1.StateFailed {
			t.counts.failed++
		}
	case v1.StatePreempted:
		t.counts.preempted++
		delete(t.live, j.ID)
	default:
		t.live[j.ID] = trackedJob{state: j.State, nodes: nodes, placedAt: placedAt}
	}
	k, ok := t.watched[j.ID]
	if !ok {
		return ""
	}
	switch {
	case held(j.State) && j.PlacedAt != nil && j.PlacedAt.After(k.At):
		delete(t.watched, j.ID)
		return fmt.Sprintf("job %s (%s), requeued from lost node %s at checkpoint %d, placed again on %s",
			j.ID, j.Spec.Name, k.Node, j.Checkpoint, shortList(nodes, 3))
	case j.State == v1.StateFailed || j.State == v1.StateCancelled || j.State == v1.StateCompleted:
		delete(t.watched, j.ID)
		return fmt.Sprintf("job %s (%s), which ran on lost node %s, ended %s: %s", j.ID, j.Spec.Name, k.Node, j.State, j.Reason)
	}
	return ""
}

func held(state string) bool { return state == v1.StatePlaced || state == v1.StateRunning }

// requeue counts a job taken off its placement, whether it waits or the
// same scheduling pass placed it again, and a requeued job placed again.
func (t *tracker) requeue(j *v1.Job, prev trackedJob, had bool, placedAt time.Time) {
	moved := had && held(prev.state) && held(j.State) && !placedAt.Equal(prev.placedAt)
	if had && held(prev.state) && (j.State == v1.StatePending || j.State == v1.StateBlocked || moved) {
		t.counts.requeued++
		if j.Reason == core.StopPreempted {
			t.counts.preempted++
		}
		t.requeued[j.ID] = true
	}
	if held(j.State) && t.requeued[j.ID] && (moved || !held(prev.state)) {
		delete(t.requeued, j.ID)
		t.counts.recovered++
	}
}

// victim picks a node with work whose agent runs, and the jobs on it.
func (t *tracker) victim(rng *rand.Rand, alive func(string) bool) (string, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	on := map[string][]string{}
	for id, j := range t.live {
		if j.state != v1.StateRunning {
			continue
		}
		for _, n := range j.nodes {
			on[n] = append(on[n], id)
		}
	}
	var nodes []string
	for n := range on {
		if alive(n) {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return "", nil
	}
	slices.Sort(nodes)
	node := nodes[rng.IntN(len(nodes))]
	var jobs []string
	for id, j := range t.live {
		if (j.state == v1.StatePlaced || j.state == v1.StateRunning) && slices.Contains(j.nodes, node) {
			jobs = append(jobs, id)
		}
	}
	slices.Sort(jobs)
	return node, jobs
}

// watch follows the jobs of a killed agent until they are placed again.
func (t *tracker) watch(k Killed) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range k.Jobs {
		t.watched[id] = k
	}
}

func (t *tracker) stats() trackerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.counts
	for _, j := range t.live {
		if j.state == v1.StateRunning {
			s.running++
		}
	}
	return s
}
