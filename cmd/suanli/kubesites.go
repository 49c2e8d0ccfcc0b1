package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/kube"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// kubeFlags configure the bridges `suanli serve` runs for the network's
// kubernetes sites.
type kubeFlags struct {
	Off       bool          // --no-kube-bridges: run none
	Namespace string        // --kube-namespace: namespace of the pods (default suanli)
	Image     string        // --kube-image: image of jobs whose workload names none
	Volcano   bool          // --kube-volcano: gang-schedule placements as Volcano PodGroups
	Grace     time.Duration // --kube-grace: grace of pod deletions (default 30 s)
	TokenFile string        // --kube-token-file: agent token of the bridges, bound to their sites (default <data-dir>/kube-bridge.token)
}

func (f *kubeFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.Off, "no-kube-bridges", false, "do not run the bridges of the network's kubernetes sites")
	fs.StringVar(&f.Namespace, "kube-namespace", "suanli", "namespace of the pods at kubernetes sites")
	fs.StringVar(&f.Image, "kube-image", "", "container image of jobs whose workload names none (workload.image, or "+kube.EnvImage+" in its env)")
	fs.BoolVar(&f.Volcano, "kube-volcano", false, "gang-schedule placements at kubernetes sites as Volcano PodGroups")
	fs.DurationVar(&f.Grace, "kube-grace", 30*time.Second, "grace period of pod deletions on cancel, preemption and requeue")
	fs.StringVar(&f.TokenFile, "kube-token-file", "", "agent token of the kubernetes site bridges (default <data-dir>/kube-bridge.token, created with the admin token)")
}

// kubeBridges runs one bridge per kubernetes site of the network, against
// this server's own API, while this replica leads scheduling.
type kubeBridges struct {
	flags   kubeFlags
	sites   []kube.BridgeConfig // without Server: it needs the API's URL
	admin   string              // admin token file, to create the agent token
	tlsCert string              // the API's certificate, to trust it
	log     *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newKubeBridges reads the kubeconfig of every kubernetes site of nw. A
// relative kubeconfig path is relative to the network spec file. It
// returns an error a person can act on when a kubeconfig does not load.
func newKubeBridges(f kubeFlags, nw *network.Network, specPath, dataDir, tlsCert string, log *slog.Logger) (*kubeBridges, error) {
	kb := &kubeBridges{flags: f, admin: filepath.Join(dataDir, "admin.token"), tlsCert: tlsCert, log: log}
	if kb.flags.TokenFile == "" {
		kb.flags.TokenFile = filepath.Join(dataDir, "kube-bridge.token")
	}
	if f.Off {
		return kb, nil
	}
	var errs []error
	endpoints := map[model.SiteID]model.GangEndpoint{}
	for _, s := range nw.Sites {
		if s.GangEndpoint != nil {
			endpoints[s.ID] = *s.GangEndpoint
		}
	}
	for _, s := range nw.Sites {
		if s.Kind != model.SiteKubernetes {
			continue
		}
		var nodes []model.Node
		for _, n := range nw.Nodes {
			if n.Site == s.ID {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			log.Warn("kubernetes site has no accelerator pools: nothing to bridge", "site", s.ID)
			continue
		}
		path := s.Kubeconfig
		if !filepath.IsAbs(path) && specPath != "" && specPath != "default" {
			path = filepath.Join(filepath.Dir(specPath), path)
		}
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: kubeconfig %s: %w (fix the path in the network spec, or run with --no-kube-bridges)", s.ID, path, err))
			continue
		}
		rc.QPS, rc.Burst, rc.Timeout = 50, 100, 10*time.Second
		cs, err := kube.NewCore(rc)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: kubeconfig %s: %w", s.ID, path, err))
			continue
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: kubeconfig %s: %w", s.ID, path, err))
			continue
		}
		kb.sites = append(kb.sites, kube.BridgeConfig{Site: s.ID, Nodes: nodes, Kube: cs, Dynamic: dyn, Catalog: nw.Catalog,
			Namespace: f.Namespace, Volcano: f.Volcano, Image: f.Image, GraceSeconds: int64(f.Grace / time.Second),
			Endpoints: endpoints, Version: "serve", Log: log})
	}
	if len(errs) > 0 {
		return nil, usageErr(errors.Join(errs...))
	}
	return kb, nil
}

// start runs the bridges against the API at url (called once it serves).
func (kb *kubeBridges) start(url string) {
	if len(kb.sites) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	kb.cancel = cancel
	kb.wg.Go(func() { kb.run(ctx, url) })
}

// stop stops the bridges and waits for them.
func (kb *kubeBridges) stop() {
	if kb.cancel != nil {
		kb.cancel()
	}
	kb.wg.Wait()
}

func (kb *kubeBridges) run(ctx context.Context, url string) {
	hc, err := kb.httpClient()
	if err != nil {
		kb.log.Error("kubernetes site bridges not started", "err", err)
		return
	}
	token, err := kb.agentToken(ctx, url, hc)
	if err != nil {
		kb.log.Error("kubernetes site bridges not started", "err", err)
		return
	}
	c := v1.NewClient(url, token)
	c.HTTP = hc
	var cur *bridgeSet // the bridges running while this replica leads
	defer func() {
		if cur != nil {
			cur.stop()
		}
	}()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		// A replica that does not answer is left as it is: its bridges'
		// own calls fail meanwhile.
		h, err := c.Health(ctx)
		switch {
		case err == nil && h.Leader && cur == nil:
			cur = startBridges(ctx, kb.sites, c, kb.log)
		case err == nil && !h.Leader && cur != nil:
			kb.log.Info("not leading scheduling: stopping the kubernetes site bridges")
			cur.stop()
			cur = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bridgeSet is the bridges of every kubernetes site, running.
type bridgeSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startBridges(ctx context.Context, sites []kube.BridgeConfig, c *v1.Client, log *slog.Logger) *bridgeSet {
	ctx, cancel := context.WithCancel(ctx)
	bs := &bridgeSet{cancel: cancel}
	for _, cfg := range sites {
		cfg.Server = c
		bs.wg.Go(func() { runBridge(ctx, cfg, log) })
	}
	return bs
}

func (bs *bridgeSet) stop() {
	bs.cancel()
	bs.wg.Wait()
}

// runBridge runs one site's bridge until ctx ends, starting it again after
// a failure.
func runBridge(ctx context.Context, cfg kube.BridgeConfig, log *slog.Logger) {
	for ctx.Err() == nil {
		b, err := kube.NewBridge(cfg)
		if err == nil {
			err = b.Run(ctx)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Error("kubernetes site bridge stopped; starting it again in 10 s", "site", cfg.Site, "err", err)
		t := time.NewTimer(10 * time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// httpClient trusts the API's own certificate when it serves HTTPS, under
// the certificate's name (the listen address may be 0.0.0.0).
func (kb *kubeBridges) httpClient() (*http.Client, error) {
	if kb.tlsCert == "" {
		return &http.Client{}, nil
	}
	b, err := os.ReadFile(kb.tlsCert)
	if err != nil {
		return nil, fmt.Errorf("read the API certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", kb.tlsCert)
	}
	name := ""
	if blk, _ := pem.Decode(b); blk != nil {
		if cert, err := x509.ParseCertificate(blk.Bytes); err == nil {
			switch {
			case len(cert.DNSNames) > 0:
				name = cert.DNSNames[0]
			case len(cert.IPAddresses) > 0:
				name = cert.IPAddresses[0].String()
			}
		}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}}}, nil
}

// agentToken reads the bridges' agent token, or creates one with the admin
// token and keeps it (mode 0600) for the next start.
func (kb *kubeBridges) agentToken(ctx context.Context, url string, hc *http.Client) (string, error) {
	if b, err := os.ReadFile(kb.flags.TokenFile); err == nil {
		secret := strings.TrimSpace(string(b))
		c := v1.NewClient(url, secret)
		c.HTTP = hc
		// Valid when it acts for every bridged site (a site added to the
		// network needs a new token).
		var err error
		for _, s := range kb.sites {
			if _, err = c.Assignments(ctx, string(s.Nodes[0].ID)); err != nil {
				break
			}
		}
		var e *v1.Error
		if !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden) {
			return secret, nil
		}
		kb.log.Warn("the bridges' agent token is not valid on this server; creating a new one", "path", kb.flags.TokenFile, "err", err)
	}
	admin, err := os.ReadFile(kb.admin)
	if err != nil {
		return "", fmt.Errorf("no agent token in %s and no admin token to create one (%w): create an agent token (POST /v1/tokens with role agent) and give its file with --kube-token-file", kb.flags.TokenFile, err)
	}
	c := v1.NewClient(url, strings.TrimSpace(string(admin)))
	c.HTTP = hc
	// The bridges act for the nodes of their sites only.
	var sites []string
	for _, s := range kb.sites {
		sites = append(sites, string(s.Site))
	}
	tok, err := c.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "kubernetes site bridges", Sites: sites})
	if err != nil {
		return "", fmt.Errorf("create the bridges' agent token: %w", err)
	}
	if err := os.WriteFile(kb.flags.TokenFile, []byte(tok.Secret+"\n"), 0o600); err != nil {
		kb.log.Warn("could not keep the bridges' agent token; a new one is made next start", "path", kb.flags.TokenFile, "err", err)
	}
	return tok.Secret, nil
}
