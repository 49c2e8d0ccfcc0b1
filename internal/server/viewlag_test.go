package server

import (
	"context"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// lateWatch is a store whose watches deliver every event delay after it
// happened, as a loaded replica or a slow etcd member does.
type lateWatch struct {
	store.Store
	delay time.Duration
}

func (l *lateWatch) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error) {
	in, err := l.Store.Watch(ctx, prefix, fromRev)
	if err != nil {
		return nil, err
	}
	type late struct {
		ev store.Event
		at time.Time
	}
	q := make(chan late, 1<<16)
	out := make(chan store.Event, 128)
	go func() {
		defer close(q)
		for ev := range in {
			q <- late{ev, time.Now().Add(l.delay)}
		}
	}()
	go func() {
		defer close(out)
		for x := range q {
			time.Sleep(time.Until(x.at))
			select {
			case out <- x.ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// TestComplianceShowsWhatTheAPIShows: the compliance report is read from
// the replica's index of running jobs, which follows the store; asked for
// once the API has shown a job placed, it counts that job, however late
// the index's watch is.
func TestComplianceShowsWhatTheAPIShows(t *testing.T) {
	st := &lateWatch{Store: mem.New(mem.Config{}), delay: 300 * time.Millisecond}
	srv, url, _ := runServer(t, Config{Store: st, Network: smallNetwork(t), TickEvery: 50 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	adv, err := admin.FileAdvisory(ctx, v1.Advisory{Models: []string{h20}, Severity: "high", Action: v1.ActionWatch, Summary: "H20 firmware"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{h20}})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, admin, j.ID, v1.StatePlaced)
		var rep policy.Report
		if err := admin.Compliance(ctx, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Advisories) != 1 || rep.Advisories[0].ID != adv.ID || rep.Advisories[0].RunningJobs != i {
			t.Fatalf("compliance once %d jobs on the H20 are placed: advisories %+v, want %s with %d running jobs", i, rep.Advisories, adv.ID, i)
		}
	}
}
