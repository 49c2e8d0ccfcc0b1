package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"

	"net/http/httptest"
)

// cliServer is an in-process server on a loopback listener, with the
// tenant acme registered; SUANLI_SERVER and SUANLI_TOKEN point at it.
type cliServer struct {
	url   string
	token string
	admin *v1.Client
}

func newCLIServer(t *testing.T) *cliServer {
	t.Helper()
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, tokenFile); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tokenFile)
	s := &cliServer{url: hs.URL, token: strings.TrimSpace(string(b))}
	s.admin = v1.NewClient(s.url, s.token)
	if _, err := s.admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUANLI_SERVER", s.url)
	t.Setenv("SUANLI_TOKEN", s.token)
	t.Setenv("HOME", t.TempDir()) // no stray client config
	return s
}

func exampleJobs(t *testing.T) map[string]v1.JobSpec {
	t.Helper()
	files, err := filepath.Glob("../../examples/jobs/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("examples/jobs: %v %v", files, err)
	}
	out := map[string]v1.JobSpec{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := parseJobSpec(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = spec
	}
	return out
}

// TestExampleJobs: every example spec parses strictly, validates, names
// only models, sites, regions and stacks of the default network, and the
// scheduler places it on the empty network; the set covers what the
// examples promise and the sovereign one lands on self-built domestic
// capacity only.
func TestExampleJobs(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	names := sched.NewNames(nw)
	cluster := sched.NewCluster(nw)
	var kinds = map[string]bool{}
	var mixed, flops, fractional, supernode bool
	for file, spec := range exampleJobs(t) {
		j, err := httpapi.JobFromSpec(spec, spec.Tenant)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if err := names.Check(&j); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		j.ID = "j-example"
		d := sched.Schedule(cluster, &j, sched.Input{}, sched.Config{})
		if d.Placement == nil {
			t.Errorf("%s: not placed on the empty network: %s", file, d.Explanation.Summary)
			continue
		}
		kinds[spec.Kind] = true
		mixed = mixed || spec.Mixed
		flops = flops || spec.ComputeGFLOPS > 0
		fractional = fractional || spec.ShareMilli > 0
		if spec.TopologyRequired && spec.Topology == "domain" {
			supernode = true
			dom := map[string]bool{}
			for _, a := range d.Placement.Assignments {
				n, _ := nw.Node(a.Node)
				dom[string(n.Domain)] = true
			}
			if len(dom) != 1 {
				t.Errorf("%s: placed over %d domains, want one supernode", file, len(dom))
			}
		}
		if spec.Classification == "critical-infrastructure" {
			for _, a := range d.Placement.Assignments {
				n, _ := nw.Node(a.Node)
				site, _ := nw.Site(n.Site)
				if site.Ownership != "self-built" || !nw.Model(a.Model).Domestic() {
					t.Errorf("%s: worker %d on %s (%s, %s): not self-built domestic", file, a.Worker, a.Node, site.Ownership, a.Model)
				}
			}
		}
	}
	if len(kinds) != 3 || !mixed || !flops || !fractional || !supernode {
		t.Errorf("examples cover kinds %v, mixed %v, flops %v, fractional %v, supernode %v; want all", kinds, mixed, flops, fractional, supernode)
	}
}

// TestExampleJobsSubmit: each example goes through `suanli submit` to a
// server and gets a job id.
func TestExampleJobsSubmit(t *testing.T) {
	s := newCLIServer(t)
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	for _, f := range files {
		out, err := run(t, "submit", f)
		if err != nil || !strings.HasPrefix(out, "j-") {
			t.Errorf("submit %s: %v\n%s", f, err, out)
		}
	}
	l, err := s.admin.Jobs(context.Background(), v1.JobFilter{})
	if err != nil || len(l.Jobs) != len(files) {
		t.Fatalf("jobs after submitting %d examples: %v %d", len(files), err, len(l.Jobs))
	}
}

// TestSpecErrorsInSpecWords: a misspelt field is named with its line and
// the field meant; a wrong type says what the field wants; neither says
// "json:".
func TestSpecErrorsInSpecWords(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"kind: gang\nworkers: 2\ncard_per_worker: 8\n", `unknown field "card_per_worker" at line 3; did you mean "cards_per_worker"?`},
		{"kind: batch\nworkers: 1\ncards_per_worker: 1\nworkload:\n  command: [x]\n  envs: {A: b}\n", `unknown field "envs" at line 6; did you mean "env"?`},
		{"kind: gang\nworkers: two\n", `field "workers" wants int, not a string (line 2)`},
		{"kind: gang\nmodels: huawei-ascend-910c\n", `field "models" wants []string, not a string (line 2)`},
		{"- kind: gang\n", "a job spec is a mapping of fields"},
	} {
		_, err := parseJobSpec([]byte(c.spec))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "json:") {
			t.Errorf("spec %q: error %v, want %q", c.spec, err, c.want)
		}
	}
	// Through the CLI: exit status 2 and the file named.
	f := filepath.Join(t.TempDir(), "typo.yaml")
	_ = os.WriteFile(f, []byte("kind: gang\nworkerz: 2\n"), 0o600)
	t.Setenv("SUANLI_TOKEN", "sl_unused")
	_, err := run(t, "submit", f)
	var ee *exitError
	if !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `typo.yaml: unknown field "workerz" at line 2`) {
		t.Errorf("submit of a typo: %v", err)
	}
}

// TestExplainFields: `submit --explain-fields` prints every field of the
// spec with its meaning, with no server or token.
func TestExplainFields(t *testing.T) {
	t.Setenv("SUANLI_TOKEN", "")
	t.Setenv("HOME", t.TempDir())
	out, err := run(t, "submit", "--explain-fields")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v1.JobSpecFields {
		if !strings.Contains(out, d.Field+" ") || !strings.Contains(out, d.Doc) {
			t.Errorf("--explain-fields lacks %s", d.Field)
		}
	}
	if _, err := run(t, "submit"); err == nil {
		t.Error("submit with no file and no --explain-fields succeeded")
	}
}

// TestSubmitDryRun: `submit --dry-run` prints where the job would go and
// why, and creates nothing; a job that cannot be placed says what would
// unblock it in words.
func TestSubmitDryRun(t *testing.T) {
	s := newCLIServer(t)
	out, err := run(t, "submit", "../../examples/jobs/ascend-supernode-gang.yaml", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"would be placed now", "WORKER  SITE", "huawei-ascend-910c", "score ", "runner-up: 256 × huawei-ascend-910c on domain"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if l, _ := s.admin.Jobs(context.Background(), v1.JobFilter{}); len(l.Jobs) != 0 {
		t.Fatalf("a dry run created %d jobs", len(l.Jobs))
	}
	out, err = run(t, "submit", "../../examples/jobs/ascend-supernode-gang.yaml", "--dry-run", "--json")
	if err != nil || !strings.Contains(out, `"placeable": true`) {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	// Too big for any supernode.
	big := filepath.Join(t.TempDir(), "big.yaml")
	_ = os.WriteFile(big, []byte("tenant: acme\nkind: gang\nworkers: 100\ncards_per_worker: 8\nmodels: [huawei-ascend-910c]\ntopology: domain\ntopology_required: true\n"), 0o600)
	out, err = run(t, "submit", big, "--dry-run")
	if err != nil || !strings.Contains(out, "would not be placed now") || strings.Contains(out, "{") {
		t.Fatalf("dry run of an unplaceable gang: %v\n%s", err, out)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestDryRunShowsWorkShares: the dry run of a mixed-model gang shows each
// worker's share of the step.
func TestDryRunShowsWorkShares(t *testing.T) {
	newCLIServer(t)
	f := filepath.Join(t.TempDir(), "mixed.yaml")
	_ = os.WriteFile(f, []byte("tenant: acme\nkind: gang\nworkers: 600\ncards_per_worker: 8\nmodels: [metax-c500, biren-br100]\nsites: [cu-xining]\nmixed: true\ntopology: site\n"), 0o600)
	out, err := run(t, "submit", f, "--dry-run")
	if err != nil || !strings.Contains(out, "WORK SHARE") || !strings.Contains(out, "biren-br100") || !strings.Contains(out, "metax-c500") {
		t.Fatalf("%v\n%.600s", err, out)
	}
	out, _ = run(t, "submit", "../../examples/jobs/fractional-inference.yaml", "--dry-run")
	if strings.Contains(out, "WORK SHARE") {
		t.Errorf("a fractional service shows work shares:\n%s", out)
	}
}
