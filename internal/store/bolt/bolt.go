// Package bolt is the default embedded store: one bbolt file under a data
// directory, fsync'd on every commit, crash-safe, with a bounded on-disk
// history for Watch. Concurrent Txn calls are group-committed: one goroutine
// applies every queued Txn in one bolt transaction and one fsync, then answers
// each caller with its own result.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/feed"
)

// FileName is the store's file inside Config.Dir.
const FileName = "store.db"

// Defaults for Config.
const (
	DefaultHistoryEvents = 100_000
	DefaultMaxBatch      = 1024
)

// Config says where and how a Store keeps its data.
type Config struct {
	// Dir is the data directory, created if missing. Required.
	Dir string
	// HistoryEvents is how many recent events are kept on disk for Watch
	// (default DefaultHistoryEvents); older ones are compacted away a whole
	// revision at a time.
	HistoryEvents int
	// MaxBatch caps how many Txn calls share one commit (default
	// DefaultMaxBatch).
	MaxBatch int
	// LockTimeout is how long Open waits for another process to release the
	// file (default 2s).
	LockTimeout time.Duration
}

// Store is a store.Store on one bbolt file. Safe for concurrent use.
type Store struct {
	cfg  Config
	db   *bbolt.DB
	feed *feed.Feed
	reqs chan *request
	stop chan struct{} // closed by Close: the committer drains and exits
	done chan struct{} // closed when the committer has exited

	mu     sync.RWMutex // guards closed; held for reading while sending on reqs
	closed bool

	// Owned by the committer goroutine (set before it starts).
	rev      int64
	logCount int

	commits, txns atomic.Int64 // for Stats
}

// Stats counts the committer's work since Open.
type Stats struct {
	Commits int64 // bolt transactions, each one fsync
	Txns    int64 // Txn calls answered by those commits
}

// Stats reports how well group commit is batching.
func (s *Store) Stats() Stats { return Stats{Commits: s.commits.Load(), Txns: s.txns.Load()} }

var (
	_ store.Store     = (*Store)(nil)
	_ store.Compactor = (*Store)(nil)
)

// Open opens or creates the store under cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("open bolt store: Config.Dir is empty; give a data directory: %w", store.ErrInvalid)
	}
	if cfg.HistoryEvents <= 0 {
		cfg.HistoryEvents = DefaultHistoryEvents
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open bolt store: create data dir: %w", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        cfg.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open bolt store %s: the file is locked by another process; stop it or use another data dir", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	s := &Store{
		cfg:  cfg,
		db:   db,
		reqs: make(chan *request, 4*cfg.MaxBatch),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		s.rev = u64(tx.Bucket(bucketMeta).Get(metaRev))
		s.logCount = tx.Bucket(bucketLog).Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	s.feed = feed.New(source{s})
	go s.commitLoop()
	return s, nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.cfg.Dir }

func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(fn)
}

// Get implements store.Getter.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	var kv store.KV
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKV).Get([]byte(key))
		if b == nil {
			return store.ErrNotFound
		}
		var err error
		kv, err = decodeKV(key, b)
		return err
	})
	if err != nil {
		return store.KV{}, fmt.Errorf("get %q: %w", key, err)
	}
	return kv, nil
}

// List implements store.Lister.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, 0, fmt.Errorf("list: %w", err)
	}
	var (
		kvs []store.KV
		rev int64
	)
	p := []byte(prefix)
	err := s.view(func(tx *bbolt.Tx) error {
		rev = u64(tx.Bucket(bucketMeta).Get(metaRev))
		c := tx.Bucket(bucketKV).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decodeKV(string(k), v)
			if err != nil {
				return err
			}
			kvs = append(kvs, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list %q: %w", prefix, err)
	}
	return kvs, rev, nil
}

// ListPage implements store.Lister.
func (s *Store) ListPage(ctx context.Context, prefix, after string, limit int) ([]store.KV, int64, error) {
	if err := store.ValidatePage(prefix, limit); err != nil {
		return nil, 0, fmt.Errorf("list page: %w", err)
	}
	var (
		kvs []store.KV
		rev int64
	)
	p := []byte(prefix)
	from := p
	if after >= prefix {
		from = []byte(after + "\x00")
	}
	err := s.view(func(tx *bbolt.Tx) error {
		rev = u64(tx.Bucket(bucketMeta).Get(metaRev))
		c := tx.Bucket(bucketKV).Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, p) && len(kvs) < limit; k, v = c.Next() {
			kv, err := decodeKV(string(k), v)
			if err != nil {
				return err
			}
			kvs = append(kvs, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list page %q: %w", prefix, err)
	}
	return kvs, rev, nil
}

// Watch implements store.Watcher.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error) {
	ch, err := s.feed.Watch(ctx, prefix, fromRev)
	if err != nil {
		return nil, fmt.Errorf("watch %q from revision %d: %w", prefix, fromRev, err)
	}
	return ch, nil
}

// Close ends every watch, answers queued Txn calls with store.ErrClosed and
// closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.feed.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bolt store %s: %w", s.cfg.Dir, err)
	}
	return nil
}

// scanLimit bounds how many history records one After call examines.
const scanLimit = 4096

// source reads the on-disk history for the feed.
type source struct{ s *Store }

func (src source) After(after int64, prefix string, max int) ([]store.Event, int64, error) {
	var out []store.Event
	scanned := after
	err := src.s.view(func(tx *bbolt.Tx) error {
		if compact := u64(tx.Bucket(bucketMeta).Get(metaCompact)); after < compact {
			return fmt.Errorf("revision %d is older than the retained history (compacted at %d): %w",
				after, compact, store.ErrCompacted)
		}
		if max <= 0 {
			return nil
		}
		c := tx.Bucket(bucketLog).Cursor()
		examined := 0
		for k, v := c.Seek(logKey(after+1, 0)); k != nil; k, v = c.Next() {
			rev := logRev(k)
			if rev != scanned && (len(out) >= max || examined >= scanLimit) {
				break
			}
			examined++
			scanned = rev
			if !hasKeyPrefix(v, prefix) {
				continue
			}
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, after, err
	}
	return out, scanned, nil
}

// hasKeyPrefix tests an encoded event's key without decoding its value.
func hasKeyPrefix(v []byte, prefix string) bool {
	if prefix == "" {
		return true
	}
	k, ok := eventKey(v)
	return ok && strings.HasPrefix(string(k), prefix) // no allocation: the conversion is only compared
}
