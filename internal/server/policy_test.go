package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/store/mem"
)

const (
	mlu  = "cambricon-mlu370-x8"
	b4   = "huawei-ascend-910b4"
	h20  = "nvidia-h20"
	wait = 10 * time.Second
)

func onModel(j *v1.Job, m string) bool {
	return j.Placement != nil && slices.ContainsFunc(j.Placement.Assignments, func(a v1.Assignment) bool { return a.Model == m })
}

// TestQuarantineMovesSensitiveWork: on a running server, an evict
// advisory against the H20 (about a third of the running work) moves every
// affected sensitive job off it in one scheduling cycle, gangs whole, and
// leaves everything else where it was; lifting it lets new work return;
// the audit log records every step; the compliance report ends with no
// violations.
func TestQuarantineMovesSensitiveWork(t *testing.T) {
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), TickEvery: 50 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	for _, tn := range []v1.Tenant{{ID: "gov", Class: "government"}, {ID: "acme", Class: "private"}} {
		if _, err := admin.PutTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	submit := func(spec v1.JobSpec) string {
		t.Helper()
		j, err := admin.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	pinned := func(m string) v1.JobSpec {
		return v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{m}}
	}
	// Fill the domestic cards, so that the sensitive jobs land on H20.
	var mluJobs, b4Jobs []string
	for range 4 {
		mluJobs = append(mluJobs, submit(pinned(mlu)))
		b4Jobs = append(b4Jobs, submit(pinned(b4)))
	}
	for _, id := range append(slices.Clone(mluJobs), b4Jobs...) {
		waitState(t, admin, id, v1.StatePlaced)
	}
	any3 := []string{h20, mlu, b4}
	gang := submit(v1.JobSpec{Tenant: "gov", Kind: "gang", Workers: 2, CardsPerWorker: 4, Models: any3, Classification: "sensitive"})
	single := submit(v1.JobSpec{Tenant: "gov", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: any3, Classification: "sensitive"})
	public := submit(pinned(h20))
	publicFlex := submit(v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 4, Models: any3})
	for _, id := range []string{gang, single, public, publicFlex} {
		if j := waitState(t, admin, id, v1.StatePlaced); !onModel(j, h20) {
			t.Fatalf("job %s placed on %+v, want the H20", id, j.Placement)
		}
	}
	// Free one node of each domestic model: room for the sensitive work.
	for _, id := range []string{mluJobs[0], b4Jobs[0]} {
		if _, err := admin.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]*v1.Job{}
	h20Cards, allCards := 0, 0
	for _, j := range allJobs(t, admin) {
		if j.State != v1.StatePlaced && j.State != v1.StateRunning {
			continue
		}
		before[j.ID] = &j
		for _, a := range j.Placement.Assignments {
			allCards += len(a.Cards)
			if a.Model == h20 {
				h20Cards += len(a.Cards)
			}
		}
	}
	if share := h20Cards * 100 / allCards; share < 25 || share > 40 {
		t.Fatalf("H20 carries %d%% of the running cards (%d of %d), want about 30%%", share, h20Cards, allCards)
	}
	audit0 := lastSeq(t, admin)

	adv, err := admin.FileAdvisory(ctx, v1.Advisory{Models: []string{"H20"}, Classes: []string{"sensitive"}, Severity: "critical",
		Action: v1.ActionEvict, Summary: "H20 under security review"})
	if err != nil {
		t.Fatal(err)
	}
	if adv.ID == "" || len(adv.Models) != 1 || adv.Models[0] != h20 {
		t.Fatalf("filed advisory %+v", adv)
	}
	deadline := time.Now().Add(wait)
	for _, id := range []string{gang, single} {
		for {
			j, err := admin.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == v1.StatePlaced && !onModel(j, h20) {
				if len(j.Placement.Assignments) != len(before[id].Placement.Assignments) {
					t.Errorf("job %s moved with %d workers, had %d", id, len(j.Placement.Assignments), len(before[id].Placement.Assignments))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sensitive job %s is %s on %+v after the quarantine", id, j.State, j.Placement)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The rest stayed where it was.
	after := map[string]v1.Job{}
	for _, j := range allJobs(t, admin) {
		after[j.ID] = j
	}
	for id, j := range before {
		if id == gang || id == single {
			continue
		}
		a := after[id]
		if a.State != j.State || a.PlacedAt == nil || !a.PlacedAt.Equal(*j.PlacedAt) {
			t.Errorf("job %s (not affected) was touched: %s placed %v, before %s placed %v", id, a.State, a.PlacedAt, j.State, j.PlacedAt)
		}
	}
	cardsHeld(t, allJobs(t, admin))
	// One scheduling cycle: each sensitive job has one decision after the
	// advisory, an eviction that lands it placed elsewhere.
	es := entriesAfter(t, admin, audit0)
	for _, id := range []string{gang, single} {
		var acts []string
		for _, e := range es {
			if e.Target == id {
				acts = append(acts, e.Action+" "+e.Detail)
			}
		}
		if len(acts) != 1 || !strings.HasPrefix(acts[0], "sched.evict policy-denied") || !strings.Contains(acts[0], "now placed") {
			t.Errorf("audit of %s after the advisory: %q; want one eviction that places it elsewhere", id, acts)
		}
	}
	if !slices.ContainsFunc(es, func(e v1.AuditEntry) bool { return e.Action == "advisory.file" && e.Target == adv.ID }) {
		t.Error("the advisory's filing is not in the audit log")
	}
	var rep policy.Report
	if err := admin.Compliance(ctx, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 0 || len(rep.Advisories) != 1 || rep.Advisories[0].ID != adv.ID {
		t.Errorf("compliance after the quarantine: %d violations, advisories %+v", len(rep.Violations), rep.Advisories)
	}

	// New sensitive work cannot use the H20 while the advisory holds…
	late := submit(v1.JobSpec{Tenant: "gov", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: any3, Classification: "sensitive"})
	waitState(t, admin, late, v1.StateBlocked)
	// …and returns once it is lifted.
	lifted, err := admin.LiftAdvisory(ctx, adv.ID)
	if err != nil || lifted.Lifted == nil {
		t.Fatalf("lift: %+v %v", lifted, err)
	}
	if j := waitState(t, admin, late, v1.StatePlaced); !onModel(j, h20) {
		t.Errorf("after the lift the job went to %+v", j.Placement)
	}
	if _, err := admin.LiftAdvisory(ctx, adv.ID); !isStatus(err, 409) {
		t.Errorf("lifting twice: %v, want 409", err)
	}
	es = entriesAfter(t, admin, audit0)
	if !slices.ContainsFunc(es, func(e v1.AuditEntry) bool { return e.Action == "advisory.lift" && e.Target == adv.ID }) {
		t.Error("the lift is not in the audit log")
	}
	if !slices.ContainsFunc(es, func(e v1.AuditEntry) bool { return e.Action == "sched.placed" && e.Target == late }) {
		t.Error("the returning job's placement is not in the audit log")
	}
	if v, err := admin.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("audit chain: %+v %v", v, err)
	}
	if err := admin.Compliance(ctx, &rep); err != nil || len(rep.Violations) != 0 {
		t.Errorf("compliance after the lift: %v violations %v", len(rep.Violations), err)
	}
}

func isStatus(err error, code int) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Status == code
}

func lastSeq(t *testing.T, c *v1.Client) int64 {
	es := entriesAfter(t, c, 0)
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

func entriesAfter(t *testing.T, c *v1.Client, after int64) []v1.AuditEntry {
	t.Helper()
	var out []v1.AuditEntry
	for {
		l, err := c.Audit(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Entries...)
		if l.Next == 0 {
			return out
		}
		after = l.Next
	}
}

const sovereign = `
version: 2
name: sovereign
rules:
- id: R1
  description: sensitive jobs need domestic chips
  match: {classification: [sensitive]}
  effect: require
  require: {origin: domestic}
`

// TestPolicyReplace: a policy with errors is refused with every error
// listed and the policy in force stays; a valid one is stored, audited,
// enforced on new work, and still in force after a restart.
func TestPolicyReplace(t *testing.T) {
	st := mem.New(mem.Config{})
	srv, url, stop := runServer(t, Config{Store: st, Network: smallNetwork(t), TickEvery: 50 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ReplacePolicy(ctx, sovereign); err != nil {
		t.Fatal(err)
	}
	bad := `
version: 3
rules:
- id: R1
  match: {classification: [secret]}
  effect: require
  require: {origin: domestic-ish}
- id: R1
  effect: deny
  deny: {vendor: [Nvidea]}
`
	_, err := admin.ReplacePolicy(ctx, bad)
	var e *v1.Error
	if !errors.As(err, &e) || e.Status != 400 || len(e.Problems) < 4 {
		t.Fatalf("a policy with four errors: %v", err)
	}
	for _, want := range []string{"rules[0].match.classification[0]", "rules[0].require.origin", "rules[1].id", "rules[1].deny.vendor[0]"} {
		if !slices.ContainsFunc(e.Problems, func(p v1.Problem) bool { return p.Field == want }) {
			t.Errorf("no problem at %s in %+v", want, e.Problems)
		}
	}
	if _, err := admin.ReplacePolicy(ctx, strings.Replace(sovereign, "version: 2", "version: 1", 1)); !isStatus(err, 409) {
		t.Errorf("an older version: %v, want 409", err)
	}
	if p, _ := admin.Policy(ctx); p.Version != 2 || p.Rules != 1 {
		t.Errorf("policy in force %+v, want version 2 still", p)
	}
	// A sensitive job pinned to the H20 is refused by rule R1: at submit,
	// since no node the policy allows could ever hold it.
	sensitive := v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{h20}, Classification: "sensitive"}
	if _, err := admin.Submit(ctx, sensitive); !isStatus(err, 422) || !strings.Contains(err.Error(), "R1") {
		t.Fatalf("a sensitive job on the H20: %v, want 422 naming R1", err)
	}
	stop()
	_, url2, _ := runServer(t, Config{Store: st, Network: smallNetwork(t), TickEvery: 50 * time.Millisecond})
	admin = v1.NewClient(url2, admin.Token)
	p, err := admin.Policy(ctx)
	if err != nil || p.Version != 2 || p.Name != "sovereign" || !strings.Contains(p.Document, "R1") {
		t.Fatalf("policy after a restart: %+v %v", p, err)
	}
	// Still enforced: a public job may use the H20, the sensitive one not.
	pub, _ := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{h20}})
	waitState(t, admin, pub.ID, v1.StatePlaced)
	if _, err := admin.Submit(ctx, sensitive); !isStatus(err, 422) {
		t.Fatalf("a sensitive job on the H20 after a restart: %v, want 422", err)
	}
}
