package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store"
)

// Secrets are kept in the store under secrets/<tenant>/<name>, their values
// sealed with AES-256-GCM under a key the store never holds
// (Config.SecretKey: a file on the server's disk). The record keeps the key
// names in the clear, for listings and for checking a job's references at
// submit; the values only as ciphertext, bound to the tenant and name (the
// AEAD's additional data), so that a record copied under another name does
// not open. A secret's values leave the server only in an assignment reply
// to the agent of a node its tenant's job is placed on (Assignments).

const secretPrefix = "secrets/"

// SecretKeyBytes is the size of Config.SecretKey: AES-256.
const SecretKeyBytes = 32

// secretRecord is a secret as the store holds it.
type secretRecord struct {
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`
	Keys      []string  `json:"keys"`
	KeyID     string    `json:"key_id"` // which key sealed it: SHA-256 of the key, 8 bytes hex
	Nonce     []byte    `json:"nonce"`
	Sealed    []byte    `json:"sealed"` // AES-GCM of the JSON of the data map
	UpdatedAt time.Time `json:"updated_at"`
}

func secretKey(tenant, name string) string { return secretPrefix + tenant + "/" + name }

func (r *secretRecord) wire() v1.Secret {
	return v1.Secret{Tenant: r.Tenant, Name: r.Name, Keys: r.Keys, UpdatedAt: r.UpdatedAt}
}

// sealer seals and opens secret values with the server's key.
type sealer struct {
	aead cipher.AEAD
	id   string
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != SecretKeyBytes {
		return nil, fmt.Errorf("the secret key is %d bytes; it must be %d (AES-256)", len(key), SecretKeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &sealer{aead: aead, id: hex.EncodeToString(sum[:8])}, nil
}

func secretAD(tenant, name string) []byte {
	return []byte("suanli-secret\x00" + tenant + "\x00" + name)
}

func (s *sealer) seal(tenant, name string, data map[string]string) (nonce, sealed []byte, err error) {
	plain, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, s.aead.Seal(nil, nonce, plain, secretAD(tenant, name)), nil
}

func (s *sealer) open(r *secretRecord) (map[string]string, error) {
	if r.KeyID != s.id {
		return nil, fmt.Errorf("secret %s/%s was sealed with key %s, not this server's key %s; start every replica with the same --secret-key-file", r.Tenant, r.Name, r.KeyID, s.id)
	}
	plain, err := s.aead.Open(nil, r.Nonce, r.Sealed, secretAD(r.Tenant, r.Name))
	if err != nil {
		return nil, fmt.Errorf("open secret %s/%s: the record was altered or moved", r.Tenant, r.Name)
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("decode secret %s/%s: %w", r.Tenant, r.Name, err)
	}
	return data, nil
}

var errNoSecretKey = fmt.Errorf("%w: this server has no secret key (serve --secret-key-file), so it keeps no secrets", httpapi.ErrUnavailable)

// PutSecret implements httpapi.Secrets: the secret is stored sealed.
func (s *Server) PutSecret(ctx context.Context, p httpapi.Principal, sec v1.Secret) (v1.Secret, error) {
	if s.seal == nil {
		return v1.Secret{}, errNoSecretKey
	}
	if _, err := s.Tenant(ctx, sec.Tenant); err != nil || strings.Contains(sec.Tenant, "/") {
		return v1.Secret{}, fmt.Errorf("tenant %q: %w; create the tenant first", sec.Tenant, httpapi.ErrNotFound)
	}
	nonce, sealed, err := s.seal.seal(sec.Tenant, sec.Name, sec.Data)
	if err != nil {
		return v1.Secret{}, fmt.Errorf("seal secret %s/%s: %w", sec.Tenant, sec.Name, err)
	}
	rec := &secretRecord{Tenant: sec.Tenant, Name: sec.Name, Keys: slices.Sorted(maps.Keys(sec.Data)), KeyID: s.seal.id,
		Nonce: nonce, Sealed: sealed, UpdatedAt: s.now().UTC()}
	b, _ := json.Marshal(rec)
	if _, err := s.w.apply(ctx, &mutation{
		ops: []store.Op{store.PutOp(secretKey(sec.Tenant, sec.Name), b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "secret.put", Target: sec.Tenant + "/" + sec.Name,
			Detail: "keys=" + strings.Join(rec.Keys, ",")}},
	}); err != nil {
		return v1.Secret{}, fmt.Errorf("store secret %s/%s: %w", sec.Tenant, sec.Name, err)
	}
	return rec.wire(), nil
}

// loadSecret reads a secret's record.
func (s *Server) loadSecret(ctx context.Context, tenant, name string) (*secretRecord, error) {
	kv, err := s.s.Get(ctx, secretKey(tenant, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("secret %s/%s: %w", tenant, name, httpapi.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", tenant, name, err)
	}
	var r secretRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, fmt.Errorf("decode secret %s/%s: %w", tenant, name, err)
	}
	return &r, nil
}

// Secrets implements httpapi.Secrets: names and keys, never values.
func (s *Server) Secrets(ctx context.Context, tenant string) ([]v1.Secret, error) {
	kvs, _, err := s.s.List(ctx, secretPrefix+tenant+"/")
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", tenant, err)
	}
	out := make([]v1.Secret, 0, len(kvs))
	for _, kv := range kvs {
		var r secretRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, r.wire())
	}
	return out, nil
}

// DeleteSecret implements httpapi.Secrets. Jobs that reference it and
// start again afterwards start without its variables.
func (s *Server) DeleteSecret(ctx context.Context, p httpapi.Principal, tenant, name string) error {
	if _, err := s.loadSecret(ctx, tenant, name); err != nil {
		return err
	}
	_, err := s.w.apply(ctx, &mutation{
		ops:   []store.Op{store.DeleteOp(secretKey(tenant, name))},
		audit: []audit.Record{{Actor: p.Actor(), Action: "secret.delete", Target: tenant + "/" + name}},
	})
	if err != nil {
		return fmt.Errorf("delete secret %s/%s: %w", tenant, name, err)
	}
	return nil
}

// checkSecretRefs reports every reference of a workload to a secret or key
// the tenant does not have.
func (s *Server) checkSecretRefs(ctx context.Context, tenant string, wl *v1.Workload) error {
	if wl == nil || len(wl.SecretEnv) == 0 {
		return nil
	}
	if s.seal == nil {
		return errNoSecretKey
	}
	var probs httpapi.Problems
	recs := map[string]*secretRecord{}
	for i, e := range wl.SecretEnv {
		r, ok := recs[e.Secret.Name]
		if !ok {
			var err error
			r, err = s.loadSecret(ctx, tenant, e.Secret.Name)
			if err != nil && !errors.Is(err, httpapi.ErrNotFound) {
				return err
			}
			recs[e.Secret.Name] = r
		}
		f := fmt.Sprintf("workload.secret_env[%d].secret", i)
		switch {
		case r == nil:
			probs = append(probs, v1.Problem{Field: f + ".name", Message: fmt.Sprintf("tenant %s has no secret %q; create it first (suanli secret set)", tenant, e.Secret.Name)})
		case !slices.Contains(r.Keys, e.Secret.Key):
			probs = append(probs, v1.Problem{Field: f + ".key", Message: fmt.Sprintf("secret %s has no key %q; its keys: %s", e.Secret.Name, e.Secret.Key, strings.Join(r.Keys, ", "))})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// receivesSecrets is the one check on who is sent secret values: the agent
// of the node an assignment is for. Staff may list a node's assignments
// but see references only. (Which node an agent credential acts for is
// checked before, where the assignments are listed.)
func receivesSecrets(p httpapi.Principal, node string) bool {
	return p.Role == v1.RoleAgent && node != ""
}

// withSecrets returns the job with its workload's secret references
// resolved into its env, for the agent of a node it is placed on. A
// secret deleted or unreadable since the submit leaves its variables out
// (and is logged), so that the job's other workers are not held up.
func (s *Server) withSecrets(ctx context.Context, j v1.Job) v1.Job {
	wl := j.Spec.Workload
	if wl == nil || len(wl.SecretEnv) == 0 {
		return j
	}
	cp := *wl
	cp.Env = maps.Clone(wl.Env)
	if cp.Env == nil {
		cp.Env = map[string]string{}
	}
	opened := map[string]map[string]string{}
	for _, e := range wl.SecretEnv {
		data, ok := opened[e.Secret.Name]
		if !ok {
			data = s.openSecret(ctx, j.Spec.Tenant, e.Secret.Name)
			opened[e.Secret.Name] = data
		}
		if v, ok := data[e.Secret.Key]; ok {
			cp.Env[e.Name] = v
		} else {
			s.log.Warn("a job's secret key is missing; its variable is left out", "job", j.ID, "var", e.Name, "secret", e.Secret.Name, "key", e.Secret.Key)
		}
	}
	j.Spec.Workload = &cp
	return j
}

// openSecret reads and opens a secret, nil (logged) when it cannot.
func (s *Server) openSecret(ctx context.Context, tenant, name string) map[string]string {
	if s.seal == nil {
		s.log.Warn("a job references a secret but this server has no secret key", "tenant", tenant, "secret", name)
		return nil
	}
	r, err := s.loadSecret(ctx, tenant, name)
	if err == nil {
		var data map[string]string
		if data, err = s.seal.open(r); err == nil {
			return data
		}
	}
	s.log.Warn("a job's secret cannot be read; its variables are left out", "tenant", tenant, "secret", name, "err", err)
	return nil
}
