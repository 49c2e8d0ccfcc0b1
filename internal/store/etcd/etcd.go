// Package etcd is the high-availability store: store.Store on an etcd v3
// cluster. Keys live under a configurable prefix; revisions are etcd's own
// (shared by every prefix on the cluster, so they increase but skip); Txn maps
// to one etcd Txn with ModRevision/CreateRevision compares.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/suanli/suanli/internal/store"
)

// DefaultPrefix is where keys live unless Config says otherwise.
const DefaultPrefix = "/suanli/"

// listPage is how many keys one List round trip fetches.
const listPage = 1000

// Config tunes a Store.
type Config struct {
	// Prefix is prepended to every key (default DefaultPrefix). Stores with
	// different prefixes share a cluster without seeing each other's keys.
	Prefix string
}

// Store is a store.Store on an etcd client. Safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	owned  bool // Close closes cli

	ctx    context.Context // cancelled by Close: ends every watch
	cancel context.CancelFunc
	wg     sync.WaitGroup // watch goroutines

	mu     sync.RWMutex // guards closed
	closed bool
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Compactor = (*Store)(nil)
)

// New returns a Store on cli. Close does not close cli.
func New(cli *clientv3.Client, cfg Config) *Store {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{cli: cli, prefix: cfg.Prefix, ctx: ctx, cancel: cancel}
}

// Dial connects to the cluster and returns a Store that owns the client.
func Dial(ccfg clientv3.Config, cfg Config) (*Store, error) {
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", ccfg.Endpoints, err)
	}
	s := New(cli, cfg)
	s.owned = true
	return s, nil
}

// Client returns the etcd client, for leader election.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) check() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// mapErr turns etcd's errors into the store's sentinels.
func mapErr(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w (etcd: %v)", store.ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w (etcd: %v)", store.ErrInvalid, err)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrDuplicateKey),
		errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrEmptyKey):
		return fmt.Errorf("%w (etcd: %v)", store.ErrInvalid, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err says the cluster did not answer: no
// leader or quorum, a timeout, a member that stopped.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var c interface{ Code() codes.Code }
	if errors.As(err, &c) {
		return c.Code() == codes.Unavailable || c.Code() == codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded
	}
	return false
}

func (s *Store) kv(kv *mvccpb.KeyValue) store.KV {
	v := kv.Value
	if v == nil {
		v = []byte{}
	}
	return store.KV{Key: strings.TrimPrefix(string(kv.Key), s.prefix), Value: v, CreateRev: kv.CreateRevision, ModRev: kv.ModRevision}
}

// Get implements store.Getter.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	if err := s.check(); err != nil {
		return store.KV{}, fmt.Errorf("get %q: %w", key, err)
	}
	resp, err := s.cli.Get(ctx, s.prefix+key)
	if err != nil {
		return store.KV{}, fmt.Errorf("get %q: %w", key, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return s.kv(resp.Kvs[0]), nil
}

// List implements store.Lister. Large ranges are read in pages, all at the
// revision of the first page.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, 0, fmt.Errorf("list: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, 0, fmt.Errorf("list %q: %w", prefix, err)
	}
	from := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(from)
	var (
		kvs []store.KV
		rev int64
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("list %q: %w", prefix, mapErr(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			kvs = append(kvs, s.kv(kv))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return kvs, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ListPage implements store.Lister: one round trip.
func (s *Store) ListPage(ctx context.Context, prefix, after string, limit int) ([]store.KV, int64, error) {
	if err := store.ValidatePage(prefix, limit); err != nil {
		return nil, 0, fmt.Errorf("list page: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, 0, fmt.Errorf("list page %q: %w", prefix, err)
	}
	from := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(from)
	if after >= prefix {
		from = s.prefix + after + "\x00"
	}
	resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, 0, fmt.Errorf("list page %q: %w", prefix, mapErr(err))
	}
	kvs := make([]store.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, s.kv(kv))
	}
	return kvs, resp.Header.Revision, nil
}

// Txn implements store.Committer as one etcd Txn: If(conds) Then(ops)
// Else(read the cond keys), the Else branch naming the conflicting key.
func (s *Store) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if err := t.Validate(); err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	cmps := make([]clientv3.Cmp, len(t.Conds))
	reads := make([]clientv3.Op, len(t.Conds))
	for i, c := range t.Conds {
		key := s.prefix + c.Key
		if c.ModRev == 0 {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		} else {
			cmps[i] = clientv3.Compare(clientv3.ModRevision(key), "=", c.ModRev)
		}
		reads[i] = clientv3.OpGet(key, clientv3.WithKeysOnly())
	}
	ops := make([]clientv3.Op, len(t.Ops))
	for i, op := range t.Ops {
		if op.Type == store.Put {
			ops[i] = clientv3.OpPut(s.prefix+op.Key, string(op.Value))
		} else {
			ops[i] = clientv3.OpDelete(s.prefix + op.Key)
		}
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
	if err != nil {
		return 0, fmt.Errorf("txn: %w", mapErr(err))
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	for i, c := range t.Conds {
		var got int64
		if r := resp.Responses[i].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
			got = r.Kvs[0].ModRevision
		}
		if got != c.ModRev {
			return 0, &store.ConflictError{Key: c.Key, Want: c.ModRev, Got: got}
		}
	}
	return 0, fmt.Errorf("txn: etcd reported a failed compare but every condition holds: %w", store.ErrConflict)
}

// Compact implements store.Compactor. It compacts the whole cluster's
// history, not only this store's prefix.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	_, err := s.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("compact to revision %d: %w", rev, mapErr(err))
	}
	return nil
}

// Watch implements store.Watcher on an etcd watch that requires a leader:
// if the member the client talks to loses its leader, the channel closes and
// the consumer re-lists, rather than waiting on a partitioned member.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if err := store.ValidateFromRev(fromRev); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("watch %q: %w", prefix, store.ErrClosed)
	}
	// etcd reports a compacted start revision asynchronously; a read at
	// fromRev reports it now.
	_, err := s.cli.Get(ctx, s.prefix, clientv3.WithRev(max(fromRev, 1)), clientv3.WithCountOnly())
	if err != nil && !errors.Is(err, rpctypes.ErrFutureRev) {
		return nil, fmt.Errorf("watch %q from revision %d: %w", prefix, fromRev, mapErr(err))
	}
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	wch := s.cli.Watch(clientv3.WithRequireLeader(wctx), s.prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(fromRev+1))
	out := make(chan store.Event, 128)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer stop()
		defer cancel()
		for resp := range wch {
			if resp.Canceled || resp.CompactRevision != 0 || resp.Err() != nil {
				return // the consumer re-lists
			}
			for _, e := range resp.Events {
				ev := store.Event{Type: store.Put, KV: s.kv(e.Kv), Rev: e.Kv.ModRevision}
				if e.Type == mvccpb.DELETE {
					ev = store.Event{Type: store.Delete, KV: store.KV{Key: ev.KV.Key, ModRev: ev.Rev}, Rev: ev.Rev}
				}
				select {
				case out <- ev:
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Close ends every watch; it closes the client only if Dial made it.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.owned {
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("close etcd client: %w", err)
		}
	}
	return nil
}
