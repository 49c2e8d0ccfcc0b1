package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestCapacityPlan: GET /v1/capacity/plan's answer on the default network
// reaches the 100 EF target by 2028 along the target path, starts from the
// installed figure the ledger reports, is solved once per year however
// many ask at once, and says why there is no plan when the target year
// has passed or the network has no power envelope to grow in.
func TestCapacityPlan(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	nw := defaultNetwork(t)
	srv, err := New(Config{Store: mem.New(mem.Config{}), Network: nw, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	answers := make(chan any, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := srv.CapacityPlan(ctx)
			if err != nil {
				t.Error(err)
			}
			answers <- p
		}()
	}
	wg.Wait()
	close(answers)
	var first *CapacityPlan
	for a := range answers {
		p := a.(*CapacityPlan)
		if first == nil {
			first = p
		} else if p != first {
			t.Error("concurrent requests solved the plan more than once")
		}
	}
	p := first
	if p.Plan == nil {
		t.Fatalf("no plan on the default network: %s", p.Infeasible)
	}
	installed := float64(ledger.Capacity(nw, nil).Total.GFLOPS) / 1e9
	if p.From != 2026 || p.By != 2028 || p.TargetEF != 100 || diff(p.InstalledEF, installed) > 1e-6 {
		t.Errorf("question %d-%d, target %v EF, installed %v EF (the ledger: %v)", p.From, p.By, p.TargetEF, p.InstalledEF, installed)
	}
	years := p.Plan.Years
	if len(years) != 2 || years[0].Year != 2027 || years[1].Year != 2028 {
		t.Fatalf("planned years %+v, want 2027 and 2028", years)
	}
	for _, y := range years {
		if y.EF < y.TargetEF-1e-6 || y.EF < p.InstalledEF {
			t.Errorf("%d: %.3f EF planned, the target path asks %.3f", y.Year, y.EF, y.TargetEF)
		}
	}
	if last := years[len(years)-1]; last.TargetEF < 100-1e-6 || last.EF < 100-1e-6 {
		t.Errorf("2028: %.3f EF planned against a target of %.3f, want 100", last.EF, last.TargetEF)
	}
	t.Logf("default network: %.3f EF installed, plan to 100 EF by 2028 solved in %d ms", p.InstalledEF, p.SolveMillis)
	if len(p.Plan.Adds) == 0 {
		t.Error("a plan from 45 EF to 100 EF adds nothing")
	}
	again, _ := srv.CapacityPlan(ctx)
	if again != any(p) {
		t.Error("the same year's plan was solved again")
	}
	mu.Lock()
	now = time.Date(2029, 1, 2, 0, 0, 0, 0, time.UTC)
	mu.Unlock()
	late, _ := srv.CapacityPlan(ctx)
	if lp := late.(*CapacityPlan); lp.Plan != nil || !strings.Contains(lp.Infeasible, "2028 has passed") {
		t.Errorf("in 2029: plan %v, reason %q", lp.Plan != nil, lp.Infeasible)
	}
	small, err := New(Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	mu.Unlock()
	sp, err := small.CapacityPlan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := sp.(*CapacityPlan); s.Plan != nil || s.Infeasible == "" {
		t.Errorf("a network without power envelopes: plan %v, reason %q", s.Plan != nil, s.Infeasible)
	} else {
		t.Logf("small network: %s", s.Infeasible)
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}
