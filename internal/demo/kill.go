package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Killed is one agent the demo killed and the jobs it ran.
type Killed struct {
	Node string
	At   time.Time
	Jobs []string // placed on the node when it was killed
}

// killAgents kills the agent of a node running work every cfg.KillEvery
// and revives it after reviveDelay; revivals join wg.
func (d *demo) killAgents(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTicker(d.cfg.KillEvery)
	defer t.Stop()
	lease := d.cfg.Lease()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		node, jobs := d.track.victim(d.rng, d.fleet.alive)
		d.mu.Unlock()
		if node == "" {
			d.say("no node runs work yet: no agent killed")
			continue
		}
		if !d.fleet.kill(node) {
			continue
		}
		k := Killed{Node: node, At: time.Now(), Jobs: jobs}
		d.track.watch(k)
		d.mu.Lock()
		d.kills++
		d.mu.Unlock()
		d.say("killed the agent of node %s with %d job(s) on it (%s); after %d missed heartbeats (%s) the server disconnects the node, %s later it loses it and requeues them",
			node, len(jobs), shortList(jobs, 5), lease.Missed, lease.TTL(), lease.TTL())
		if d.cfg.OnKill != nil {
			d.cfg.OnKill(k)
		}
		if delay := d.cfg.ReviveDelay(); delay > 0 {
			wg.Go(func() {
				r := time.NewTimer(delay)
				defer r.Stop()
				select {
				case <-ctx.Done():
					return
				case <-r.C:
				}
				if d.fleet.revive(ctx, node) {
					d.mu.Lock()
					d.revived++
					d.mu.Unlock()
					d.say("revived the agent of node %s: it registers again and takes new work", node)
				}
			})
		}
	}
}

func shortList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(", … %d more", len(s)-n)
}
