// Package audit is Suanli's tamper-evident audit log: every mutating API
// call and every scheduling decision appends an Entry that carries the
// hash of the entry before it, so that editing or deleting any entry
// breaks the chain, which Verify detects. Entries live in the store under
// LogPrefix, with the chain's head (last sequence number and hash) under
// HeadKey so that deleting the newest entries is detected too.
package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/suanli/suanli/internal/store"
)

// Store keys.
const (
	LogPrefix = "audit/log/"
	prefix    = "audit/" // the log and the head
	HeadKey   = "audit/head"
)

// Genesis is the Prev of the first entry.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Record is what a caller appends: who did what to which object.
type Record struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Entry is one link of the chain.
type Entry struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Record
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// Head is the chain's newest link, signed when the writer has a Signer.
type Head struct {
	Seq       int64      `json:"seq"`
	Hash      string     `json:"hash"`
	Signature *Signature `json:"signature,omitempty"`
}

// Sum is the hash of the entry: SHA-256 over its JSON form without Hash.
func (e Entry) Sum() string {
	e.Hash = ""
	b, _ := json.Marshal(e) // plain strings, ints and a time: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Key is the store key of the entry with sequence number seq; keys sort in
// sequence order.
func Key(seq int64) string { return fmt.Sprintf("%s%020d", LogPrefix, seq) }

// Chain links records after head at time now, returning the entries and
// the new head.
func Chain(head Head, recs []Record, now time.Time) ([]Entry, Head) {
	if head.Hash == "" {
		head.Hash = Genesis
	}
	out := make([]Entry, len(recs))
	for i, r := range recs {
		e := Entry{Seq: head.Seq + 1, Time: now.UTC(), Record: r, Prev: head.Hash}
		e.Hash = e.Sum()
		out[i] = e
		head = Head{Seq: e.Seq, Hash: e.Hash}
	}
	return out, head
}

// Ops returns the store writes that append entries and move the head.
func Ops(entries []Entry, head Head) ([]store.Op, error) {
	ops := make([]store.Op, 0, len(entries)+1)
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode audit entry %d: %w", e.Seq, err)
		}
		ops = append(ops, store.PutOp(Key(e.Seq), b))
	}
	hb, _ := json.Marshal(head)
	return append(ops, store.PutOp(HeadKey, hb)), nil
}

// LoadHead reads the head and its mod revision (0 when the log is empty).
func LoadHead(ctx context.Context, g store.Getter) (Head, int64, error) {
	kv, err := g.Get(ctx, HeadKey)
	if errors.Is(err, store.ErrNotFound) {
		return Head{Hash: Genesis}, 0, nil
	}
	if err != nil {
		return Head{}, 0, fmt.Errorf("read audit head: %w", err)
	}
	var h Head
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		return Head{}, 0, fmt.Errorf("decode audit head: %w", err)
	}
	return h, kv.ModRev, nil
}

// Read returns up to limit entries after sequence number after: one page
// read from the store.
func Read(ctx context.Context, l store.Lister, after int64, limit int) ([]Entry, error) {
	kvs, _, err := l.ListPage(ctx, LogPrefix, Key(after), limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	out := make([]Entry, 0, len(kvs))
	for _, kv := range kvs {
		var e Entry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("decode audit entry %s: %w", kv.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// verifyPage is how many entries Verify reads at a time.
const verifyPage = 1000

// maxProblems bounds the problems Verify lists; the rest are counted.
const maxProblems = 1000

// readHead reads the head (Genesis when there is none).
func readHead(ctx context.Context, s store.Lister) (Head, error) {
	kvs, _, err := s.ListPage(ctx, HeadKey, "", 1)
	if err != nil {
		return Head{}, fmt.Errorf("read audit head: %w", err)
	}
	h := Head{Hash: Genesis}
	if len(kvs) == 1 && kvs[0].Key == HeadKey {
		if err := json.Unmarshal(kvs[0].Value, &h); err != nil {
			return Head{}, fmt.Errorf("head does not decode: %v", err)
		}
	}
	return h, nil
}

// Verify checks the whole chain in the store: every entry decodes, sits
// under its own key, follows its predecessor without a gap, carries its
// predecessor's hash and its own true hash, and the head names the last;
// every checkpoint names its entry's hash. With keys, the head's signature
// and every checkpoint's must be by one of them: a log rewritten without
// the key fails. It reads the log a page at a time (memory for one page
// and the checkpoints, not the log) up to the head it read first: entries
// appended meanwhile are left for the next run. It returns the number of
// entries checked and the problems found (at most maxProblems listed).
func Verify(ctx context.Context, s store.Lister, keys map[string]ed25519.PublicKey) (int, []string, error) {
	v := &verifier{ctx: ctx, s: s, keys: keys}
	head, err := readHead(ctx, s)
	if err != nil && strings.Contains(err.Error(), "does not decode") {
		return 0, []string{err.Error()}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	cps, beyond, err := v.checkpoints(head)
	if err != nil {
		return 0, nil, err
	}
	n, last, err := v.entries(head, cps)
	if err != nil {
		return 0, nil, err
	}
	gone := make([]int64, 0, len(cps))
	for seq := range cps {
		gone = append(gone, seq)
	}
	slices.Sort(gone)
	for _, seq := range gone {
		v.problem("checkpoint of entry %d: the entry is gone (the log ends at entry %d); entries were dropped", seq, last.Seq)
	}
	if head.Seq != last.Seq || head.Hash != last.Hash {
		v.problem("head names entry %d (%.12s…) but the log ends at entry %d (%.12s…); the newest entries were deleted or edited", head.Seq, head.Hash, last.Seq, last.Hash)
	}
	v.pastHead(head, beyond)
	if keys != nil && head.Seq > 0 {
		if err := check(keys, head.Signature, head.Seq, head.Hash); err != nil {
			v.problem("head (entry %d) %v", head.Seq, err)
		}
	}
	if v.more > 0 {
		v.probs = append(v.probs, fmt.Sprintf("… and %d more problems", v.more))
	}
	return n, v.probs, nil
}

// verifier is one run of Verify: where it reads and the problems found.
type verifier struct {
	ctx   context.Context
	s     store.Lister
	keys  map[string]ed25519.PublicKey
	probs []string // at most maxProblems
	more  int      // problems found beyond those
}

func (v *verifier) problem(format string, a ...any) {
	if len(v.probs) < maxProblems {
		v.probs = append(v.probs, fmt.Sprintf(format, a...))
	} else {
		v.more++
	}
}

// checkpoints reads every checkpoint: those of entries up to the head by
// entry, and the entries of those past it.
func (v *verifier) checkpoints(head Head) (cps map[int64]Checkpoint, beyond []int64, err error) {
	cps = map[int64]Checkpoint{}
	for after := ""; ; {
		kvs, _, err := v.s.ListPage(v.ctx, CheckpointPrefix, after, verifyPage)
		if err != nil {
			return nil, nil, fmt.Errorf("list audit checkpoints: %w", err)
		}
		for _, kv := range kvs {
			var cp Checkpoint
			if err := json.Unmarshal(kv.Value, &cp); err != nil || kv.Key != CheckpointKey(cp.Seq) {
				v.problem("%s: not a checkpoint of its entry", kv.Key)
				continue
			}
			if cp.Seq <= head.Seq {
				cps[cp.Seq] = cp
			} else {
				beyond = append(beyond, cp.Seq)
			}
		}
		if len(kvs) < verifyPage {
			return cps, beyond, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// entries reads the log a page at a time up to the head and checks each
// entry; it removes from cps the checkpoints whose entries it found, and
// returns how many entries it checked and the last.
func (v *verifier) entries(head Head, cps map[int64]Checkpoint) (n int, prev Head, err error) {
	prev = Head{Hash: Genesis}
	var lastCP int64 // the newest checkpoint seen
	for after := ""; prev.Seq < head.Seq; {
		kvs, _, err := v.s.ListPage(v.ctx, LogPrefix, after, verifyPage)
		if err != nil {
			return 0, prev, fmt.Errorf("list audit log: %w", err)
		}
		for _, kv := range kvs {
			var e Entry
			if err := json.Unmarshal(kv.Value, &e); err != nil {
				v.problem("%s: does not decode: %v", kv.Key, err)
				continue
			}
			if e.Seq > head.Seq {
				break // appended after the head was read, or past a truncated head (below)
			}
			n++
			if seq, err := strconv.ParseInt(strings.TrimPrefix(kv.Key, LogPrefix), 10, 64); err != nil || seq != e.Seq {
				v.problem("%s: holds entry %d", kv.Key, e.Seq)
			}
			v.entry(&e, prev, lastCP)
			if cp, ok := cps[e.Seq]; ok {
				lastCP = e.Seq
				delete(cps, e.Seq)
				v.checkpoint(&e, cp)
			}
			prev = Head{Seq: e.Seq, Hash: e.Hash}
		}
		if len(kvs) < verifyPage {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	return n, prev, nil
}

// entry checks that e follows prev, is unedited, and records no broken
// signing (lastCP: the newest entry with a checkpoint before it).
func (v *verifier) entry(e *Entry, prev Head, lastCP int64) {
	switch {
	case e.Seq != prev.Seq+1:
		v.problem("entry %d: follows entry %d; entries %d to %d are missing", e.Seq, prev.Seq, prev.Seq+1, e.Seq-1)
	case e.Prev != prev.Hash:
		v.problem("entry %d: prev hash %.12s… does not match entry %d's %.12s…; an entry was edited or replaced", e.Seq, e.Prev, prev.Seq, prev.Hash)
	}
	if sum := e.Sum(); sum != e.Hash {
		v.problem("entry %d: content does not match its hash; it was edited", e.Seq)
	}
	switch {
	case e.Action == ActionHeadRejected:
		v.problem("entry %d: a writer found a head it had not signed: %s", e.Seq, e.Detail)
	case e.Action == ActionSignStart && lastCP > 0:
		v.problem("entry %d: says the log was unsigned before it, but entry %d has a signed checkpoint: the head's signature was stripped", e.Seq, lastCP)
	}
}

// checkpoint checks that cp names e's hash and, with keys, is signed by
// one of them.
func (v *verifier) checkpoint(e *Entry, cp Checkpoint) {
	if cp.Hash != e.Hash {
		v.problem("entry %d: its hash %.12s… is not the one its signed checkpoint names (%.12s…); it or an earlier entry was rewritten", e.Seq, e.Hash, cp.Hash)
	} else if v.keys != nil {
		if err := check(v.keys, &cp.Signature, cp.Seq, cp.Hash); err != nil {
			v.problem("checkpoint of entry %d %v", cp.Seq, err)
		}
	}
}

// pastHead reports entries or checkpoints past the head (beyond: the
// entries of those checkpoints) when the head has not moved since it was
// read: they were appended since it was read (the head moved on), or left
// behind a head moved back.
func (v *verifier) pastHead(head Head, beyond []int64) {
	past, _, err := v.s.ListPage(v.ctx, LogPrefix, Key(head.Seq), 1)
	if err != nil || (len(past) == 0 && len(beyond) == 0) {
		return
	}
	if now, err := readHead(v.ctx, v.s); err == nil && now.Seq == head.Seq && now.Hash == head.Hash {
		if len(past) == 1 {
			v.problem("the log holds entries after the head (entry %d): the head was moved back", head.Seq)
		}
		for _, seq := range beyond {
			v.problem("checkpoint of entry %d: the entry is gone (the log ends at entry %d); entries were dropped", seq, head.Seq)
		}
	}
}
