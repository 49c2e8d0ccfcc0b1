package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/store/mem"
)

// smallSpec is a network of three sites and 96 cards: domestic MLU370 and
// 910B4 in self-built sites, foreign H20 in a leased one.
const smallSpec = `
name: small
sites:
- id: gz
  region: South
  operator: China Mobile
  province: Guizhou
  ownership: self-built
  pools:
  - {model: cambricon-mlu370-x8, nodes: 4, cards_per_node: 8}
- id: nx
  region: West
  operator: China Telecom
  province: Ningxia
  ownership: self-built
  pools:
  - {model: huawei-ascend-910b4, nodes: 4, cards_per_node: 8}
- id: sh
  region: East
  operator: Leaser
  province: Shanghai
  ownership: leased
  pools:
  - {model: nvidia-h20, nodes: 4, cards_per_node: 8}
`

var (
	smallOnce sync.Once
	smallNet  *network.Network
	smallErr  error
)

func smallNetwork(t testing.TB) *network.Network {
	smallOnce.Do(func() { smallNet, smallErr = network.Parse([]byte(smallSpec), "small", catalog.Default()) })
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallNet
}

// fleetAgent is an agent credential bound to every site of nw, as a
// simulated fleet holds.
func fleetAgent(nw *network.Network) httpapi.Principal {
	return httpapi.Principal{TokenID: "tok-agent", Role: v1.RoleAgent, Sites: allSites(nw)}
}

// allSites is the ids of nw's sites.
func allSites(nw *network.Network) []string {
	var out []string
	for _, s := range nw.Sites {
		out = append(out, string(s.ID))
	}
	return out
}

// runServer runs a server on st until the returned stop is called.
func runServer(t testing.TB, cfg Config) (srv *Server, url string, stop func()) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	var once sync.Once
	stop = func() { once.Do(func() { hs.Close(); cancel(); <-done }) }
	t.Cleanup(stop)
	return srv, hs.URL, stop
}

// adminToken bootstraps the first admin token and returns its secret.
func adminToken(t testing.TB, srv *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cardsHeld maps every card held by a live job to the job; a card held
// twice fails the test.
func cardsHeld(t testing.TB, jobs []v1.Job) map[string]string {
	t.Helper()
	held := map[string]string{}
	for _, j := range jobs {
		if j.Placement == nil || (j.State != v1.StatePlaced && j.State != v1.StateRunning) {
			continue
		}
		for _, a := range j.Placement.Assignments {
			for _, c := range a.Cards {
				k := fmt.Sprintf("%s/%d", a.Node, c)
				if other, dup := held[k]; dup {
					t.Fatalf("card %s held by %s and %s", k, other, j.ID)
				}
				held[k] = j.ID
			}
		}
	}
	return held
}

func allJobs(t testing.TB, c *v1.Client) []v1.Job {
	t.Helper()
	var out []v1.Job
	after := ""
	for {
		l, err := c.Jobs(context.Background(), v1.JobFilter{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Jobs...)
		if l.Next == "" {
			return out
		}
		after = l.Next
	}
}

// TestRestartKeepsPlacements: a restarted server holds the placements it
// committed before (same cards), gives the free capacity to new jobs and
// places nothing twice.
func TestRestartKeepsPlacements(t *testing.T) {
	st := mem.New(mem.Config{})
	net := smallNetwork(t)
	srv, url, stop := runServer(t, Config{Store: st, Network: net, TickEvery: 50 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	// 28 of the 32 MLU370 cards: three 8-card jobs and one of 4.
	var first []string
	for _, n := range []int{8, 8, 8, 4} {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: n, Models: []string{"cambricon-mlu370-x8"}})
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, j.ID)
	}
	before := map[string]string{}
	for _, id := range first {
		j := waitState(t, admin, id, v1.StatePlaced)
		for k, v := range cardsHeld(t, []v1.Job{*j}) {
			before[k] = v
		}
	}
	stop()

	_, url2, _ := runServer(t, Config{Store: st, Network: net, TickEvery: 50 * time.Millisecond})
	admin = v1.NewClient(url2, admin.Token)
	// The 4 cards left fit a 4-card job; a second one must wait.
	fits, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 4, Models: []string{"cambricon-mlu370-x8"}})
	if err != nil {
		t.Fatal(err)
	}
	waits, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 4, Models: []string{"cambricon-mlu370-x8"}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, fits.ID, v1.StatePlaced)
	waitState(t, admin, waits.ID, v1.StateBlocked)
	jobs := allJobs(t, admin)
	after := cardsHeld(t, jobs)
	for k, id := range before {
		if after[k] != id {
			t.Errorf("card %s: held by %q after the restart, by %s before", k, after[k], id)
		}
	}
	if len(after) != 32 {
		t.Errorf("%d cards held after the restart, want all 32", len(after))
	}
	// Ending a restored job frees its cards for the waiting one.
	if _, err := admin.Cancel(ctx, first[3]); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, waits.ID, v1.StatePlaced)
	cardsHeld(t, allJobs(t, admin))
}
