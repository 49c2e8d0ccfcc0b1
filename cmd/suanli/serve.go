package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/bolt"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/web"
)

// serveConfig is the configuration of `suanli serve`.
type serveConfig struct {
	Listen        string   // address to listen on (default 127.0.0.1:7480)
	DataDir       string   // embedded store and admin token (default ./suanli-data)
	EtcdEndpoints []string // etcd cluster for HA; empty: the embedded store
	TLSCert       string   // certificate file; with TLSKey, serve HTTPS
	TLSKey        string
	net           netFlags
}

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: API, store, scheduling loop",
		Long: `Run the control plane. With no flags it keeps its state in ./suanli-data
(an embedded, fsync'd store) and schedules on the embedded national network.
With --etcd-endpoints several replicas share an etcd cluster; one leads
scheduling, the others serve reads and accept writes. The first start writes
an admin token to <data-dir>/admin.token (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:7480", "address to listen on")
	f.StringVar(&cfg.DataDir, "data-dir", "./suanli-data", "directory of the embedded store and the admin token")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "etcd endpoints (comma-separated) for several replicas; default: the embedded store")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (with --tls-cert)")
	cfg.net.add(cmd)
	return cmd
}

func runServe(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return usageErr(errors.New("--tls-cert and --tls-key go together; give both or neither"))
	}
	nw, err := cfg.net.load()
	if err != nil {
		return err
	}
	if cfg.Listen == "" {
		return usageErr(errors.New("--listen is empty; give host:port, e.g. 127.0.0.1:7480"))
	}
	var st store.Store
	var elector server.Elector
	if len(cfg.EtcdEndpoints) > 0 {
		es, err := etcd.Dial(clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 5 * time.Second}, etcd.Config{})
		if err != nil {
			return err
		}
		host, _ := os.Hostname()
		elector = server.EtcdElector{Client: es.Client(), Candidate: fmt.Sprintf("%s:%d@%s", host, os.Getpid(), cfg.Listen)}
		st = es
	} else {
		bs, err := bolt.Open(bolt.Config{Dir: cfg.DataDir})
		if err != nil {
			return fmt.Errorf("open the embedded store in %s: %w", cfg.DataDir, err)
		}
		st = bs
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Network: nw, Elector: elector, Log: log})
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- srv.Run(runCtx) }()
	tokenPath := filepath.Join(cfg.DataDir, "admin.token")
	if first, err := srv.Bootstrap(ctx, tokenPath); err != nil {
		return err
	} else if first {
		log.Info("wrote the first admin token; keep it safe", "path", tokenPath)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	hs := &http.Server{
		Handler:           httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry(), Log: log, UI: web.FS}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("serving", "url", scheme+"://"+ln.Addr().String(), "store", storeName(cfg), "network", nw.Name, "cards", nw.Cards())
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			log.Error("stopping", "err", err)
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	cancel()
	return err
}

func storeName(cfg serveConfig) string {
	if len(cfg.EtcdEndpoints) > 0 {
		return "etcd " + strings.Join(cfg.EtcdEndpoints, ",")
	}
	return "embedded " + cfg.DataDir
}
