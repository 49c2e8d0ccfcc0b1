package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestDryRun: POST /v1/jobs?dry_run=true says where a job would go on the
// live allocation and why, stores nothing, honours the tenant's quota and
// who may ask, and refuses what a submit refuses.
func TestDryRun(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	admin, tenant := e.client(v1.RoleAdmin), e.client(v1.RoleTenant)
	spec := v1.JobSpec{Kind: "gang", Workers: 2, CardsPerWorker: 8, Topology: "domain", Models: []string{"huawei-ascend-910b3"}}

	d, err := tenant.DryRun(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Placeable || d.Placement == nil || len(d.Placement.Assignments) != 2 || d.Score == nil || d.Explanation.Summary == "" {
		t.Fatalf("dry run of a 2×8 gang: %+v", d)
	}
	for _, a := range d.Placement.Assignments {
		if a.Model != "huawei-ascend-910b3" || a.Site == "" || len(a.Cards) != 8 {
			t.Fatalf("assignment %+v", a)
		}
	}
	if l, err := admin.Jobs(ctx, v1.JobFilter{}); err != nil || len(l.Jobs) != 0 {
		t.Fatalf("a dry run stored a job: %v %+v", err, l)
	}

	// The snapshot holds the live placements: a real job placed where the
	// dry run pointed moves the next dry run's cards elsewhere.
	j, err := tenant.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	placed := waitState(t, tenant, j.ID, v1.StatePlaced)
	held := map[string]bool{}
	for _, a := range placed.Placement.Assignments {
		for _, c := range a.Cards {
			held[fmt.Sprint(a.Node, "/", c)] = true
		}
	}
	d2, err := tenant.DryRun(ctx, spec)
	if err != nil || !d2.Placeable {
		t.Fatalf("second dry run: %v %+v", err, d2)
	}
	for _, a := range d2.Placement.Assignments {
		for _, c := range a.Cards {
			if held[fmt.Sprint(a.Node, "/", c)] {
				t.Fatalf("dry run placed on %s card %d, held by %s", a.Node, c, j.ID)
			}
		}
	}

	// A quota the tenant's placed job already fills: not placeable, and
	// the explanation says why.
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private", QuotaGFLOPS: placed.Placement.GFLOPS}); err != nil {
		t.Fatal(err)
	}
	d3, err := tenant.DryRun(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if d3.Placeable || d3.Placement != nil || !strings.Contains(strings.ToLower(d3.Explanation.Summary+strings.Join(keys(d3.Explanation.Rejections), " ")), "quota") {
		t.Fatalf("dry run over quota: %+v", d3)
	}
	// What would unblock it is in words, not the scheduler's JSON.
	if len(d3.Explanation.Unblock) == 0 {
		t.Fatalf("no unblock hint over quota: %+v", d3.Explanation)
	}
	for _, u := range append(d3.Explanation.Unblock, d3.Explanation.Best) {
		if strings.HasPrefix(strings.TrimSpace(u), "{") {
			t.Errorf("explanation line is JSON: %s", u)
		}
	}

	// Who may ask, and bad input: as for a submit.
	var ve *v1.Error
	if _, err := tenant.DryRun(ctx, v1.JobSpec{Tenant: "other", Kind: "batch", Workers: 1, CardsPerWorker: 1}); !errors.As(err, &ve) || ve.Status != http.StatusForbidden {
		t.Errorf("dry run for another tenant: %v", err)
	}
	if _, err := tenant.DryRun(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{"ascend-910x"}}); !errors.As(err, &ve) || ve.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "models") {
		t.Errorf("dry run on an unknown model: %v", err)
	}
	req, _ := http.NewRequest("POST", e.url+"/v1/jobs?dry_run=maybe", strings.NewReader(`{"kind":"batch","workers":1,"cards_per_worker":1}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens[v1.RoleTenant])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "dry_run") {
		t.Errorf("dry_run=maybe: %d %s", resp.StatusCode, body)
	}
}

// TestDryRunMixedGangWorkShares: a mixed-model gang's placement carries
// each worker's work share, larger on the faster chip, summing to the
// whole step.
func TestDryRunMixedGangWorkShares(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	spec := v1.JobSpec{Kind: "gang", Workers: 600, CardsPerWorker: 8, Models: []string{"metax-c500", "biren-br100"},
		Sites: []string{"cu-xining"}, Mixed: true, Topology: "site"}
	d, err := e.client(v1.RoleTenant).DryRun(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Placeable || len(d.Placement.Assignments) != 600 {
		t.Fatalf("mixed gang dry run: %+v", d.Explanation)
	}
	sum, by := 0, map[string]int{}
	for _, a := range d.Placement.Assignments {
		if a.WorkShareMilli <= 0 {
			t.Fatalf("worker %d has no work share", a.Worker)
		}
		sum += a.WorkShareMilli
		by[a.Model] = max(by[a.Model], a.WorkShareMilli)
	}
	if sum != 1000 || len(by) != 2 {
		t.Errorf("work shares sum to %d over models %v, want 1000 over two models", sum, by)
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BenchmarkDryRun: one dry run of a 2 × 8 gang on the default network
// (15,906 nodes) with 200 jobs placed: the snapshot is built per request.
func BenchmarkDryRun(b *testing.B) {
	e := start(b, mem.New(mem.Config{}))
	ctx := context.Background()
	tenant := e.client(v1.RoleTenant)
	var last string
	for range 200 {
		j, err := tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 2})
		if err != nil {
			b.Fatal(err)
		}
		last = j.ID
	}
	waitState(b, tenant, last, v1.StatePlaced)
	spec, err := httpapi.JobFromSpec(v1.JobSpec{Kind: "gang", Workers: 2, CardsPerWorker: 8, Topology: "domain"}, "acme")
	if err != nil {
		b.Fatal(err)
	}
	p := httpapi.Principal{Role: v1.RoleTenant, Tenant: "acme"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d, err := e.srv.DryRun(ctx, p, spec)
		if err != nil || !d.Placeable {
			b.Fatal(err, d.Explanation.Summary)
		}
	}
}

// TestDryRunConcurrent: dry runs at once share the server's empty cluster
// without touching it, and on the same snapshot give the same answer.
func TestDryRunConcurrent(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	tenant := e.client(v1.RoleTenant)
	spec := v1.JobSpec{Kind: "gang", Workers: 4, CardsPerWorker: 8, Topology: "domain"}
	out := make(chan string, 8)
	for range 8 {
		go func() {
			d, err := tenant.DryRun(context.Background(), spec)
			if err != nil || !d.Placeable {
				out <- fmt.Sprint("error: ", err)
				return
			}
			out <- fmt.Sprint(d.Placement.Assignments)
		}()
	}
	first := <-out
	for range 7 {
		if got := <-out; got != first {
			t.Fatalf("concurrent dry runs disagree:\n%s\n%s", first, got)
		}
	}
	if strings.HasPrefix(first, "error") {
		t.Fatal(first)
	}
}

// TestDryRunChargesEffectiveShare: with effective-share charging, a dry
// run charges the job and the tenant's placed jobs toward the quota as the
// scheduler does — by their throughput in reference cards, not their peak
// — so it answers what the submit then does, placeable or held by the
// quota, and its explanation says what the job would be charged.
func TestDryRunChargesEffectiveShare(t *testing.T) {
	const mlu, ref = "cambricon-mlu370-x8", "huawei-ascend-910b4"
	net := smallNetwork(t)
	refPeak, _, _ := net.Model(ref).FP16GFLOPS()
	mluPeak, _, _ := net.Model(mlu).FP16GFLOPS()
	// One MLU card does a tenth of a reference card's work: it is charged
	// a tenth of the reference's peak. The quota holds two such jobs, and
	// not one at the MLU's peak.
	charge := refPeak / 10
	quota := charge*5/2 + 1
	if mluPeak <= quota {
		t.Fatalf("test premise: %s peak %d not above the quota %d", mlu, mluPeak, quota)
	}
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: net, TickEvery: 20 * time.Millisecond,
		EffectiveShare: true, ReferenceModel: ref})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private", QuotaGFLOPS: quota}); err != nil {
		t.Fatal(err)
	}
	spec := v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{mlu}, Rates: map[string]float64{mlu: 1, ref: 10}}
	for i, wantPlaced := range []bool{true, true, false} {
		d, err := admin.DryRun(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if d.Placeable != wantPlaced {
			t.Fatalf("dry run %d: placeable %v, want %v: %s", i, d.Placeable, wantPlaced, d.Explanation.Summary)
		}
		note := fmt.Sprintf("charged %d‰ of peak GFLOPS toward fair share and quota (effective throughput)", (charge*1000+mluPeak/2)/mluPeak)
		if wantPlaced && !strings.Contains(d.Explanation.Summary, note) {
			t.Errorf("dry run %d: %q does not say %q", i, d.Explanation.Summary, note)
		}
		j, err := admin.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		got := waitState(t, admin, j.ID, v1.StatePlaced, v1.StateBlocked)
		if (got.State == v1.StatePlaced) != wantPlaced {
			t.Fatalf("submit %d: %s (%s), the dry run said placeable %v", i, got.State, got.Reason, wantPlaced)
		}
	}
}
