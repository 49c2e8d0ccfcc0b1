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
