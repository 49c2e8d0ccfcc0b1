package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"net/http/httptest"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestUsageEnergyCarbonAndPrice: a job held for an hour of server time is
// metered in kWh at its site's PUE and host share, kg CO2 at the site's grid
// factor and CNY at the network spec's price, by the real server.
func TestUsageEnergyCarbonAndPrice(t *testing.T) {
	base := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	nw := defaultNetwork(t)
	srv, err := New(Config{Store: mem.New(mem.Config{}), Network: nw, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	defer func() { hs.Close(); cancel(); <-done }()
	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	admin := v1.NewClient(hs.URL, strings.TrimSpace(string(b)))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	job, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8, Topology: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	j := waitState(t, admin, job.ID, "placed", "running")
	// The live ledger draws the placed cards' facility power.
	// The ledger follows the job index, which may trail the job's read by a
	// moment: poll for up to 5 s.
	{
		a := j.Placement.Assignments[0]
		node, _ := nw.Node(model.NodeID(a.Node))
		site, _ := nw.Site(node.Site)
		en, _ := nw.SiteEnergy(node.Site)
		w, _, _ := ledger.CardFacilityW(nw.Model(a.Model), site, en)
		var capRep struct {
			Power *ledger.PowerReport `json:"power"`
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err := admin.Get(ctx, "/v1/capacity", &capRep); err != nil {
				t.Fatal(err)
			}
			if capRep.Power != nil && capRep.Power.Total.DrawnW == 8*w {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("live power ledger %+v, want %d W drawn", capRep.Power, 8*w)
			}
		}
	}
	offset.Store(int64(time.Hour))
	if _, err := admin.Cancel(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, job.ID, "cancelled")
	u, err := admin.Usage(ctx, "acme", "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Lines) != 1 {
		t.Fatalf("usage lines %+v, want one (one domain, one site)", u.Lines)
	}
	l := u.Lines[0]
	// The independent figure: the catalog power of the placed model at the
	// placed site.
	a := j.Placement.Assignments[0]
	node, _ := nw.Node(model.NodeID(a.Node))
	site, _ := nw.Site(node.Site)
	en, _ := nw.SiteEnergy(node.Site)
	w, _, ok := ledger.CardFacilityW(nw.Model(a.Model), site, en)
	if !ok {
		t.Fatalf("placed on %s, which has no power figure", a.Model)
	}
	if l.CardHoursMilli != 8000 {
		t.Fatalf("card-hours %d, want 8.000", l.CardHoursMilli)
	}
	if want := 8 * w; l.KWhMilli != want {
		t.Errorf("kWh = %d milli, want 8 cards × %d W × 1 h = %d", l.KWhMilli, w, want)
	}
	if want := l.KWhMilli * en.GCO2PerKWh / 1000; l.KgCO2Milli != want || want == 0 {
		t.Errorf("kg CO2 = %d milli, want %d at %d g/kWh", l.KgCO2Milli, want, en.GCO2PerKWh)
	}
	if l.CostFen == 0 || (l.FenPerCardHour == 0 && l.FenPerPFLOPHour == 0) {
		t.Errorf("usage is not priced: %+v", l)
	}
	if u.KWhMilli != l.KWhMilli || u.CostFen != l.CostFen || u.EnergyFen == 0 {
		t.Errorf("totals %+v", u)
	}
}

// TestPricesAPI: the price table is read by staff, replaced by an admin
// only, versioned (a stale version is refused), audited, and usage is
// priced from it at once.
func TestPricesAPI(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	admin := e.client(v1.RoleAdmin)
	pl, err := e.client(v1.RoleOperator).Prices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Version != 0 || pl.Source != "network spec" || len(pl.Prices) == 0 {
		t.Fatalf("initial prices %+v", pl)
	}
	if _, err := e.client(v1.RoleTenant).Prices(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a tenant read the price table: %v", err)
	}
	upd := v1.PriceUpdate{Version: 0, Prices: []v1.PriceEntry{{FenPerCardHour: 700}, {Site: "cu-xining", Model: "BR100", FenPerPFLOPHour: 300}}}
	if _, err := e.client(v1.RoleOperator).ReplacePrices(ctx, upd); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("an operator replaced the prices: %v", err)
	}
	// Every problem at once, with its field.
	_, err = admin.ReplacePrices(ctx, v1.PriceUpdate{Prices: []v1.PriceEntry{{Site: "atlantis", FenPerCardHour: 1}, {Model: "nope", FenPerCardHour: 1}, {Site: "cu-xining"}, {FenPerCardHour: -1}, {FenPerCardHour: 5, FenPerPFLOPHour: 5}}})
	for _, want := range []string{"400", "prices[0].site", "prices[1].model", "prices[2]", "prices[3].fen_per_card_hour", "not both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad table: error lacks %q: %v", want, err)
		}
	}
	pl, err = admin.ReplacePrices(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Version != 1 || pl.Source != "api" || pl.UpdatedBy == "" || pl.Prices[1].Model != "biren-br100" {
		t.Errorf("after replace %+v", pl)
	}
	// A second admin working from version 0 is refused, not silently lost.
	if _, err := admin.ReplacePrices(ctx, upd); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("stale version: %v", err)
	}
	audits, err := admin.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range audits.Entries {
		if a.Action == "prices.replace" && strings.Contains(a.Detail, "version 0 -> 1") {
			found = true
		}
	}
	if !found {
		t.Error("the replacement is not in the audit log")
	}
	// Usage is priced from the new table (Meter takes what priceTable
	// returns).
	pt, err := e.srv.priceTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := pt.Rate("cu-xining", "biren-br100"); r.FenPerPFLOPHour != 300 {
		t.Errorf("Xining BR100 rate %+v", r)
	}
	if r := pt.Rate("cm-ulanqab-leased", "huawei-ascend-910c"); r.FenPerCardHour != 1200 {
		t.Errorf("a leased site keeps its lease price: %+v", r)
	}
	if r := pt.Rate("cm-hohhot", "huawei-ascend-910b3"); r.FenPerCardHour != 700 {
		t.Errorf("the default entry: %+v", r)
	}
}
