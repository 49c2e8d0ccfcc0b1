package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/demo"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/bolt"
)

// demoConfig is the configuration of `suanli demo`: the control plane's
// here, the agents', job stream's and kills' in demo.Config.
type demoConfig struct {
	demo.Config
	Addr    string // API and dashboard, --listen (default 127.0.0.1:7480, as serve; a taken default falls back to a free port)
	DataDir string // embedded store (default: a temporary directory, removed at exit)
	net     netFlags
	addrSet bool // --listen was given: a taken address is an error

	// For tests.
	tick time.Duration // the server's scheduler tick (default 1 s)
	log  *slog.Logger  // nil: warnings and errors on stderr
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
	st, dir, closeStore, err := openDemoStore(cfg.DataDir)
	if err != nil {
		return err
	}
	defer closeStore()
	ln, err := demoListen(ctx, cfg, log)
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(dir, "admin.token")
	p := startDemoPlane(ctx, plane{
		Server: server.Config{Store: st, Network: nw, Log: log, Heartbeat: cfg.Heartbeat, MissedBeats: v1.DefaultMissedBeats, TickEvery: cfg.tick,
			LostAfter: cfg.Lease().TTL()},
		TokenPath: tokenPath, StoreName: "embedded " + dir,
		Listen: func(context.Context) (net.Listener, error) { return ln, nil },
	}, log)
	defer p.stopAndWait()
	var url string
	select {
	case url = <-p.url:
	case <-p.done:
		ln.Close()
		return p.err
	case <-ctx.Done():
		ln.Close()
		return nil
	}
	secret, err := os.ReadFile(tokenPath)
	if err != nil {
		return fmt.Errorf("read the admin token: %w", err)
	}
	demoCtx, stopDemo := p.demoContext(ctx)
	defer stopDemo()
	if err := demo.Run(demoCtx, cfg.Config, demo.Plane{Network: nw, URL: url, AdminToken: strings.TrimSpace(string(secret)),
		TokenPath: tokenPath, Log: log, Quiet: func() { quiet.off.Store(true) }}, out); err != nil {
		return err
	}
	return p.stopAndWait()
}

// openDemoStore opens the embedded store in dir, or in a temporary
// directory when dir is empty; closeStore closes it and removes the
// temporary directory.
func openDemoStore(dir string) (st *bolt.Store, used string, closeStore func(), err error) {
	temp := dir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "suanli-demo-"); err != nil {
			return nil, "", nil, fmt.Errorf("make the demo's data directory: %w", err)
		}
	}
	st, err = bolt.Open(bolt.Config{Dir: dir})
	if err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return nil, "", nil, fmt.Errorf("open the embedded store in %s: %w", dir, err)
	}
	return st, dir, func() {
		st.Close()
		if temp {
			os.RemoveAll(dir)
		}
	}, nil
}

// demoPlane is the demo's control plane, running in the background.
type demoPlane struct {
	url  chan string   // its URL, once it serves
	done chan struct{} // closed when it has stopped; err is set then
	err  error
	stop context.CancelFunc
}

// startDemoPlane runs the control plane. It outlives ctx (the agents and
// the job stream stop first): stopAndWait stops it.
func startDemoPlane(ctx context.Context, pl plane, log *slog.Logger) *demoPlane {
	planeCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p := &demoPlane{url: make(chan string, 1), done: make(chan struct{}), stop: stop}
	pl.Ready = func(url string) { p.url <- url }
	go func() {
		defer close(p.done)
		p.err = runPlane(planeCtx, pl, log)
	}()
	return p
}

// stopAndWait stops the control plane and returns how it ended.
func (p *demoPlane) stopAndWait() error {
	p.stop()
	<-p.done
	return p.err
}

// demoContext is ctx, also cancelled when the control plane stops: the
// demo stops when ctx ends or the control plane fails.
func (p *demoPlane) demoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	demoCtx, stopDemo := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.done:
			stopDemo()
		case <-demoCtx.Done():
		}
	}()
	return demoCtx, stopDemo
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
