// Package feed fans a store's event history out to watchers. A store keeps
// the history (in memory or on disk) behind Source and calls Notify after
// every commit; each Watch runs one pump goroutine, owned by the Feed and
// joined by Close, that pages through the history and then waits for the next
// Notify. Writers never block on slow watchers.
package feed

import (
	"context"
	"sync"

	"github.com/suanli/suanli/internal/store"
)

// Source reads a store's retained history.
type Source interface {
	// After returns, in order, up to about max events on keys with the prefix
	// whose revision is greater than after, and scanned: the revision up to
	// which every event (matching or not) has been examined. It returns an
	// error wrapping store.ErrCompacted if events after `after` were
	// discarded. It never splits a revision: all events of one revision are
	// returned together. With max <= 0 it only checks for compaction.
	After(after int64, prefix string, max int) (evs []store.Event, scanned int64, err error)
}

// page is how many events a pump reads per call to Source.After.
const page = 256

// buffer is each watch channel's capacity.
const buffer = 128

// Feed wakes watchers on commits. The zero value is not usable; use New.
type Feed struct {
	src  Source
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.Mutex    // guards wake and closed
	wake   chan struct{} // closed and replaced by Notify
	closed bool
}

// New returns a Feed over src.
func New(src Source) *Feed {
	return &Feed{src: src, done: make(chan struct{}), wake: make(chan struct{})}
}

// Notify wakes every pump: new history may be readable.
func (f *Feed) Notify() {
	f.mu.Lock()
	if !f.closed {
		close(f.wake)
		f.wake = make(chan struct{})
	}
	f.mu.Unlock()
}

func (f *Feed) waiter() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wake
}

// Watch starts a pump delivering events with revision > fromRev on keys with
// prefix. It checks fromRev against the history before returning.
func (f *Feed) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := store.ValidateFromRev(fromRev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, store.ErrClosed
	}
	f.wg.Add(1)
	f.mu.Unlock()
	// Probe once so that a compacted fromRev fails here, not as a silently
	// closed channel.
	if _, _, err := f.src.After(fromRev, prefix, 0); err != nil {
		f.wg.Done()
		return nil, err
	}
	ch := make(chan store.Event, buffer)
	go f.pump(ctx, ch, prefix, fromRev)
	return ch, nil
}

func (f *Feed) pump(ctx context.Context, ch chan<- store.Event, prefix string, last int64) {
	defer f.wg.Done()
	defer close(ch)
	for {
		wake := f.waiter()
		evs, scanned, err := f.src.After(last, prefix, page)
		if err != nil {
			return // compacted past us, or closed: the consumer re-lists
		}
		for _, ev := range evs {
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			case <-f.done:
				return
			}
		}
		if scanned > last {
			last = scanned
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-f.done:
			return
		}
	}
}

// Close stops every pump, closing their channels, and waits for them.
func (f *Feed) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.wg.Wait()
		return
	}
	f.closed = true
	close(f.done)
	f.mu.Unlock()
	f.wg.Wait()
}
