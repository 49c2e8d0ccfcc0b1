package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

var (
	netOnce sync.Once
	defNet  *network.Network
	netErr  error
)

func defaultNetwork(t testing.TB) *network.Network {
	netOnce.Do(func() { defNet, netErr = network.Default(catalog.Default()) })
	if netErr != nil {
		t.Fatal(netErr)
	}
	return defNet
}

// testSecretKey seals the secrets of test servers.
var testSecretKey = []byte("0123456789abcdef0123456789abcdef")

// env is a running server on an httptest listener with one token per role.
type env struct {
	srv    *Server
	url    string
	tokens map[string]string // role (and "tenant2") → secret
}

func start(t testing.TB, st store.Store) *env {
	t.Helper()
	return startFair(t, st, httpapi.Fairness{})
}

// startFair is start with the API's admission control.
func startFair(t testing.TB, st store.Store, fair httpapi.Fairness) *env {
	t.Helper()
	srv, err := New(Config{Store: st, Network: defaultNetwork(t), SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry(), Fairness: fair}))
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	path := filepath.Join(t.TempDir(), "admin.token")
	first, err := srv.Bootstrap(ctx, path)
	if err != nil || !first {
		t.Fatalf("bootstrap: %v %v", first, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", fi, err)
	}
	if again, err := srv.Bootstrap(ctx, path); err != nil || again {
		t.Fatalf("second bootstrap wrote a token: %v %v", again, err)
	}
	b, _ := os.ReadFile(path)
	e := &env{srv: srv, url: hs.URL, tokens: map[string]string{v1.RoleAdmin: strings.TrimSpace(string(b))}}
	admin := v1.NewClient(hs.URL, e.tokens[v1.RoleAdmin])
	for _, tn := range []string{"acme", "other"} {
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatal(err)
		}
	}
	for name, req := range map[string]v1.TokenRequest{
		v1.RoleOperator: {Role: v1.RoleOperator},
		v1.RoleTenant:   {Role: v1.RoleTenant, Tenant: "acme"},
		"tenant2":       {Role: v1.RoleTenant, Tenant: "other"},
	} {
		tok, err := admin.CreateToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = tok.Secret
	}
	return e
}

func (e *env) client(role string) *v1.Client { return v1.NewClient(e.url, e.tokens[role]) }

// waitState polls a job until it reaches one of the states.
func waitState(t testing.TB, c *v1.Client, id string, states ...string) *v1.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := c.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after 10 s, want %v", id, j.State, states)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEndpointRoles calls every endpoint as every role (and with no or a
// bad token) and checks the status.
func TestEndpointRoles(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	job, err := e.client(v1.RoleTenant).Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, e.client(v1.RoleTenant), job.ID, v1.StatePlaced)
	placed, _ := e.client(v1.RoleAdmin).Job(ctx, job.ID)
	node := placed.Placement.Assignments[0].Node
	site := placed.Placement.Assignments[0].Site
	other, fresh := "", ""
	for _, n := range e.srv.net.Nodes {
		switch {
		case other == "" && string(n.Site) != site:
			other = string(n.ID)
		case other != "" && string(n.ID) != node:
			fresh = string(n.ID)
		}
		if fresh != "" {
			break
		}
	}
	// Agent credentials: one bound to the job's node, one to a node of
	// another site, one to the job's site (a bridge's); and a bootstrap
	// token, which may only join nodes.
	admin := e.client(v1.RoleAdmin)
	for name, req := range map[string]v1.TokenRequest{
		v1.RoleAgent:     {Role: v1.RoleAgent, Node: node},
		"agent-other":    {Role: v1.RoleAgent, Node: other},
		"agent-site":     {Role: v1.RoleAgent, Sites: []string{site}},
		v1.RoleBootstrap: {Role: v1.RoleBootstrap},
		"spare":          {Role: v1.RoleOperator, Name: "rotated by the table"},
	} {
		tok, err := admin.CreateToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = tok.Secret
	}
	tokens, _ := admin.Tokens(ctx)
	spare := ""
	for _, tk := range tokens {
		if tk.Name == "rotated by the table" {
			spare = tk.ID
		}
	}
	lease, err := e.client(v1.RoleAgent).RegisterNode(ctx, v1.NodeRegistration{Node: node, Devices: []v1.NodeDevice{}})
	if err != nil {
		t.Fatal(err)
	}
	reg := `{"node":"` + node + `","devices":[]}`
	if _, err := e.client(v1.RoleAdmin).FileAdvisory(ctx, v1.Advisory{ID: "ADV-T1", Vendor: "Nvidia", Severity: "low", Action: "watch"}); err != nil {
		t.Fatal(err)
	}
	pol := `{"document":"version: 1\nrules:\n- id: R1\n  match: {classification: [sensitive]}\n  effect: require\n  require: {origin: domestic}\n"}`
	spec := `{"kind":"batch","workers":1,"cards_per_worker":1,"tenant":"acme"}`
	roles := []string{"none", "bad", v1.RoleAdmin, v1.RoleOperator, v1.RoleTenant, "tenant2", v1.RoleAgent, "agent-other", "agent-site", v1.RoleBootstrap}
	type row struct {
		method, path, body string
		want               [10]int // in the order of roles
	}
	j := "/v1/jobs/" + job.ID
	rows := []row{
		{"GET", "/healthz", "", [10]int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET", "/readyz", "", [10]int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET", "/metrics", "", [10]int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET", "/v1/openapi.json", "", [10]int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"GET", "/v1/catalog", "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}},
		{"GET", "/v1/network", "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}},
		{"GET", "/v1/capacity", "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}},
		{"GET", "/v1/scheduler/workload", "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}},
		{"GET", "/v1/throughput", "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}}, // class × model figures, no tenant's jobs
		{"GET", "/v1/capacity/plan", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"POST", "/v1/jobs", spec, [10]int{401, 401, 201, 201, 201, 403, 403, 403, 403, 403}},
		{"GET", "/v1/jobs", "", [10]int{401, 401, 200, 200, 200, 200, 403, 403, 403, 403}},
		{"GET", j, "", [10]int{401, 401, 200, 200, 200, 404, 403, 403, 403, 403}},
		{"GET", j + "/explain", "", [10]int{401, 401, 200, 200, 200, 404, 403, 403, 403, 403}},
		{"POST", j + "/status", `{"state":"running"}`, [10]int{401, 401, 200, 200, 403, 403, 200, 403, 200, 403}},
		{"GET", "/v1/nodes/" + node + "/assignments", "", [10]int{401, 401, 200, 200, 403, 403, 200, 403, 200, 403}},
		{"GET", "/v1/nodes?site=" + placed.Placement.Assignments[0].Site, "", [10]int{401, 401, 200, 200, 200, 200, 200, 200, 200, 403}},
		{"POST", "/v1/nodes/" + node + "/heartbeat", `{"lease":"` + lease.Lease + `"}`, [10]int{401, 401, 403, 403, 403, 403, 200, 403, 200, 403}},
		{"PUT", "/v1/nodes/" + node + "/devices", `{"lease":"` + lease.Lease + `","devices":[]}`, [10]int{401, 401, 403, 403, 403, 403, 204, 403, 204, 403}},
		{"POST", j + "/workers/0/status", `{"node":"` + node + `","worker":0,"state":"running"}`, [10]int{401, 401, 403, 403, 403, 403, 200, 403, 200, 403}},
		{"POST", "/v1/nodes/" + node + "/register", reg, [10]int{401, 401, 403, 403, 403, 403, 200, 403, 200, 403}},
		// Agent-to-node binding: another node's assignments (commands and
		// env), and registering it with a device in error.
		{"GET", "/v1/nodes/" + other + "/assignments", "", [10]int{401, 401, 200, 200, 403, 403, 403, 200, 403, 403}},
		{"POST", "/v1/nodes/" + other + "/register", `{"node":"` + other + `","devices":[{"index":0,"vendor":"x","name":"x","health":"Error"}]}`, [10]int{401, 401, 403, 403, 403, 403, 403, 200, 403, 403}},
		// A bootstrap token joins a node once, and never one that holds a
		// live credential.
		{"POST", "/v1/nodes/" + other + "/credentials", `{}`, [10]int{401, 401, 403, 403, 403, 403, 403, 403, 403, 409}},
		{"POST", "/v1/nodes/" + fresh + "/credentials", `{}`, [10]int{401, 401, 403, 403, 403, 403, 403, 403, 403, 201}},
		{"POST", "/v1/nodes/" + fresh + "/credentials", `{}`, [10]int{401, 401, 403, 403, 403, 403, 403, 403, 403, 409}},
		{"GET", "/v1/events?from=0", "", [10]int{401, 401, 200, 200, 200, 200, 403, 403, 403, 403}}, // job specs of every node
		{"GET", "/v1/tenants", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/tenants/acme", "", [10]int{401, 401, 200, 200, 200, 404, 403, 403, 403, 403}},
		{"PUT", "/v1/tenants/acme/secrets/db", `{"data":{"password":"pw"}}`, [10]int{401, 401, 200, 403, 200, 404, 403, 403, 403, 403}},
		{"GET", "/v1/tenants/acme/secrets", "", [10]int{401, 401, 200, 403, 200, 404, 403, 403, 403, 403}},
		{"DELETE", "/v1/tenants/acme/secrets/none", "", [10]int{401, 401, 404, 403, 404, 404, 403, 403, 403, 403}},
		{"PUT", "/v1/tenants/acme", `{"class":"private","weight":2}`, [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"POST", "/v1/tokens", `{"role":"agent","node":"` + node + `"}`, [10]int{401, 401, 201, 403, 403, 403, 403, 403, 403, 403}},
		{"POST", "/v1/tokens/" + spare + "/rotate", `{}`, [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/tokens", "", [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"DELETE", "/v1/tokens/" + tokens[0].ID + "-none", "", [10]int{401, 401, 404, 403, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/usage?tenant=acme&month=2026-11", "", [10]int{401, 401, 200, 200, 200, 403, 403, 403, 403, 403}},
		{"GET", "/v1/policy", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/prices", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"PUT", "/v1/prices", `{"version":0,"prices":[{"fen_per_card_hour":100}]}`, [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"PUT", "/v1/policy", pol, [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/advisories", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"POST", "/v1/advisories", `{"vendor":"Nvidia","severity":"low","action":"watch"}`, [10]int{401, 401, 201, 403, 403, 403, 403, 403, 403, 403}},
		{"POST", "/v1/advisories/ADV-T1/lift", "", [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/compliance", "", [10]int{401, 401, 200, 200, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/audit", "", [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"GET", "/v1/audit/verify", "", [10]int{401, 401, 200, 403, 403, 403, 403, 403, 403, 403}},
		{"POST", j + "/cancel", "", [10]int{401, 401, 200, 200, 200, 404, 403, 403, 403, 403}},
	}
	// Every documented operation is in the table.
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.method+" "+pattern(r.path)] = true
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !covered[strings.ToUpper(m)+" "+p] {
				t.Errorf("%s %s has no row in the role table", strings.ToUpper(m), p)
			}
		}
	}
	for _, r := range rows {
		for i, role := range roles {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, r.method, e.url+r.path, strings.NewReader(r.body))
			switch role {
			case "none":
			case "bad":
				req.Header.Set("Authorization", "Bearer sl_not-a-token")
			default:
				req.Header.Set("Authorization", "Bearer "+e.tokens[role])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s as %s: %v", r.method, r.path, role, err)
			}
			if strings.HasPrefix(r.path, "/v1/events") && resp.StatusCode == 200 {
				buf := make([]byte, 16)
				_, _ = resp.Body.Read(buf) // the stream opens
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
			cancel()
			if resp.StatusCode != r.want[i] {
				t.Errorf("%s %s as %s = %d, want %d", r.method, r.path, role, resp.StatusCode, r.want[i])
			}
		}
	}
}

// pattern maps a concrete path back to its route pattern.
func pattern(p string) string {
	p, _, _ = strings.Cut(p, "?")
	parts := strings.Split(p, "/")
	for i := range parts {
		if i > 0 && (parts[i-1] == "jobs" || parts[i-1] == "nodes" || parts[i-1] == "tokens" || parts[i-1] == "tenants" || parts[i-1] == "advisories") && parts[i] != "" {
			parts[i] = "{id}"
		}
		if i > 0 && parts[i-1] == "workers" {
			parts[i] = "{worker}"
		}
		if i > 0 && parts[i-1] == "secrets" {
			parts[i] = "{name}"
		}
	}
	return strings.Join(parts, "/")
}
