package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestSubmitRefusesJobsThatCanNeverFit: a job no part of the network could
// ever hold is refused at submit with 422 and the limit named; it is not
// stored, and other tenants' jobs are placed as usual.
func TestSubmitRefusesJobsThatCanNeverFit(t *testing.T) {
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t)})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	for _, tn := range []string{"acme", "other"} {
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		spec v1.JobSpec
		want []string
	}{
		{"more single cards than any model has", v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 40, CardsPerWorker: 1, CrossSite: true},
			[]string{"can never fit", "the most any model holds is 32"}},
		{"a gang larger than any domain", v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8, Topology: "domain", TopologyRequired: true},
			[]string{"can never fit", "one high-bandwidth domain", "holds 1 such workers"}},
		{"more cards a node than any node has", v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 16},
			[]string{"can never fit", "node-too-small", "at most 8 cards"}},
		{"sites too small", v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 5, CardsPerWorker: 8, Sites: []string{"gz"}},
			[]string{"can never fit", "one site", "holds 4 such workers", "lie outside the job's sites"}},
	} {
		_, err := admin.Submit(ctx, tt.spec)
		var e *v1.Error
		if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %v, want 422", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(e.Message, w) {
				t.Errorf("%s: %q lacks %q", tt.name, e.Message, w)
			}
		}
	}
	jobs, err := admin.Jobs(ctx, v1.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Jobs) != 0 {
		t.Fatalf("refused jobs stored: %+v", jobs.Jobs)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "other", Kind: "gang", Workers: 4, CardsPerWorker: 8})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, j.ID, v1.StatePlaced, v1.StateRunning)
}

// TestStoredJobThatCanNeverFitIsFailed: a queued job already in the store
// that can never fit (stored before submit checked it) is failed by the
// scheduler with can-never-fit, audited, and holds back no one.
func TestStoredJobThatCanNeverFitIsFailed(t *testing.T) {
	st := mem.New(mem.Config{})
	ctx := context.Background()
	now := time.Now().UTC()
	id := newJobID(now)
	rec := jobRecord{Spec: model.Job{ID: id, Tenant: "acme", Kind: model.Gang, Workers: 200, CardsPerWorker: 1, CrossSite: true, SubmitTime: now.Unix()},
		State: model.Pending, SubmittedAt: now}
	b, _ := json.Marshal(rec)
	if _, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(jobKey(id), b)}}); err != nil {
		t.Fatal(err)
	}
	srv, url, _ := runServer(t, Config{Store: st, Network: smallNetwork(t), TickEvery: 10 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "other", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, admin, string(id), v1.StateFailed)
	if got.Reason != "can-never-fit" {
		t.Fatalf("reason %q, want can-never-fit", got.Reason)
	}
	x, err := admin.Explain(ctx, string(id))
	if err != nil {
		t.Fatal(err)
	}
	if xb, _ := json.Marshal(x); !strings.Contains(string(xb), "can never fit: 200 workers × 1 card") {
		t.Fatalf("explanation %s", xb)
	}
	l, err := admin.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range l.Entries {
		if e.Target == string(id) && e.Action == "sched.failed" && strings.Contains(e.Detail, "can-never-fit") {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no sched.failed audit entry for %s: %+v", id, l.Entries)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "other", Kind: "gang", Workers: 4, CardsPerWorker: 8})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, j.ID, v1.StatePlaced, v1.StateRunning)
}
