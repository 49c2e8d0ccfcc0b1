package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
	"github.com/suanli/suanli/web"
)

// stack is a real server on the default network with a few jobs, served
// with the dashboard.
type stack struct {
	url     string
	shim    *apiShim
	admin   *v1.Client
	tokens  map[string]string // admin, acme, other
	jobs    map[string]*v1.Job
	blocked string // a job that cannot be placed
}

func startStack(t *testing.T) *stack {
	t.Helper()
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	// The task mix is stored every four arrivals (not 256), so that the
	// few jobs below teach the scheduler one to show.
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, Heartbeat: 300 * time.Millisecond,
		Mix: &sched.MixConfig{Every: 4, PriorWeight: 4}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	shim := newShim(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry(), UI: web.FS}), nw, t)
	hs := httptest.NewServer(shim)
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); cancel(); <-done })
	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{url: hs.URL, shim: shim, tokens: map[string]string{"admin": strings.TrimSpace(string(b))}, jobs: map[string]*v1.Job{}}
	s.admin = v1.NewClient(hs.URL, s.tokens["admin"])
	for _, tn := range []v1.Tenant{
		{ID: "acme", Name: "Acme AI Lab", Class: "private", QuotaGFLOPS: 200_000_000, Weight: 2},
		{ID: "other", Name: "Other Research", Class: "private", QuotaGFLOPS: 600_000_000, Weight: 1},
	} {
		if _, err := s.admin.PutTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		tok, err := s.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: tn.ID})
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[tn.ID] = tok.Secret
	}
	// In this order: the gang that cannot be placed comes last. It fits
	// the network (a gang that never could is refused at submit) but not
	// its tenant's quota (2,400 cards of 910B3, about 750 PFLOPS FP16).
	for _, spec := range []v1.JobSpec{
		{Tenant: "acme", Name: "llm-pretrain", Kind: "gang", Workers: 4, CardsPerWorker: 8, Models: []string{"huawei-ascend-910b3"}, WorkloadClass: "dense-llm-pretrain"},
		{Tenant: "acme", Name: "notebook", Kind: "inference", Workers: 1, ShareMilli: 500, MemMiB: 8192},
		{Tenant: "other", Name: "finetune", Kind: "gang", Workers: 2, CardsPerWorker: 8, Models: []string{"cambricon-mlu590"}, WorkloadClass: "llm-finetune"},
		{Tenant: "other", Name: "too-big", Kind: "gang", Workers: 300, CardsPerWorker: 8, Models: []string{"huawei-ascend-910b3"}},
	} {
		j, err := s.admin.Submit(ctx, spec)
		if err != nil {
			t.Fatalf("submit %s: %v", spec.Name, err)
		}
		s.jobs[spec.Name] = j
	}
	s.blocked = s.jobs["too-big"].ID
	deadline := time.Now().Add(10 * time.Second)
	for name, j := range s.jobs {
		for {
			got, err := s.admin.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == v1.StatePlaced || got.State == v1.StateBlocked {
				s.jobs[name] = got
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s after 10 s", name, got.State)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if st := s.jobs["too-big"].State; st != v1.StateBlocked {
		t.Fatalf("too-big is %s, want blocked", st)
	}
	return s
}

// apiShim, while on, serves endpoints the API does not serve yet, from the
// same network and the policy engine, and lists them in the OpenAPI
// document: /v1/compliance (policy.Compliance's report) and
// /v1/advisories. The tests reach the dashboard's policy views through it;
// it steps aside for each path as soon as the API's own document has it.
type apiShim struct {
	next  http.Handler
	net   *network.Network
	extra map[string]func(r *http.Request) any
	on    atomic.Bool
}

func newShim(next http.Handler, nw *network.Network, t *testing.T) *apiShim {
	eng := policy.NewEngine(nw.Catalog)
	if _, err := eng.File(policy.Advisory{ID: "ADV-H20-1", Summary: "firmware flaw on H20 boards", Models: []string{"nvidia-h20"},
		Severity: policy.High, Action: policy.Drain, Filed: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix(), FiledBy: "admin"}); err != nil {
		t.Fatalf("file the test advisory: %v", err)
	}
	sh := &apiShim{next: next, net: nw}
	sh.extra = map[string]func(r *http.Request) any{
		"/v1/compliance": func(*http.Request) any {
			return policy.Compliance(nw, eng.Snapshot(), nil, nil, time.Now().Unix())
		},
		"/v1/advisories": func(*http.Request) any { return eng.Snapshot().Advisories() },
	}
	return sh
}

// serves reports whether the API itself serves path.
func (n *apiShim) serves(path string) bool {
	paths, _ := n.openapi()["paths"].(map[string]any)
	_, ok := paths[path]
	return ok
}

func (n *apiShim) openapi() map[string]any {
	rec := httptest.NewRecorder()
	n.next.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	var doc map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &doc)
	return doc
}

func (n *apiShim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve, extra := n.extra[r.URL.Path]
	if !n.on.Load() || (!extra && r.URL.Path != "/v1/openapi.json") {
		n.next.ServeHTTP(w, r)
		return
	}
	doc := n.openapi()
	paths, _ := doc["paths"].(map[string]any)
	if _, served := paths[r.URL.Path]; (extra && served) || paths == nil {
		n.next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !extra { // the OpenAPI document
		for p := range n.extra {
			if _, served := paths[p]; !served {
				paths[p] = map[string]any{"get": map[string]any{"summary": "test listing"}}
			}
		}
		_ = json.NewEncoder(w).Encode(doc)
		return
	}
	_ = json.NewEncoder(w).Encode(serve(r))
}

// post sends body as the admin and decodes the reply into out.
func (s *stack) post(path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", s.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.tokens["admin"])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, msg)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// browser is a headless Chromium tab that fails the test on any uncaught
// exception in the page, any console error and any Content-Security-Policy
// violation.
type browser struct {
	t     *testing.T
	ctx   context.Context
	mu    sync.Mutex
	errs  []string // guarded by mu
	shots string
}

func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium at /usr/bin/chromium: CI must install Debian's chromium (apt-get install -y chromium)")
	}
	t.Skip("no Chromium at /usr/bin/chromium: install it (apt-get install -y --no-install-recommends chromium) to run the dashboard's browser tests")
	return ""
}

func newBrowser(t *testing.T) *browser {
	exe := chromiumPath(t)
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-GB"), chromedp.WindowSize(1440, 1000), chromedp.UserDataDir(t.TempDir()))
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		// A Content-Security-Policy violation is an error like an exception:
		// the page did something its policy forbids.
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry != nil && strings.Contains(e.Entry.Text, "Content Security Policy") {
			b.mu.Lock()
			b.errs = append(b.errs, fmt.Sprintf("CSP violation: %s (%s:%d)", e.Entry.Text, e.Entry.URL, e.Entry.LineNumber))
			b.mu.Unlock()
		}
		// So is anything the page (or a library in it) logs as an error.
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok && (e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert) {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			b.mu.Lock()
			b.errs = append(b.errs, "console."+string(e.Type)+": "+strings.Join(parts, " "))
			b.mu.Unlock()
		}
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			b.mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancel(); acancel() })
	b.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 1000)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b.shots = os.Getenv("SUANLI_SCREENSHOTS")
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs steps with a limit, failing the test with what it was doing.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	b.checkErrors(what)
}

func (b *browser) checkErrors(what string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		errs := b.errs
		b.errs = nil // reported once
		b.t.Fatalf("%s: the page threw: %s", what, strings.Join(errs, "; "))
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open signs in with token (sessionStorage) and loads path until the page
// says it is ready.
func (b *browser) open(base, token, path string) {
	b.t.Helper()
	b.do("sign in", chromedp.Navigate(base+"/ui/login"), chromedp.WaitReady(chromedp.ID("token")),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("sessionStorage.clear(); sessionStorage.setItem('suanli.token', %q)", token)))
	b.load(base + path)
}

func (b *browser) load(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.waitFor("open "+url, `document.body && document.body.dataset.ready`)
	if r := eval[string](b, `document.body.dataset.ready`); r != "1" {
		b.t.Fatalf("%s: the page failed: %s", url, eval[string](b, `document.getElementById('error').textContent`))
	}
}

// waitFor polls a JavaScript condition until it holds, across page loads
// (a click that navigates briefly leaves no page to evaluate in).
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(12 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Until(deadline))
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			b.checkErrors(what)
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: %s never held: %v", what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel))
}

func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	expr := fmt.Sprintf(`((document.querySelector(%q) || {}).innerText || "").includes(%q)`, sel, want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(9*time.Second))); err != nil {
		b.t.Fatalf("%s never showed %q (has %q): %v", sel, want, b.text(sel), err)
	}
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	// Grow the viewport to the whole page (a plain resize, which the charts
	// follow; capturing beyond the viewport upsets ECharts' map), let the
	// charts finish their animation, capture, and restore the viewport.
	h, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`Math.ceil(document.documentElement.scrollHeight)`))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, max(h, 1000)), chromedp.Sleep(700*time.Millisecond)); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 1000)); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// contrastJS lists the visible text whose colour has less than 4.5:1
// contrast (WCAG AA) with the first opaque background behind it.
const contrastJS = `(() => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.9) return c; } return [255, 255, 255]; };
  const bad = [];
  for (const e of document.querySelectorAll("body *")) {
    if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || e.closest("[hidden], .sr-only, .skip")) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(e.tagName + " " + JSON.stringify(e.textContent.trim().slice(0, 30)) + " " + ratio.toFixed(2));
  }
  return bad;
})()`

// checkContrast fails the test for text below 4.5:1 contrast.
func (b *browser) checkContrast(page string) {
	b.t.Helper()
	if bad := eval[[]string](b, contrastJS); len(bad) > 0 {
		b.t.Errorf("%s: %d texts with contrast below 4.5:1: %v", page, len(bad), bad)
	}
}
