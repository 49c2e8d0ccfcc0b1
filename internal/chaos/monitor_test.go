//go:build linux

package chaos

import (
	"context"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// monitor samples, while the suite runs, whether a replica leads (every
// 100 ms) and how long the oldest pending probe job has waited (every
// 500 ms). Windows ask for the worst of each since they opened.
type monitor struct {
	d   *deployment
	ack *acked

	mu         sync.Mutex // guards the fields below
	noLeader   time.Time  // since when no replica leads; zero while one does
	worstGap   time.Duration
	windowGap  time.Duration
	worstStall time.Duration
	windowStal time.Duration
	oldest     time.Time // ack time of the oldest pending probe; zero if none
}

func (m *monitor) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			leads := m.d.leaderOf(ctx) >= 0
			now := time.Now()
			m.mu.Lock()
			switch {
			case !leads && m.noLeader.IsZero():
				m.noLeader = now
			case leads && !m.noLeader.IsZero():
				gap := now.Sub(m.noLeader)
				m.worstGap, m.windowGap = max(m.worstGap, gap), max(m.windowGap, gap)
				m.noLeader = time.Time{}
			}
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			m.sampleProbes(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	wg.Wait()
}

// sampleProbes finds the oldest probe that is not yet placed.
func (m *monitor) sampleProbes(ctx context.Context) {
	acks := m.ack.snapshot()
	var oldest time.Time
	for _, state := range []string{v1.StatePending, v1.StateBlocked} {
		jobs, err := m.d.listAll(ctx, v1.JobFilter{Tenant: tenantProbe, State: state}, 0)
		if err != nil {
			return // no replica answers: the leader gap says so
		}
		for _, j := range jobs {
			if a, ok := acks[j.ID]; ok && (oldest.IsZero() || a.at.Before(oldest)) {
				oldest = a.at
			}
		}
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.oldest = oldest
	if !oldest.IsZero() {
		stall := now.Sub(oldest)
		m.worstStall, m.windowStal = max(m.worstStall, stall), max(m.windowStal, stall)
	}
}

// open starts a window: the worst gap and stall since now.
func (m *monitor) open() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.windowGap, m.windowStal = 0, 0
}

// window returns the worst time without a leader (an ongoing gap
// included) and the worst probe stall since open.
func (m *monitor) window() (gap, stall time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gap = m.windowGap
	if !m.noLeader.IsZero() {
		gap = max(gap, time.Since(m.noLeader))
	}
	return gap, m.windowStal
}

func (m *monitor) worst() (gap, stall time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gap = m.worstGap
	if !m.noLeader.IsZero() {
		gap = max(gap, time.Since(m.noLeader))
	}
	return gap, m.worstStall
}

// leaderNow reports whether a replica leads at the last sample.
func (m *monitor) leaderNow() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.noLeader.IsZero()
}
