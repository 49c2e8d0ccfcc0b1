package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

// agentConfig is the configuration of `suanli agent`.
type agentConfig struct {
	Server    string // server URL (env SUANLI_SERVER; default http://127.0.0.1:7480)
	Token     string // agent bearer token (env SUANLI_TOKEN)
	TokenFile string // file holding the token
	// TLS: CAFile pins the server's CA; CertFile/KeyFile are the node's
	// client certificate (mutual TLS: the certificate is the credential).
	CAFile, CertFile, KeyFile string
	// BootstrapTokenFile joins the node on first start: the bootstrap
	// token is exchanged for the node's own credential, kept in
	// CredentialsDir (default ./suanli-agent) for later starts.
	BootstrapTokenFile string
	CredentialsDir     string
	Node               string // node id in the network (default: the host name)
	Site               string
	Domain             string
	Labels             string        // k=v,k=v
	Address            string        // address other nodes reach this one at (default: the node id)
	Simulate           string        // MODELxCOUNT: simulated devices instead of the vendor tools
	Heartbeat          time.Duration // heartbeat period until the server sets one (default 5 s)
	Grace              time.Duration // SIGTERM to SIGKILL (default 10 s)
	Rediscover         time.Duration // device re-discovery period (default 1 min)
	CheckpointDir      string        // root of the workers' checkpoint directories (default: none)
	SharePreload       string        // HAMi-core libvgpu.so, preloaded into Nvidia fractional workers
	DataDir            string        // the agent's state: the workers it runs (default ./suanli-agent)
	SimRuntime         bool          // run command-less jobs as simulated workers
}

func init() { register(newAgentCmd) }

func newAgentCmd() *cobra.Command {
	var cfg agentConfig
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: discover devices, register, heartbeat, run assigned work",
		Long: `Run the agent of one node. It discovers the node's accelerators with the
vendor tools on PATH (npu-smi, cnmon, mx-smi, …) or simulates them with
--simulate MODELxCOUNT, registers the node with the server, renews its lease
with a heartbeat every period, runs the workers the server assigns to the
node as processes with the vendor's visible-devices variable and the rank
variables of gangs, and reports their status, exit code, output tail and
checkpoints. Workers run on while the server cannot be reached; when it
answers again the agent reports what ended meanwhile and stops the workers
whose jobs the server has since placed elsewhere. The workers it runs are
recorded in <data-dir>/workers.json: an agent started again after a crash
adopts those still assigned and kills the others before their cards take
new work.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgent(ctx, cfg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "server URL (env SUANLI_SERVER; default http://127.0.0.1:7480)")
	f.StringVar(&cfg.Token, "token", "", "agent bearer token (env SUANLI_TOKEN)")
	f.StringVar(&cfg.TokenFile, "token-file", "", "file holding the node's bearer token (suanli token create --agent --node N)")
	f.StringVar(&cfg.CAFile, "ca-file", "", "trust only this CA for the server's certificate (pin it)")
	f.StringVar(&cfg.CertFile, "cert-file", "", "node client certificate naming suanli:node:<id>, for mutual TLS (with --key-file)")
	f.StringVar(&cfg.KeyFile, "key-file", "", "key of --cert-file")
	f.StringVar(&cfg.BootstrapTokenFile, "bootstrap-token-file", "", "bootstrap token: on first start exchange it for the node's own token and certificate, kept in --credentials-dir")
	f.StringVar(&cfg.CredentialsDir, "credentials-dir", "./suanli-agent", "where the node's own credential from a bootstrap token is kept (mode 0600)")
	f.StringVar(&cfg.Node, "node", "", "node id in the network (default: the host name)")
	f.StringVar(&cfg.Site, "site", "", "site of the node")
	f.StringVar(&cfg.Domain, "domain", "", "high-bandwidth domain (supernode or rack) of the node")
	f.StringVar(&cfg.Labels, "labels", "", "labels, k=v,k=v")
	f.StringVar(&cfg.Address, "address", "", "address other nodes reach this one at, for gangs' MASTER_ADDR (default: the node id)")
	f.StringVar(&cfg.Simulate, "simulate", "", "simulate devices instead of running the vendor tools, e.g. Ascend910B3x8")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", 5*time.Second, "heartbeat period until the server sets one")
	f.DurationVar(&cfg.Grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when a worker is stopped")
	f.DurationVar(&cfg.Rediscover, "rediscover", time.Minute, "how often devices are discovered again to follow their health (0: never)")
	f.StringVar(&cfg.DataDir, "data-dir", "./suanli-agent", "directory of the agent's state (the workers it runs, found again after a crash); one per node")
	f.StringVar(&cfg.CheckpointDir, "checkpoint-dir", "", "root of the workers' checkpoint directories ($SUANLI_CHECKPOINT_DIR)")
	f.StringVar(&cfg.SharePreload, "share-preload", "", "path of HAMi-core's libvgpu.so: preloaded (LD_PRELOAD) into Nvidia fractional workers so that CUDA_DEVICE_MEMORY_LIMIT and CUDA_DEVICE_SM_LIMIT hold")
	f.BoolVar(&cfg.SimRuntime, "simulate-workloads", false, "run jobs without a workload command as simulated workers (runtimes drawn from the job)")
	return cmd
}

func runAgent(ctx context.Context, cfg agentConfig, log *slog.Logger) error {
	var errs []error
	labels, err := parseLabels(cfg.Labels)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.SharePreload != "" {
		if st, err := os.Stat(cfg.SharePreload); err != nil || st.IsDir() {
			errs = append(errs, fmt.Errorf("--share-preload %s: not a file (%v); give the path of HAMi-core's libvgpu.so, or leave it out", cfg.SharePreload, err))
		}
	}
	disc := device.Default(device.ExecRunner{})
	if cfg.Simulate != "" {
		rep, err := device.ParseSimulate(cfg.Simulate)
		if err != nil {
			errs = append(errs, fmt.Errorf("--simulate: %w", err))
		}
		disc = device.Simulated{Report: rep}
	}
	if cfg.Heartbeat <= 0 {
		errs = append(errs, fmt.Errorf("--heartbeat %s: give a positive period such as 5s", cfg.Heartbeat))
	}
	if cfg.Grace < 0 {
		errs = append(errs, fmt.Errorf("--grace %s: must not be negative", cfg.Grace))
	}
	node := cfg.Node
	if node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			errs = append(errs, errors.New("--node: missing and the host name is unknown; give the node id of the network"))
		}
		node = h
	}
	if len(errs) > 0 {
		return usageErr(errors.Join(errs...))
	}
	client, err := agentClient(ctx, cfg, node, log)
	if err != nil {
		return err
	}
	rediscover := cfg.Rediscover
	if rediscover == 0 {
		rediscover = -1
	}
	ac := agent.Config{Client: client, Node: node, Site: cfg.Site, Domain: cfg.Domain, Labels: labels, Address: cfg.Address,
		Version: version, Discoverer: disc, Executor: workload.Proc{},
		Lease: v1.Lease{Period: cfg.Heartbeat, Missed: v1.DefaultMissedBeats}, Rediscover: rediscover,
		Grace: cfg.Grace, CheckpointRoot: cfg.CheckpointDir, SharePreload: cfg.SharePreload, DataDir: cfg.DataDir, Log: log}
	if cfg.SimRuntime {
		ac.Simulator = workload.Sim{Seed: uint64(time.Now().UnixNano())}
	}
	a, err := agent.New(ac)
	if err != nil {
		return usageErr(err)
	}
	log.Info("agent starting", "node", node, "server", client.Base, "simulate", cfg.Simulate)
	return a.Run(ctx)
}

// agentClient resolves the server and the node's credential: a node
// token (--token, SUANLI_TOKEN, --token-file), a node certificate
// (--cert-file), or the credential a bootstrap token got on an earlier
// start or gets now (--bootstrap-token-file, kept in --credentials-dir).
func agentClient(ctx context.Context, cfg agentConfig, node string, log *slog.Logger) (*v1.Client, error) {
	server := cfg.Server
	if server == "" {
		server = os.Getenv("SUANLI_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:7480"
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	if (cfg.CAFile != "" || cfg.CertFile != "") && !strings.HasPrefix(server, "https://") {
		return nil, usageErr(fmt.Errorf("--ca-file and --cert-file need an https:// server, not %s", server))
	}
	token := cfg.Token
	if token == "" {
		token = os.Getenv("SUANLI_TOKEN")
	}
	if token == "" && cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--token-file: %w", err))
		}
		token = strings.TrimSpace(string(b))
	}
	files := agent.TLSFiles{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
	hc, err := agent.HTTPClient(files)
	if err != nil {
		return nil, usageErr(err)
	}
	if token == "" && cfg.CertFile == "" {
		cred, ok, err := agent.LoadCredential(cfg.CredentialsDir)
		switch {
		case err != nil:
			return nil, err
		case !ok && cfg.BootstrapTokenFile == "":
			return nil, usageErr(errors.New("no credential: give the node's token (--token-file; suanli token create --agent --node N), its certificate (--cert-file, --key-file), or a bootstrap token to join with (--bootstrap-token-file)"))
		case !ok:
			b, err := os.ReadFile(cfg.BootstrapTokenFile)
			if err != nil {
				return nil, usageErr(fmt.Errorf("--bootstrap-token-file: %w", err))
			}
			bc := v1.NewClient(server, strings.TrimSpace(string(b)))
			bc.HTTP = hc
			if cred, err = agent.Join(ctx, bc, node, cfg.CredentialsDir); err != nil {
				return nil, err
			}
			log.Info("joined with the bootstrap token; the node's credential is kept", "dir", cfg.CredentialsDir, "certificate", cred.CertFile != "")
		}
		token = cred.Token
		if cred.CertFile != "" && strings.HasPrefix(server, "https://") {
			// The node certificate is the credential: identity rests on
			// its key, not on a bearer secret.
			files.CertFile, files.KeyFile = cred.CertFile, cred.KeyFile
			if hc, err = agent.HTTPClient(files); err != nil {
				return nil, err
			}
			token = ""
		}
	}
	c := v1.NewClient(server, token)
	c.HTTP = hc
	return c, nil
}

// parseLabels reads "k=v,k2=v2"; it reports every malformed entry.
func parseLabels(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	var errs []string
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			errs = append(errs, fmt.Sprintf("labels[%d] %q: write key=value", i, part))
		case strings.ContainsAny(k, " \t\n="):
			errs = append(errs, fmt.Sprintf("labels[%d] %q: the key may not contain spaces", i, part))
		case out[k] != "" && out[k] != v:
			errs = append(errs, fmt.Sprintf("labels[%d] %q: key %q given twice", i, part, k))
		default:
			out[k] = v
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("--labels: %s", strings.Join(errs, "; "))
	}
	return out, nil
}
