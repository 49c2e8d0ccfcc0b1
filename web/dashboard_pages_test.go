package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
)

// capacityDoc is the part of /v1/capacity the tests compare.
type capacityDoc struct {
	AI struct {
		Cards     int64 `json:"cards"`
		GFLOPS    int64 `json:"gflops"`
		Allocated int64 `json:"allocated_gflops"`
	} `json:"ai"`
	Breakdowns map[string][]struct {
		Key       string `json:"key"`
		Cards     int64  `json:"cards"`
		GFLOPS    int64  `json:"gflops"`
		Allocated int64  `json:"allocated_gflops"`
	} `json:"breakdowns"`
}

// thousands writes n as the page does (en locale): 15,856.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ef(g int64) string { return fmt.Sprintf("%.3f", float64(g)/1e9) }

// TestDashboard opens every page of the dashboard in headless Chromium
// against a real server and checks what it shows against the API.
func TestDashboard(t *testing.T) {
	b := newBrowser(t)
	s := startStack(t)
	ctx := context.Background()
	var capDoc capacityDoc
	if err := s.admin.Get(ctx, "/v1/capacity", &capDoc); err != nil {
		t.Fatal(err)
	}
	if capDoc.AI.Allocated == 0 {
		t.Fatal("no capacity allocated after placing jobs")
	}
	var net struct {
		Sites []struct{ ID, Name string } `json:"sites"`
	}
	if err := s.admin.Get(ctx, "/v1/network", &net); err != nil {
		t.Fatal(err)
	}
	admin := s.tokens["admin"]

	t.Run("overview", func(t *testing.T) {
		b.t = t
		b.open(s.url, admin, "/ui/")
		if got := eval[string](b, `document.getElementById('k-installed').dataset.gflops`); got != strconv.FormatInt(capDoc.AI.GFLOPS, 10) {
			t.Errorf("installed GFLOPS shown %s, /v1/capacity says %d", got, capDoc.AI.GFLOPS)
		}
		if got := b.text("#k-installed"); !strings.Contains(got, ef(capDoc.AI.GFLOPS)+" EF") {
			t.Errorf("installed reads %q, want %s EF", got, ef(capDoc.AI.GFLOPS))
		}
		if got := eval[string](b, `document.getElementById('k-allocated').dataset.gflops`); got != strconv.FormatInt(capDoc.AI.Allocated, 10) {
			t.Errorf("allocated GFLOPS shown %s, /v1/capacity says %d", got, capDoc.AI.Allocated)
		}
		if got, want := b.text("#k-free"), ef(capDoc.AI.GFLOPS-capDoc.AI.Allocated); !strings.Contains(got, want) {
			t.Errorf("free reads %q, want %s", got, want)
		}
		if n := eval[int](b, `document.querySelectorAll('#sites tbody tr').length`); n != len(net.Sites) {
			t.Errorf("site table has %d rows, the network %d sites", n, len(net.Sites))
		}
		for _, site := range net.Sites {
			if !strings.Contains(b.text("#sites"), site.Name) {
				t.Errorf("site %s missing from the table", site.Name)
			}
		}
		if !strings.Contains(b.text("#target-text"), "of 100 EF") {
			t.Errorf("no 2028 target progress: %q", b.text("#target-text"))
		}
		if n := eval[int](b, `document.querySelectorAll('#map canvas').length`); n == 0 {
			t.Error("the map drew nothing")
		}
		b.checkContrast("overview")
		// The contrast check itself finds dim text.
		probe := eval[[]string](b, `(() => { const p = document.createElement("p"); p.id = "probe"; p.style.color = "#333a44"; p.textContent = "dim text";
			document.getElementById("main").append(p); return null; })() || `+contrastJS)
		if len(probe) != 1 || !strings.Contains(probe[0], "dim text") {
			t.Errorf("the contrast check missed dim text: %v", probe)
		}
		b.do("remove probe", chromedp.Evaluate[chromedp.Void](`document.getElementById("probe").remove()`))
		if pies := eval[int](b, `echarts.getInstanceByDom(document.getElementById('map')).getOption().series.filter(x => x.type === 'pie').length`); pies != len(net.Sites) {
			t.Errorf("map has %d vendor-mix pies, want one per site (%d)", pies, len(net.Sites))
		}
		var nodes []v1.Node
		if err := s.admin.Get(ctx, "/v1/nodes", &nodes); err != nil {
			t.Fatal(err)
		}
		healthy := 0
		for _, n := range nodes {
			if n.Healthy {
				healthy++
			}
		}
		if got := eval[string](b, `document.getElementById('k-nodes').dataset.healthy`); got != strconv.Itoa(healthy) {
			t.Errorf("nodes in service %s, /v1/nodes says %d of %d", got, healthy, len(nodes))
		}
		// The page is served under the strict policy, which the browser
		// enforces (an inline style is refused and reported), and a chart's
		// tooltip breaks none of it.
		res, err := http.Get(s.url + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if csp := res.Header.Get("Content-Security-Policy"); csp != httpapi.ContentSecurityPolicy || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("the page's security headers: %v", res.Header)
		}
		b.do("show a tooltip", chromedp.Evaluate[chromedp.Void](`echarts.getInstanceByDom(document.getElementById('vendors')).dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})`),
			chromedp.Evaluate[chromedp.Void](`echarts.getInstanceByDom(document.getElementById('map')).dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})`),
			chromedp.Sleep(300*time.Millisecond))
		if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`(() => { const d = document.createElement("div"); d.id = "csp-probe"; d.innerHTML = '<b style="color: red">x</b>'; document.body.append(d); })()`),
			chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		refused := len(b.errs) > 0 && strings.Contains(strings.Join(b.errs, ";"), "CSP violation")
		b.errs = nil
		b.mu.Unlock()
		if !refused {
			t.Error("an inline style went unreported: the policy is not enforced, or violations are not seen")
		}
		if c := eval[string](b, `getComputedStyle(document.querySelector('#csp-probe b')).color`); c == "rgb(255, 0, 0)" {
			t.Error("the browser applied an inline style")
		}
		b.do("remove the probe", chromedp.Evaluate[chromedp.Void](`document.getElementById("csp-probe").remove()`))
		// Resizing the window redraws the map (the screenshot does too).
		b.do("resize", chromedp.EmulateViewport(1200, 900), chromedp.Sleep(300*time.Millisecond), chromedp.EmulateViewport(1440, 1000), chromedp.Sleep(300*time.Millisecond))
		checkPlan(t, b, s)
		fullPageRender(b)
		b.elementShot("overview-map", "#map")
		checkMapLabels(t, b, s)
		b.screenshot("overview")
		b.checkErrors("overview screenshot")
	})

	placed := s.jobs["llm-pretrain"]
	site := placed.Placement.Assignments[0].Site
	t.Run("site", func(t *testing.T) {
		b.t = t
		b.do("open the site from the overview", chromedp.Click(chromedp.CSS(`#sites a[href="/ui/sites/`+site+`"]`)))
		b.waitFor("site page", `document.body.dataset.page === 'site' && document.body.dataset.ready`)
		var want int64
		for _, bk := range capDoc.Breakdowns["site"] {
			if bk.Key == site {
				want = bk.GFLOPS
			}
		}
		if got := eval[string](b, `document.getElementById('s-installed').dataset.gflops`); got != strconv.FormatInt(want, 10) {
			t.Errorf("site %s installed %s, /v1/capacity says %d", site, got, want)
		}
		var nodes []v1.Node
		if err := s.admin.Get(ctx, "/v1/nodes?site="+site, &nodes); err != nil {
			t.Fatal(err)
		}
		full, sick := 0, 0
		for _, n := range nodes {
			if !n.Healthy {
				sick++
			} else if n.AllocatedMilli == int64(n.Cards)*1000 {
				full++
			}
		}
		if full == 0 {
			t.Fatalf("no node of %s is full after placing %s there", site, placed.ID)
		}
		// Every node of the site is a cell: full, idle or unhealthy as the API says.
		cells := eval[[]int](b, `(() => { const d = echarts.getInstanceByDom(document.getElementById('heat')).getOption().series[0].data;
			return [d.length, d.filter(c => c.value[2] === 100).length, d.filter(c => c.value[2] === -1).length]; })()`)
		if want := []int{len(nodes), full, sick}; fmt.Sprint(cells) != fmt.Sprint(want) {
			t.Errorf("heat map cells (all, full, unhealthy) %v, /v1/nodes says %v", cells, want)
		}
		if !strings.Contains(b.text("#site-jobs"), placed.ID) {
			t.Errorf("site %s does not list job %s: %q", site, placed.ID, b.text("#site-jobs"))
		}
		b.checkContrast("site")
		b.screenshot("site")
	})

	t.Run("policy views", func(t *testing.T) {
		b.t = t
		s.shim.on.Store(true)
		defer s.shim.on.Store(false)
		if s.shim.serves("/v1/advisories") { // the API's own: file one through it
			var adv struct{ ID string }
			if err := s.post("/v1/advisories", map[string]any{"summary": "firmware flaw on H20 boards", "models": []string{"nvidia-h20"},
				"severity": "high", "action": "drain"}, &adv); err != nil {
				t.Fatalf("file an advisory: %v", err)
			}
		}
		var rep struct {
			Installed struct {
				DomesticPermille int64 `json:"domestic_permille"`
			} `json:"installed"`
			Violations []any `json:"violations"`
		}
		var advs []struct{ ID, Action string }
		if err := s.admin.Get(ctx, "/v1/compliance", &rep); err != nil {
			t.Fatal(err)
		}
		if err := s.admin.Get(ctx, "/v1/advisories", &advs); err != nil || len(advs) != 1 {
			t.Fatalf("advisories %v: %v", advs, err)
		}
		b.load(s.url + "/ui/compliance")
		want := fmt.Sprintf("%.1f%%", float64(rep.Installed.DomesticPermille)/10)
		if got := b.text("#cr-installed"); got != want {
			t.Errorf("compliance: installed domestic share %q, /v1/compliance says %s", got, want)
		}
		// One figure, one way: the capacity table's share beside the
		// report's (the default network is 94.99% domestic: 95.0% in both).
		for i, id := range []string{"#cr-installed", "#cr-allocated"} {
			if table, report := b.text(fmt.Sprintf(`#origin tr[data-origin="domestic"] td:nth-child(%d)`, 4+2*i)), b.text(id); table != report {
				t.Errorf("compliance page shows the domestic share as %q in the capacity table and %q in the report (%s)", table, report, id)
			}
		}
		if got := b.text("#cr-violations"); got != strconv.Itoa(len(rep.Violations)) {
			t.Errorf("compliance: %s violations shown, /v1/compliance lists %d", got, len(rep.Violations))
		}
		if got := b.text("#compliance"); !strings.Contains(got, "By operator") || !strings.Contains(got, advs[0].ID) {
			t.Errorf("compliance report lacks its sections or advisory %s: %q", advs[0].ID, got)
		}
		if got := b.text(`#advisories tr[data-advisory="` + advs[0].ID + `"]`); !strings.Contains(got, "drain") || !strings.Contains(got, "nvidia-h20") || !strings.Contains(got, "in force") {
			t.Errorf("advisory row %q", got)
		}
		b.checkContrast("compliance-policy")
		b.screenshot("compliance-policy")
	})

	t.Run("jobs and explanation", func(t *testing.T) {
		b.t = t
		b.load(s.url + "/ui/jobs")
		table := b.text("#jobs")
		for name, j := range s.jobs {
			if !strings.Contains(table, j.ID) {
				t.Errorf("jobs page misses %s (%s)", name, j.ID)
			}
		}
		b.checkContrast("jobs")
		b.screenshot("jobs")
		b.do("search", chromedp.SendKeys(chromedp.ID("q"), "too-big"))
		b.waitText("#count", "1 of 4 jobs")
		b.do("filter blocked", chromedp.Evaluate[chromedp.Void](`(q => { q.value = ''; q.dispatchEvent(new Event('input')); })(document.getElementById('q'))`),
			chromedp.Evaluate[chromedp.Void](`(s => { s.value = 'blocked'; s.dispatchEvent(new Event('change')); })(document.getElementById('state'))`))
		blocked, err := s.admin.Jobs(ctx, v1.JobFilter{State: v1.StateBlocked})
		if err != nil {
			t.Fatal(err)
		}
		n := len(blocked.Jobs)
		b.waitText("#count", fmt.Sprintf("%d of %d jobs", n, n))
		b.do("open the blocked job", chromedp.Click(chromedp.CSS(`#jobs a[href="/ui/jobs/`+s.blocked+`"]`)))
		b.waitFor("blocked job's explanation", `document.body.dataset.page === 'job' && document.body.dataset.ready && document.getElementById('explanation').dataset.loaded`)
		ex, err := s.admin.Explain(ctx, s.blocked)
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.Rejections) == 0 {
			t.Fatalf("the blocked job's explanation has no rejections: %+v", ex)
		}
		if got := b.text("#ex-summary"); got != ex.Summary {
			t.Errorf("summary %q, API %q", got, ex.Summary)
		}
		rej := b.text("#rejections")
		for reason, n := range ex.Rejections {
			if !strings.Contains(rej, reason) || !strings.Contains(rej, reason+"\t"+thousands(n)) {
				t.Errorf("rejections table %q lacks %s %d", rej, reason, n)
			}
		}
		for _, u := range ex.Unblock {
			var o struct{ Text string }
			if json.Unmarshal([]byte(u), &o) == nil && o.Text != "" {
				u = o.Text // a structured line shows its text
			}
			if !strings.Contains(b.text("#ex-unblock"), u) {
				t.Errorf("unblock list %q lacks %q", b.text("#ex-unblock"), u)
			}
		}
		b.checkContrast("job-blocked")
		b.screenshot("job-blocked")
		// A placed job: its placement, and the explanation behind a click.
		b.load(s.url + "/ui/jobs/" + placed.ID)
		for _, a := range placed.Placement.Assignments {
			if !strings.Contains(b.text("#placement"), a.Node) {
				t.Errorf("placement table lacks node %s", a.Node)
			}
		}
		var pn []v1.Node
		if err := s.admin.Get(ctx, "/v1/nodes?site="+placed.Placement.Assignments[0].Site, &pn); err != nil {
			t.Fatal(err)
		}
		domains := map[string]string{}
		for _, n := range pn {
			domains[n.ID] = n.Domain
		}
		for _, a := range placed.Placement.Assignments {
			if d := domains[a.Node]; d == "" || !strings.Contains(b.text("#placement"), d) {
				t.Errorf("placement table lacks domain %q of node %s: %q", d, a.Node, b.text("#placement"))
			}
		}
		b.do("explain", chromedp.Click(chromedp.ID("explain")), chromedp.Poll[chromedp.Void](`document.getElementById('explanation').dataset.loaded`))
		pex, err := s.admin.Explain(ctx, placed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.text("#ex-summary"); got != pex.Summary {
			t.Errorf("placed job's summary %q, API %q", got, pex.Summary)
		}
		b.screenshot("job-placed")
	})

	t.Run("live update", func(t *testing.T) {
		b.t = t
		b.load(s.url + "/ui/jobs")
		b.waitText("#live", "live")
		j, err := s.admin.Submit(ctx, v1.JobSpec{Tenant: "other", Name: "arrives-live", Kind: "batch", Workers: 1, CardsPerWorker: 1})
		if err != nil {
			t.Fatal(err)
		}
		b.waitText("#jobs", j.ID)
		s.jobs["arrives-live"] = j
	})

	t.Run("tenants", func(t *testing.T) {
		b.t = t
		before, err := s.admin.Usage(ctx, "acme", time.Now().UTC().Format("2006-01"))
		if err != nil {
			t.Fatal(err)
		}
		b.load(s.url + "/ui/tenants")
		checkCost(t, b, s, before)
		list, err := s.admin.Jobs(ctx, v1.JobFilter{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		var held int64
		for _, j := range list.Jobs {
			if j.Placement != nil && (j.State == v1.StatePlaced || j.State == v1.StateRunning) {
				held += j.Placement.GFLOPS
			}
		}
		want := strconv.FormatFloat(float64(held)/1e6, 'f', 1, 64)
		if got := b.text(`#tenants tr[data-tenant="acme"] .alloc`); !strings.Contains(got, strings.TrimSuffix(want, ".0")) {
			t.Errorf("acme allocation %q, want %s PF", got, want)
		}
		if !strings.Contains(b.text("#waiting"), s.blocked) {
			t.Errorf("waiting jobs lack %s", s.blocked)
		}
		b.checkContrast("tenants")
		b.screenshot("tenants")
	})

	t.Run("capacity", func(t *testing.T) {
		b.t = t
		b.load(s.url + "/ui/capacity")
		checkMix(t, b, s)
		b.do("two samples", chromedp.Poll[chromedp.Void](`Number(document.getElementById('c-samples').textContent) >= 2`, chromedp.WithPollingTimeout(12_000_000_000)))
		var now capacityDoc
		if err := s.admin.Get(ctx, "/v1/capacity", &now); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](b, `document.getElementById('c-alloc').dataset.gflops`); got != strconv.FormatInt(now.AI.Allocated, 10) {
			t.Errorf("allocated %s, /v1/capacity says %d", got, now.AI.Allocated)
		}
		b.checkContrast("capacity")
		b.screenshot("capacity")
	})

	t.Run("compliance", func(t *testing.T) {
		b.t = t
		b.load(s.url + "/ui/compliance")
		for _, o := range capDoc.Breakdowns["origin"] {
			if !strings.Contains(b.text("#origin"), o.Key) || !strings.Contains(b.text("#origin"), ef(o.GFLOPS)) {
				t.Errorf("origin table lacks %s %s EF: %q", o.Key, ef(o.GFLOPS), b.text("#origin"))
			}
		}
		b.checkContrast("compliance")
		b.screenshot("compliance")
	})

	t.Run("tenant sees only its jobs", func(t *testing.T) {
		b.t = t
		b.open(s.url, s.tokens["acme"], "/ui/jobs")
		table := b.text("#jobs")
		for name, j := range s.jobs {
			if got := strings.Contains(table, j.ID); got != (j.Spec.Tenant == "acme") {
				t.Errorf("acme's job page shows %s (%s, tenant %s): %v", name, j.ID, j.Spec.Tenant, got)
			}
		}
		if got := b.text("#whoami"); got != "tenant acme" {
			t.Errorf("whoami %q", got)
		}
		b.screenshot("tenant-jobs")
		b.load(s.url + "/ui/tenants")
		if n := eval[int](b, `document.querySelectorAll('#tenants tbody tr[data-tenant]').length`); n != 1 || b.text(`#tenants tr[data-tenant="acme"]`) == "" {
			t.Errorf("acme's tenants page shows %d tenants: %q", n, b.text("#tenants"))
		}
		if strings.Contains(b.text("#waiting"), s.blocked) {
			t.Errorf("acme sees other's waiting job %s", s.blocked)
		}
		b.load(s.url + "/ui/")
		b.waitFor("the plan card", `document.getElementById('plan-card').dataset.loaded`)
		if got := eval[string](b, `document.getElementById('plan-card').dataset.loaded`); got != "denied" || !strings.Contains(b.text("#plan-note"), "operators and admins") {
			t.Errorf("a tenant's plan card: %s, %q", got, b.text("#plan-note"))
		}
		b.load(s.url + "/ui/tenants")
		if n := eval[int](b, `document.querySelectorAll('#cost tbody tr[data-tenant]').length`); n != 1 || b.text(`#cost tr[data-tenant="acme"]`) == "" {
			t.Errorf("acme's cost table shows %d tenants: %q", n, b.text("#cost"))
		}
		b.load(s.url + "/ui/capacity")
		b.waitFor("the task mix", `document.getElementById('mix').dataset.loaded`)
		if s.shim.serves("/v1/compliance") { // staff only: the page says so instead of failing
			b.load(s.url + "/ui/compliance")
			if got := b.text("#compliance"); !strings.Contains(got, "operators and admins") {
				t.Errorf("a tenant's compliance panel reads %q", got)
			}
		}
		other := s.jobs["finetune"].ID
		b.do("open another tenant's job", chromedp.Navigate(s.url+"/ui/jobs/"+other))
		b.waitFor("another tenant's job", `document.body.dataset.ready`)
		if r := eval[string](b, `document.body.dataset.ready`); r != "error" {
			t.Errorf("acme opened %s's job %s: ready=%s", "other", other, r)
		}
	})

	t.Run("login and keyboard", func(t *testing.T) {
		b.t = t
		b.do("clear", chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`), chromedp.Navigate(s.url+"/ui/jobs"))
		b.waitFor("redirect to sign in", `location.pathname === '/ui/login' && document.body.dataset.ready`)
		b.do("bad token", chromedp.SendKeys(chromedp.ID("token"), "not-a-token"), chromedp.Click(chromedp.CSS(`#login-form button`)))
		b.waitText("#login-msg", "does not know")
		b.checkContrast("login")
		b.screenshot("login")
		b.do("good token", chromedp.Evaluate[chromedp.Void](`document.getElementById('token').value = ''`), chromedp.SendKeys(chromedp.ID("token"), admin),
			chromedp.KeyEvent("\r"))
		b.waitFor("back to the jobs after signing in", `location.pathname === '/ui/jobs' && document.body.dataset.ready === '1'`)
		// The first Tab reaches the skip link, the next ones the navigation.
		b.do("tab", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.className`); got != "skip" {
			t.Errorf("first Tab focuses %q, want the skip link", got)
		}
		b.do("tab", chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.getAttribute('href')`); got != "/ui/" {
			t.Errorf("third Tab focuses %q, want the first navigation link", got)
		}
		// Every form control has a label.
		if n := eval[int](b, `[...document.querySelectorAll('input,select')].filter(e => !e.labels || !e.labels.length).length`); n != 0 {
			t.Errorf("%d form controls without a label", n)
		}
	})

	t.Run("unknown capacity", func(t *testing.T) {
		b.t = t
		// A node whose agent registers and then falls silent is lost: its
		// capacity is unknown, not free, on the overview and its site.
		nodes, err := s.admin.Nodes(ctx, "")
		if err != nil || len(nodes) == 0 {
			t.Fatalf("nodes: %v (%d)", err, len(nodes))
		}
		var n v1.Node
		for _, x := range nodes {
			if x.AllocatedMilli == 0 {
				n = x
				break
			}
		}
		tok, err := s.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "silent", Node: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		devs := make([]v1.NodeDevice, n.Cards)
		for i := range devs {
			devs[i] = v1.NodeDevice{Index: i, Vendor: "test", Model: n.Model, Health: "OK"}
		}
		if _, err := v1.NewClient(s.url, tok.Secret).RegisterNode(ctx, v1.NodeRegistration{Node: n.ID, Site: n.Site, Devices: devs}); err != nil {
			t.Fatal(err)
		}
		var capDoc struct {
			Unknown *struct {
				Nodes  int   `json:"nodes"`
				Cards  int64 `json:"cards"`
				GFLOPS int64 `json:"gflops"`
			} `json:"unknown"`
		}
		deadline := time.Now().Add(15 * time.Second)
		for capDoc.Unknown == nil {
			if time.Now().After(deadline) {
				t.Fatal("the silent node's capacity never became unknown")
			}
			time.Sleep(50 * time.Millisecond)
			if err := s.admin.Get(ctx, "/v1/capacity", &capDoc); err != nil {
				t.Fatal(err)
			}
		}
		if capDoc.Unknown.Nodes != 1 || capDoc.Unknown.Cards != int64(n.Cards) {
			t.Fatalf("unknown %+v, want node %s's %d cards", *capDoc.Unknown, n.ID, n.Cards)
		}
		b.open(s.url, admin, "/ui/")
		b.waitText("#k-free", "unknown")
		if got := eval[string](b, `document.getElementById('k-free').dataset.unknownGflops`); got != strconv.FormatInt(capDoc.Unknown.GFLOPS, 10) {
			t.Errorf("unknown GFLOPS shown %s, /v1/capacity says %d", got, capDoc.Unknown.GFLOPS)
		}
		row := eval[string](b, `document.querySelector('#sites tr[data-site="`+n.Site+`"]').textContent`)
		if want := "capacity unknown: " + thousands(n.Cards) + " cards"; !strings.Contains(row, want) {
			t.Errorf("site row %q lacks %q", row, want)
		}
		b.open(s.url, admin, "/ui/sites/"+n.Site)
		b.waitText("#s-unknown", "Capacity unknown: 1 node ")
		if hidden := eval[bool](b, `document.getElementById('s-unknown').hidden`); hidden {
			t.Error("the site page hides its unknown capacity")
		}
		b.checkContrast("site with unknown capacity")
	})

	t.Run("throughput", func(t *testing.T) {
		b.t = t
		b.open(s.url, admin, "/ui/throughput")
		checkThroughput(t, b, s)
	})
}
