package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	v1 "github.com/suanli/suanli/api/v1"
)

// IdempotencyHeader names the request header that makes a submit safe to
// retry: the same key with the same request from the same token returns
// the job the first request created instead of creating another.
const IdempotencyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest key accepted, in bytes.
const MaxIdempotencyKey = 255

// Idempotency is a submit's key and the digest of its request, passed to
// Backend.Submit in the context. The backend sets Replayed when it returns
// the job an earlier request with the key created.
type Idempotency struct {
	Key      string
	Digest   string // hex SHA-256 of the request (the spec and its tenant)
	Replayed bool
}

type idemKey struct{}

// WithIdempotency returns ctx carrying idem.
func WithIdempotency(ctx context.Context, idem *Idempotency) context.Context {
	return context.WithValue(ctx, idemKey{}, idem)
}

// IdempotencyFrom returns the submit's idempotency key, or nil.
func IdempotencyFrom(ctx context.Context) *Idempotency {
	idem, _ := ctx.Value(idemKey{}).(*Idempotency)
	return idem
}

// idempotency reads the request's key (nil when it has none) and digests
// the request as decoded, so that the same spec sent with other spacing or
// key order counts as the same request.
func idempotency(r *http.Request, spec v1.JobSpec, tenant string) (*Idempotency, error) {
	key := r.Header.Get(IdempotencyHeader)
	if key == "" {
		return nil, nil
	}
	ok := len(key) <= MaxIdempotencyKey
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] >= 0x20 && key[i] < 0x7f
	}
	if !ok {
		return nil, Problems{{Field: IdempotencyHeader, Message: fmt.Sprintf("want 1 to %d printable ASCII characters, e.g. a UUID", MaxIdempotencyKey)}}
	}
	spec.Tenant = tenant
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Idempotency{Key: key, Digest: hex.EncodeToString(sum[:])}, nil
}
