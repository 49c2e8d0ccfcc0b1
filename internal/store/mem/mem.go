// Package mem is the in-memory store: the reference implementation of the
// store semantics, used by tests and the replay simulator. Nothing survives
// Close.
package mem

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/feed"
)

// DefaultHistoryEvents is how many events a Store retains for Watch unless
// Config says otherwise.
const DefaultHistoryEvents = 100_000

// Config tunes a Store.
type Config struct {
	// HistoryEvents is how many recent events are kept for Watch from a past
	// revision (default DefaultHistoryEvents). Older ones are compacted away
	// a whole revision at a time.
	HistoryEvents int
}

// Store is an in-memory store.Store. Safe for concurrent use.
type Store struct {
	limit int
	feed  *feed.Feed

	mu         sync.RWMutex // guards everything below
	kvs        map[string]*store.KV
	sorted     []string // sorted key index; may hold deleted keys
	added      []string // keys created since sorted was built
	stale      int      // deletions since sorted was built
	rev        int64
	compactRev int64
	hist       []store.Event // events with Rev > compactRev, in order
	closed     bool
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Compactor = (*Store)(nil)
)

// New returns an empty Store at revision 0.
func New(cfg Config) *Store {
	if cfg.HistoryEvents <= 0 {
		cfg.HistoryEvents = DefaultHistoryEvents
	}
	s := &Store{limit: cfg.HistoryEvents, kvs: make(map[string]*store.KV)}
	s.feed = feed.New(source{s})
	return s
}

func clone(kv *store.KV) store.KV {
	out := *kv
	out.Value = slices.Clone(kv.Value)
	if out.Value == nil {
		out.Value = []byte{}
	}
	return out
}

// Get implements store.Getter.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrClosed)
	}
	kv, ok := s.kvs[key]
	if !ok {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return clone(kv), nil
}

// List implements store.Lister.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, 0, fmt.Errorf("list: %w", err)
	}
	s.mu.Lock() // the index may need rebuilding
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, fmt.Errorf("list %q: %w", prefix, store.ErrClosed)
	}
	s.reindex()
	var out []store.KV
	for i := sort.SearchStrings(s.sorted, prefix); i < len(s.sorted); i++ {
		k := s.sorted[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if kv, ok := s.kvs[k]; ok {
			out = append(out, clone(kv))
		}
	}
	return out, s.rev, nil
}

// ListPage implements store.Lister.
func (s *Store) ListPage(ctx context.Context, prefix, after string, limit int) ([]store.KV, int64, error) {
	if err := store.ValidatePage(prefix, limit); err != nil {
		return nil, 0, fmt.Errorf("list page: %w", err)
	}
	s.mu.Lock() // the index may need rebuilding
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, fmt.Errorf("list page %q: %w", prefix, store.ErrClosed)
	}
	s.reindex()
	from := prefix
	if after >= from {
		from = after + "\x00"
	}
	var out []store.KV
	for i := sort.SearchStrings(s.sorted, from); i < len(s.sorted) && len(out) < limit; i++ {
		k := s.sorted[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if kv, ok := s.kvs[k]; ok {
			out = append(out, clone(kv))
		}
	}
	return out, s.rev, nil
}

// reindex folds added keys into sorted and drops deleted ones when either has
// piled up. Called with mu held for writing.
func (s *Store) reindex() {
	if len(s.added) == 0 && s.stale <= len(s.sorted)/2 {
		return
	}
	slices.Sort(s.added)
	merged := make([]string, 0, len(s.sorted)+len(s.added))
	i, j := 0, 0
	for i < len(s.sorted) || j < len(s.added) {
		var k string
		if j == len(s.added) || (i < len(s.sorted) && s.sorted[i] <= s.added[j]) {
			k, i = s.sorted[i], i+1
		} else {
			k, j = s.added[j], j+1
		}
		if _, live := s.kvs[k]; live && (len(merged) == 0 || merged[len(merged)-1] != k) {
			merged = append(merged, k)
		}
	}
	s.sorted, s.added, s.stale = merged, s.added[:0], 0
}

// Txn implements store.Committer.
func (s *Store) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if err := t.Validate(); err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("txn: %w", store.ErrClosed)
	}
	for _, c := range t.Conds {
		var got int64
		if kv, ok := s.kvs[c.Key]; ok {
			got = kv.ModRev
		}
		if got != c.ModRev {
			s.mu.Unlock()
			return 0, &store.ConflictError{Key: c.Key, Want: c.ModRev, Got: got}
		}
	}
	rev := s.rev + 1
	n := len(s.hist)
	for _, op := range t.Ops {
		old, exists := s.kvs[op.Key]
		switch {
		case op.Type == store.Put:
			kv := &store.KV{Key: op.Key, Value: slices.Clone(op.Value), CreateRev: rev, ModRev: rev}
			if exists {
				kv.CreateRev = old.CreateRev
			} else {
				s.added = append(s.added, op.Key)
			}
			s.kvs[op.Key] = kv
			s.hist = append(s.hist, store.Event{Type: store.Put, KV: *kv, Rev: rev})
		case exists: // delete of a live key
			delete(s.kvs, op.Key)
			s.stale++
			s.hist = append(s.hist, store.Event{Type: store.Delete, KV: store.KV{Key: op.Key, ModRev: rev}, Rev: rev})
		}
	}
	wrote := len(s.hist) > n
	if wrote {
		s.rev = rev
		s.trim()
	}
	rev = s.rev
	s.mu.Unlock()
	if wrote {
		s.feed.Notify()
	}
	return rev, nil
}

// trim keeps the history within the limit, with some slack so that trimming
// is amortised. Called with mu held for writing.
func (s *Store) trim() {
	if len(s.hist) <= s.limit+s.limit/8 {
		return
	}
	i := len(s.hist) - s.limit
	for i < len(s.hist) && s.hist[i].Rev == s.hist[i-1].Rev {
		i++
	}
	s.compactRev = s.hist[i-1].Rev
	s.hist = slices.Clone(s.hist[i:])
}

// Compact implements store.Compactor.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("compact: %w", store.ErrClosed)
	case rev > s.rev:
		return fmt.Errorf("compact to revision %d: beyond the current revision %d: %w", rev, s.rev, store.ErrInvalid)
	case rev <= s.compactRev:
		return nil
	}
	i := sort.Search(len(s.hist), func(i int) bool { return s.hist[i].Rev > rev })
	s.hist = slices.Clone(s.hist[i:])
	s.compactRev = rev
	return nil
}

// Watch implements store.Watcher.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error) {
	ch, err := s.feed.Watch(ctx, prefix, fromRev)
	if err != nil {
		return nil, fmt.Errorf("watch %q from revision %d: %w", prefix, fromRev, err)
	}
	return ch, nil
}

// Close ends every watch and makes later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.feed.Close()
	return nil
}

// scanLimit bounds how many events one After call examines, so that a
// watcher of a quiet prefix does not hold the lock over the whole history.
const scanLimit = 4096

// source reads the in-memory history for the feed.
type source struct{ s *Store }

func (src source) After(after int64, prefix string, max int) ([]store.Event, int64, error) {
	s := src.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, after, store.ErrClosed
	}
	if after < s.compactRev {
		return nil, after, fmt.Errorf("revision %d is older than the retained history (compacted at %d): %w",
			after, s.compactRev, store.ErrCompacted)
	}
	if max <= 0 {
		return nil, after, nil
	}
	var out []store.Event
	scanned := after
	examined := 0
	for i := sort.Search(len(s.hist), func(i int) bool { return s.hist[i].Rev > after }); i < len(s.hist); i++ {
		ev := s.hist[i]
		if ev.Rev != scanned && (len(out) >= max || examined >= scanLimit) {
			break
		}
		examined++
		scanned = ev.Rev
		if strings.HasPrefix(ev.KV.Key, prefix) {
			ev.KV.Value = slices.Clone(ev.KV.Value)
			out = append(out, ev)
		}
	}
	return out, scanned, nil
}
