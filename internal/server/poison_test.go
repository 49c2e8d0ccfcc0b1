package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// refusingStore refuses, as too large, any transaction that stores the
// poison job with a placement: the way etcd refuses a record over its
// request limit.
type refusingStore struct {
	store.Store
	poison chan string // the poison job's id, once known
	id     string
}

func (r *refusingStore) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if r.id == "" {
		select {
		case r.id = <-r.poison:
		default:
		}
	}
	for _, op := range t.Ops {
		if r.id != "" && op.Key == jobKey(model.JobID(r.id)) && bytes.Contains(op.Value, []byte(`"placement"`)) {
			return 0, fmt.Errorf("txn: %w (etcd: etcdserver: request is too large)", store.ErrInvalid)
		}
	}
	return r.Store.Txn(ctx, t)
}

// TestPoisonJobIsQuarantined: a job whose decided record the store
// refuses is failed with the reason and audited; every other job of the
// same batches is placed.
func TestPoisonJobIsQuarantined(t *testing.T) {
	rs := &refusingStore{Store: mem.New(mem.Config{}), poison: make(chan string, 1)}
	e := start(t, rs)
	c := e.client(v1.RoleAdmin)
	ctx := context.Background()
	// Submitted together, so that the scheduler decides them in one batch.
	spec := v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1}
	poison, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	rs.poison <- poison.ID
	var ids []string
	for range 10 {
		j, err := c.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		waitState(t, c, id, v1.StatePlaced)
	}
	j := waitState(t, c, poison.ID, v1.StateFailed)
	if !strings.Contains(j.Reason, "quarantined") || !strings.Contains(j.Reason, "too large") {
		t.Errorf("poison job's reason %q does not say it was quarantined and why", j.Reason)
	}
	if j.Placement != nil {
		t.Errorf("the quarantined job holds a placement: %+v", j.Placement)
	}
	list, err := c.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range list.Entries {
		found = found || (en.Action == "sched.quarantine" && en.Target == poison.ID)
	}
	if !found {
		t.Error("no sched.quarantine audit entry for the poison job")
	}
	// More work keeps flowing.
	j2, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, j2.ID, v1.StatePlaced)
}

// TestOversizedJobsRefusedAtSubmit: a job whose record could outgrow the
// store's limit is refused with a 400 naming the limit; it never reaches
// the scheduler.
func TestOversizedJobsRefusedAtSubmit(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	c := e.client(v1.RoleAdmin)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		spec v1.JobSpec
		want []string
	}{
		{"15000 fractional workers", v1.JobSpec{Tenant: "acme", Kind: "inference", Workers: 15000, ShareMilli: 100},
			[]string{"spec.workers", "15000 workers", fmt.Sprint(MaxJobRecordBytes), "at most about"}},
	} {
		_, err := c.Submit(ctx, tc.spec)
		var ae *v1.Error
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Errorf("%s: submit = %v, want a 400", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
	// 175,000 characters sent raw (175 kB) that the stored JSON escapes to
	// six bytes each (1 MB).
	body := `{"tenant":"acme","kind":"batch","workers":1,"cards_per_worker":1,"workload":{"command":["true"],"env":{"X":"` + strings.Repeat("<", 175_000) + `"}}}`
	req, _ := http.NewRequest("POST", e.url+"/v1/jobs", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.tokens[v1.RoleAdmin])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("175k-character env: %d %s, want a 400", res.StatusCode, msg)
	}
	for _, w := range []string{"workload", "JSON-escaped", fmt.Sprint(MaxJobRecordBytes)} {
		if !strings.Contains(string(msg), w) {
			t.Errorf("175k-character env: %q does not say %q", msg, w)
		}
	}
	// A large job that fits is accepted and placed.
	j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "inference", Workers: 1000, ShareMilli: 100})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, j.ID, v1.StatePlaced)
}

// TestRequeueSpansStaySmall: a stopped placement is kept for metering as
// what it held per site and model: a requeued large job's record grows by
// a few hundred bytes per requeue, not by its placement.
func TestRequeueSpansStaySmall(t *testing.T) {
	net := defaultNetwork(t)
	p := &model.Placement{Job: "j"}
	for w := range 5000 {
		n := net.Nodes[w%len(net.Nodes)]
		p.Assignments = append(p.Assignments, model.Assignment{Worker: w, Node: n.ID, Model: n.Model, Cards: []int{w % n.Cards}, ShareMilli: 100, MemMiB: 1024})
	}
	whole, _ := json.Marshal(p)
	now := time.Now()
	sp := spanOf(net, p, now.Add(-time.Hour), now)
	b, _ := json.Marshal(sp)
	if len(b) > 8<<10 {
		t.Errorf("span of a 5000-worker placement: %d bytes (the placement: %d)", len(b), len(whole))
	}
	var milli int64
	for _, h := range sp.Held {
		milli += h.MilliCards
	}
	if milli != 5000*100 {
		t.Errorf("span holds %d milli cards, want %d", milli, 5000*100)
	}
	t.Logf("placement %d bytes, its span %d bytes", len(whole), len(b))
}

// TestAdmitLargestPool: the record bound leaves room for a gang over the
// largest model pool of the default network (16,384 cards) in 8-card
// workers, and for thousands of single-card or fractional workers.
func TestAdmitLargestPool(t *testing.T) {
	srv, err := New(Config{Store: mem.New(mem.Config{}), Network: defaultNetwork(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []model.Job{
		{Tenant: "acme", Kind: model.Gang, Workers: 2048, CardsPerWorker: 8},
		{Tenant: "acme", Kind: model.Gang, Workers: 6000, CardsPerWorker: 1},
		{Tenant: "acme", Kind: model.Inference, Workers: 4000, ShareMilli: 100},
	} {
		rec := &jobRecord{Spec: j, State: model.Pending}
		b, _ := json.Marshal(rec)
		if err := srv.boundRecord(rec, len(b)); err != nil {
			t.Errorf("%d × %d cards (share %d): %v", j.Workers, j.CardsPerWorker, j.ShareMilli, err)
		}
	}
}
