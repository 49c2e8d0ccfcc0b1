package sched

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

const mixedSpec = `
name: mixed
sites:
- id: hub
  region: Central
  operator: op
  ownership: self-built
  power_price: 0.4
  pools:
  - {model: huawei-ascend-910b4, nodes: 4, cards_per_node: 8, nodes_per_domain: 4}
  - {model: metax-c500, nodes: 4, cards_per_node: 8, nodes_per_domain: 4}
`

// TestMixedGangSharesByRates: a mixed-vendor gang's work shares follow
// the job's rates when they cover every model the gang may use — its own
// rates, or its class's (learned or default per model) — and peak FP16
// otherwise; the explanation names which, with each model's figure.
func TestMixedGangSharesByRates(t *testing.T) {
	net, err := network.Parse([]byte(mixedSpec), "mixed", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	const ascend, metax = "huawei-ascend-910b4", "metax-c500"
	shares := func(rates map[string]float64, in Input) (map[string][]int, string) {
		t.Helper()
		job := model.Job{ID: "m", Tenant: "t", Kind: model.Gang, Workers: 6, CardsPerWorker: 8, Mixed: true, Rates: rates}
		d := Schedule(NewCluster(net), &job, in, Config{})
		if !d.Placed() {
			t.Fatalf("rates %v: not placed: %s", rates, d.Explanation.Summary)
		}
		by, sum := map[string][]int{}, 0
		for _, a := range d.Placement.Assignments {
			by[a.Model] = append(by[a.Model], a.WorkShareMilli)
			sum += a.WorkShareMilli
		}
		if sum != 1000 {
			t.Errorf("rates %v: shares sum to %d", rates, sum)
		}
		return by, d.Explanation.Summary
	}
	// same: n workers, each at want‰ rounded down or up (largest
	// remainders).
	same := func(got []int, n int, want float64) bool {
		if len(got) != n {
			return false
		}
		for _, g := range got {
			if float64(g) <= want-1 || float64(g) >= want+1 {
				return false
			}
		}
		return true
	}

	// Peak: 280 and 240 TFLOPS per card, four 910B4 workers and two C500.
	by, sum := shares(nil, Input{})
	if !same(by[ascend], 4, 175) || !same(by[metax], 2, 150) || !strings.Contains(sum, "work shares by peak FP16 (huawei-ascend-910b4 280 TFLOPS per card, metax-c500 240 TFLOPS per card)") {
		t.Errorf("peak: %v, %q", by, sum)
	}
	// The job's own rates: the C500 does twice the 910B4's work per card,
	// so it comes first (all four of its nodes) and takes twice the share.
	by, sum = shares(map[string]float64{ascend: 1, metax: 2}, Input{})
	if !same(by[metax], 4, 200) || !same(by[ascend], 2, 100) || !strings.Contains(sum, "work shares by the job's own rates (metax-c500 2/s per card, huawei-ascend-910b4 1/s per card)") {
		t.Errorf("own rates: %v, %q", by, sum)
	}
	// Its class's: one learned figure, one default, named per model.
	in := Input{RatesFrom: "class llm-pretrain, learned where reported, else the default matrix", Learned: map[string]bool{ascend: true}}
	by, sum = shares(map[string]float64{ascend: 3, metax: 1}, in)
	if !same(by[ascend], 4, 3000.0/14) || !same(by[metax], 2, 1000.0/14) ||
		!strings.Contains(sum, "work shares by throughput (class llm-pretrain, learned where reported, else the default matrix: huawei-ascend-910b4 3/s per card learned, metax-c500 1/s per card default)") {
		t.Errorf("class rates: %v, %q", by, sum)
	}
	// Rates that leave out a model the gang may use: peak for all.
	by, sum = shares(map[string]float64{ascend: 1}, Input{})
	if !same(by[ascend], 4, 175) || !same(by[metax], 2, 150) || !strings.Contains(sum, ": the job's rates leave out metax-c500") {
		t.Errorf("partial rates: %v, %q", by, sum)
	}
}
