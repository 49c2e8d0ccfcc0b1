// Package demo drives a live national network against a running control
// plane: an in-process simulated agent for every node outside the
// Kubernetes sites, a continuous stream of jobs from the synthetic tenants
// submitted through the API with each tenant's own token, an agent killer
// and reviver, a tracker of every job change and a status line. `suanli
// demo` starts the control plane and hands it here.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sim"
)

// Config is the demo's agents, job stream, kills and status line.
type Config struct {
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

	// For tests.
	Ready  func(url, token string) // called once jobs start to flow
	OnKill func(k Killed)          // called after each kill
}

// Lease is the agents' lease (and the server's).
func (c Config) Lease() v1.Lease {
	return v1.Lease{Period: c.Heartbeat, Missed: v1.DefaultMissedBeats}
}

// ReviveDelay is how long a killed agent stays dead: ReviveAfter, but at
// least three times the lease time, so the server has lost the node first.
func (c Config) ReviveDelay() time.Duration {
	if c.ReviveAfter <= 0 {
		return 0
	}
	return max(c.ReviveAfter, 3*c.Lease().TTL())
}

// Plane is the running control plane the demo drives.
type Plane struct {
	Network    *network.Network // the network the server runs
	URL        string           // its API
	AdminToken string           // an admin token's secret
	TokenPath  string           // where the admin token is kept, for the banner
	Log        *slog.Logger     // nil: warnings and errors on stderr
	// Quiet, when set, is called once ctx ends, before the last status
	// line: requests the agents have in flight then fail, and the
	// server's log of them is noise.
	Quiet func()
}

// Run creates the tenants and tokens through the API, prints the banner,
// then runs the agents, the job stream, the kills and the status line
// until ctx ends; it prints a last status line and returns once they have
// all stopped. The caller stops the control plane afterwards.
func Run(ctx context.Context, cfg Config, p Plane, out io.Writer) error {
	log := p.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d := &demo{cfg: cfg, net: p.Network, url: p.URL, out: out, log: log, track: newTracker(),
		admin: v1.NewClient(p.URL, p.AdminToken), rng: rand.New(rand.NewPCG(cfg.Seed, 0xde40))}
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.banner(p.TokenPath)
	// The agents and the job stream stop after ctx ends and the last
	// status line is printed.
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
	if cfg.Ready != nil {
		cfg.Ready(p.URL, d.admin.Token)
	}
	<-ctx.Done()
	if p.Quiet != nil {
		p.Quiet()
	}
	d.status()
	d.say("stopping: agents, job stream, then the server")
	stopRun()
	wg.Wait()
	return nil
}

// demo is a running demo: the API's clients, the agents, the job tracker.
type demo struct {
	cfg   Config
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
	d.fleet, err = newFleet(d.net, d.url, tok.Secret, d.cfg.Lease(),
		workload.Sim{Seed: d.cfg.Seed, Second: time.Second}, d.cfg.Seed)
	return err
}

func (d *demo) banner(tokenPath string) {
	nodes, cards := d.fleet.size()
	lease := d.cfg.Lease()
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
	case d.cfg.KillEvery > 0 && d.cfg.ReviveDelay() > 0:
		fmt.Fprintf(w, "  failures      the agent of a busy node is killed every %s and revived %s later\n", d.cfg.KillEvery, d.cfg.ReviveDelay())
	case d.cfg.KillEvery > 0:
		fmt.Fprintf(w, "  failures      the agent of a busy node is killed every %s (never revived)\n", d.cfg.KillEvery)
	}
	if d.cfg.Duration > 0 {
		fmt.Fprintf(w, "Stops after %s; Ctrl-C stops sooner.\n", d.cfg.Duration)
	} else {
		fmt.Fprintln(w, "Ctrl-C stops.")
	}
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
