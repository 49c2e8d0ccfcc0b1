package web_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// capacityPlan is the part of /v1/capacity/plan the tests compare.
type capacityPlan struct {
	TargetEF    float64 `json:"target_ef"`
	From        int     `json:"from"`
	By          int     `json:"by"`
	InstalledEF float64 `json:"installed_ef"`
	Infeasible  string  `json:"infeasible"`
	Plan        *struct {
		Years []struct {
			Year     int     `json:"year"`
			EF       float64 `json:"ef"`
			TargetEF float64 `json:"target_ef"`
		} `json:"years"`
	} `json:"plan"`
}

// checkPlan: the overview shows the capacity plan against the target —
// one table row per year (now and each planned year) with the API's
// planned and target-path EF, and the chart's target line at the API's
// target.
func checkPlan(t *testing.T, b *browser, s *stack) {
	t.Helper()
	var p capacityPlan
	if err := s.admin.Get(context.Background(), "/v1/capacity/plan", &p); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the plan card", `document.getElementById('plan-card').dataset.loaded`)
	if p.Plan == nil {
		if got := b.text("#plan-note"); !strings.Contains(got, p.Infeasible) {
			t.Errorf("no plan (%s), the card says %q", p.Infeasible, got)
		}
		return
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	want := []string{fmt.Sprintf("%d (now)\t%s\t%s", p.From, f(p.InstalledEF), f(p.InstalledEF))}
	for _, y := range p.Plan.Years {
		want = append(want, fmt.Sprintf("%d\t%s\t%s", y.Year, f(y.EF), f(y.TargetEF)))
	}
	rows := eval[[]string](b, `[...document.querySelectorAll('#plan tbody tr')].map((r) => [...r.cells].slice(0, 3).map((c) => c.innerText).join('\t'))`)
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("plan table rows %q, /v1/capacity/plan says %q", rows, want)
	}
	target := eval[float64](b, `echarts.getInstanceByDom(document.getElementById('plan-chart')).getOption().series[0].markLine.data[0].yAxis`)
	if target != p.TargetEF || p.TargetEF != 100 {
		t.Errorf("the chart's target line at %v EF, the API's target %v EF", target, p.TargetEF)
	}
	last := p.Plan.Years[len(p.Plan.Years)-1]
	if last.Year != p.By || last.EF < p.TargetEF {
		t.Errorf("the plan ends in %d at %.2f EF, want %d at %v or more", last.Year, last.EF, p.By, p.TargetEF)
	}
}

// checkMix: the capacity page shows the task mix the scheduler learned,
// heaviest shape first with its share of the weight.
func checkMix(t *testing.T, b *browser, s *stack) {
	t.Helper()
	b.waitFor("the task mix", `document.getElementById('mix').dataset.loaded`)
	m, err := s.admin.TaskMix(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !m.Learned || len(m.Shapes) == 0 {
		t.Fatalf("the stack's scheduler learned no mix: %+v", m)
	}
	if got := b.text("#mix-note"); !strings.Contains(got, "Learned from "+thousands(int(m.Observed))+" worker arrivals") {
		t.Errorf("mix note %q, /v1/scheduler/workload observed %d", got, m.Observed)
	}
	var total float64
	heaviest := m.Shapes[0]
	for _, x := range m.Shapes {
		total += x.Weight
		if x.Weight > heaviest.Weight {
			heaviest = x
		}
	}
	if n := eval[int](b, `document.querySelectorAll('#mix tbody tr').length`); n != min(len(m.Shapes), 50) {
		t.Errorf("mix table has %d rows, the API %d shapes", n, len(m.Shapes))
	}
	first := b.text("#mix tbody tr")
	share := fmt.Sprintf("%.1f%%", float64(int64(heaviest.Weight*1000/total+0.5))/10)
	what := fmt.Sprintf("%d card", heaviest.Cards)
	if heaviest.ShareMilli > 0 {
		what = fmt.Sprintf("%.3f card", float64(heaviest.ShareMilli)/1000)
	}
	if !strings.Contains(first, what) || !strings.Contains(first, share) {
		t.Errorf("the first mix row %q, want the heaviest shape %+v (%s, %s of the weight)", first, heaviest, what, share)
	}
}

// usageFields are /v1/usage's figures the tenants page shows, by the
// cell's data-field.
func usageFields(u *v1.Usage) map[string]int64 {
	return map[string]int64{"card_hours_milli": u.CardHoursMilli, "pflop_hours_milli": u.PFLOPHoursMilli, "kwh_milli": u.KWhMilli,
		"kg_co2_milli": u.KgCO2Milli, "energy_fen": u.EnergyFen, "cost_fen": u.CostFen}
}

// checkCost: the tenants page shows each tenant's cost next to its use:
// card-hours, PFLOP-hours, kWh, kg CO2, electricity and billed CNY, each
// between /v1/usage's figures read just before and just after the page
// read them (use grows while jobs hold cards); and the same by site.
func checkCost(t *testing.T, b *browser, s *stack, before *v1.Usage) {
	t.Helper()
	after, err := s.admin.Usage(context.Background(), "acme", time.Now().UTC().Format("2006-01"))
	if err != nil {
		t.Fatal(err)
	}
	b.waitFor("the cost table", `document.getElementById('cost').dataset.loaded`)
	lo, hi := usageFields(before), usageFields(after)
	if hi["card_hours_milli"] == 0 || hi["cost_fen"] == 0 {
		t.Fatalf("acme's usage has no card-hours or no cost: %+v", after)
	}
	got := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('#cost tr[data-tenant="acme"] td[data-field]')].map((c) => [c.dataset.field, c.dataset.raw]))`)
	for f, l := range lo {
		v, err := strconv.ParseInt(got[f], 10, 64)
		if err != nil || v < l || v > hi[f] {
			t.Errorf("acme's %s on the page %q, /v1/usage says %d before and %d after", f, got[f], l, hi[f])
		}
	}
	for _, l := range after.Lines {
		if !strings.Contains(b.text("#cost-sites"), l.Site) {
			t.Errorf("the by-site cost table lacks %s, where acme used %d card-h milli", l.Site, l.CardHoursMilli)
		}
	}
}
