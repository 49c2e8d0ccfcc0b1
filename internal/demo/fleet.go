package demo

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// fleet is the in-process agents, one per node of the agents' sites.
type fleet struct {
	hc      *http.Client
	url     string
	token   string
	lease   v1.Lease
	exec    workload.Executor
	seed    uint64
	nodes   []*model.Node
	reports map[string]device.Report // by MODELxCOUNT; read-only once built
	wg      sync.WaitGroup

	mu     sync.Mutex // guards agents and closed
	agents map[string]*fleetAgent
	closed bool // run is waiting for the agents: start no more
}

type fleetAgent struct {
	a    *agent.Agent
	stop context.CancelFunc
	done chan struct{}
	dead bool
}

func newFleet(nw *network.Network, url, token string, lease v1.Lease, exec workload.Executor, seed uint64) (*fleet, error) {
	f := &fleet{url: url, token: token, lease: lease, exec: exec, seed: seed,
		reports: map[string]device.Report{}, agents: map[string]*fleetAgent{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}}}
	for i := range nw.Nodes {
		n := &nw.Nodes[i]
		if s, ok := nw.Site(n.Site); ok && s.Kind == model.SiteKubernetes {
			continue
		}
		spec := fmt.Sprintf("%sx%d", n.Model, n.Cards)
		if _, ok := f.reports[spec]; !ok {
			rep, err := device.ParseSimulate(spec)
			if err != nil {
				return nil, fmt.Errorf("simulate node %s: %w", n.ID, err)
			}
			f.reports[spec] = rep
		}
		f.nodes = append(f.nodes, n)
	}
	return f, nil
}

// size is the agents' nodes and cards.
func (f *fleet) size() (nodes, cards int) {
	for _, n := range f.nodes {
		cards += n.Cards
	}
	return len(f.nodes), cards
}

// run starts every agent (each spreads its registration over its first
// period) and waits, once ctx ends, for all of them to stop.
func (f *fleet) run(ctx context.Context) {
	for _, n := range f.nodes {
		if err := f.start(ctx, n); err != nil {
			panic(err) // New refuses only a config this code builds
		}
	}
	<-ctx.Done()
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
	f.hc.CloseIdleConnections()
}

func (f *fleet) start(ctx context.Context, n *model.Node) error {
	a, err := agent.NewInProcess(f.hc, f.url, f.token, string(n.ID), string(n.Site), string(n.Domain),
		f.reports[fmt.Sprintf("%sx%d", n.Model, n.Cards)], f.exec, f.lease, f.seed)
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	fa := &fleetAgent{a: a, stop: cancel, done: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		cancel()
		return nil
	}
	f.agents[string(n.ID)] = fa
	f.wg.Go(func() { defer close(fa.done); _ = a.Run(actx) })
	return nil
}

// alive reports whether the node's agent runs.
func (f *fleet) alive(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fa, ok := f.agents[node]
	return ok && !fa.dead
}

// kill stops the node's agent as a crash would: its workers stop and
// nothing is reported.
func (f *fleet) kill(node string) bool {
	f.mu.Lock()
	fa, ok := f.agents[node]
	if !ok || fa.dead {
		f.mu.Unlock()
		return false
	}
	fa.dead = true
	f.mu.Unlock()
	fa.stop()
	<-fa.done
	return true
}

// revive starts a new agent for a killed node.
func (f *fleet) revive(ctx context.Context, node string) bool {
	f.mu.Lock()
	fa, ok := f.agents[node]
	dead := ok && fa.dead
	f.mu.Unlock()
	if !dead || ctx.Err() != nil {
		return false
	}
	for _, n := range f.nodes {
		if string(n.ID) == node {
			return f.start(ctx, n) == nil
		}
	}
	return false
}

type fleetStats struct {
	agents, registered int
	beats              int64
}

func (f *fleet) stats() fleetStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fleetStats{agents: len(f.nodes)}
	for _, fa := range f.agents {
		st := fa.a.Status()
		s.beats += st.Heartbeats
		if st.Registered && !fa.dead {
			s.registered++
		}
	}
	return s
}
