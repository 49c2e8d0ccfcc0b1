package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/store/bolt"
	"github.com/suanli/suanli/internal/trace"
)

// demoConfig is the configuration of `suanli demo`.
type demoConfig struct {
	Addr    string // API and dashboard, --listen (default 127.0.0.1:7480, as serve; a taken default falls back to a free port)
	DataDir string // embedded store (default: a temporary directory, removed at exit)
	// Heartbeat is the agents' heartbeat period (default 10 s): the 15,906
	// agents of the default network beat about 1,600 times a second, which
	// costs about a quarter of a core for server and agents together
	// (internal/server README, "Agent heartbeats"); the whole demo takes a
	// third to a half of a core. Three missed beats disconnect a node (30 s);
	// the demo's lost_after is as long again, so a killed agent's node is
	// lost and its work requeued after 60 s.
	Heartbeat time.Duration
	Rate      float64       // jobs submitted per minute (default 300)
	Load      float64       // offered load the runtimes are scaled to, a fraction of the network's cards (default 0.3)
	KillEvery time.Duration // kill the agent of a node running work this often (default 2 min; 0: never)
	// ReviveAfter restarts a killed agent this long after the kill
	// (default 1 min; 0: never); never sooner than three times the lease
	// time, so that the server has lost the node (disconnected after one
	// lease time, lost one more later) and requeued its work first.
	ReviveAfter time.Duration
	Duration    time.Duration // stop after this long (default 0: until interrupted)
	StatusEvery time.Duration // print a status line this often (default 10 s; 0: never)
	Seed        uint64        // seeds the job stream, the workers and the kills (default 1)
	net         netFlags
	addrSet     bool // --listen was given: a taken address is an error

	// For tests.
	tick   time.Duration           // the server's scheduler tick (default 1 s)
	ready  func(url, token string) // called once jobs start to flow
	onKill func(k killed)          // called after each kill
	log    *slog.Logger            // nil: warnings and errors on stderr
}

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var cfg demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a live national network on this machine: server, simulated agents, a stream of jobs, the dashboard",
		Long: `Run the control plane on the embedded store with the embedded national
network (or --network), an in-process simulated agent for every node (its
devices as the spec says, its workers simulated with the runtimes the jobs
declare), and a continuous stream of jobs from eight tenants — training
gangs, inference services on whole cards and fractions of a card, batch
tasks — drawn from the synthetic national workload (suanli replay
--synthetic) and submitted through the API with each tenant's own token.
It prints the dashboard's address and an admin token. Every --kill-agent-every
it kills the agent of a node running work: after three missed heartbeats the
server disconnects the node (its work held for it), as long again later it
loses the node and requeues its jobs whole, from their last checkpoint, and
places them elsewhere. Interrupt (Ctrl-C) or --duration
stops it.

A job's declared runtime is how long its simulated workers run, in seconds:
the synthetic workload's runtimes are scaled so that jobs arriving at --rate
offer --load of the network's cards. On the default network the demo takes
a third to a half of a core (more as the running jobs grow) and about
1.1 GiB of memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.addrSet = cmd.Flags().Changed("listen") || cmd.Flags().Changed("addr")
			if cfg.log == nil {
				cfg.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			return runDemo(ctx, cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "listen", "127.0.0.1:7480", "address of the API and dashboard, as for serve (when the default is taken, a free port)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:7480", "the old name of --listen")
	_ = f.MarkDeprecated("addr", "use --listen")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory of the embedded store (default: a temporary one, removed at exit)")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", 10*time.Second, "agents' heartbeat period; three missed beats disconnect a node, as long again later it is lost")
	f.Float64Var(&cfg.Rate, "rate", 300, "jobs submitted per minute")
	f.Float64Var(&cfg.Load, "load", 0.3, "offered load the job runtimes are scaled to, as a fraction of the network's cards")
	f.DurationVar(&cfg.KillEvery, "kill-agent-every", 2*time.Minute, "kill the agent of a node running work this often (0: never)")
	f.DurationVar(&cfg.ReviveAfter, "revive-after", time.Minute, "restart a killed agent this long after (0: never; at least three times the lease time)")
	f.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.DurationVar(&cfg.StatusEvery, "status-every", 10*time.Second, "print a status line this often (0: never)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the job stream, the simulated workers and the kills")
	cfg.net.add(cmd)
	return cmd
}

// check reports every flag out of range.
func (c demoConfig) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Addr == "" {
		bad("--listen is empty; give host:port, e.g. 127.0.0.1:7480 (port 0: any free one)")
	}
	if c.Heartbeat < 10*time.Millisecond {
		bad("--heartbeat %s: give a period of at least 10ms, e.g. 10s", c.Heartbeat)
	}
	if !(c.Rate > 0 && c.Rate <= 60_000) {
		bad("--rate %g: give jobs per minute, more than 0 and at most 60000", c.Rate)
	}
	if !(c.Load > 0 && c.Load <= 1) {
		bad("--load %g: give a fraction of the network's cards, more than 0 and at most 1", c.Load)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--kill-agent-every", c.KillEvery}, {"--revive-after", c.ReviveAfter}, {"--duration", c.Duration}, {"--status-every", c.StatusEvery}} {
		if d.v < 0 {
			bad("%s %s: must not be negative (0 turns it off)", d.flag, d.v)
		}
	}
	return errors.Join(errs...)
}

// lease is the agents' lease (and the server's).
func (c demoConfig) lease() v1.Lease {
	return v1.Lease{Period: c.Heartbeat, Missed: v1.DefaultMissedBeats}
}

// reviveDelay is how long a killed agent stays dead: ReviveAfter, but at
// least three times the lease time, so the server has lost the node first.
func (c demoConfig) reviveDelay() time.Duration {
	if c.ReviveAfter <= 0 {
		return 0
	}
	return max(c.ReviveAfter, 3*c.lease().TTL())
}

// runDemo runs the demo until ctx ends or cfg.Duration passes.
func runDemo(ctx context.Context, cfg demoConfig, out io.Writer) error {
	log := cfg.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if err := cfg.check(); err != nil {
		return usageErr(err)
	}
	// Requests the agents have in flight when the demo stops fail; the
	// server's log of them is noise.
	quiet := &quietHandler{next: log.Handler(), off: new(atomic.Bool)}
	log = slog.New(quiet)
	nw, err := cfg.net.load()
	if err != nil {
		return err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "suanli-demo-"); err != nil {
			return fmt.Errorf("make the demo's data directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	st, err := bolt.Open(bolt.Config{Dir: dir})
	if err != nil {
		return fmt.Errorf("open the embedded store in %s: %w", dir, err)
	}
	defer st.Close()
	ln, err := demoListen(ctx, cfg, log)
	if err != nil {
		return err
	}

	// The control plane outlives the agents and the job stream: it stops
	// last.
	planeCtx, stopPlane := context.WithCancel(context.WithoutCancel(ctx))
	tokenPath := filepath.Join(dir, "admin.token")
	urlc := make(chan string, 1)
	planeDone := make(chan struct{})
	var planeErr error
	go func() {
		defer close(planeDone)
		planeErr = runPlane(planeCtx, plane{
			Server: server.Config{Store: st, Network: nw, Log: log, Heartbeat: cfg.Heartbeat, MissedBeats: v1.DefaultMissedBeats, TickEvery: cfg.tick,
				LostAfter: cfg.lease().TTL()},
			TokenPath: tokenPath, StoreName: "embedded " + dir,
			Listen: func(context.Context) (net.Listener, error) { return ln, nil },
			Ready:  func(url string) { urlc <- url },
		}, log)
	}()
	defer func() { stopPlane(); <-planeDone }()
	var url string
	select {
	case url = <-urlc:
	case <-planeDone:
		ln.Close()
		return planeErr
	case <-ctx.Done():
		ln.Close()
		return nil
	}
	secret, err := os.ReadFile(tokenPath)
	if err != nil {
		return fmt.Errorf("read the admin token: %w", err)
	}
	d := &demo{cfg: cfg, net: nw, url: url, out: out, log: log, track: newTracker(),
		admin: v1.NewClient(url, strings.TrimSpace(string(secret))), rng: rand.New(rand.NewPCG(cfg.Seed, 0xde40))}
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.banner(tokenPath)
	// The agents and the job stream stop after ctx ends (or the control
	// plane fails) and the last status line is printed.
	run, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	d.lastAt = time.Now() // heartbeats/s of the first status line: since the start
	var wg sync.WaitGroup
	wg.Go(func() { d.fleet.run(run) })
	wg.Go(func() { d.track.follow(run, d.admin, d.say, log) })
	wg.Go(func() { d.submitJobs(run) })
	if cfg.KillEvery > 0 {
		wg.Go(func() { d.killAgents(run, &wg) })
	}
	if cfg.StatusEvery > 0 {
		wg.Go(func() { d.printStatus(run) })
	}
	if cfg.ready != nil {
		cfg.ready(url, d.admin.Token)
	}
	select {
	case <-ctx.Done():
	case <-planeDone:
	}
	quiet.off.Store(true)
	d.status()
	d.say("stopping: agents, job stream, then the server")
	stopRun()
	wg.Wait()
	stopPlane()
	<-planeDone
	return planeErr
}

// demoListen listens on --listen; when the default address is taken it
// takes a free port on the same host instead.
func demoListen(ctx context.Context, cfg demoConfig, log *slog.Logger) (net.Listener, error) {
	lc := &net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err == nil {
		return ln, nil
	}
	if cfg.addrSet || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, usageErr(fmt.Errorf("listen on %s: %w; give another --listen (port 0 picks a free one)", cfg.Addr, err))
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	ln, err2 := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, fmt.Errorf("listen on %s: %w; and on a free port: %w", cfg.Addr, err, err2)
	}
	log.Warn("the default address is taken; serving on a free port instead (--listen chooses)", "taken", cfg.Addr, "addr", ln.Addr().String())
	return ln, nil
}

// quietHandler passes records on until off is set.
type quietHandler struct {
	next slog.Handler
	off  *atomic.Bool
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.off.Load() && h.next.Enabled(ctx, l)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.off.Load() {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &quietHandler{next: h.next.WithAttrs(as), off: h.off}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), off: h.off}
}

// demo is a running demo: the API's clients, the agents, the job tracker.
type demo struct {
	cfg   demoConfig
	net   *network.Network
	url   string
	log   *slog.Logger
	admin *v1.Client
	fleet *fleet
	track *tracker
	// tenants are the synthetic tenants with a client holding each one's
	// token; tenantIDs in order.
	tenants   map[string]*v1.Client
	tenantIDs []string

	outMu sync.Mutex // guards out
	out   io.Writer

	mu        sync.Mutex // guards the fields below
	rng       *rand.Rand
	submitted int64
	refused   int64
	kills     int64
	revived   int64
	lastBeats int64
	lastAt    time.Time
}

// say prints a line with the time.
func (d *demo) say(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// setup creates the tenants, their tokens and the agents' token through
// the API, and the agents (not yet started).
func (d *demo) setup(ctx context.Context) error {
	d.tenants = map[string]*v1.Client{}
	for _, t := range sim.SynthTenants(d.net) {
		id := string(t.ID)
		if _, err := d.admin.PutTenant(ctx, v1.Tenant{ID: id, Class: string(t.Class), QuotaGFLOPS: t.QuotaGFLOPS, Weight: t.Weight}); err != nil {
			return fmt.Errorf("create tenant %s: %w", id, err)
		}
		tok, err := d.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: id, Name: "demo " + id})
		if err != nil {
			return fmt.Errorf("token of tenant %s: %w", id, err)
		}
		d.tenants[id] = v1.NewClient(d.url, tok.Secret)
		d.tenantIDs = append(d.tenantIDs, id)
	}
	// The simulated fleet stands in for the agents of every node outside
	// the kubernetes sites: one credential bound to those sites, as a
	// bridge holds (a real agent holds its node's own).
	var sites []string
	for _, s := range d.net.Sites {
		if s.Kind != model.SiteKubernetes {
			sites = append(sites, string(s.ID))
		}
	}
	tok, err := d.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "demo agents", Sites: sites})
	if err != nil {
		return fmt.Errorf("agents' token: %w", err)
	}
	d.fleet, err = newFleet(d.net, d.url, tok.Secret, d.cfg.lease(),
		workload.Sim{Seed: d.cfg.Seed, Second: time.Second}, d.cfg.Seed)
	return err
}

func (d *demo) banner(tokenPath string) {
	nodes, cards := d.fleet.size()
	lease := d.cfg.lease()
	d.outMu.Lock()
	defer d.outMu.Unlock()
	w := d.out
	fmt.Fprintf(w, "Suanli demo: %s — %d sites, %d nodes, %d cards\n", d.net.Name, len(d.net.Sites), len(d.net.Nodes), d.net.Cards())
	fmt.Fprintf(w, "  dashboard     %s/ui/  (sign in with the admin token)\n", d.url)
	fmt.Fprintf(w, "  admin token   %s  (also in %s)\n", d.admin.Token, tokenPath)
	fmt.Fprintf(w, "  CLI           SUANLI_SERVER=%s SUANLI_TOKEN=%s suanli jobs\n", d.url, d.admin.Token)
	fmt.Fprintf(w, "  agents        %d simulated (%d cards), heartbeat %s, a node is disconnected after %d missed beats (%s) and lost %s later\n",
		nodes, cards, lease.Period, lease.Missed, lease.TTL(), lease.TTL())
	if skipped := len(d.net.Nodes) - nodes; skipped > 0 {
		fmt.Fprintf(w, "                %d nodes of Kubernetes sites have no agent here; work placed on them waits for their adapter\n", skipped)
	}
	fmt.Fprintf(w, "  jobs          %g a minute from %d tenants (%s), runtimes scaled to an offered load of %.0f%% of the cards\n",
		d.cfg.Rate, len(d.tenantIDs), strings.Join(d.tenantIDs, ", "), 100*d.cfg.Load)
	switch {
	case d.cfg.KillEvery > 0 && d.cfg.reviveDelay() > 0:
		fmt.Fprintf(w, "  failures      the agent of a busy node is killed every %s and revived %s later\n", d.cfg.KillEvery, d.cfg.reviveDelay())
	case d.cfg.KillEvery > 0:
		fmt.Fprintf(w, "  failures      the agent of a busy node is killed every %s (never revived)\n", d.cfg.KillEvery)
	}
	if d.cfg.Duration > 0 {
		fmt.Fprintf(w, "Stops after %s; Ctrl-C stops sooner.\n", d.cfg.Duration)
	} else {
		fmt.Fprintln(w, "Ctrl-C stops.")
	}
}

// submitJobs submits the synthetic workload at cfg.Rate, each job with
// its tenant's token, until ctx ends.
func (d *demo) submitJobs(ctx context.Context) {
	interval := time.Duration(float64(time.Minute) / d.cfg.Rate)
	next := time.Now()
	var jobs []trace.Job
	t := time.NewTimer(0)
	defer t.Stop()
	for chunk, seq := 0, 0; ; seq++ {
		if len(jobs) == 0 {
			var err error
			if jobs, err = d.chunk(chunk); err != nil {
				d.log.Error("the job stream stopped", "err", err)
				return
			}
			chunk++
		}
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A server that falls behind is not flooded afterwards.
		next = next.Add(interval)
		if behind := time.Now().Add(-time.Second); next.Before(behind) {
			next = behind
		}
		j := jobs[0]
		jobs = jobs[1:]
		_, err := d.tenants[j.Tenant].Submit(ctx, jobSpec(j, seq))
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		if err != nil {
			d.refused++
		} else {
			d.submitted++
		}
		first := err != nil && d.refused == 1
		d.mu.Unlock()
		if first {
			d.log.Warn("a job was refused (further refusals are only counted)", "tenant", j.Tenant, "err", err)
		}
	}
}

// demoChunk is how many jobs are drawn at a time.
const demoChunk = 1000

// chunk draws the next jobs of the stream: the synthetic national workload
// over the time they take to submit at cfg.Rate, runtimes in seconds
// scaled so that the offered load is cfg.Load of the network's cards.
func (d *demo) chunk(i int) ([]trace.Job, error) {
	span := max(1, int64(math.Round(demoChunk*60/d.cfg.Rate)))
	return sim.Synthesize(d.net, sim.SynthConfig{Seed: d.cfg.Seed*1_000_003 + uint64(i), SpanS: span, Jobs: demoChunk,
		LoadMilli: max(1, int(math.Round(d.cfg.Load*1000)))})
}

// jobSpec is the API form of a synthetic job; its runtime is the
// simulated workers' runtime.
func jobSpec(j trace.Job, seq int) v1.JobSpec {
	s := v1.JobSpec{Tenant: j.Tenant, Name: fmt.Sprintf("%s-%d", j.Kind, seq), Kind: j.Kind, Priority: j.Priority,
		Workers: j.Workers, CardsPerWorker: j.CardsPerWorker, ShareMilli: j.ShareMilli, MemMiB: j.MemMiB,
		Models: j.Models, ComputeGFLOPS: j.ComputeGFLOPS, Topology: j.Topology, Classification: j.Classification,
		RuntimeSec: j.DurationS}
	if s.ShareMilli > 0 || s.ComputeGFLOPS > 0 {
		s.CardsPerWorker = 0
	}
	return s
}

// killed is one agent the demo killed and the jobs it ran.
type killed struct {
	Node string
	At   time.Time
	Jobs []string // placed on the node when it was killed
}

// killAgents kills the agent of a node running work every cfg.KillEvery
// and revives it after reviveDelay; revivals join wg.
func (d *demo) killAgents(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTicker(d.cfg.KillEvery)
	defer t.Stop()
	lease := d.cfg.lease()
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
		k := killed{Node: node, At: time.Now(), Jobs: jobs}
		d.track.watch(k)
		d.mu.Lock()
		d.kills++
		d.mu.Unlock()
		d.say("killed the agent of node %s with %d job(s) on it (%s); after %d missed heartbeats (%s) the server disconnects the node, %s later it loses it and requeues them",
			node, len(jobs), shortList(jobs, 5), lease.Missed, lease.TTL(), lease.TTL())
		if d.cfg.onKill != nil {
			d.cfg.onKill(k)
		}
		if delay := d.cfg.reviveDelay(); delay > 0 {
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

func (d *demo) printStatus(ctx context.Context) {
	t := time.NewTicker(d.cfg.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.status()
		}
	}
}

// status prints one line: agents, jobs, recoveries.
func (d *demo) status() {
	fs := d.fleet.stats()
	ts := d.track.stats()
	now := time.Now()
	d.mu.Lock()
	rate := float64(fs.beats-d.lastBeats) / max(now.Sub(d.lastAt).Seconds(), 1e-3)
	d.lastBeats, d.lastAt = fs.beats, now
	sub, ref, kills, revived := d.submitted, d.refused, d.kills, d.revived
	d.mu.Unlock()
	d.say("agents %d/%d registered (%.0f heartbeats/s) · jobs submitted %d (refused %d), running %d, started %d, completed %d, failed %d, preempted %d · killed %d agents, revived %d, jobs requeued %d, placed again %d",
		fs.registered, fs.agents, rate, sub, ref, ts.running, ts.started, ts.completed, ts.failed, ts.preempted, kills, revived, ts.requeued, ts.recovered)
}

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

// tracker follows every job change through the API's event stream: the
// counts of the status line, the nodes running work (to pick a victim)
// and the jobs of killed agents until they are placed again.
type tracker struct {
	mu      sync.Mutex // guards the fields below
	live    map[string]trackedJob
	watched map[string]killed // job → the kill that hit it
	counts  trackerStats
}

type trackedJob struct {
	state    string
	nodes    []string
	placedAt time.Time
}

type trackerStats struct {
	running, started, completed, failed, preempted, requeued, recovered int64
}

func newTracker() *tracker {
	return &tracker{live: map[string]trackedJob{}, watched: map[string]killed{}}
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
	held := func(s string) bool { return s == v1.StatePlaced || s == v1.StateRunning }
	if j.State == v1.StateRunning && (prev.state != v1.StateRunning || !placedAt.Equal(prev.placedAt)) {
		t.counts.started++
	}
	// Requeued: taken off its placement, whether it waits or the same
	// scheduling pass placed it again.
	if had && held(prev.state) && (j.State == v1.StatePending || j.State == v1.StateBlocked ||
		held(j.State) && !placedAt.Equal(prev.placedAt)) {
		t.counts.requeued++
	}
	switch j.State {
	case v1.StateCompleted, v1.StateFailed, v1.StateCancelled:
		delete(t.live, j.ID)
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
		t.counts.recovered++
		return fmt.Sprintf("job %s (%s), requeued from lost node %s at checkpoint %d, placed again on %s",
			j.ID, j.Spec.Name, k.Node, j.Checkpoint, shortList(nodes, 3))
	case j.State == v1.StateFailed || j.State == v1.StateCancelled || j.State == v1.StateCompleted:
		delete(t.watched, j.ID)
		return fmt.Sprintf("job %s (%s), which ran on lost node %s, ended %s: %s", j.ID, j.Spec.Name, k.Node, j.State, j.Reason)
	}
	return ""
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
func (t *tracker) watch(k killed) {
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
