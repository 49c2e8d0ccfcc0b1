package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store/mem"
)

// clock is a settable clock for the server's Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// status is the HTTP status of GET /v1/catalog with the secret (200 or
// 401).
func status(t *testing.T, url, secret string) int {
	t.Helper()
	var out any
	err := v1.NewClient(url, secret).Get(context.Background(), "/v1/catalog", &out)
	var e *v1.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &e):
		return e.Status
	}
	t.Fatal(err)
	return 0
}

// TestTokenLifecycle: tenant tokens expire by default; a rotation's old
// secret works through the overlap and not after; a revoked token stops
// at once; the admin token rotates without a restart; the list shows
// expiry, rotation and last use, and uses reach the store only when
// flushed.
func TestTokenLifecycle(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	st := mem.New(mem.Config{})
	srv, url, _ := runServer(t, Config{Store: st, Network: smallNetwork(t), Now: clk.now})
	adminSecret := adminToken(t, srv)
	admin := v1.NewClient(url, adminSecret)
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}

	tenant, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if tenant.ExpiresAt == nil || !tenant.ExpiresAt.Equal(clk.now().Add(DefaultTenantTokenTTL)) {
		t.Fatalf("tenant token expires %v, want in %s", tenant.ExpiresAt, DefaultTenantTokenTTL)
	}
	short, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleOperator, TTLSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	forever, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "acme", TTLSeconds: -1})
	if err != nil || forever.ExpiresAt != nil {
		t.Fatalf("ttl -1: %v %v", forever.ExpiresAt, err)
	}
	for i := 0; i < 50; i++ {
		if got := status(t, url, tenant.Secret); got != 200 {
			t.Fatalf("fresh tenant token: %d", got)
		}
	}
	// 50 uses wrote nothing to the store yet; the list shows them from
	// memory, and one flush writes each token's use once.
	if kvs, _, _ := st.List(ctx, tokenUsePrefix); len(kvs) != 0 {
		t.Fatalf("%d last-use records before a flush, want 0", len(kvs))
	}
	if got := find(t, admin, tenant.ID); got.LastUsed == nil || !got.LastUsed.Equal(clk.now()) {
		t.Fatalf("last used %v, want %v", got.LastUsed, clk.now())
	}
	if err := srv.flushUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if kvs, _, _ := st.List(ctx, tokenUsePrefix); len(kvs) != 2 { // the tenant's and the admin's
		t.Fatalf("%d last-use records after a flush, want 2", len(kvs))
	}

	clk.add(time.Hour + time.Second)
	if got := status(t, url, short.Secret); got != 401 {
		t.Fatalf("operator token an hour past its 1 h lifetime: %d, want 401", got)
	}

	// Rotation: both secrets work through the overlap, only the new one
	// after it; the new secret keeps the token's lifetime.
	rot, err := admin.RotateToken(ctx, tenant.ID, v1.TokenRotation{OverlapSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	if rot.ID != tenant.ID || rot.Secret == tenant.Secret || rot.PreviousUntil == nil || rot.ExpiresAt == nil ||
		!rot.ExpiresAt.Equal(clk.now().Add(DefaultTenantTokenTTL)) {
		t.Fatalf("rotation: %+v", rot)
	}
	if a, b := status(t, url, tenant.Secret), status(t, url, rot.Secret); a != 200 || b != 200 {
		t.Fatalf("within the overlap: old %d, new %d; want both 200", a, b)
	}
	got := find(t, admin, tenant.ID)
	if got.RotatedAt == nil || got.PreviousUntil == nil || !got.PreviousUntil.Equal(clk.now().Add(600*time.Second)) {
		t.Fatalf("list after rotation: %+v", got)
	}
	clk.add(601 * time.Second)
	if a, b := status(t, url, tenant.Secret), status(t, url, rot.Secret); a != 401 || b != 200 {
		t.Fatalf("after the overlap: old %d, new %d; want 401, 200", a, b)
	}
	if got := find(t, admin, tenant.ID); got.PreviousUntil != nil {
		t.Fatalf("previous secret still listed after the overlap: %v", got.PreviousUntil)
	}

	// Expiry of the rotated secret, by default 90 days after rotation.
	clk.add(DefaultTenantTokenTTL)
	if got := status(t, url, rot.Secret); got != 401 {
		t.Fatalf("tenant token past 90 days: %d, want 401", got)
	}
	if got := status(t, url, forever.Secret); got != 200 {
		t.Fatalf("token without expiry: %d", got)
	}

	// The admin token rotates through the API, with no overlap: the new
	// secret works at once, the old one stops.
	var adminID string
	ts, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Role == v1.RoleAdmin {
			adminID = tk.ID
		}
	}
	nadmin, err := admin.RotateToken(ctx, adminID, v1.TokenRotation{OverlapSeconds: -1})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := status(t, url, adminSecret), status(t, url, nadmin.Secret); a != 401 || b != 200 {
		t.Fatalf("admin rotated without overlap: old %d, new %d; want 401, 200", a, b)
	}
	admin = v1.NewClient(url, nadmin.Secret)

	// Revoke: every secret of the token stops at once, even within a
	// rotation's overlap.
	rot2, err := admin.RotateToken(ctx, forever.ID, v1.TokenRotation{})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeToken(ctx, forever.ID); err != nil {
		t.Fatal(err)
	}
	if a, b := status(t, url, forever.Secret), status(t, url, rot2.Secret); a != 401 || b != 401 {
		t.Fatalf("revoked: old %d, new %d; want 401, 401", a, b)
	}
	var e *v1.Error
	if _, err := admin.RotateToken(ctx, forever.ID, v1.TokenRotation{}); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("rotating a revoked token: %v, want 404", err)
	}
	if _, err := admin.RotateToken(ctx, "tok-x", v1.TokenRotation{OverlapSeconds: -5}); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("negative overlap: %v, want 400", err)
	}
}

func find(t *testing.T, c *v1.Client, id string) v1.Token {
	t.Helper()
	ts, err := c.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.ID == id {
			return tk
		}
	}
	t.Fatalf("token %s not listed", id)
	return v1.Token{}
}

// BenchmarkAuthenticate is a token's check as a request pays it: cached
// (a store read every 2 s), its use noted in memory for the next flush.
func BenchmarkAuthenticate(b *testing.B) {
	st := mem.New(mem.Config{})
	srv, url, _ := runServer(b, Config{Store: st, Network: smallNetwork(b)})
	tok, err := v1.NewClient(url, adminToken(b, srv)).CreateToken(context.Background(), v1.TokenRequest{Role: v1.RoleOperator})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := srv.Authenticate(ctx, tok.Secret); err != nil {
			b.Fatal(err)
		}
	}
}
