package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	v1 "github.com/suanli/suanli/api/v1"
)

// Fair sharing of the API between clients, after Kubernetes' API Priority
// and Fairness. Every authenticated request belongs to a priority level by
// its principal's role:
//
//	agent   node agents: heartbeats, registrations, reports, assignments
//	staff   admins and operators
//	tenant  tenants, one flow per tenant
//
// Each level has its own seats (requests it executes at once), so no level
// waits for another's: a tenant flood cannot hold the seats heartbeats
// need. A request that finds its level's seats taken waits in its flow's
// queue; a freed seat goes to the next flow round-robin, so a tenant with
// a thousand requests queued and one with one are served alternately. In
// the tenant level each tenant also has a token-bucket rate limit and a cap
// on the requests it executes at once. A request over its tenant's rate, or
// whose queue is full, or that waited too long, is refused at once with 429
// and a Retry-After header; it never reaches the store. Long-running
// requests (the event stream) pass the rate limit but take no seat.

// Priority levels, as the metrics label them.
const (
	LevelAgent  = "agent"
	LevelStaff  = "staff"
	LevelTenant = "tenant"
)

// LevelConfig sizes one priority level.
type LevelConfig struct {
	// Seats is how many of the level's requests execute at once; more
	// wait. Zero: no limit (and no queue).
	Seats int
	// Queue is how many requests one flow may have waiting; one more is
	// refused with 429. Zero: 64.
	Queue int
	// Wait is the longest a request waits for a seat before it is refused
	// with 429. Zero: 5 s.
	Wait time.Duration
	// FlowSeats caps the seats one flow (a tenant, a token) holds at once,
	// so that one flow cannot take the whole level. Zero: no cap.
	FlowSeats int
	// Rate is each flow's sustained request rate, per second, with bursts
	// of Burst (at least 1). Zero: no rate limit.
	Rate  float64
	Burst int
}

// Fairness configures admission control per priority level. The zero value
// admits everything at once (no limits), as tests and embedded servers
// want; DefaultFairness is what `suanli serve` starts with.
type Fairness struct {
	Agent, Staff, Tenant LevelConfig
}

// DefaultFairness is the admission control `suanli serve` applies unless
// told otherwise: agents far ahead of everyone (thousands of nodes
// heartbeat), staff next, and each tenant 20 requests a second (bursts of
// 40) with at most 4 executing at once, in a level of 32 seats.
func DefaultFairness() Fairness {
	return Fairness{
		Agent:  LevelConfig{Seats: 512, Queue: 4096, Wait: 5 * time.Second},
		Staff:  LevelConfig{Seats: 64, Queue: 256, Wait: 10 * time.Second},
		Tenant: LevelConfig{Seats: 32, Queue: 64, Wait: 5 * time.Second, FlowSeats: 4, Rate: 20, Burst: 40},
	}
}

// Validate reports every setting out of range.
func (f Fairness) Validate() error {
	var errs []error
	for _, l := range []struct {
		name string
		c    LevelConfig
	}{{LevelAgent, f.Agent}, {LevelStaff, f.Staff}, {LevelTenant, f.Tenant}} {
		c := l.c
		if c.Seats < 0 || c.Queue < 0 || c.FlowSeats < 0 || c.Burst < 0 {
			errs = append(errs, fmt.Errorf("%s: seats, queue, flow seats and burst must not be negative", l.name))
		}
		if c.Wait < 0 {
			errs = append(errs, fmt.Errorf("%s: wait %s is negative", l.name, c.Wait))
		}
		if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
			errs = append(errs, fmt.Errorf("%s: rate %g must be 0 (no limit) or a positive number of requests a second", l.name, c.Rate))
		}
	}
	return errors.Join(errs...)
}

// Throttled is a request refused by admission control: 429 with
// Retry-After.
type Throttled struct {
	Level  string
	Reason string // rate, queue-full, timeout
	After  time.Duration
	Detail string
}

func (t *Throttled) Error() string { return t.Detail }

// retryAfter is the Retry-After header's value: whole seconds, at least 1.
func (t *Throttled) retryAfter() string {
	s := int64(math.Ceil(t.After.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// admission holds the three levels and their metrics.
type admission struct {
	levels     map[string]*level
	dispatched *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	waiting    *prometheus.GaugeVec
	executing  *prometheus.GaugeVec
	wait       *prometheus.HistogramVec
}

func newAdmission(f Fairness, reg prometheus.Registerer) *admission {
	a := &admission{
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suanli_api_dispatched_total",
			Help: "API requests admitted to execute, by priority level."}, []string{"level"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suanli_api_rejected_total",
			Help: "API requests refused with 429, by priority level and reason (rate, queue-full, timeout)."}, []string{"level", "reason"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "suanli_api_waiting",
			Help: "API requests waiting for a seat, by priority level."}, []string{"level"}),
		executing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "suanli_api_executing",
			Help: "API requests holding a seat, by priority level."}, []string{"level"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "suanli_api_wait_seconds",
			Help: "Time API requests waited for a seat (0 for those admitted at once), by priority level.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"level"}),
	}
	reg.MustRegister(a.dispatched, a.rejected, a.waiting, a.executing, a.wait)
	a.levels = map[string]*level{}
	for name, c := range map[string]LevelConfig{LevelAgent: f.Agent, LevelStaff: f.Staff, LevelTenant: f.Tenant} {
		if c.Queue == 0 {
			c.Queue = 64
		}
		if c.Wait == 0 {
			c.Wait = 5 * time.Second
		}
		if c.Rate > 0 && c.Burst < 1 {
			c.Burst = 1
		}
		// Every level shows in the metrics from the start.
		a.levels[name] = &level{name: name, cfg: c, a: a, flows: map[string]*flow{}, m: levelMetrics{
			dispatched: a.dispatched.WithLabelValues(name), waiting: a.waiting.WithLabelValues(name),
			executing: a.executing.WithLabelValues(name), wait: a.wait.WithLabelValues(name)}}
	}
	return a
}

// classify returns a principal's level and flow.
func classify(p Principal) (lvl, flow string) {
	switch p.Role {
	case v1.RoleAgent:
		return LevelAgent, p.TokenID
	case v1.RoleTenant:
		return LevelTenant, p.Tenant
	}
	return LevelStaff, p.TokenID
}

// admit waits for a seat for the principal's request and returns the
// function that gives it back, or a *Throttled. A long-running request is
// rate limited but takes no seat.
func (a *admission) admit(ctx context.Context, p Principal, long bool) (func(), error) {
	lvl, key := classify(p)
	return a.levels[lvl].admit(ctx, key, long)
}

// level is one priority level: its seats, shared round-robin by its flows.
type level struct {
	name string
	cfg  LevelConfig
	a    *admission
	m    levelMetrics

	mu        sync.Mutex
	executing int              // guarded by mu: seats held
	flows     map[string]*flow // guarded by mu
	active    []*flow          // guarded by mu: flows with requests waiting, in round-robin order
	next      int              // guarded by mu: the index in active served next
}

// levelMetrics are a level's own series of the admission metrics, looked
// up once rather than on every request.
type levelMetrics struct {
	dispatched prometheus.Counter
	waiting    prometheus.Gauge
	executing  prometheus.Gauge
	wait       prometheus.Observer
}

// flow is one client of a level: a tenant, or a token.
type flow struct {
	key       string
	lim       *rate.Limiter // nil: no rate limit
	executing int           // seats held
	queue     []*waiter     // requests waiting, oldest first
}

// waiter is a queued request; ready is closed when it holds a seat.
type waiter struct {
	ready   chan struct{}
	granted bool // guarded by the level's mu
}

func (l *level) flow(key string) *flow {
	f := l.flows[key]
	if f == nil {
		f = &flow{key: key}
		if l.cfg.Rate > 0 {
			f.lim = rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)
		}
		l.flows[key] = f
	}
	return f
}

func (l *level) reject(reason string, after time.Duration, detail string) error {
	l.a.rejected.WithLabelValues(l.name, reason).Inc()
	return &Throttled{Level: l.name, Reason: reason, After: after, Detail: detail}
}

// canRun reports whether f may take a seat now.
func (l *level) canRun(f *flow) bool {
	return (l.cfg.Seats == 0 || l.executing < l.cfg.Seats) && (l.cfg.FlowSeats == 0 || f.executing < l.cfg.FlowSeats)
}

func (l *level) admit(ctx context.Context, key string, long bool) (func(), error) {
	now := time.Now()
	l.mu.Lock()
	f := l.flow(key)
	if f.lim != nil && !f.lim.AllowN(now, 1) {
		// The wait for the next token; the bucket is left as it was.
		d := time.Duration((1 - f.lim.TokensAt(now)) / l.cfg.Rate * float64(time.Second))
		l.mu.Unlock()
		return nil, l.reject("rate", d, fmt.Sprintf("%s %q is over its rate of %g requests a second (bursts of %d); retry after the Retry-After header's seconds", l.name, key, l.cfg.Rate, l.cfg.Burst))
	}
	if long || l.cfg.Seats == 0 && l.cfg.FlowSeats == 0 {
		l.mu.Unlock()
		l.m.dispatched.Inc()
		l.m.wait.Observe(0)
		return func() {}, nil
	}
	if len(f.queue) == 0 && l.canRun(f) {
		l.take(f)
		l.mu.Unlock()
		l.m.wait.Observe(0)
		return l.releaser(f), nil
	}
	if len(f.queue) >= l.cfg.Queue {
		l.mu.Unlock()
		return nil, l.reject("queue-full", time.Second, fmt.Sprintf("%s %q has %d requests waiting already, the most it may; retry later", l.name, key, l.cfg.Queue))
	}
	w := &waiter{ready: make(chan struct{})}
	if len(f.queue) == 0 {
		l.active = append(l.active, f)
	}
	f.queue = append(f.queue, w)
	l.mu.Unlock()
	l.m.waiting.Inc()
	defer l.m.waiting.Dec()

	t := time.NewTimer(l.cfg.Wait)
	defer t.Stop()
	var why error
	select {
	case <-w.ready:
		l.m.wait.Observe(time.Since(now).Seconds())
		return l.releaser(f), nil
	case <-t.C:
		why = l.reject("timeout", time.Second, fmt.Sprintf("%s %q waited %s for a seat; the server is busy, retry later", l.name, key, l.cfg.Wait))
	case <-ctx.Done():
		why = fmt.Errorf("%w: the request ended while it waited for a seat: %v", ErrUnavailable, ctx.Err())
	}
	l.mu.Lock()
	if w.granted { // the seat came as the wait ended: use it
		l.mu.Unlock()
		l.m.wait.Observe(time.Since(now).Seconds())
		return l.releaser(f), nil
	}
	l.dequeue(f, w)
	l.mu.Unlock()
	return nil, why
}

// take gives f a seat; l.mu is held.
func (l *level) take(f *flow) {
	l.executing++
	f.executing++
	l.m.dispatched.Inc()
	l.m.executing.Inc()
}

// dequeue removes a waiter that gave up; l.mu is held.
func (l *level) dequeue(f *flow, w *waiter) {
	for i, x := range f.queue {
		if x == w {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			break
		}
	}
	if len(f.queue) == 0 {
		l.deactivate(f)
	}
}

// deactivate drops f from the round-robin; l.mu is held.
func (l *level) deactivate(f *flow) {
	for i, x := range l.active {
		if x == f {
			l.active = append(l.active[:i], l.active[i+1:]...)
			if i < l.next {
				l.next--
			}
			break
		}
	}
	if l.next >= len(l.active) {
		l.next = 0
	}
}

// releaser returns the function that frees f's seat, once.
func (l *level) releaser(f *flow) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.executing--
			f.executing--
			l.m.executing.Dec()
			l.dispatch()
			l.mu.Unlock()
		})
	}
}

// dispatch hands free seats to waiting requests, one flow after another;
// l.mu is held.
func (l *level) dispatch() {
	for len(l.active) > 0 && (l.cfg.Seats == 0 || l.executing < l.cfg.Seats) {
		served := false
		for range len(l.active) {
			f := l.active[l.next]
			if !l.canRun(f) {
				l.next = (l.next + 1) % len(l.active)
				continue
			}
			w := f.queue[0]
			f.queue = f.queue[1:]
			w.granted = true
			l.take(f)
			close(w.ready)
			if len(f.queue) == 0 {
				l.deactivate(f)
			} else {
				l.next = (l.next + 1) % len(l.active)
			}
			served = true
			break
		}
		if !served {
			return // every waiting flow is at its own cap
		}
	}
}
