package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
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

	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
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
	// etcd client TLS (the flags Kubernetes uses): plaintext endpoints
	// are refused unless EtcdInsecure.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	EtcdInsecure                          bool
	// ClientCAFile: node certificates signed by this CA are accepted as
	// their node's agent credential (needs TLSCert); with ClientCAKeyFile
	// the server also signs the CSRs of nodes joining with a bootstrap
	// token, valid for NodeCertTTL.
	ClientCAFile, ClientCAKeyFile string
	NodeCertTTL                   time.Duration
	TenantTokenTTL                time.Duration // lifetime of tenant tokens created without one
	// SecretKeyFile holds the key that seals tenants' secrets (64 hex
	// digits). Default: <data-dir>/secret.key, created on the first start
	// with the embedded store; with etcd, give every replica the same
	// file, or the server keeps no secrets.
	SecretKeyFile string
	// Fairness is the API's admission control per priority level
	// (default httpapi.DefaultFairness()).
	Fairness  httpapi.Fairness
	LostAfter time.Duration // how long a disconnected node's work is held (default server.DefaultLostAfter; a site's lost_after wins)
	// EffectiveShare charges fair share and quotas by effective throughput
	// in cards of ReferenceModel (server.Config.EffectiveShare).
	EffectiveShare bool
	ReferenceModel string
	Throughput     string // overlay file on the default throughput matrix
	// Migrate lets the scheduler move checkpointed jobs to faster free
	// models (core.Migration) within these bounds.
	Migrate            bool
	MigrateRestoreCost time.Duration
	MigrateMinInterval time.Duration
	MigrateMaxPerPass  int
	// LAS turns on attained-service scheduling (core.Service).
	LAS       bool
	LASMinRun time.Duration
	// AuditKey is the ed25519 key signing the audit chain (default
	// <data-dir>/audit.key).
	AuditKey string
	net      netFlags
	kube     kubeFlags // bridges of the network's kubernetes sites (kubesites.go)
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
scheduling, the others serve reads and accept writes. etcd endpoints are
https:// with --etcd-cafile, --etcd-certfile and --etcd-keyfile; plaintext
ones are refused unless --etcd-insecure. The first start writes an admin
token to <data-dir>/admin.token (mode 0600); rotate it in place with
suanli token rotate ID --out <data-dir>/admin.token. The first start also
writes the key that signs the audit log to <data-dir>/audit.key (mode
0600); every start logs the key's public half, which 'suanli audit verify
--key' checks the log against, and verifies the log with it (and with
<audit-key>.witness, the newest checkpoint it signed, which catches a store
rolled back to an older signed state).`,
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
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA file that signs the etcd members' certificates (https:// endpoints)")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for etcd's client-cert auth (with --etcd-keyfile)")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "key of --etcd-certfile")
	f.BoolVar(&cfg.EtcdInsecure, "etcd-insecure", false, "accept plaintext (http://) etcd endpoints; without it they are refused")
	f.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA of node client certificates: a certificate naming suanli:node:<id> is that node's agent credential (mutual TLS; needs --tls-cert)")
	f.StringVar(&cfg.ClientCAKeyFile, "client-ca-key-file", "", "key of --client-ca-file: sign the CSRs of nodes joining with a bootstrap token")
	f.DurationVar(&cfg.NodeCertTTL, "node-cert-ttl", server.DefaultNodeCertTTL, "lifetime of the node certificates the server signs")
	f.DurationVar(&cfg.TenantTokenTTL, "tenant-token-ttl", server.DefaultTenantTokenTTL, "lifetime of tenant tokens created without one (0: the default; negative: they never expire)")
	f.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "file holding the key that encrypts tenants' secrets, 64 hex digits (default <data-dir>/secret.key, created on the first start with the embedded store; with --etcd-endpoints give every replica the same file)")
	addFairnessFlags(cmd, &cfg.Fairness)
	f.BoolVar(&cfg.EffectiveShare, "effective-share", false, "charge fair share and FP16 quotas by effective throughput (work done, in cards of --reference-model) for jobs with rates or a workload_class, instead of peak FLOPS")
	f.StringVar(&cfg.ReferenceModel, "reference-model", "huawei-ascend-910b4", "the model effective throughput is counted in (with --effective-share)")
	f.StringVar(&cfg.Throughput, "throughput", "", "overlay this throughput file (YAML, the schema of `suanli throughput`) on the default matrix that progress reports refine")
	f.BoolVar(&cfg.Migrate, "migrate", false, "move running jobs that saved a checkpoint to a faster free model (by their rates or class) when the expected gain beats twice the restore cost")
	f.DurationVar(&cfg.MigrateRestoreCost, "migrate-restore-cost", 2*time.Minute, "with --migrate: the progress a move costs (checkpoint, restore, warm-up)")
	f.DurationVar(&cfg.MigrateMinInterval, "migrate-min-interval", 30*time.Minute, "with --migrate: the least time a job runs on a placement before it may move again")
	f.IntVar(&cfg.MigrateMaxPerPass, "migrate-max-per-pass", 4, "with --migrate: the most jobs moved per scheduling tick")
	f.BoolVar(&cfg.LAS, "las", false, "attained-service scheduling: queue by levels of service received (30 min, 2 h, 8 h of card time at the job's best rate); a checkpointed job at a higher level yields its cards to a job at a lower level")
	f.DurationVar(&cfg.LASMinRun, "las-min-run", 30*time.Minute, "with --las: the least time a job runs on a placement before it yields")
	f.DurationVar(&cfg.LostAfter, "lost-after", server.DefaultLostAfter, "how long a node whose heartbeats stopped keeps its work (disconnected) before the work is requeued; a site's lost_after in the network spec wins")
	f.StringVar(&cfg.AuditKey, "audit-key", "", "file of the ed25519 key that signs the audit log, created on first start (default <data-dir>/audit.key); keep it off the store's machines; replicas sharing a store share it")
	cfg.net.add(cmd)
	cfg.kube.add(cmd)
	return cmd
}

// addFairnessFlags binds the API's admission control to flags, with
// httpapi.DefaultFairness() as their defaults.
func addFairnessFlags(cmd *cobra.Command, f *httpapi.Fairness) {
	*f = httpapi.DefaultFairness()
	fl := cmd.Flags()
	fl.IntVar(&f.Agent.Seats, "api-agent-seats", f.Agent.Seats, "node agents' requests (heartbeats, reports) served at once; they never wait for other clients' seats (0: no limit)")
	fl.IntVar(&f.Staff.Seats, "api-staff-seats", f.Staff.Seats, "admins' and operators' requests served at once (0: no limit)")
	fl.IntVar(&f.Tenant.Seats, "api-tenant-seats", f.Tenant.Seats, "tenants' requests served at once, all tenants together, shared round-robin by tenant (0: no limit)")
	fl.IntVar(&f.Tenant.FlowSeats, "tenant-concurrency", f.Tenant.FlowSeats, "one tenant's requests served at once; more wait in its queue (0: no limit)")
	fl.Float64Var(&f.Tenant.Rate, "tenant-rate", f.Tenant.Rate, "one tenant's sustained requests a second; more are refused with 429 and Retry-After (0: no limit)")
	fl.IntVar(&f.Tenant.Burst, "tenant-burst", f.Tenant.Burst, "requests a tenant may send at once above its rate")
	fl.IntVar(&f.Tenant.Queue, "tenant-queue", f.Tenant.Queue, "one tenant's requests waiting for a seat; one more is refused with 429")
	fl.DurationVar(&f.Tenant.Wait, "api-wait", f.Tenant.Wait, "the longest a request waits for a seat before it is refused with 429")
}

// fairness checks the flags and applies --api-wait to every level.
func fairness(f httpapi.Fairness) (httpapi.Fairness, error) {
	f.Agent.Wait, f.Staff.Wait = f.Tenant.Wait, f.Tenant.Wait
	if err := f.Validate(); err != nil {
		return f, usageErr(fmt.Errorf("admission control flags: %w", err))
	}
	return f, nil
}

func runServe(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	if err := checkServeFlags(cfg); err != nil {
		return usageErr(err)
	}
	clientCAs, nodeCA, err := loadClientCA(cfg)
	if err != nil {
		return usageErr(err)
	}
	fair, err := fairness(cfg.Fairness)
	if err != nil {
		return err
	}
	nw, err := cfg.net.load()
	if err != nil {
		return err
	}
	tp, err := serveThroughput(cfg, nw)
	if err != nil {
		return err
	}
	if cfg.Listen == "" {
		return usageErr(errors.New("--listen is empty; give host:port, e.g. 127.0.0.1:7480"))
	}
	kb, err := newKubeBridges(cfg.kube, nw, cfg.net.network, cfg.DataDir, cfg.TLSCert, log)
	if err != nil {
		return err
	}
	if cfg.AuditKey == "" {
		cfg.AuditKey = filepath.Join(cfg.DataDir, "audit.key")
	}
	akey, created, err := audit.LoadOrCreateKey(cfg.AuditKey)
	if err != nil {
		return err
	}
	log.Info("audit log signed", "public_key", audit.NewSigner(akey).Public(), "key_file", cfg.AuditKey, "created", created)
	st, elector, err := openServeStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secretKey, err := serveSecretKey(cfg, log)
	if err != nil {
		return err
	}
	listen := func(ctx context.Context) (net.Listener, error) {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		return ln, nil
	}
	defer kb.stop()
	return runPlane(ctx, plane{Server: server.Config{Store: st, Network: nw, Elector: elector, Log: log, TenantTokenTTL: cfg.TenantTokenTTL, NodeCA: nodeCA, SecretKey: secretKey,
		LostAfter: cfg.LostAfter, AuditKey: akey, AuditWitness: cfg.AuditKey + ".witness",
		EffectiveShare: cfg.EffectiveShare, ReferenceModel: cfg.ReferenceModel, Throughput: tp, Migration: migration(cfg), Service: service(cfg)},
		TokenPath: filepath.Join(cfg.DataDir, "admin.token"), Listen: listen, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, ClientCAs: clientCAs,
		StoreName: storeName(cfg), Ready: kb.start, Fairness: fair}, log)
}

// migration is the scheduler's migration policy from the flags.
func migration(cfg serveConfig) core.Migration {
	if !cfg.Migrate {
		return core.Migration{}
	}
	m := core.DefaultMigration
	m.RestoreCostSec = max(int64(cfg.MigrateRestoreCost/time.Second), 1)
	m.MinIntervalSec = max(int64(cfg.MigrateMinInterval/time.Second), 1)
	m.MaxPerPass = max(cfg.MigrateMaxPerPass, 1)
	return m
}

// service is the scheduler's attained-service policy from the flags.
func service(cfg serveConfig) core.Service {
	if !cfg.LAS {
		return core.Service{}
	}
	s := core.DefaultService
	s.MinRunSec = max(int64(cfg.LASMinRun/time.Second), 1)
	if cfg.Migrate {
		s.RestoreCostSec = max(int64(cfg.MigrateRestoreCost/time.Second), 1)
	}
	return s
}

// serveThroughput checks --reference-model and reads the throughput matrix
// (--throughput over the default).
func serveThroughput(cfg serveConfig, nw *network.Network) (*catalog.Throughput, error) {
	if m := nw.Model(cfg.ReferenceModel); cfg.EffectiveShare && (m == nil || m.FP16.Milli <= 0) {
		return nil, usageErr(fmt.Errorf("--reference-model %q: not a catalog model with a peak FP16 figure (run `suanli catalog` for the list)", cfg.ReferenceModel))
	}
	tp := catalog.DefaultThroughput()
	if cfg.Throughput != "" {
		var err error
		if tp, err = catalog.LoadThroughputFile(cfg.Throughput); err != nil {
			return nil, usageErr(fmt.Errorf("--throughput: %w", err))
		}
	}
	return tp, nil
}

// checkServeFlags reports the first TLS or lease flag given without what
// it needs or out of range.
func checkServeFlags(cfg serveConfig) error {
	switch {
	case (cfg.TLSCert == "") != (cfg.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together; give both or neither")
	case cfg.LostAfter < 0:
		return fmt.Errorf("--lost-after %s: must not be negative; give e.g. 5m", cfg.LostAfter)
	case cfg.ClientCAFile != "" && cfg.TLSCert == "":
		return errors.New("--client-ca-file needs --tls-cert and --tls-key: client certificates travel over TLS")
	case cfg.ClientCAKeyFile != "" && cfg.ClientCAFile == "":
		return errors.New("--client-ca-key-file needs --client-ca-file")
	}
	return nil
}

// loadClientCA reads --client-ca-file, the CA that node certificates are
// verified against, and with --client-ca-key-file the node CA that signs
// them (nil, nil without the flags).
func loadClientCA(cfg serveConfig) (*x509.CertPool, *server.NodeCA, error) {
	if cfg.ClientCAFile == "" {
		return nil, nil, nil
	}
	b, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(b) {
		return nil, nil, fmt.Errorf("--client-ca-file %s holds no PEM certificate", cfg.ClientCAFile)
	}
	if cfg.ClientCAKeyFile == "" {
		return clientCAs, nil, nil
	}
	nodeCA, err := server.LoadNodeCA(cfg.ClientCAFile, cfg.ClientCAKeyFile)
	if err != nil {
		return nil, nil, err
	}
	nodeCA.TTL = cfg.NodeCertTTL
	return clientCAs, nodeCA, nil
}

// openServeStore connects to etcd (with an elector for leadership) when
// --etcd-endpoints is given, or opens the embedded store in --data-dir.
func openServeStore(ctx context.Context, cfg serveConfig) (store.Store, server.Elector, error) {
	if len(cfg.EtcdEndpoints) == 0 {
		bs, err := bolt.Open(bolt.Config{Dir: cfg.DataDir})
		if err != nil {
			return nil, nil, fmt.Errorf("open the embedded store in %s: %w", cfg.DataDir, err)
		}
		return bs, nil, nil
	}
	conn := etcd.Conn{Endpoints: cfg.EtcdEndpoints, CAFile: cfg.EtcdCAFile, CertFile: cfg.EtcdCertFile, KeyFile: cfg.EtcdKeyFile, Insecure: cfg.EtcdInsecure}
	if _, err := conn.ClientConfig(); err != nil {
		return nil, nil, usageErr(err)
	}
	es, err := etcd.Connect(ctx, conn, etcd.Config{})
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	return es, server.EtcdElector{Client: es.Client(), Candidate: fmt.Sprintf("%s:%d@%s", host, os.Getpid(), cfg.Listen)}, nil
}

// serveSecretKey loads the key that seals tenants' secrets. Without
// --secret-key-file it is <data-dir>/secret.key, created on the embedded
// store's first start; a replica of etcd must not invent a key of its
// own (the others could not open what it seals), so it keeps no secrets
// (nil key) rather than create one.
func serveSecretKey(cfg serveConfig, log *slog.Logger) ([]byte, error) {
	keyPath, explicit := cfg.SecretKeyFile, cfg.SecretKeyFile != ""
	if !explicit {
		keyPath = filepath.Join(cfg.DataDir, "secret.key")
	}
	secretKey, created, err := loadSecretKey(keyPath, !explicit && len(cfg.EtcdEndpoints) == 0)
	switch {
	case err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)):
		return nil, err
	case err != nil:
		log.Warn("no secret key: this replica keeps no secrets; give every replica the same --secret-key-file", "looked", keyPath)
	case created:
		log.Info("wrote a new secret key; back it up apart from the store", "path", keyPath)
	}
	return secretKey, nil
}

// plane is a control plane to run: a server, its API and dashboard. serve
// runs one; demo runs one and drives it.
type plane struct {
	Server    server.Config                                   // store, network and tuning
	TokenPath string                                          // where the first admin token is written
	Listen    func(ctx context.Context) (net.Listener, error) // called once the admin token exists
	TLSCert   string                                          // with TLSKey: serve HTTPS
	TLSKey    string
	// ClientCAs, when set, verifies the client certificates agents
	// present: a node certificate is its node's credential.
	ClientCAs *x509.CertPool
	StoreName string // for the log
	// Ready, when set, is called with the URL once the API serves.
	Ready func(url string)
	// Fairness is the API's admission control (zero: none).
	Fairness httpapi.Fairness
}

// runPlane runs the server and serves its API and dashboard until ctx ends
// or serving fails; then it shuts down.
func runPlane(ctx context.Context, p plane, log *slog.Logger) error {
	nw := p.Server.Network
	srv, err := server.New(p.Server)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	runDone := make(chan struct{})
	// The store is closed by the caller: wait for the server to stop first.
	defer func() { cancel(); <-runDone }()
	go func() { defer close(runDone); errc <- srv.Run(runCtx) }()
	if first, err := srv.Bootstrap(ctx, p.TokenPath); err != nil {
		return err
	} else if first {
		log.Info("wrote the first admin token; keep it safe", "path", p.TokenPath)
	}
	ln, err := p.Listen(ctx)
	if err != nil {
		return err
	}
	hs := httpapi.DefaultTimeouts.Server(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry(), Log: log, UI: web.FS, Fairness: p.Fairness}))
	if p.ClientCAs != nil {
		hs.TLSConfig = &tls.Config{ClientCAs: p.ClientCAs, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	}
	go func() {
		var err error
		if p.TLSCert != "" {
			err = hs.ServeTLS(ln, p.TLSCert, p.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	scheme := "http"
	if p.TLSCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	log.Info("serving", "url", url, "store", p.StoreName, "network", nw.Name, "cards", nw.Cards())
	if p.Ready != nil {
		p.Ready(url)
	}
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
	return err
}

func storeName(cfg serveConfig) string {
	if len(cfg.EtcdEndpoints) > 0 {
		return "etcd " + strings.Join(cfg.EtcdEndpoints, ",")
	}
	return "embedded " + cfg.DataDir
}
