package server

import (
	"context"
	"errors"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestLeaderCompactsHistory: the leader discards the store's history older
// than one period, and keeps scheduling.
func TestLeaderCompactsHistory(t *testing.T) {
	st := mem.New(mem.Config{})
	srv, url, _ := runServer(t, Config{Store: st, Network: smallNetwork(t), CompactEvery: 30 * time.Millisecond, TickEvery: 20 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		wctx, cancel := context.WithCancel(ctx)
		_, err := st.Watch(wctx, "", 0)
		cancel()
		if errors.Is(err, store.ErrCompacted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history from revision 0 still kept after 5 s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, j.ID, v1.StatePlaced)
}
