package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestSubmitRetriesWithOneKey: `suanli submit` sends an Idempotency-Key;
// when the connection drops after the server stored the job, the retry
// with the same key gets that job back and no second one is made. A key
// given with --idempotency-key makes a repeated submit return the first
// job.
func TestSubmitRetriesWithOneKey(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	api := httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()})
	var mu sync.Mutex
	var keys []string // the key of every POST /v1/jobs
	drop := true      // drop the reply to the first submit
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/jobs" {
			api.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		keys = append(keys, r.Header.Get(v1.IdempotencyHeader))
		first := drop
		drop = false
		mu.Unlock()
		if !first {
			api.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(httptest.NewRecorder(), r) // stored, but the reply is lost
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	defer func() { hs.Close(); cancel(); <-done }()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if _, err := srv.Bootstrap(ctx, tokenFile); err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(tokenFile)
	admin := v1.NewClient(hs.URL, strings.TrimSpace(string(tok)))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUANLI_SERVER", hs.URL)
	t.Setenv("SUANLI_TOKEN", strings.TrimSpace(string(tok)))
	spec := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(spec, []byte("tenant: acme\nkind: batch\nworkers: 1\ncards_per_worker: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs := func() []v1.Job {
		l, err := admin.Jobs(ctx, v1.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return l.Jobs
	}

	out, err := run(t, "submit", spec)
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	js := jobs()
	if len(js) != 1 || !strings.HasPrefix(out, js[0].ID+" ") {
		t.Fatalf("after a dropped reply and a retry: printed %q, jobs %d, want the one job", out, len(js))
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("keys sent %q, want one key twice", keys)
	}

	// Each invocation has its own key; --idempotency-key sets it.
	if _, err := run(t, "submit", spec); err != nil {
		t.Fatal(err)
	}
	if keys[2] == keys[0] {
		t.Errorf("two invocations sent the same key %q", keys[0])
	}
	a, err := run(t, "submit", spec, "--idempotency-key", "nightly-2026-12-04")
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(t, "submit", spec, "--idempotency-key", "nightly-2026-12-04")
	if err != nil {
		t.Fatal(err)
	}
	idOf := func(out string) string { id, _, _ := strings.Cut(out, " "); return id }
	if idOf(a) == "" || idOf(a) != idOf(b) || len(jobs()) != 3 {
		t.Errorf("the same --idempotency-key twice printed %q and %q and left %d jobs, want one job (3 in all)", a, b, len(jobs()))
	}
}
