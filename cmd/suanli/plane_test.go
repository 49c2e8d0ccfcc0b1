package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/server"
)

// startTestPlane runs srv's scheduling loop and its API on a loopback
// httptest server until the test ends, and bootstraps the admin token into
// a file of the test's temporary directory. It returns the context the
// server runs under, the API's URL and the token file.
func startTestPlane(t *testing.T, srv *server.Server) (ctx context.Context, url, tokenFile string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	tokenFile = filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, tokenFile); err != nil {
		t.Fatal(err)
	}
	return ctx, hs.URL, tokenFile
}
