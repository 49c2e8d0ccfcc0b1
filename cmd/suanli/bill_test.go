package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestBill: two hours of a job on the real server, billed from the default
// network's prices; the CSV and JSON exports agree with the usage.
func TestBill(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, Now: func() time.Time { return base.Add(time.Duration(offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, url, tokenFile := startTestPlane(t, srv)
	dir := filepath.Dir(tokenFile)
	tok, _ := os.ReadFile(tokenFile)
	admin := v1.NewClient(url, strings.TrimSpace(string(tok)))
	for _, tn := range []string{"acme", "idle"} {
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatal(err)
		}
	}
	job, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8, Topology: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		j, err := admin.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == "placed" || j.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job is %s", j.State)
		}
	}
	offset.Store(int64(2 * time.Hour))
	if _, err := admin.Cancel(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	u, err := admin.Usage(ctx, "acme", "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if u.CostFen == 0 || u.CardHoursMilli != 32_000 {
		t.Fatalf("usage %+v: want 32 card-hours, priced", u)
	}
	cfg := filepath.Join(dir, "client.yaml")
	_ = os.WriteFile(cfg, []byte("server: "+url+"\ntoken_file: "+tokenFile+"\n"), 0o600)
	t.Setenv("SUANLI_SERVER", "")
	t.Setenv("SUANLI_TOKEN", "")

	out, err := run(t, "bill", "--month", "2026-11", "--config", cfg)
	if err != nil {
		t.Fatalf("bill: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(billCSVHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	var sumFen int64
	for _, r := range rows[1:] {
		if r[1] != "acme" || r[0] != "SL-2026-11-acme" || r[3] != "2026-11-01T00:00:00Z" || r[4] != "2026-12-01T00:00:00Z" || r[5] != "CNY" {
			t.Errorf("row %v", r)
		}
		if r[10] != "card-hour" && r[10] != "pflop-hour" {
			t.Errorf("row %v: unit %q", r, r[10])
		}
		yuan, cents, _ := strings.Cut(r[13], ".")
		var y, c int64
		for _, ch := range yuan {
			y = y*10 + int64(ch-'0')
		}
		for _, ch := range cents {
			c = c*10 + int64(ch-'0')
		}
		sumFen += y*100 + c
	}
	if len(rows) != 1+len(u.Lines) || sumFen != u.CostFen {
		t.Errorf("CSV has %d items summing to %d fen; usage has %d lines, %d fen\n%s", len(rows)-1, sumFen, len(u.Lines), u.CostFen, out)
	}

	out, err = run(t, "bill", "--month", "2026-11", "--format", "json", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var bills []Bill
	if err := json.Unmarshal([]byte(out), &bills); err != nil {
		t.Fatal(err)
	}
	if len(bills) != 2 || bills[0].Tenant != "acme" || bills[0].TotalFen != u.CostFen || bills[0].KWhMilli != u.KWhMilli || bills[0].KWhMilli == 0 ||
		bills[1].Tenant != "idle" || len(bills[1].Lines) != 0 || bills[1].TotalFen != 0 {
		t.Errorf("bills %+v", bills)
	}

	// The price table through the CLI: shown, replaced (versioned), and the
	// bill follows it.
	out, err = run(t, "prices", "--config", cfg)
	if err != nil || !strings.Contains(out, "version 0 (network spec)") || !strings.Contains(out, "10.00/PFLOP-h") {
		t.Fatalf("prices: %v\n%s", err, out)
	}
	table := filepath.Join(dir, "prices.yaml")
	_ = os.WriteFile(table, []byte("version: 0\nprices:\n- {fen_per_card_hour: 1000}\n"), 0o600)
	if out, err = run(t, "prices", "set", table, "--config", cfg); err != nil || !strings.Contains(out, "version 1 (api)") {
		t.Fatalf("prices set: %v\n%s", err, out)
	}
	if _, err = run(t, "prices", "set", table, "--config", cfg); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("a stale version was accepted: %v", err)
	}
	out, err = run(t, "bill", "--month", "2026-11", "--tenant", "acme", "--format", "json", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	bills = nil
	if err := json.Unmarshal([]byte(out), &bills); err != nil || len(bills) != 1 {
		t.Fatalf("bill at 10 CNY per card-hour: %v %+v", err, bills)
	}
	// 32 card-hours at 10 CNY, except on a leased site, which bills its
	// lease price (the scheduler chooses the site).
	var want, hours int64
	for _, l := range bills[0].Lines {
		if l.Ownership != "leased" && l.UnitPriceFen != 1000 {
			t.Errorf("line %+v: not at 10 CNY per card-hour", l)
		}
		want += l.QuantityMilli * l.UnitPriceFen / 1000
		hours += l.QuantityMilli
	}
	if bills[0].TotalFen != want || hours != 32*1000 {
		t.Errorf("bill at 10 CNY per card-hour: %+v, want %d fen for 32 card-hours", bills, want)
	}

	// Bad input exits 2 with the flag named.
	for _, args := range [][]string{{"bill"}, {"bill", "--month", "2026-13"}, {"bill", "--month", "2026-11", "--format", "xml"}} {
		_, err := run(t, append(args, "--config", cfg)...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	// A tenant token cannot bill (admin only).
	tt, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "bill", "--month", "2026-11", "--server", url, "--token", tt.Secret); err == nil {
		t.Error("a tenant token listed every tenant's bill")
	}
}

func TestBillOfRejectsInconsistentUsage(t *testing.T) {
	_, err := billOf(&v1.Usage{Tenant: "a", Month: "2026-11", CostFen: 5, Lines: []v1.UsageLine{{Site: "s", Model: "m", CostFen: 4}}})
	if err == nil || !strings.Contains(err.Error(), "sum to 4 fen") {
		t.Errorf("err = %v", err)
	}
}
