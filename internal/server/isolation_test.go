//go:build linux

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/store/mem"
)

// cuttable is a transport an agent talks through; cut drops every request,
// as a partition between the agent and the server does.
type cuttable struct {
	base http.RoundTripper
	cut  atomic.Bool
}

func (c *cuttable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("partitioned")
	}
	return c.base.RoundTrip(r)
}

// procScan samples the real process table: for every live (not zombie)
// process whose environment carries SUANLI_TEST_TAG=tag, its node
// (SUANLI_TEST_NODE), process group and the cards of MLU_VISIBLE_DEVICES.
// It records every sample where two groups held one card of one node, and
// when each group was last seen.
type procScan struct {
	tag  string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards below
	doubles []string
	last    map[int]time.Time // pgid → last seen alive
	nodeOf  map[int]string    // pgid → node
}

func scanProcs(t *testing.T, tag string) *procScan {
	s := &procScan{tag: tag, stop: make(chan struct{}), done: make(chan struct{}), last: map[int]time.Time{}, nodeOf: map[int]string{}}
	go func() {
		defer close(s.done)
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(s.stop); <-s.done })
	return s
}

// groups returns node/card → the groups holding it now.
func (s *procScan) groups() map[string][]int {
	out := map[string][]int{}
	for _, p := range agenttest.TaggedProcs(s.tag) {
		node := p.Env["SUANLI_TEST_NODE"]
		for _, c := range strings.Split(p.Env["MLU_VISIBLE_DEVICES"], ",") {
			k := node + "/" + c
			if !slices.Contains(out[k], p.PGID) {
				out[k] = append(out[k], p.PGID)
			}
		}
		s.mu.Lock()
		s.last[p.PGID], s.nodeOf[p.PGID] = time.Now(), node
		s.mu.Unlock()
	}
	return out
}

func (s *procScan) sample() {
	g := s.groups()
	s.mu.Lock()
	defer s.mu.Unlock()
	for card, pgs := range g {
		if len(pgs) > 1 {
			s.doubles = append(s.doubles, fmt.Sprintf("card %s held by process groups %v", card, pgs))
		}
	}
}

func (s *procScan) onNode(node string) []int {
	var out []int
	for card, pgs := range s.groups() {
		if strings.HasPrefix(card, node+"/") {
			for _, p := range pgs {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func (s *procScan) lastSeen(pgid int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[pgid]
}

func (s *procScan) check(t *testing.T) {
	t.Helper()
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.doubles) > 0 {
		t.Fatalf("two live workers on one card (%d samples), first: %s", len(s.doubles), s.doubles[0])
	}
}

// TestPartitionWithRealWorkers: the real server, real agents running real
// processes. A gang runs on nodes X and Y; X is cut off. Its worker runs
// on; the server disconnects X, then loses it and requeues the gang; Y's
// agent stops its worker, which takes 1 s to exit, and the gang is placed
// on Y's cards only once that worker is gone (the server holds them until
// Y's heartbeats say so). When X comes back its agent registers again and
// stops its copy. No card ever has two live workers.
func TestPartitionWithRealWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real agents and processes for several seconds")
	}
	period := 200 * time.Millisecond
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: 50 * time.Millisecond,
		LostAfter: time.Second})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "agents", Sites: []string{"gz"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	rep, err := device.ParseSimulate("MLU370-X8x8")
	if err != nil {
		t.Fatal(err)
	}
	tag := strconv.Itoa(os.Getpid()) + "-" + t.Name()
	scan := scanProcs(t, tag)
	links := map[string]*cuttable{}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	nodes := nodesOf(t, "cambricon-mlu370-x8")
	for _, n := range nodes {
		link := &cuttable{base: http.DefaultTransport}
		links[n] = link
		c := v1.NewClient(url, tok.Secret)
		c.HTTP = &http.Client{Transport: link}
		a, err := agent.New(agent.Config{Client: c, Node: n, Site: "gz", Discoverer: device.Simulated{Report: rep},
			Executor: workload.Proc{BaseEnv: append(os.Environ(), "SUANLI_TEST_TAG="+tag, "SUANLI_TEST_NODE="+n)},
			Lease:    v1.Lease{Period: period, Missed: 3}, Rediscover: -1, Grace: 5 * time.Second, DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = a.Run(ctx) })
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	nodeState := func(id string) string {
		ns, err := admin.Nodes(ctx, "gz")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.ID == id {
				return n.State
			}
		}
		return ""
	}
	waitUntil("the agents to register", func() bool {
		for _, n := range nodes {
			if nodeState(n) != v1.NodeReady {
				return false
			}
		}
		return true
	})
	linger := &v1.Workload{Command: []string{"/bin/sh", "-c", `trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done`}}
	submit := func(spec v1.JobSpec) *v1.Job {
		t.Helper()
		spec.Tenant, spec.Models, spec.Workload = "acme", []string{"cambricon-mlu370-x8"}, linger
		j, err := admin.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	job := func(id string) *v1.Job {
		j, err := admin.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	gang := submit(v1.JobSpec{Kind: "gang", Workers: 2, CardsPerWorker: 8})
	waitUntil("the gang to run", func() bool { return job(gang.ID).State == v1.StateRunning })
	first := job(gang.ID)
	x, y := first.Placement.Assignments[0].Node, first.Placement.Assignments[1].Node
	// Fill one of the other two nodes, so that the requeued gang needs Y.
	filler := submit(v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 8})
	waitUntil("the filler to run", func() bool { return job(filler.ID).State == v1.StateRunning })
	waitUntil("workers on X and Y", func() bool { return len(scan.onNode(x)) == 1 && len(scan.onNode(y)) == 1 })
	orphan, oldY := scan.onNode(x)[0], scan.onNode(y)[0]

	links[x].cut.Store(true)
	waitUntil("X disconnected", func() bool { return nodeState(x) == v1.NodeDisconnected })
	if j := job(gang.ID); j.Placement == nil || !j.PlacedAt.Equal(*first.PlacedAt) {
		t.Fatalf("the gang moved while X was only disconnected: %+v", j.Placement)
	}
	waitUntil("X lost", func() bool { return nodeState(x) == v1.NodeLost })
	waitUntil("the gang placed again", func() bool {
		j := job(gang.ID)
		return j.Placement != nil && !j.PlacedAt.Equal(*first.PlacedAt)
	})
	again := job(gang.ID)
	var onY bool
	for _, a := range again.Placement.Assignments {
		if a.Node == x {
			t.Fatalf("placed again on the lost node %s", x)
		}
		onY = onY || a.Node == y
	}
	if !onY {
		t.Fatalf("the requeued gang is on %v; the test wants it on Y (%s)", again.Placement.Assignments, y)
	}
	waitUntil("Y's old worker to end", func() bool { return !slices.Contains(scan.onNode(y), oldY) })
	gone := scan.lastSeen(oldY)
	if again.PlacedAt.Before(gone.Add(-50 * time.Millisecond)) {
		t.Fatalf("the gang was placed on Y at %s, %s before Y's old worker was gone", again.PlacedAt.Format(time.StampMilli), gone.Sub(*again.PlacedAt))
	}
	if !slices.Contains(scan.onNode(x), orphan) {
		t.Fatal("X's worker stopped while its agent was cut off; it must run on")
	}
	waitUntil("the gang to run again", func() bool { return job(gang.ID).State == v1.StateRunning })

	// X comes back: its agent registers again and stops its copy.
	links[x].cut.Store(false)
	waitUntil("X ready", func() bool { return nodeState(x) == v1.NodeReady })
	waitUntil("X's stale copy stopped", func() bool { return !slices.Contains(scan.onNode(x), orphan) })
	scan.check(t)
	if j := job(gang.ID); j.State != v1.StateRunning || !j.PlacedAt.Equal(*again.PlacedAt) {
		t.Fatalf("the surviving copy: %s placed at %v", j.State, j.PlacedAt)
	}
}
