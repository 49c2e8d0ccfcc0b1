// Package store is Suanli's durable state port: a revisioned key-value store
// with etcd-like semantics. Every successful write transaction bumps one
// global revision; readers get consistent snapshots at a revision; writers
// commit with compare-and-swap conditions on the revisions they read; watchers
// receive every change after a revision, in order.
//
// Three implementations live in subpackages: mem (tests, simulator), bolt (the
// embedded on-disk default) and etcd (high availability). storetest holds the
// one conformance suite all three pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Limits every implementation enforces, so that a transaction accepted by one
// store is accepted by all (etcd's defaults are the binding ones).
const (
	MaxKeyBytes   = 4 << 10 // longest key
	MaxValueBytes = 1 << 20 // largest value
	MaxTxnOps     = 128     // most conditions, and most ops, in one Txn
	// MaxTxnBytes bounds the keys and values of one Txn together: etcd
	// refuses a request over 1.5 MiB (--max-request-bytes), this leaves
	// room for the request's own encoding.
	MaxTxnBytes = 1<<20 + 1<<18 // 1.25 MiB
)

// Sentinel errors. Implementations wrap them with the operation and key; test
// with errors.Is.
var (
	// ErrNotFound: Get of a key that does not exist.
	ErrNotFound = errors.New("key not found")
	// ErrConflict: a Txn condition did not hold; nothing was written. Re-read
	// and retry. The concrete error is a *ConflictError naming the key.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: Watch from a revision older than the retained history.
	// List again and watch from the revision List returns.
	ErrCompacted = errors.New("revision compacted")
	// ErrInvalid: bad input (empty or oversized key, duplicate op keys, …).
	ErrInvalid = errors.New("invalid request")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the store did not answer (no quorum, no leader, a
	// timeout); the request may or may not have been applied. Retry later.
	ErrUnavailable = errors.New("store unavailable")
)

// KV is one key at one revision.
type KV struct {
	Key   string
	Value []byte
	// CreateRev is the revision that created the key (after its last delete).
	CreateRev int64
	// ModRev is the revision of the key's last put (or, in a Delete event,
	// of its deletion).
	ModRev int64
}

// EventType says whether an Event is a put or a delete.
type EventType uint8

// Event types.
const (
	Put EventType = iota + 1
	Delete
)

func (t EventType) String() string {
	switch t {
	case Put:
		return "put"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one change. A Delete event's KV carries only Key and ModRev (the
// deleting revision). All events of one Txn share its Rev and arrive in the
// Txn's op order.
type Event struct {
	Type EventType
	KV   KV
	Rev  int64
}

// Cond is a Txn condition: the key's ModRev must equal ModRev; 0 means the key
// must not exist.
type Cond struct {
	Key    string
	ModRev int64
}

// Op is a Txn write: a put of Value, or a delete.
type Op struct {
	Type  EventType
	Key   string
	Value []byte
}

// PutOp returns an Op that sets key to value.
func PutOp(key string, value []byte) Op { return Op{Type: Put, Key: key, Value: value} }

// DeleteOp returns an Op that deletes key; deleting a missing key is a no-op.
func DeleteOp(key string) Op { return Op{Type: Delete, Key: key} }

// Txn is a compare-and-swap transaction: if every Cond holds, every Op is
// applied at one new revision; otherwise nothing is. A Txn whose ops change
// nothing (no ops, or only deletes of missing keys) does not bump the revision.
type Txn struct {
	Conds []Cond
	Ops   []Op
}

// Getter reads one key.
type Getter interface {
	// Get returns the key's current KV, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
}

// Lister reads a consistent snapshot of a key range.
type Lister interface {
	// List returns every key with the prefix ("" for all), sorted by key, as
	// of revision rev, which it also returns.
	List(ctx context.Context, prefix string) (kvs []KV, rev int64, err error)
	// ListPage returns up to limit keys with the prefix that sort after
	// after ("": from the first), sorted by key, and the revision read at.
	// Reading a large range page by page takes memory for one page; pages
	// may be read at different revisions.
	ListPage(ctx context.Context, prefix, after string, limit int) (kvs []KV, rev int64, err error)
}

// Committer writes.
type Committer interface {
	// Txn applies t atomically and returns the store revision after it (the
	// Txn's own revision when it wrote). A failed Cond returns a
	// *ConflictError (errors.Is ErrConflict). If ctx ends before the result
	// arrives, the Txn may or may not have been applied.
	Txn(ctx context.Context, t Txn) (rev int64, err error)
}

// Watcher streams changes.
type Watcher interface {
	// Watch delivers every event on keys with the prefix whose revision is
	// greater than fromRev, in revision order: first from history, then live.
	// It returns ErrCompacted if fromRev is older than the retained history.
	// The channel closes when ctx ends or the store closes, or early if the
	// watcher falls further behind than the retained history; a consumer that
	// sees it close while its ctx is live should List and Watch again.
	Watch(ctx context.Context, prefix string, fromRev int64) (<-chan Event, error)
}

// Store is the whole port.
type Store interface {
	Getter
	Lister
	Committer
	Watcher
	io.Closer
}

// Compactor is implemented by stores whose history can be trimmed on demand.
type Compactor interface {
	// Compact discards history up to and including rev: afterwards Watch from
	// any revision below rev returns ErrCompacted.
	Compact(ctx context.Context, rev int64) error
}

// ConflictError reports the first Txn condition that did not hold.
type ConflictError struct {
	Key  string
	Want int64 // the condition's ModRev (0: must not exist)
	Got  int64 // the key's actual ModRev (0: does not exist)
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("txn: key %q has mod revision %d, condition wants %d: %v (re-read and retry)",
		e.Key, e.Got, e.Want, ErrConflict)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }
