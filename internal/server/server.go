// Package server is Suanli's control-plane shell: one goroutine owns the
// scheduling core; every API write goes through one commit funnel that
// batches writes into store transactions (group commit) and chains their
// audit entries; with an elector, only the leader schedules, and its
// commits are fenced by the epoch it wrote on taking over.
package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// Elector decides which replica schedules.
type Elector interface {
	// Campaign blocks until this replica leads or ctx ends. The returned
	// context ends when leadership is lost; resign gives leadership up
	// (ending the context) and returns once it is given up, or could not
	// be and will lapse. Each Campaign is a fresh candidacy.
	Campaign(ctx context.Context) (lctx context.Context, resign func(), err error)
	// Leader names the replica that leads, or returns ErrNoLeader.
	Leader(ctx context.Context) (string, error)
}

// ErrNoLeader: no replica leads scheduling.
var ErrNoLeader = errors.New("no replica leads scheduling")

// Config is what a server needs.
type Config struct {
	Store   store.Store
	Network *network.Network
	// Elector picks the scheduling leader; nil: this replica always leads.
	Elector Elector
	// Throughput is the default throughput matrix (workload classes ×
	// models) that workers' progress reports refine; nil: the catalog's
	// embedded one.
	Throughput *catalog.Throughput
	// EffectiveShare charges placements toward fair share and FP16 quotas
	// by effective throughput (core.Config.EffectiveShare) in cards of
	// ReferenceModel (default core.DefaultReferenceModel); false: peak.
	EffectiveShare bool
	ReferenceModel string
	// Migration lets the scheduler move running jobs that saved a
	// checkpoint to faster free models (core.Migration; the server always
	// requires the checkpoint). Zero: never.
	Migration core.Migration
	// Service turns on attained-service scheduling (core.Service; the
	// server always requires the checkpoint). Zero: never.
	Service core.Service
	// RatesEvery is how often, at most, the scheduler is handed the class
	// throughput table again after progress reports changed it (default
	// 10 s).
	RatesEvery time.Duration
	// Prices for metering; nil: the network spec's prices (and leased
	// sites at their lease price).
	Prices *ledger.PriceTable
	// Sched tunes the scheduler.
	Sched sched.Config
	// Mix tunes the task mix learned from submitted jobs and kept in the
	// store (sched.Mix); nil: the defaults. FixedMix measures against
	// Sched.TypicalTasks instead, learning nothing.
	Mix      *sched.MixConfig
	FixedMix bool
	// Log: nil discards.
	Log *slog.Logger
	// Registry receives the server's metrics; nil: a fresh one.
	Registry *prometheus.Registry
	// AuditKey signs the audit chain (its head on every append, a
	// checkpoint every audit.CheckpointEvery entries); nil: unsigned.
	// Replicas sharing a store share the key.
	AuditKey ed25519.PrivateKey
	// AuditWitness is a file outside the store where this replica keeps
	// the newest checkpoint it signed, checked at start ("": none).
	AuditWitness string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// TickEvery is how often the scheduler gets a Tick (default 1 s).
	TickEvery time.Duration
	// CompactEvery is how often the leader discards the store's history
	// of old revisions (store.Compactor: etcd's revision history, which
	// etcd keeps until compacted), keeping at least CompactEvery of it
	// for watchers that fell behind (default 5 min; negative: never).
	CompactEvery time.Duration
	// Heartbeat is the period agents heartbeat at (default
	// v1.DefaultHeartbeatMillis); MissedBeats heartbeats in a row missed
	// disconnect the node (default v1.DefaultMissedBeats). Nodes that never
	// registered are taken as healthy (no agents: the demo, tests).
	Heartbeat   time.Duration
	MissedBeats int
	// TenantTokenTTL is the lifetime of tenant tokens created without one
	// (default DefaultTenantTokenTTL; negative: they never expire).
	TenantTokenTTL time.Duration
	// NodeCA signs the client certificates of nodes that join with a
	// bootstrap token and send a CSR; nil: they get a token only.
	NodeCA *NodeCA
	// SecretKey seals the secrets workloads reference (AES-256-GCM,
	// SecretKeyBytes long). It is never written to the store: give every
	// replica the same key. Nil: the server keeps no secrets.
	SecretKey []byte
	// LostAfter is how long a disconnected node's work is held for it (it
	// keeps running there, and is not placed elsewhere) before the node is
	// lost and its work requeued; a site's lost_after in the network spec
	// overrides it (default DefaultLostAfter).
	LostAfter time.Duration
	// ReleaseWithin bounds how long the cards of a stopped placement stay
	// taken on a node whose agent has not yet said (in its heartbeats) that
	// the placement's workers are gone (default 2 minutes: an agent's
	// grace period and a few heartbeats).
	ReleaseWithin time.Duration
}

// DefaultLostAfter is Config.LostAfter's default: a backbone blip or an
// agent restart is far shorter, a dead node's work waits no longer.
const DefaultLostAfter = 5 * time.Minute

// Server is one control-plane replica.
type Server struct {
	cfg Config
	s   store.Store
	net *network.Network
	log *slog.Logger
	w   *writer
	v   *view
	m   *metrics
	// limits checks submitted jobs against the empty network.
	limits *sched.Limits
	now    func() time.Time
	// seal seals and opens secrets; nil without Config.SecretKey.
	seal *sealer

	// pol is the policy engine, kept in step with the store's policy/
	// keys; polMu serialises this replica's policy changes.
	pol      atomic.Pointer[policy.Engine]
	polMu    sync.Mutex
	polReady chan struct{} // closed once the engine has read the store

	mu     sync.Mutex // guards tokens, used, leader and beats
	tokens map[string]cachedToken
	// used is when each token last authenticated, since the last flush.
	used   map[string]time.Time
	leader bool
	// beats is the last heartbeat this replica heard (or learnt of from
	// another replica) per node, with the lease it carried.
	beats map[model.NodeID]beat

	// tenantSeen holds the ids of tenants known to exist (model.TenantID
	// → struct{}); tenants are never deleted.
	tenantSeen sync.Map
	// idemSwept is when this replica last swept expired idempotency keys
	// (Unix nanoseconds).
	idemSwept atomic.Int64
	// ratesChanged counts progress reports recorded by this replica, so
	// that the loop hands the scheduler new class rates when it moved.
	ratesChanged atomic.Int64
	// names checks the names a job gives against the network; made once.
	namesOnce sync.Once
	names     *sched.Names
	// emptyOnce builds empty, the network with every card free, which a
	// dry run clones instead of indexing the network again.
	emptyOnce sync.Once
	empty     *sched.Cluster
	// planned caches GET /v1/capacity/plan's answer for the year.
	planned planCache
}

// New returns a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Network == nil {
		return nil, errors.New("server: a store and a network are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Second
	}
	if cfg.CompactEvery == 0 {
		cfg.CompactEvery = 5 * time.Minute
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = v1.DefaultHeartbeatMillis * time.Millisecond
	}
	if cfg.MissedBeats <= 0 {
		cfg.MissedBeats = v1.DefaultMissedBeats
	}
	if cfg.TenantTokenTTL == 0 {
		cfg.TenantTokenTTL = DefaultTenantTokenTTL
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.ReleaseWithin <= 0 {
		cfg.ReleaseWithin = 2 * time.Minute
	}
	if cfg.Throughput == nil {
		cfg.Throughput = catalog.DefaultThroughput()
	}
	if cfg.Prices == nil {
		pt, err := ledger.NetworkPrices(cfg.Network)
		if err != nil {
			return nil, fmt.Errorf("server: network prices: %w", err)
		}
		cfg.Prices = pt
	}
	s := &Server{cfg: cfg, s: cfg.Store, net: cfg.Network, log: cfg.Log, now: cfg.Now,
		w: newWriter(cfg.Store, cfg.Now), v: newView(), tokens: map[string]cachedToken{}, used: map[string]time.Time{}, beats: map[model.NodeID]beat{}}
	s.limits = sched.NewLimits(cfg.Network)
	var err error
	if s.seal, err = newSealer(cfg.SecretKey); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.AuditKey != nil {
		s.w.sign = audit.NewSigner(cfg.AuditKey)
		s.w.witness = audit.Witness(cfg.AuditWitness)
	}
	s.w.log = cfg.Log
	s.pol.Store(policy.NewEngine(cfg.Network.Catalog))
	s.polReady = make(chan struct{})
	s.m = newMetrics(cfg.Registry, cfg.Network)
	cfg.Registry.MustRegister(allocCollector{s: s, desc: prometheus.NewDesc("suanli_allocated_eflops",
		"FP16 EFLOPS held by committed placements, by vendor and site.", []string{"vendor", "site"}, nil)})
	return s, nil
}

// Registry is where the server's metrics are registered.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// Run runs the commit funnel and, while this replica leads, the
// scheduling loop, until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	vdone := make(chan struct{})
	udone := make(chan struct{})
	go func() { defer close(done); s.w.run(ctx) }()
	go func() { defer close(udone); s.runUsedFlush(ctx) }()
	go func() {
		defer close(vdone)
		s.v.run(ctx, s.s, s.applyPolicyKV, func() {
			select {
			case <-s.polReady:
			default:
				close(s.polReady)
			}
		})
	}()
	adone := make(chan struct{})
	go func() { defer close(adone); s.verifyAuditAtStart(ctx) }()
	defer func() { <-done; <-vdone; <-udone; <-adone }()
	for ctx.Err() == nil {
		lctx, resign := ctx, func() {}
		if s.cfg.Elector != nil {
			var err error
			lctx, resign, err = s.cfg.Elector.Campaign(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				s.log.Warn("campaign failed; retrying", "err", err)
				sleep(ctx, time.Second)
				continue
			}
		}
		s.setLeader(true)
		s.log.Info("leading scheduling")
		err := s.lead(lctx)
		// Whatever stopped the loop (a commit that failed, a lost lease),
		// this replica steps down: another, or this one with a fresh
		// candidacy, takes over from the store's state.
		s.setLeader(false)
		resign()
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("scheduling loop stopped; stepped down and campaigning again", "err", err)
		sleep(ctx, 100*time.Millisecond)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (s *Server) setLeader(v bool) {
	s.mu.Lock()
	s.leader = v
	s.mu.Unlock()
	s.m.leader.Set(map[bool]float64{false: 0, true: 1}[v])
}

// Leader reports whether this replica runs the scheduling loop.
func (s *Server) Leader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

// Bootstrap makes sure an admin token exists. On the first start (no token
// in the store) it creates one and writes its secret to path with mode
// 0600, and returns true; the secret itself is never logged.
func (s *Server) Bootstrap(ctx context.Context, path string) (bool, error) {
	kvs, _, err := s.s.List(ctx, tokenPrefix)
	if err != nil {
		return false, fmt.Errorf("list tokens: %w", err)
	}
	for _, kv := range kvs {
		var t tokenRecord
		if json.Unmarshal(kv.Value, &t) == nil && t.Role == v1.RoleAdmin {
			return false, nil
		}
	}
	tok, err := s.CreateToken(ctx, httpapi.Principal{TokenID: "bootstrap", Role: v1.RoleAdmin}, v1.TokenRequest{Role: v1.RoleAdmin, Name: "first admin"})
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok.Secret+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	return true, nil
}

// Ready implements httpapi.Info: whether the store answers, and who
// schedules.
func (s *Server) Ready(ctx context.Context) v1.Health {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h := v1.Health{Status: "ok", Leader: s.Leader(), Scheduling: v1.SchedNoLeader}
	if _, _, err := audit.LoadHead(ctx, s.s); err != nil {
		h.Status = "store unavailable: " + err.Error()
	}
	switch {
	case h.Leader:
		h.Scheduling = v1.SchedLeading
	case s.cfg.Elector != nil:
		name, err := s.cfg.Elector.Leader(ctx)
		switch {
		case err == nil:
			h.Scheduling, h.LeaderName = v1.SchedFollowing, name
		case !errors.Is(err, ErrNoLeader) && h.Status == "ok":
			h.Status = "store unavailable: " + err.Error()
		}
	}
	return h
}

// Catalog implements httpapi.Info.
func (s *Server) Catalog() any { return s.net.Catalog.Models() }

// Network implements httpapi.Info.
func (s *Server) Network() any {
	return map[string]any{"name": s.net.Name, "sites": s.net.Sites, "domains": len(s.net.Domains), "nodes": len(s.net.Nodes), "cards": s.net.Cards()}
}
