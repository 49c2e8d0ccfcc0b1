package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/suanli/suanli/internal/store"
)

// CheckpointEvery is how many entries apart signed checkpoints are: the
// entry whose sequence number is a multiple of it gets one.
const CheckpointEvery = 1000

// CheckpointPrefix is where signed checkpoints live, one per CheckpointEvery
// entries, keyed by the sequence number they sign.
const CheckpointPrefix = "audit/checkpoint/"

// Signature is an ed25519 signature over a link of the chain (sequence
// number and hash) by the key named in Key (base64 public key).
type Signature struct {
	Key string `json:"key"`
	Sig string `json:"sig"`
}

// Checkpoint is a signed link of the chain.
type Checkpoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	Signature
}

// CheckpointKey is the store key of the checkpoint of entry seq.
func CheckpointKey(seq int64) string { return fmt.Sprintf("%s%020d", CheckpointPrefix, seq) }

func signed(seq int64, hash string) []byte {
	return fmt.Appendf(nil, "suanli audit link\n%d\n%s\n", seq, hash)
}

// Signer signs the chain's head on every append and a checkpoint every
// CheckpointEvery entries, with a key kept outside the store: rewriting
// the log (editing an entry and recomputing the later hashes, or dropping
// the newest entries) then needs the key too.
type Signer struct {
	key ed25519.PrivateKey
	pub string
}

// NewSigner signs with key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, pub: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
}

// Public returns the public key, base64, as `audit verify --key` takes it.
func (s *Signer) Public() string { return s.pub }

func (s *Signer) sign(seq int64, hash string) Signature {
	return Signature{Key: s.pub, Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, signed(seq, hash)))}
}

// Sign signs the head and returns the checkpoint ops due for entries
// (those at a multiple of CheckpointEvery).
func (s *Signer) Sign(entries []Entry, head *Head) ([]store.Op, error) {
	if s == nil {
		return nil, nil
	}
	sig := s.sign(head.Seq, head.Hash)
	head.Signature = &sig
	var ops []store.Op
	for _, e := range entries {
		if e.Seq%CheckpointEvery != 0 {
			continue
		}
		b, err := json.Marshal(Checkpoint{Seq: e.Seq, Hash: e.Hash, Signature: s.sign(e.Seq, e.Hash)})
		if err != nil {
			return nil, fmt.Errorf("encode checkpoint %d: %w", e.Seq, err)
		}
		ops = append(ops, store.PutOp(CheckpointKey(e.Seq), b))
	}
	return ops, nil
}

// Actions of the entries a Signer appends about the head it found.
const (
	// ActionSignStart: the log was unsigned up to here (written before
	// signing began); entries before it are vouched for by the hash chain
	// only.
	ActionSignStart = "audit.sign-start"
	// ActionHeadRejected: the head a writer found was not signed by its
	// key: the log was rewritten in the store. Verify reports it for good.
	ActionHeadRejected = "audit.head-rejected"
)

// Vouch checks a head read from the store before signing on top of it:
// nil when it is this Signer's (or empty); otherwise the record to append
// first, so that continuing the chain never launders a rewritten log.
func (s *Signer) Vouch(h Head) *Record {
	if s == nil || h.Seq == 0 {
		return nil
	}
	if h.Signature == nil {
		return &Record{Actor: "audit", Action: ActionSignStart,
			Detail: fmt.Sprintf("entries 1 to %d were written without a signature; signing starts after them", h.Seq)}
	}
	pub := s.key.Public().(ed25519.PublicKey)
	if err := check(map[string]ed25519.PublicKey{s.pub: pub}, h.Signature, h.Seq, h.Hash); err != nil {
		return &Record{Actor: "audit", Action: ActionHeadRejected,
			Detail: fmt.Sprintf("the head at entry %d %v; entries after the last valid checkpoint may have been rewritten", h.Seq, err)}
	}
	return nil
}

// ParseKeys reads base64 ed25519 public keys.
func ParseKeys(keys []string) (map[string]ed25519.PublicKey, error) {
	out := map[string]ed25519.PublicKey{}
	var errs []error
	for _, k := range keys {
		k = strings.TrimSpace(k)
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			errs = append(errs, fmt.Errorf("key %q is not a base64 ed25519 public key (%d bytes); give the key the server printed at start", k, ed25519.PublicKeySize))
			continue
		}
		out[k] = ed25519.PublicKey(b)
	}
	return out, errors.Join(errs...)
}

// check verifies a signature over (seq, hash) by one of keys.
func check(keys map[string]ed25519.PublicKey, s *Signature, seq int64, hash string) error {
	if s == nil || s.Sig == "" {
		return errors.New("is not signed")
	}
	pub, ok := keys[s.Key]
	if !ok {
		return fmt.Errorf("is signed by key %.16s…, which is not a trusted key", s.Key)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Sig)
	if err != nil || !ed25519.Verify(pub, signed(seq, hash), sig) {
		return errors.New("has a signature that does not match it; it was rewritten without the key")
	}
	return nil
}

// LoadOrCreateKey reads the ed25519 key at path (base64 seed), or creates
// one (mode 0600) when there is none; created reports which.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, false, fmt.Errorf("audit key %s: not a base64 ed25519 seed of %d bytes", path, ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read audit key: %w", err)
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate audit key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("write audit key: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key.Seed())+"\n"), 0o600); err != nil {
		return nil, false, fmt.Errorf("write audit key: %w", err)
	}
	return key, true, nil
}

// Witness is a file outside the store where a writer keeps the newest
// checkpoint it signed. A store rolled back to an older state that was
// genuinely signed (the newest entries dropped, an old head restored) is
// caught by comparing the store with it at start.
type Witness string

// Save records cp (written to a temporary file and renamed).
func (w Witness) Save(cp Checkpoint) error {
	if w == "" {
		return nil
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encode audit witness: %w", err)
	}
	tmp := string(w) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write audit witness: %w", err)
	}
	if err := os.Rename(tmp, string(w)); err != nil {
		return fmt.Errorf("write audit witness: %w", err)
	}
	return nil
}

// Check compares the store with the witness: the checkpoint it names must
// still be in the log with the same hash. It returns the problem, or "".
func (w Witness) Check(ctx context.Context, g store.Getter) (string, error) {
	if w == "" {
		return "", nil
	}
	b, err := os.ReadFile(string(w))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read audit witness: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return "", fmt.Errorf("audit witness %s does not decode: %w", w, err)
	}
	kv, err := g.Get(ctx, Key(cp.Seq))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("entry %d, which this replica signed as a checkpoint (%s), is gone from the store: the log was rolled back", cp.Seq, w), nil
	}
	if err != nil {
		return "", fmt.Errorf("read audit entry %d: %w", cp.Seq, err)
	}
	var e Entry
	if err := json.Unmarshal(kv.Value, &e); err != nil || e.Hash != cp.Hash {
		return fmt.Sprintf("entry %d is not the one this replica signed as a checkpoint (%s): the log was rewritten", cp.Seq, w), nil
	}
	return "", nil
}

// Checkpoints returns the checkpoints due among entries, unsigned (Seq and
// Hash): for a writer to Save the newest once they are committed.
func Checkpoints(entries []Entry) []Checkpoint {
	var out []Checkpoint
	for _, e := range entries {
		if e.Seq%CheckpointEvery == 0 {
			out = append(out, Checkpoint{Seq: e.Seq, Hash: e.Hash})
		}
	}
	return out
}
