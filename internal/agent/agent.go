// Package agent is the node agent: it discovers the node's accelerators,
// registers the node with the control plane, renews its lease with
// heartbeats, runs the workers assigned to the node and reports on them.
// One goroutine owns all of an agent's state; workers report back to it
// over a channel. See README.md for the protocol.
package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

// Config is what an agent needs. Defaults are on each field.
type Config struct {
	// Client talks to the server (required).
	Client *v1.Client
	// Node is the node id in the network (required).
	Node   string
	Site   string
	Domain string
	Labels map[string]string
	// Address is where other nodes reach this one (MASTER_ADDR of gangs
	// whose rank 0 runs here); default: the node id.
	Address string
	// Version is reported at registration.
	Version string
	// Discoverer finds the devices (required): device.ToolDiscoverer on a
	// host, device.Simulated for --simulate.
	Discoverer device.Discoverer
	// Executor runs workers whose job has a workload command; nil refuses
	// them.
	Executor workload.Executor
	// Simulator runs workers of jobs without a workload command and, when
	// Executor is nil, every worker; nil refuses them.
	Simulator workload.Executor
	// Lease is used until the server's registration reply says otherwise
	// (default v1.DefaultHeartbeatMillis, v1.DefaultMissedBeats).
	Lease v1.Lease
	// Rediscover is how often devices are discovered again to follow their
	// health (default 1 minute; negative: never).
	Rediscover time.Duration
	// Grace is how long a stopped worker has between SIGTERM and SIGKILL
	// (default 10 s).
	Grace time.Duration
	// DataDir, when set, holds the agent's state file (workers.json: the
	// workers it runs, by process group), so that an agent started again
	// after a crash adopts or stops what its predecessor left running
	// before it starts anything on their cards. Each node's agent needs
	// its own. Empty: no state is kept (simulated nodes).
	DataDir string
	// SharePreload is the path of HAMi-core's libvgpu.so: set as LD_PRELOAD
	// of Nvidia fractional workers so that their memory and SM limits are
	// enforced (see README, "Fractional workers"). Empty: not preloaded.
	SharePreload string
	// CheckpointRoot, when set, holds one checkpoint directory per worker
	// (<root>/<job>/<worker>), given to it as $SUANLI_CHECKPOINT_DIR.
	CheckpointRoot string
	// ProgressDir holds one progress file per worker, given to it as
	// $SUANLI_PROGRESS_FILE (see progress.go); default <DataDir>/progress,
	// none when both are empty.
	ProgressDir string
	// ProgressEvery is how often, at most, a worker's progress is sent to
	// the server (default DefaultProgressEvery, 30 s); what is left is sent
	// with its end.
	ProgressEvery time.Duration
	// StartJitter delays the first registration by a random time up to
	// this, drawn from Seed and the node id, so that many agents started
	// together spread their heartbeats (default 0).
	StartJitter time.Duration
	Seed        uint64
	// Log: nil discards.
	Log *slog.Logger
}

// Status is a snapshot of an agent, for tests and dashboards.
type Status struct {
	Registered  bool
	Lease       string
	Heartbeats  int64     // acknowledged heartbeats
	LastAcked   time.Time // send time of the last acknowledged heartbeat
	Running     int       // workers running now
	Started     int64     // workers started since the agent started
	Adopted     int64     // workers found running from an earlier agent process
	Deferred    int       // wanted workers waiting for a stopped worker to leave their cards
	LeasesLost  int64     // times the lease ran out (the server unreachable); the workers ran on
	Unhealthy   int       // devices not OK at the last discovery
	Devices     int
	Unknown     int // devices that map to no catalog model
	Assignments int64
	// Overuse counts the times a fractional worker's card was read using
	// more device memory than the fractional workers on it were given.
	Overuse int64
	// ProgressReports counts the progress reports queued; ProgressSkipped
	// the progress-file lines skipped as malformed.
	ProgressReports int64
	ProgressSkipped int64
}

// Agent is one node's agent. Create it with New and run it with Run.
type Agent struct {
	cfg Config
	log *slog.Logger
	c   *v1.Client

	ev   chan event    // from workers to the loop
	quit chan struct{} // closed when the loop stops listening

	// Owned by the Run goroutine.
	lease      v1.Lease
	leaseID    string
	registered bool
	lastAcked  time.Time
	seq        int64
	assignRev  int64
	listed     bool   // assignments listed since the last registration
	wants      []Want // the workers the last listing asked for
	deferred   int    // of wants, those waiting for cards a stopping worker holds
	unreached  bool   // the lease ran out without an acknowledged heartbeat
	stateRead  bool   // the state file was read: it may be written
	workers    map[string]*worker
	finished   map[string]bool // placements whose worker on this node ended
	pending    []pendingReport
	coarse     bool // the server lacks per-worker reports: use job reports
	devices    []v1.NodeDevice
	domains    []v1.DeviceDomain
	warnings   []string
	devDirty   bool          // device health changed and is not reported yet
	memUsed    map[int]int64 // card index → device memory used at the last discovery (MiB), where read
	rng        *rand.Rand
	wg         sync.WaitGroup // worker waiters
	// abandon makes Run return without stopping the workers, as a crash
	// would (tests only).
	abandon atomic.Bool

	mu     sync.Mutex // guards status
	status Status
}

// New checks the configuration and returns an agent.
func New(cfg Config) (*Agent, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("agent: client: missing; give the server URL and token"))
	}
	if cfg.Node == "" {
		errs = append(errs, errors.New("agent: node: missing; give the node id of the network"))
	}
	if cfg.Discoverer == nil {
		errs = append(errs, errors.New("agent: discoverer: missing; use device.ToolDiscoverer or device.Simulated"))
	}
	if cfg.Executor == nil && cfg.Simulator == nil {
		errs = append(errs, errors.New("agent: executor: missing; give an executor, a simulator or both"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Lease.Period <= 0 {
		cfg.Lease.Period = v1.DefaultHeartbeatMillis * time.Millisecond
	}
	if cfg.Lease.Missed <= 0 {
		cfg.Lease.Missed = v1.DefaultMissedBeats
	}
	if cfg.Rediscover == 0 {
		cfg.Rediscover = time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Address == "" {
		cfg.Address = cfg.Node
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := fnv.New64a()
	h.Write([]byte(cfg.Node))
	return &Agent{cfg: cfg, log: cfg.Log.With("node", cfg.Node), c: cfg.Client, lease: cfg.Lease,
		ev: make(chan event, 64), quit: make(chan struct{}),
		workers: map[string]*worker{}, finished: map[string]bool{},
		rng: rand.New(rand.NewPCG(cfg.Seed, h.Sum64()))}, nil
}

// NewInProcess returns an agent for a simulated node that talks to the
// server through hc (sharing one client's connections among many agents)
// and runs every worker with sim. It costs one goroutine and a few timers
// while it runs.
func NewInProcess(hc *http.Client, base, token string, node, site, domain string, devs device.Report, sim workload.Executor, lease v1.Lease, seed uint64) (*Agent, error) {
	c := v1.NewClient(base, token)
	c.HTTP = hc
	return New(Config{Client: c, Node: node, Site: site, Domain: domain, Discoverer: device.Simulated{Report: devs},
		Simulator: sim, Lease: lease, Rediscover: -1, StartJitter: lease.Period, Seed: seed})
}

// Status returns a snapshot of the agent.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Agent) publish() {
	s := Status{Registered: a.registered, Lease: a.leaseID, LastAcked: a.lastAcked, Running: len(a.workers),
		Devices: len(a.devices), Assignments: a.assignRev}
	for _, d := range a.devices {
		if d.Health != string(device.HealthOK) {
			s.Unhealthy++
		}
		if d.Model == "" {
			s.Unknown++
		}
	}
	a.mu.Lock()
	s.Heartbeats, s.Started, s.LeasesLost = a.status.Heartbeats, a.status.Started, a.status.LeasesLost
	s.Adopted, s.Deferred, s.Overuse = a.status.Adopted, a.status.Deferred, a.status.Overuse
	s.ProgressReports, s.ProgressSkipped = a.status.ProgressReports, a.status.ProgressSkipped
	a.status = s
	a.mu.Unlock()
}

func (a *Agent) count(f func(s *Status)) {
	a.mu.Lock()
	f(&a.status)
	a.mu.Unlock()
}

// Run runs the agent until ctx ends; then it stops its workers (SIGTERM,
// SIGKILL after the grace period), waits for them and returns nil. It
// returns an error only when it cannot start (a state file it cannot
// read).
func (a *Agent) Run(ctx context.Context) error {
	if err := a.recover(); err != nil {
		return err
	}
	defer a.shutdown()
	a.publish()
	if a.cfg.StartJitter > 0 {
		t := time.NewTimer(a.jitter(a.cfg.StartJitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	a.discover(ctx)
	beat := time.NewTimer(0)
	defer beat.Stop()
	var rediscover <-chan time.Time
	if a.cfg.Rediscover > 0 {
		t := time.NewTicker(a.cfg.Rediscover)
		defer t.Stop()
		rediscover = t.C
	}
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-a.ev:
			a.handle(ctx, e)
		case <-rediscover:
			a.discover(ctx)
			a.sendDevices(ctx)
		case <-beat.C:
			next := a.tick(ctx, &backoff)
			beat.Reset(next)
		}
		a.publish()
	}
}

// tick registers or heartbeats and returns the time until the next tick.
func (a *Agent) tick(ctx context.Context, backoff *time.Duration) time.Duration {
	now := time.Now()
	if a.registered && !a.unreached && a.lease.Expired(a.lastAcked, now) {
		a.unreachable()
	}
	if !a.registered {
		if err := a.register(ctx); err != nil {
			*backoff = min(max(2**backoff, a.lease.Period/4), 8*a.lease.Period)
			d := *backoff/2 + time.Duration(a.rng.Int64N(int64(*backoff/2)+1))
			a.log.Warn("registration failed; retrying", "in", d, "err", err)
			return d
		}
		*backoff = 0
		a.sync(ctx)
		return a.lease.Period
	}
	err := a.heartbeat(ctx, now)
	if err != nil && mustRegister(err) {
		a.log.Warn("the server no longer holds this node's lease; registering again", "err", err)
		a.registered = false
		return 0
	}
	if err != nil {
		a.log.Warn("heartbeat failed", "missed_since", a.lastAcked, "err", err)
	} else {
		a.sync(ctx)
	}
	// Beats keep their phase: the next is one period after this one was due.
	return max(a.lease.Period-time.Since(now), 0)
}

// sync lists the assignments when they changed, reconciles the workers and
// sends what is waiting to be reported.
func (a *Agent) sync(ctx context.Context) {
	if !a.listed {
		if err := a.listAssignments(ctx); err != nil {
			a.log.Warn("listing assignments failed", "err", err)
		}
	}
	a.pollProgress(time.Now())
	a.flush(ctx)
	if a.devDirty {
		a.sendDevices(ctx)
	}
}

func (a *Agent) register(ctx context.Context) error {
	reg := v1.NodeRegistration{Node: a.cfg.Node, Site: a.cfg.Site, Domain: a.cfg.Domain, Labels: a.cfg.Labels,
		Address: a.cfg.Address, Agent: a.cfg.Version, Devices: a.devices, Domains: a.domains, Warnings: a.warnings}
	if reg.Devices == nil {
		reg.Devices = []v1.NodeDevice{}
	}
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, a.lease.Period)
	defer cancel()
	l, err := a.c.RegisterNode(cctx, reg)
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.cfg.Node, err)
	}
	if a.unreached {
		a.log.Warn("the server answers again; the workers ran on", "unreachable_since", a.lastAcked, "workers", len(a.workers))
		a.unreached = false
	}
	a.lease, a.leaseID, a.registered, a.lastAcked = v1.LeaseOf(*l), l.Lease, true, sent
	a.listed, a.devDirty = false, false
	a.log.Info("registered", "lease", l.Lease, "period", a.lease.Period, "missed", a.lease.Missed, "devices", len(a.devices))
	return nil
}

func (a *Agent) heartbeat(ctx context.Context, sent time.Time) error {
	a.seq++
	hb := v1.Heartbeat{Lease: a.leaseID, Seq: a.seq}
	for _, w := range a.workers {
		if !w.silent {
			hb.Running = append(hb.Running, v1.WorkerRef{Job: w.job, Worker: w.worker, PlacedAt: w.placedAt})
		}
	}
	cctx, cancel := context.WithTimeout(ctx, a.lease.Period)
	defer cancel()
	r, err := a.c.Heartbeat(cctx, a.cfg.Node, hb)
	if err != nil {
		return fmt.Errorf("heartbeat %s: %w", a.cfg.Node, err)
	}
	if a.unreached {
		a.log.Warn("the server answers again; the workers ran on", "unreachable_since", a.lastAcked, "workers", len(a.workers))
		a.unreached = false
	}
	a.lastAcked = sent
	a.count(func(s *Status) { s.Heartbeats++ })
	if r.HeartbeatMillis > 0 {
		a.lease.Period = time.Duration(r.HeartbeatMillis) * time.Millisecond
	}
	if r.Assignments == 0 || r.Assignments != a.assignRev {
		a.listed = false
		a.assignRev = r.Assignments
	}
	return nil
}

// mustRegister reports whether an error means the server does not hold
// this node's lease: it forgot the node (404) or the lease ran out (409).
func mustRegister(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusConflict || e.Status == http.StatusGone)
}

// unreachable notes that the lease ran out without an acknowledged
// heartbeat. The workers run on: the server holds a silent node's work as
// disconnected until its lost_after, and a short partition must not
// destroy hours of training. Heartbeats go on with the same lease; when
// the server answers, either the lease is still good (nothing was moved)
// or it says to register again, and the assignments listed then decide
// which workers stay (those of work requeued elsewhere are stopped). The
// reports of what ended meanwhile wait in the queue and are sent then.
func (a *Agent) unreachable() {
	a.log.Error("no acknowledged heartbeat for the lease time: the server is unreachable; the workers run on",
		"last_acked", a.lastAcked, "ttl", a.lease.TTL(), "workers", len(a.workers))
	a.unreached = true
	a.count(func(s *Status) { s.LeasesLost++ })
}

func (a *Agent) shutdown() {
	if a.abandon.Load() {
		// A crash, for tests: the workers are left running and recorded.
		close(a.quit)
		a.wg.Wait()
		return
	}
	for _, w := range a.workers {
		w.silent = true
		w.proc.Stop(a.cfg.Grace)
	}
	for _, w := range a.workers {
		<-w.proc.Done()
	}
	close(a.quit)
	a.wg.Wait()
	a.workers = map[string]*worker{}
	a.saveState()
	a.registered = false
	a.publish()
}

// jitter draws a duration in [0, d).
func (a *Agent) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(a.rng.Int64N(int64(d)))
}
