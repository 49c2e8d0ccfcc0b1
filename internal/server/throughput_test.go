//go:build linux

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store/mem"
)

// entryOf finds a pair in the server's throughput table.
func entryOf(t *testing.T, c *v1.Client, class, modelID string) v1.ThroughputEntry {
	t.Helper()
	tt, err := c.Throughput(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tt.Entries {
		if e.Class == class && e.Model == modelID {
			return e
		}
	}
	t.Fatalf("no %s/%s in the throughput table", class, modelID)
	return v1.ThroughputEntry{}
}

// TestProgressTeachesThroughput: a real agent runs a real worker process
// that appends progress lines to $SUANLI_PROGRESS_FILE (and one line that
// is not progress); the agent forwards them, the server learns the job's
// rate and its class's rate on the model, GET /v1/throughput shows them,
// and a restarted server on the same store still does.
func TestProgressTeachesThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real agent and process for a few seconds")
	}
	st := mem.New(mem.Config{})
	period := 100 * time.Millisecond
	cfg := Config{Store: st, Network: smallNetwork(t), Heartbeat: period, TickEvery: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	srv, url, stop := runServer(t, cfg)
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	before := entryOf(t, admin, "vision-train", mlu)
	if before.Reports != 0 || before.Default <= 0 || before.Rate != before.Default {
		t.Fatalf("before any report: %+v", before)
	}
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "agents", Sites: []string{"gz"}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := device.ParseSimulate("MLU370-X8x8")
	if err != nil {
		t.Fatal(err)
	}
	c := v1.NewClient(url, tok.Secret)
	c.HTTP = &http.Client{Transport: http.DefaultTransport}
	a, err := agent.New(agent.Config{Client: c, Node: nodesOf(t, mlu)[0], Site: "gz", Discoverer: device.Simulated{Report: rep},
		Executor: workload.Proc{BaseEnv: os.Environ()}, Lease: v1.Lease{Period: period, Missed: 3}, Rediscover: -1,
		DataDir: t.TempDir(), ProgressEvery: 150 * time.Millisecond, Log: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Twice the default rate: 2 s of work per line, one card.
	truth := 2 * before.Default
	script := fmt.Sprintf(`for i in 1 2 3 4 5 6 7 8; do printf '{"work": %g, "seconds": 2}\n' >> "$SUANLI_PROGRESS_FILE"; sleep 0.1; done; echo not-progress >> "$SUANLI_PROGRESS_FILE"`, 2*truth)
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{mlu},
		WorkloadClass: "vision-train", Workload: &v1.Workload{Command: []string{"/bin/sh", "-c", script}}})
	if err != nil {
		t.Fatal(err)
	}
	got := waitStateFor(t, admin, j.ID, 30*time.Second, v1.StateCompleted, v1.StateFailed)
	if got.State != v1.StateCompleted {
		t.Fatalf("job %s: %s", got.State, got.Reason)
	}
	// The last lines come with the worker's end, which can be counted a
	// moment after the job reads as completed: wait for all 8 (or 10 s).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (len(got.Throughput) != 1 || got.Throughput[0].Work < 16*truth); {
		time.Sleep(20 * time.Millisecond)
		if got, err = admin.Job(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.Throughput) != 1 || got.Throughput[0].Model != mlu || math.Abs(got.Throughput[0].Rate/truth-1) > 1e-9 ||
		got.Throughput[0].Work != 16*truth || got.Throughput[0].Reports < 2 {
		t.Fatalf("job throughput %+v, want %g/s from 8 lines in at least 2 reports", got.Throughput, truth)
	}
	if s := a.Status(); s.ProgressSkipped != 1 || s.ProgressReports < 1 {
		t.Errorf("agent status: %d skipped lines (want 1), %d progress reports", s.ProgressSkipped, s.ProgressReports)
	}
	learned := entryOf(t, admin, "vision-train", mlu)
	if learned.Reports != got.Throughput[0].Reports || learned.Jobs != 1 || math.Abs(learned.Learned/truth-1) > 1e-9 ||
		!(learned.Rate > before.Default && learned.Rate < truth) || learned.Default != before.Default {
		t.Fatalf("learned entry %+v: want the reports' mean %g, rate between the default and it", learned, truth)
	}
	// Another class on the same model, and the same class elsewhere, learn nothing.
	if e := entryOf(t, admin, "llm-decode", mlu); e.Reports != 0 {
		t.Errorf("llm-decode learned from a vision job: %+v", e)
	}

	cancel()
	<-done
	stop()
	_, url, _ = runServer(t, cfg)
	admin = v1.NewClient(url, admin.Token)
	if again := entryOf(t, admin, "vision-train", mlu); again.Reports != learned.Reports || again.Rate != learned.Rate || again.Learned != learned.Learned {
		t.Errorf("after a restart: %+v, before it %+v", again, learned)
	}
	if j2, err := admin.Job(context.Background(), j.ID); err != nil || len(j2.Throughput) != 1 {
		t.Errorf("after a restart the job's throughput is %+v (%v)", j2.Throughput, err)
	}
}

// waitStateFor is waitState with a deadline.
func waitStateFor(t testing.TB, c *v1.Client, id string, d time.Duration, states ...string) *v1.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		j, err := c.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after %v, want %v", id, j.State, d, states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type tlog struct{ t *testing.T }

func (l tlog) Write(b []byte) (int, error) { l.t.Log(string(b)); return len(b), nil }

// TestProgressBoundsOneJob: what one job's workers report cannot pull a
// class's figure far: a report is counted once (by its Until), its rate
// is clamped to 16× the default for the class (not for the job's own
// figure), at most 16 reports of a job count for the class, and a report
// that is not a throughput is refused with 400.
func TestProgressBoundsOneJob(t *testing.T) {
	net := smallNetwork(t)
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: net, TickEvery: 20 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	def := entryOf(t, admin, "llm-decode", mlu).Default
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 2, Models: []string{mlu}, WorkloadClass: "llm-decode"})
	if err != nil {
		t.Fatal(err)
	}
	placed := waitState(t, admin, j.ID, v1.StatePlaced)
	node := placed.Placement.Assignments[0].Node
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	report := func(work, secs float64, until time.Time) error {
		_, err := srv.ReportWorker(ctx, fleetAgent(net), j.ID, v1.WorkerReport{Node: node, Worker: 0, PlacedAt: placed.PlacedAt, State: v1.StateRunning,
			At: until, Progress: &v1.Progress{Work: work, Seconds: secs, Reports: 1, Until: until}})
		return err
	}
	// 1000× the default on each of 2 cards, for 10 s.
	huge := 1000 * def * 2 * 10
	if err := report(huge, 10, at); err != nil {
		t.Fatal(err)
	}
	if err := report(huge, 10, at); err != nil { // the same report again (a retry)
		t.Fatal(err)
	}
	got, _ := admin.Job(ctx, j.ID)
	if len(got.Throughput) != 1 || got.Throughput[0].Reports != 1 || math.Abs(got.Throughput[0].Rate/(1000*def)-1) > 1e-9 {
		t.Fatalf("job throughput %+v: want one report of %g per card", got.Throughput, 1000*def)
	}
	e := entryOf(t, admin, "llm-decode", mlu)
	if e.Reports != 1 || math.Abs(e.Learned/(16*def)-1) > 1e-9 {
		t.Fatalf("class entry %+v: want one report clamped to 16× the default %g", e, def)
	}
	for i := range 30 {
		if err := report(huge, 10, at.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = admin.Job(ctx, j.ID)
	if e := entryOf(t, admin, "llm-decode", mlu); e.Reports != maxJobReports || e.Jobs != 1 || got.Throughput[0].Reports != 31 {
		t.Errorf("class counted %d reports of one job (want %d), job %d (want 31)", e.Reports, maxJobReports, got.Throughput[0].Reports)
	}
	for _, bad := range [][2]float64{{0, 1}, {1, 0}, {-1, 1}, {math.Inf(1), 1}, {1e30, 1}} {
		err := report(bad[0], bad[1], at.Add(time.Hour))
		var probs httpapi.Problems
		if !errors.As(err, &probs) {
			t.Errorf("progress %v: %v, want a 400 with the field", bad, err)
		}
	}
}

// TestLearnedRatesSteerPlacement: the scheduler ranks a class's models by
// what progress reports taught. A job of the class lands on the model the
// default matrix ranks first; its workers report that model a sixteenth
// as fast as the default says; the next job of the class goes to the
// other model, and its explanation names the learned throughput term. A
// restarted server places the same way.
func TestLearnedRatesSteerPlacement(t *testing.T) {
	net := smallNetwork(t)
	st := mem.New(mem.Config{})
	cfg := Config{Store: st, Network: net, TickEvery: 20 * time.Millisecond, RatesEvery: 20 * time.Millisecond}
	srv, url, stop := runServer(t, cfg)
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	const class = "llm-prefill"
	models := []string{mlu, "huawei-ascend-910b4"}
	submit := func(c *v1.Client) *v1.Job {
		j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: models, WorkloadClass: class})
		if err != nil {
			t.Fatal(err)
		}
		return waitState(t, c, j.ID, v1.StatePlaced)
	}
	first := submit(admin)
	x := first.Placement.Assignments[0].Model
	y := models[0]
	if y == x {
		y = models[1]
	}
	def := entryOf(t, admin, class, x).Default
	for i := range maxJobReports {
		until := time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC)
		if _, err := srv.ReportWorker(ctx, fleetAgent(net), first.ID, v1.WorkerReport{Node: first.Placement.Assignments[0].Node, Worker: 0, PlacedAt: first.PlacedAt,
			State: v1.StateRunning, At: until, Progress: &v1.Progress{Work: def / 16 * 10, Seconds: 10, Reports: 1, Until: until}}); err != nil {
			t.Fatal(err)
		}
	}
	if e := entryOf(t, admin, class, x); !(e.Rate < entryOf(t, admin, class, y).Rate) {
		t.Fatalf("after %d reports at a sixteenth of the default, %s is still at %g (%s at %g)", maxJobReports, x, e.Rate, y, entryOf(t, admin, class, y).Rate)
	}
	// Its cards free again, so that packing next to it does not count.
	if _, err := admin.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, first.ID, v1.StateCancelled)
	time.Sleep(100 * time.Millisecond) // a few ticks: the core gets the table
	dry, err := admin.DryRun(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: models, WorkloadClass: class})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Placement == nil || dry.Placement.Assignments[0].Model != y || !strings.Contains(dry.Explanation.Summary, "class "+class+", learned") {
		t.Errorf("dry run: %+v, %q; want %s by the learned rates", dry.Placement, dry.Explanation.Summary, y)
	}
	second := submit(admin)
	if got := second.Placement.Assignments[0].Model; got != y {
		t.Fatalf("second job on %s, want %s (learned faster)", got, y)
	}
	ex, err := admin.Explain(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ex.Summary, "heterogeneity term by throughput (class "+class+", learned") {
		t.Errorf("explanation %q does not name the learned throughput term", ex.Summary)
	}
	if _, err := admin.Cancel(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, second.ID, v1.StateCancelled)
	stop()
	_, url, _ = runServer(t, cfg)
	admin = v1.NewClient(url, admin.Token)
	if got := submit(admin).Placement.Assignments[0].Model; got != y {
		t.Errorf("after a restart a job of the class went to %s, want %s", got, y)
	}
}

// TestProgressBoundsOneTenant: many jobs of one tenant count for a class
// at most maxTenantReports reports; another tenant's still count.
func TestProgressBoundsOneTenant(t *testing.T) {
	net := smallNetwork(t)
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: net, TickEvery: 20 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	for _, tn := range []string{"acme", "other"} {
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	feed := func(tenant string, reports int) {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: tenant, Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{mlu}, WorkloadClass: "moe-pretrain"})
		if err != nil {
			t.Fatal(err)
		}
		p := waitState(t, admin, j.ID, v1.StatePlaced)
		for i := range reports {
			until := at.Add(time.Duration(i) * time.Second)
			if _, err := srv.ReportWorker(ctx, fleetAgent(net), j.ID, v1.WorkerReport{Node: p.Placement.Assignments[0].Node, Worker: 0, PlacedAt: p.PlacedAt,
				State: v1.StateRunning, At: until, Progress: &v1.Progress{Work: 100, Seconds: 10, Reports: 1, Until: until}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 5 {
		feed("acme", maxJobReports)
	}
	if e := entryOf(t, admin, "moe-pretrain", mlu); e.Reports != maxTenantReports || e.Jobs != 4 {
		t.Fatalf("one tenant's 5 jobs × %d reports counted %d times from %d jobs, want %d from 4", maxJobReports, e.Reports, e.Jobs, maxTenantReports)
	}
	feed("other", 3)
	if e := entryOf(t, admin, "moe-pretrain", mlu); e.Reports != maxTenantReports+3 {
		t.Errorf("another tenant's reports: %d counted, want %d", e.Reports, maxTenantReports+3)
	}
}
