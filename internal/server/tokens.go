package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// Token store keys: tokens/<hash of a secret> holds that secret's record
// (a token has two while a rotation's overlap lasts); tokenuse/<id> its
// last use, written at most once a usedFlushEvery per replica.
const tokenUsePrefix = "tokenuse/"

// revokedCertPrefix + serial (hex) marks a revoked node certificate: one
// the server signed for a node whose token was revoked, or one revoked by
// its id cert-<serial>.
const revokedCertPrefix = "revokedcerts/"

const (
	// tokenCacheFor is how long an authenticated token is trusted without
	// a store read; a revocation takes effect within it.
	tokenCacheFor = 2 * time.Second
	// DefaultTenantTokenTTL is the lifetime of tenant tokens created
	// without one.
	DefaultTenantTokenTTL = 90 * 24 * time.Hour
	// bootstrapTokenTTL is the lifetime of bootstrap tokens created
	// without one.
	bootstrapTokenTTL = 24 * time.Hour
	// defaultOverlap is how long a rotated secret keeps working.
	defaultOverlap = time.Hour
	// usedFlushEvery is how often last-use times reach the store.
	usedFlushEvery = time.Minute
)

// tokenRecord is one secret of a bearer token as the store holds it:
// never the secret.
type tokenRecord struct {
	ID     string   `json:"id"`
	Role   string   `json:"role"`
	Tenant string   `json:"tenant,omitempty"`
	Name   string   `json:"name,omitempty"`
	Node   string   `json:"node,omitempty"`
	Sites  []string `json:"sites,omitempty"`
	// CertSerial is the serial (hex) of the certificate signed with this
	// node token when it joined: revoking the token revokes it too.
	CertSerial string    `json:"cert_serial,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// IssuedAt is when this secret was issued: CreatedAt, or a rotation.
	IssuedAt  time.Time  `json:"issued_at,omitzero"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RetiresAt is set by a rotation that replaced this secret: it stops
	// working then.
	RetiresAt *time.Time `json:"retires_at,omitempty"`
}

// until is when the secret stops working (zero: never).
func (t tokenRecord) until() time.Time {
	var u time.Time
	for _, p := range []*time.Time{t.ExpiresAt, t.RetiresAt} {
		if p != nil && (u.IsZero() || p.Before(u)) {
			u = *p
		}
	}
	return u
}

func (t tokenRecord) live(now time.Time) bool {
	u := t.until()
	return u.IsZero() || now.Before(u)
}

func (t tokenRecord) issued() time.Time {
	if t.IssuedAt.IsZero() {
		return t.CreatedAt
	}
	return t.IssuedAt
}

func (t tokenRecord) principal() httpapi.Principal {
	return httpapi.Principal{TokenID: t.ID, Role: t.Role, Tenant: t.Tenant, Node: t.Node, Sites: t.Sites}
}

func (t tokenRecord) wire() v1.Token {
	return v1.Token{ID: t.ID, Role: t.Role, Tenant: t.Tenant, Name: t.Name, Node: t.Node, Sites: t.Sites,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

type cachedToken struct {
	p     httpapi.Principal
	exp   time.Time // of the cache entry
	until time.Time // of the secret (zero: never)
}

// Authenticate implements httpapi.Authenticator. An expired or retired
// secret is refused; a use is noted in memory and reaches the store with
// the next flush.
func (s *Server) Authenticate(ctx context.Context, secret string) (httpapi.Principal, error) {
	h := httpapi.HashSecret(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.tokens[h]
	if ok && now.Before(c.exp) && (c.until.IsZero() || now.Before(c.until)) {
		s.used[c.p.TokenID] = now
		s.mu.Unlock()
		return c.p, nil
	}
	s.mu.Unlock()
	kv, err := s.s.Get(ctx, tokenPrefix+h)
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Principal{}, httpapi.ErrUnauthorized
	}
	if err != nil {
		return httpapi.Principal{}, fmt.Errorf("read token: %w", err)
	}
	var t tokenRecord
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return httpapi.Principal{}, fmt.Errorf("decode token %s: %w", h[:8], err)
	}
	if !t.live(now) {
		return httpapi.Principal{}, fmt.Errorf("%w: token %s stopped working at %s (expired or rotated); ask an admin for a new secret",
			httpapi.ErrUnauthorized, t.ID, t.until().UTC().Format(time.RFC3339))
	}
	p := t.principal()
	s.mu.Lock()
	if len(s.tokens) > 10_000 {
		clear(s.tokens)
	}
	s.tokens[h] = cachedToken{p: p, exp: now.Add(tokenCacheFor), until: t.until()}
	s.used[t.ID] = now
	s.mu.Unlock()
	return p, nil
}

// AuthenticateCert implements httpapi.CertAuthenticator: a verified node
// certificate is refused once revoked (cached like tokens).
func (s *Server) AuthenticateCert(ctx context.Context, p httpapi.Principal) (httpapi.Principal, error) {
	key := "cert:" + p.TokenID
	now := s.now()
	s.mu.Lock()
	c, ok := s.tokens[key]
	s.mu.Unlock()
	if ok && now.Before(c.exp) && c.p.Node == p.Node {
		return p, nil
	}
	serial := strings.TrimPrefix(p.TokenID, "cert-")
	_, err := s.s.Get(ctx, revokedCertPrefix+serial)
	switch {
	case err == nil:
		return httpapi.Principal{}, fmt.Errorf("%w: node certificate %s was revoked; join the node again or ask for a new one", httpapi.ErrUnauthorized, p.TokenID)
	case !errors.Is(err, store.ErrNotFound):
		return httpapi.Principal{}, fmt.Errorf("read certificate revocations: %w", err)
	}
	s.mu.Lock()
	if len(s.tokens) > 10_000 {
		clear(s.tokens)
	}
	s.tokens[key] = cachedToken{p: p, exp: now.Add(tokenCacheFor)}
	s.mu.Unlock()
	return p, nil
}

// tokenTTL is a new secret's lifetime: asked for (seconds; -1 none), or
// the role's default.
func (s *Server) tokenTTL(role string, asked int64) time.Duration {
	switch {
	case asked > 0:
		return time.Duration(asked) * time.Second
	case asked < 0:
		return 0
	case role == v1.RoleTenant:
		return max(s.cfg.TenantTokenTTL, 0)
	case role == v1.RoleBootstrap:
		return bootstrapTokenTTL
	}
	return 0
}

// newTokenID returns a fresh token id.
func newTokenID() string {
	var id [6]byte
	_, _ = rand.Read(id[:])
	return "tok-" + hex.EncodeToString(id[:])
}

// CreateToken implements httpapi.Admin. A tenant token's tenant must be
// registered; an agent token's node or sites must be the network's.
func (s *Server) CreateToken(ctx context.Context, p httpapi.Principal, req v1.TokenRequest) (v1.Token, error) {
	if req.Tenant != "" {
		if err := s.tenantExists(ctx, model.TenantID(req.Tenant)); err != nil {
			return v1.Token{}, err
		}
	}
	var probs httpapi.Problems
	if req.Node != "" {
		if _, ok := s.net.Node(model.NodeID(req.Node)); !ok {
			probs = append(probs, v1.Problem{Field: "node", Message: fmt.Sprintf("%q is not a node of network %s", req.Node, s.net.Name)})
		}
	}
	for i, st := range req.Sites {
		if _, ok := s.net.Site(model.SiteID(st)); !ok {
			probs = append(probs, v1.Problem{Field: fmt.Sprintf("sites[%d]", i), Message: fmt.Sprintf("%q is not a site of network %s", st, s.net.Name)})
		}
	}
	if len(probs) > 0 {
		return v1.Token{}, probs
	}
	now := s.now().UTC()
	t := tokenRecord{ID: newTokenID(), Role: req.Role, Tenant: req.Tenant, Name: req.Name, Node: req.Node, Sites: req.Sites, CreatedAt: now, IssuedAt: now}
	if ttl := s.tokenTTL(req.Role, req.TTLSeconds); ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	return s.storeToken(ctx, p, t, nil)
}

// storeToken writes a new token's first secret, with extra ops and
// conditions in the same transaction, and returns it with its secret.
func (s *Server) storeToken(ctx context.Context, p httpapi.Principal, t tokenRecord, m *mutation) (v1.Token, error) {
	secret, err := httpapi.NewSecret()
	if err != nil {
		return v1.Token{}, err
	}
	b, _ := json.Marshal(t)
	key := tokenPrefix + httpapi.HashSecret(secret)
	if m == nil {
		m = &mutation{}
	}
	m.conds = append(m.conds, store.Cond{Key: key, ModRev: 0})
	m.ops = append(m.ops, store.PutOp(key, b))
	m.audit = append(m.audit, audit.Record{Actor: p.Actor(), Action: "token.create", Target: t.ID, Detail: tokenDetail(t)})
	if _, err := s.w.apply(ctx, m); err != nil {
		return v1.Token{}, fmt.Errorf("store token: %w", err)
	}
	w := t.wire()
	w.Secret = secret
	return w, nil
}

func tokenDetail(t tokenRecord) string {
	d := "role=" + t.Role
	if t.Tenant != "" {
		d += " tenant=" + t.Tenant
	}
	if t.Node != "" {
		d += " node=" + t.Node
	}
	if len(t.Sites) > 0 {
		d += " sites=" + strings.Join(t.Sites, ",")
	}
	if t.ExpiresAt != nil {
		d += " expires=" + t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return d
}

// tokenSecrets is every stored secret of every token, by token id.
func (s *Server) tokenSecrets(ctx context.Context) (map[string][]storedSecret, error) {
	kvs, _, err := s.s.List(ctx, tokenPrefix)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := map[string][]storedSecret{}
	for _, kv := range kvs {
		var t tokenRecord
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key[:min(len(kv.Key), len(tokenPrefix)+8)], err)
		}
		out[t.ID] = append(out[t.ID], storedSecret{rec: t, key: kv.Key, rev: kv.ModRev})
	}
	for _, ss := range out {
		slices.SortFunc(ss, func(a, b storedSecret) int { return b.rec.issued().Compare(a.rec.issued()) })
	}
	return out, nil
}

// storedSecret is one secret's record with its key and revision.
type storedSecret struct {
	rec tokenRecord
	key string
	rev int64
}

// Tokens implements httpapi.Admin: each token once, described by its
// newest secret, with the end of a rotation's overlap and its last use.
func (s *Server) Tokens(ctx context.Context) ([]v1.Token, error) {
	secrets, err := s.tokenSecrets(ctx)
	if err != nil {
		return nil, err
	}
	uses, _, err := s.s.List(ctx, tokenUsePrefix)
	if err != nil {
		return nil, fmt.Errorf("list token uses: %w", err)
	}
	last := map[string]time.Time{}
	for _, kv := range uses {
		var t time.Time
		if t.UnmarshalText(kv.Value) == nil {
			last[strings.TrimPrefix(kv.Key, tokenUsePrefix)] = t
		}
	}
	s.mu.Lock()
	for id, t := range s.used {
		if t.After(last[id]) {
			last[id] = t
		}
	}
	s.mu.Unlock()
	now := s.now()
	out := make([]v1.Token, 0, len(secrets))
	for id, ss := range secrets {
		cur := ss[0].rec
		w := cur.wire()
		if cur.issued().After(cur.CreatedAt) {
			at := cur.issued()
			w.RotatedAt = &at
		}
		for _, o := range ss[1:] {
			if r := o.rec.RetiresAt; r != nil && now.Before(*r) && o.rec.live(now) && (w.PreviousUntil == nil || r.After(*w.PreviousUntil)) {
				w.PreviousUntil = r
			}
		}
		if t, ok := last[id]; ok {
			t = t.UTC().Truncate(time.Second)
			w.LastUsed = &t
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b v1.Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RotateToken implements httpapi.Admin: a new secret for the same
// identity; the older secrets keep working until the overlap ends (never
// longer than they would have).
func (s *Server) RotateToken(ctx context.Context, p httpapi.Principal, id string, req v1.TokenRotation) (v1.Token, error) {
	secrets, err := s.tokenSecrets(ctx)
	if err != nil {
		return v1.Token{}, err
	}
	ss, ok := secrets[id]
	if !ok {
		return v1.Token{}, fmt.Errorf("token %q: %w", id, httpapi.ErrNotFound)
	}
	now := s.now().UTC()
	overlap := defaultOverlap
	switch {
	case req.OverlapSeconds > 0:
		overlap = time.Duration(req.OverlapSeconds) * time.Second
	case req.OverlapSeconds < 0:
		overlap = 0
	}
	cur := ss[0].rec
	t := cur
	t.IssuedAt, t.RetiresAt, t.ExpiresAt = now, nil, nil
	ttl := time.Duration(0)
	switch {
	case req.TTLSeconds != 0:
		ttl = s.tokenTTL(cur.Role, req.TTLSeconds)
	case cur.ExpiresAt != nil:
		ttl = cur.ExpiresAt.Sub(cur.issued())
	}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	retire := now.Add(overlap)
	m := &mutation{}
	for _, o := range ss {
		m.conds = append(m.conds, store.Cond{Key: o.key, ModRev: o.rev})
		r := o.rec
		if r.RetiresAt == nil || retire.Before(*r.RetiresAt) {
			r.RetiresAt = &retire
		}
		if !r.live(now) {
			m.ops = append(m.ops, store.DeleteOp(o.key))
			continue
		}
		b, _ := json.Marshal(r)
		m.ops = append(m.ops, store.PutOp(o.key, b))
	}
	secret, err := httpapi.NewSecret()
	if err != nil {
		return v1.Token{}, err
	}
	key := tokenPrefix + httpapi.HashSecret(secret)
	b, _ := json.Marshal(t)
	m.conds = append(m.conds, store.Cond{Key: key, ModRev: 0})
	m.ops = append(m.ops, store.PutOp(key, b))
	m.audit = []audit.Record{{Actor: p.Actor(), Action: "token.rotate", Target: id,
		Detail: fmt.Sprintf("previous secrets until %s; %s", retire.Format(time.RFC3339), tokenDetail(t))}}
	if _, err := s.w.apply(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return v1.Token{}, fmt.Errorf("token %s changed meanwhile: %w", id, httpapi.ErrConflict)
		}
		return v1.Token{}, fmt.Errorf("rotate token %s: %w", id, err)
	}
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
	w := t.wire()
	w.RotatedAt = &now
	if overlap > 0 {
		w.PreviousUntil = &retire
	}
	w.Secret = secret
	return w, nil
}

// RevokeToken implements httpapi.Admin: every secret of the token stops
// working (on other replicas within tokenCacheFor), and the certificate
// signed with it. An id cert-<serial> revokes that node certificate.
func (s *Server) RevokeToken(ctx context.Context, p httpapi.Principal, id string) error {
	if serial, ok := strings.CutPrefix(id, "cert-"); ok {
		if _, ok := new(big.Int).SetString(serial, 16); !ok || len(serial) > 40 {
			return fmt.Errorf("%w: %q: a certificate is revoked by its id cert-<serial number in hex>", httpapi.ErrInvalid, id)
		}
		_, err := s.w.apply(ctx, &mutation{ops: []store.Op{store.PutOp(revokedCertPrefix+serial, []byte(id))},
			audit: []audit.Record{{Actor: p.Actor(), Action: "cert.revoke", Target: id}}})
		s.mu.Lock()
		clear(s.tokens)
		s.mu.Unlock()
		return err
	}
	secrets, err := s.tokenSecrets(ctx)
	if err != nil {
		return err
	}
	ss, ok := secrets[id]
	if !ok {
		return fmt.Errorf("token %q: %w", id, httpapi.ErrNotFound)
	}
	m := &mutation{ops: []store.Op{store.DeleteOp(tokenUsePrefix + id)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "token.revoke", Target: id}}}
	for _, o := range ss {
		m.conds = append(m.conds, store.Cond{Key: o.key, ModRev: o.rev})
		m.ops = append(m.ops, store.DeleteOp(o.key))
		if o.rec.CertSerial != "" {
			m.ops = append(m.ops, store.PutOp(revokedCertPrefix+o.rec.CertSerial, []byte(id)))
		}
	}
	_, err = s.w.apply(ctx, m)
	s.mu.Lock()
	clear(s.tokens)
	delete(s.used, id)
	s.mu.Unlock()
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("token %s changed meanwhile: %w", id, httpapi.ErrConflict)
	}
	return err
}

// flushUsed writes the last-use times noted since the previous flush:
// one small transaction per 128 tokens, never one per request.
func (s *Server) flushUsed(ctx context.Context) error {
	s.mu.Lock()
	used := s.used
	s.used = map[string]time.Time{}
	s.mu.Unlock()
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, store.MaxTxnOps) {
		ops := make([]store.Op, 0, len(chunk))
		for _, id := range chunk {
			b, _ := used[id].UTC().MarshalText()
			ops = append(ops, store.PutOp(tokenUsePrefix+id, b))
		}
		if _, err := s.s.Txn(ctx, store.Txn{Ops: ops}); err != nil {
			s.mu.Lock()
			for id, t := range used {
				if t.After(s.used[id]) {
					s.used[id] = t
				}
			}
			s.mu.Unlock()
			return fmt.Errorf("record token uses: %w", err)
		}
	}
	return nil
}

// runUsedFlush flushes last-use times every usedFlushEvery until ctx
// ends, and once more then.
func (s *Server) runUsedFlush(ctx context.Context) {
	t := time.NewTicker(usedFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = s.flushUsed(fctx)
			cancel()
			return
		case <-t.C:
			if err := s.flushUsed(ctx); err != nil {
				s.log.Warn("token last-use times not recorded; retrying", "err", err)
			}
		}
	}
}
