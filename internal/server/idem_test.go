package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

// post submits body with an Idempotency-Key and returns the status, the
// job id and whether the reply says it is a replay.
func post(t *testing.T, url, token, key, body string) (int, string, bool) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/jobs", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(httpapi.IdempotencyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var j v1.Job
	_ = json.Unmarshal(b, &j)
	return resp.StatusCode, j.ID, resp.Header.Get("Idempotent-Replayed") == "true"
}

// TestIdempotencyKey: a retried submit with the same key and request gets
// the job the first created (also from another replica on the same store,
// and under a burst of concurrent retries); the same key with another
// request is a 409; another token's key is its own.
func TestIdempotencyKey(t *testing.T) {
	st := mem.New(mem.Config{})
	e := start(t, st)
	tok := e.tokens[v1.RoleTenant]
	body := `{"kind":"batch","workers":1,"cards_per_worker":1}`
	same := "{ \"workers\": 1, \"cards_per_worker\": 1, \"kind\": \"batch\", \"tenant\": \"acme\" }"

	tests := []struct {
		name, token, key, body string
		code                   int
		replay, sameID         bool
	}{
		{"first", tok, "k-1", body, 201, false, false},
		{"retry", tok, "k-1", body, 200, true, true},
		{"retry, the same spec spelt otherwise", tok, "k-1", same, 200, true, true},
		{"the key with another request", tok, "k-1", `{"kind":"batch","workers":1,"cards_per_worker":2}`, 409, false, false},
		{"another token's key", e.tokens["tenant2"], "k-1", body, 201, false, false},
		{"no key", tok, "", body, 201, false, false},
		{"no key again", tok, "", body, 201, false, false},
		{"a key that is no key", tok, "k\u00e9\u00e9", body, 400, false, false},
	}
	var first string
	ids := map[string]bool{}
	for _, tt := range tests {
		code, id, replay := post(t, e.url, tt.token, tt.key, tt.body)
		if code != tt.code || replay != tt.replay {
			t.Errorf("%s: %d replay=%v, want %d replay=%v", tt.name, code, replay, tt.code, tt.replay)
		}
		if first == "" {
			first = id
		}
		if tt.sameID && id != first {
			t.Errorf("%s: job %s, want the first job %s", tt.name, id, first)
		}
		if code == 201 {
			if ids[id] {
				t.Errorf("%s: job %s created twice", tt.name, id)
			}
			ids[id] = true
		}
	}

	// A burst of retries with a fresh key creates one job.
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for range 20 {
		wg.Go(func() {
			code, id, _ := post(t, e.url, tok, "burst", body)
			mu.Lock()
			got[id]++
			mu.Unlock()
			if code != 200 && code != 201 {
				t.Errorf("burst: %d", code)
			}
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Errorf("a burst with one key made jobs %v, want one", got)
	}

	// Another replica on the same store honours the key.
	other, err := New(Config{Store: st, Network: defaultNetwork(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = other.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: other, Registry: other.Registry()}))
	defer func() { hs.Close(); cancel(); <-done }()
	if code, id, _ := post(t, hs.URL, tok, "k-1", body); code != 200 || id != first {
		t.Errorf("another replica: %d %s, want 200 %s", code, id, first)
	}
	l, err := e.client(v1.RoleAdmin).Jobs(context.Background(), v1.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Jobs) != len(ids)+1 {
		t.Errorf("%d jobs stored, want %d", len(l.Jobs), len(ids)+1)
	}
}

// TestIdempotencyKeyExpires: a key is honoured for IdempotencyTTL; after
// it the key makes a new job, and expired keys are swept from the store.
func TestIdempotencyKeyExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mem.New(mem.Config{})
		srv, ctx := runInBubble(t, Config{Store: st, Network: smallNetwork(t)})
		p := httpapi.Principal{TokenID: "tok-1", Role: v1.RoleTenant, Tenant: "acme"}
		spec := model.Job{Tenant: "acme", Kind: model.Batch, Workers: 1, CardsPerWorker: 1}
		submit := func(key string) (string, bool) {
			idem := &httpapi.Idempotency{Key: key, Digest: "d"}
			j, err := srv.Submit(httpapi.WithIdempotency(ctx, idem), p, spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			return j.ID, idem.Replayed
		}
		a, _ := submit("k")
		time.Sleep(IdempotencyTTL - time.Minute)
		if b, replayed := submit("k"); b != a || !replayed {
			t.Fatalf("within the TTL: %s replayed=%v, want %s replayed", b, replayed, a)
		}
		submit("other")
		time.Sleep(2 * time.Minute)
		if c, replayed := submit("k"); c == a || replayed {
			t.Fatalf("after the TTL: %s replayed=%v, want a new job", c, replayed)
		}
		time.Sleep(IdempotencyTTL + idemSweepEvery)
		submit("sweeper")
		kvs, _, err := st.List(ctx, idemPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != 1 {
			t.Errorf("%d keys kept after the sweep, want 1 (the sweeper's own)", len(kvs))
		}
	})
}
