package web_test

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/web"
)

// driftMilli is a learned figure against its default in thousandths, as
// the throughput page rounds it (model.PerMille of the quotient in
// millionths); ok false without both figures.
func driftMilli(e v1.ThroughputEntry) (int64, bool) {
	if e.Learned <= 0 || e.Default <= 0 {
		return 0, false
	}
	return model.PerMille(int64(math.Round(e.Learned/e.Default*1e6)), 1e6) - 1000, true
}

// driftText is how the page writes a drift: "▲ +50.0%" beyond 10%.
func driftText(d int64) string {
	sign, arrow := "±", ""
	switch {
	case d > 0:
		sign = "+"
	case d < 0:
		sign = "−"
	}
	if d > 100 {
		arrow = "▲ "
	} else if d < -100 {
		arrow = "▼ "
	}
	return fmt.Sprintf("%s%s%.1f%%", arrow, sign, math.Abs(float64(d))/10)
}

// entryOf finds the (class, model) entry of t.
func entryOf(t *testing.T, tab *v1.ThroughputTable, class, mid string) v1.ThroughputEntry {
	t.Helper()
	for _, e := range tab.Entries {
		if e.Class == class && e.Model == mid {
			return e
		}
	}
	t.Fatalf("/v1/throughput has no entry for %s on %s", class, mid)
	return v1.ThroughputEntry{}
}

// reportProgress has an agent report, for every worker of job, per card
// factor times the default rate of the job's class on its model.
func reportProgress(t *testing.T, s *stack, name string, factor float64) *v1.Job {
	t.Helper()
	ctx := context.Background()
	j, err := s.admin.Job(ctx, s.jobs[name].ID)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := s.admin.Throughput(ctx)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().UTC()
	agents := map[string]*v1.Client{}
	for _, a := range j.Placement.Assignments {
		if agents[a.Site] == nil {
			tok, err := s.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "progress-" + a.Site, Sites: []string{a.Site}})
			if err != nil {
				t.Fatal(err)
			}
			agents[a.Site] = v1.NewClient(s.url, tok.Secret)
		}
		def := entryOf(t, tab, j.Spec.WorkloadClass, a.Model).Default
		if def <= 0 {
			t.Fatalf("%s on %s has no default figure", j.Spec.WorkloadClass, a.Model)
		}
		const secs = 10
		p := &v1.Progress{Work: factor * def * secs * float64(len(a.Cards)), Seconds: secs, Reports: 5, Until: until}
		if _, err := agents[a.Site].ReportWorker(ctx, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: j.PlacedAt,
			State: v1.StateRunning, Progress: p, At: until}); err != nil {
			t.Fatalf("report %s worker %d: %v", name, a.Worker, err)
		}
	}
	if j, err = s.admin.Job(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	return j
}

// checkThroughput: workers' progress reports reach the throughput page.
// llm-pretrain's workers report half as fast again as the default, which
// the page marks (▲ +50.0%); finetune's 5% more, which it does not. The
// table's figures are /v1/throughput's, its filters keep to a class and
// to the reported pairs, the matrix chart has a cell per pair, and the
// job page shows the job's observed rate next to its class's.
func checkThroughput(t *testing.T, b *browser, s *stack) {
	ctx := context.Background()
	pre := reportProgress(t, s, "llm-pretrain", 1.5)
	reportProgress(t, s, "finetune", 1.05)
	tab, err := s.admin.Throughput(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.load(s.url + "/ui/throughput")
	b.waitFor("the throughput table", `document.getElementById('tp').dataset.loaded`)
	var reported, drifting int
	for _, e := range tab.Entries {
		if e.Reports > 0 {
			reported++
		}
		if d, ok := driftMilli(e); ok && (d > 100 || d < -100) {
			drifting++
		}
	}
	if got := b.text("#t-reported"); got != thousands(reported) || reported < 2 {
		t.Errorf("pairs with reports: the page says %s, /v1/throughput has %d (want at least 2)", got, reported)
	}
	if got := b.text("#t-drift"); got != thousands(drifting) || drifting < 1 {
		t.Errorf("pairs off the default: the page says %s, /v1/throughput has %d (want at least 1)", got, drifting)
	}
	if n := eval[int](b, `document.querySelectorAll('#tp tbody tr[data-class]').length`); n != len(tab.Entries) {
		t.Errorf("the table has %d rows, /v1/throughput %d entries", n, len(tab.Entries))
	}
	cases := []struct {
		name string
		cue  string
	}{{"llm-pretrain", "up"}, {"finetune", ""}}
	for _, c := range cases {
		j := s.jobs[c.name]
		e := entryOf(t, tab, j.Spec.WorkloadClass, j.Placement.Assignments[0].Model)
		d, ok := driftMilli(e)
		if !ok || e.Reports != int64(len(j.Placement.Assignments)) {
			t.Fatalf("%s's pair after its reports: %+v", c.name, e)
		}
		sel := fmt.Sprintf(`#tp tr[data-class=%q][data-model=%q]`, e.Class, e.Model)
		cells := eval[[]string](b, `[...document.querySelector('`+sel+`').cells].map((c) => c.dataset.raw || c.innerText)`)
		if len(cells) != 13 {
			t.Fatalf("row %s: %q", sel, cells)
		}
		num := func(i int) float64 { v, _ := strconv.ParseFloat(cells[i], 64); return v }
		if num(3) != e.Default || num(5) != e.Learned || num(9) != e.Rate || num(5) == num(3) {
			t.Errorf("%s: default %s, learned %s, rate %s on the page; /v1/throughput %v, %v, %v", c.name, cells[3], cells[5], cells[9], e.Default, e.Learned, e.Rate)
		}
		if cells[6] != driftText(d) || cells[7] != thousands(int(e.Reports)) || cells[8] != thousands(e.Jobs) || cells[10] != e.Conf {
			t.Errorf("%s: drift %q, reports %q, jobs %q, conf %q; want %q, %d, %d, %q", c.name, cells[6], cells[7], cells[8], cells[10], driftText(d), e.Reports, e.Jobs, e.Conf)
		}
		if got := eval[string](b, `document.querySelector('`+sel+`').dataset.drift || ''`); got != c.cue {
			t.Errorf("%s: the row's cue %q, want %q (%+d‰)", c.name, got, c.cue, d)
		}
	}
	big := entryOf(t, tab, pre.Spec.WorkloadClass, pre.Placement.Assignments[0].Model)
	b.do("only reported pairs of one class", chromedp.Evaluate[chromedp.Void](`(s => { s.value = '`+big.Class+`'; s.dispatchEvent(new Event('change')); })(document.getElementById('tp-class'))`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('tp-reported').click()`))
	if rows := eval[[]string](b, `[...document.querySelectorAll('#tp tbody tr[data-class]')].map((r) => r.dataset.class + '/' + r.dataset.model)`); fmt.Sprint(rows) != "["+big.Class+"/"+big.Model+"]" {
		t.Errorf("filtered to reported %s pairs, the table shows %q", big.Class, rows)
	}
	if got := eval[string](b, `location.search`); got != "?class="+big.Class+"&reported=1" {
		t.Errorf("the filter is not in the URL: %q", got)
	}
	cell := eval[string](b, `(() => { const o = echarts.getInstanceByDom(document.getElementById('tp-chart')).getOption();
		return String(o.series[0].data.length) + ' ' + o.series[0].data.filter((d) => d.e.class === '`+big.Class+`' && d.e.model === '`+big.Model+`').map((d) => d.cue).join(); })()`)
	if cell != fmt.Sprintf("%d up", len(tab.Entries)) {
		t.Errorf("the matrix chart: %q, want %d cells and %s on %s marked up", cell, len(tab.Entries), big.Class, big.Model)
	}
	b.checkContrast("throughput")
	b.screenshot("throughput")

	b.load(s.url + "/ui/jobs/" + pre.ID)
	b.waitFor("the job's observed throughput", `!document.getElementById('rates-card').hidden && document.querySelector('#rates tr[data-model] td:nth-child(7)').innerText !== '–'`)
	if len(pre.Throughput) != 1 {
		t.Fatalf("llm-pretrain's observed rates: %+v", pre.Throughput)
	}
	r := pre.Throughput[0]
	got := eval[[]string](b, `[...document.querySelector('#rates tr[data-model="`+r.Model+`"]').cells].map((c) => c.dataset.raw || c.innerText)`)
	if v, _ := strconv.ParseFloat(got[1], 64); v != r.Rate || got[2] != big.Unit || got[3] != thousands(int(r.Reports)) {
		t.Errorf("the job page's rate row %q, the job's %+v (unit %s)", got, r, big.Unit)
	}
	if !strings.Contains(b.text("#spec"), big.Class) {
		t.Errorf("the job's spec lacks its workload class %s: %q", big.Class, b.text("#spec"))
	}
	b.checkContrast("job-throughput")
	// Every role may read the matrix: a tenant's page shows it too.
	b.open(s.url, s.tokens["acme"], "/ui/throughput")
	b.waitFor("a tenant's throughput table", `document.getElementById('tp').dataset.loaded`)
	if got := b.text("#t-pairs"); got != thousands(len(tab.Entries)) {
		t.Errorf("a tenant's page counts %s pairs, /v1/throughput %d", got, len(tab.Entries))
	}
}

// TestThroughputFields: the scripts read every field of /v1/throughput's
// entries and of a job's observed rates by its JSON name, so a renamed
// field fails here, without a browser.
func TestThroughputFields(t *testing.T) {
	for _, c := range []struct {
		script, prefix string
		typ            any
	}{{"static/throughput.js", "e.", v1.ThroughputEntry{}}, {"static/job.js", "r.", v1.JobRate{}}} {
		b, err := fs.ReadFile(web.FS, c.script)
		if err != nil {
			t.Fatal(err)
		}
		rt := reflect.TypeOf(c.typ)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(c.prefix+name) + `\b`).Match(b) {
				t.Errorf("%s never reads %s%s (%s.%s)", c.script, c.prefix, name, rt.Name(), rt.Field(i).Name)
			}
		}
	}
}
