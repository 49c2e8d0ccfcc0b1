package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
)

// fairStub authenticates "Bearer <tenant>" as that tenant, "Bearer agent"
// as an agent and "Bearer admin" as an admin. Submits block while hold is
// set, until it is closed.
type fairStub struct {
	Backend
	mu      sync.Mutex
	hold    chan struct{}
	submits map[string]int // tenant → submits that reached the backend
}

func (s *fairStub) Authenticate(ctx context.Context, secret string) (Principal, error) {
	switch secret {
	case "agent":
		return Principal{TokenID: "agent-1", Role: v1.RoleAgent}, nil
	case "admin":
		return Principal{TokenID: "admin-1", Role: v1.RoleAdmin}, nil
	}
	return Principal{TokenID: "tok-" + secret, Role: v1.RoleTenant, Tenant: secret}, nil
}

func (s *fairStub) Submit(ctx context.Context, p Principal, spec model.Job, wl *v1.Workload) (v1.Job, error) {
	s.mu.Lock()
	if s.submits == nil {
		s.submits = map[string]int{}
	}
	s.submits[p.Tenant]++
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return v1.Job{ID: "j-1", Spec: v1.JobSpec{Tenant: string(spec.Tenant)}}, nil
}

func (s *fairStub) Heartbeat(ctx context.Context, p Principal, node string, hb v1.Heartbeat) (v1.HeartbeatReply, error) {
	return v1.HeartbeatReply{}, nil
}

func send(h http.Handler, token, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const jobBody = `{"kind":"batch","workers":1,"cards_per_worker":1}`

// TestTenantOverRateGets429: a tenant over its rate is refused with 429 and
// a Retry-After header, and its refused submits never reach the backend,
// while another tenant is served.
func TestTenantOverRateGets429(t *testing.T) {
	stub := &fairStub{}
	reg := prometheus.NewRegistry()
	h := New(Config{Backend: stub, Registry: reg, Fairness: Fairness{Tenant: LevelConfig{Seats: 8, Rate: 0.5, Burst: 3}}})
	for i := range 3 {
		if rec := send(h, "acme", "POST", "/v1/jobs", jobBody); rec.Code != http.StatusCreated {
			t.Fatalf("submit %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := send(h, "acme", "POST", "/v1/jobs", jobBody)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("submit over the rate: %d %s, want 429", rec.Code, rec.Body)
	}
	after, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || after < 1 || after > 2 {
		t.Errorf("Retry-After %q; want the 2 s a token takes at 0.5/s", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "rate") {
		t.Errorf("429 body does not say why: %s", rec.Body)
	}
	if rec := send(h, "other", "POST", "/v1/jobs", jobBody); rec.Code != http.StatusCreated {
		t.Errorf("another tenant while acme is limited: %d %s", rec.Code, rec.Body)
	}
	if stub.submits["acme"] != 3 || stub.submits["other"] != 1 {
		t.Errorf("backend saw %v submits; want acme 3, other 1", stub.submits)
	}
	if n := counter(t, reg, "suanli_api_rejected_total", "tenant", "rate"); n != 1 {
		t.Errorf("rejected{tenant,rate} = %g, want 1", n)
	}
	// An admin is in another level with no rate limit.
	for range 5 {
		if rec := send(h, "admin", "POST", "/v1/jobs", `{"tenant":"acme","kind":"batch","workers":1,"cards_per_worker":1}`); rec.Code != http.StatusCreated {
			t.Fatalf("admin submit: %d %s", rec.Code, rec.Body)
		}
	}
}

// counter reads one labelled series of a counter vector (0 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			if strings.Join(vals, ",") == strings.Join(labels, ",") {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestHeartbeatsNotQueuedBehindTenants: with every tenant seat held by
// slow submits and more waiting, a heartbeat is answered at once, and a
// tenant at its own cap queues while another tenant takes a free seat.
func TestHeartbeatsNotQueuedBehindTenants(t *testing.T) {
	stub := &fairStub{hold: make(chan struct{})}
	reg := prometheus.NewRegistry()
	h := New(Config{Backend: stub, Registry: reg, Fairness: Fairness{
		Agent:  LevelConfig{Seats: 4},
		Tenant: LevelConfig{Seats: 3, FlowSeats: 2, Queue: 20, Wait: 30 * time.Second},
	}})
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 10 {
		wg.Go(func() { codes <- send(h, "acme", "POST", "/v1/jobs", jobBody).Code })
	}
	waitFor(t, "acme's 2 seats held and 8 waiting", func() bool {
		return gauge(t, reg, "suanli_api_executing", "tenant") == 2 && gauge(t, reg, "suanli_api_waiting", "tenant") == 8
	})
	// acme is at its cap: the third seat goes to another tenant.
	wg.Go(func() { codes <- send(h, "other", "POST", "/v1/jobs", jobBody).Code })
	// The seat gauge moves before the handler reaches the backend, so wait
	// for the backend to have seen every held submit, then check the split.
	waitFor(t, "other's submit to take the free seat", func() bool {
		stub.mu.Lock()
		defer stub.mu.Unlock()
		return gauge(t, reg, "suanli_api_executing", "tenant") == 3 && stub.submits["other"]+stub.submits["acme"] >= 3
	})
	stub.mu.Lock()
	if stub.submits["other"] != 1 || stub.submits["acme"] != 2 {
		t.Errorf("backend saw %v; want acme 2 (its cap), other 1", stub.submits)
	}
	stub.mu.Unlock()
	for i := range 20 {
		start := time.Now()
		rec := send(h, "agent", "POST", "/v1/nodes/n1/heartbeat", `{"lease":"l","seq":`+strconv.Itoa(i)+`}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("heartbeat: %d %s", rec.Code, rec.Body)
		}
		// Queued behind the tenants it would wait until they are released,
		// which happens only after this loop: any bound far above a
		// heartbeat's cost tells the two apart on a loaded machine.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("heartbeat took %s behind the tenants' requests", d)
		}
	}
	close(stub.hold)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusCreated {
			t.Errorf("a queued submit ended %d, want 201 once seats freed", c)
		}
	}
	if n := counter(t, reg, "suanli_api_dispatched_total", "tenant"); n != 11 {
		t.Errorf("dispatched{tenant} = %g, want 11", n)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name, lvl string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == lvl {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFairQueueRoundRobin: freed seats alternate between flows, so a
// tenant's one request is not served after another's backlog.
func TestFairQueueRoundRobin(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newAdmission(Fairness{Tenant: LevelConfig{Seats: 1, Queue: 10, Wait: time.Minute}}, reg)
	ctx := context.Background()
	acme := Principal{Role: v1.RoleTenant, Tenant: "acme"}
	other := Principal{Role: v1.RoleTenant, Tenant: "other"}
	first, err := a.admit(ctx, acme, false)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	queue := func(p Principal, name string, waiting float64) {
		wg.Go(func() {
			release, err := a.admit(ctx, p, false)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			release()
		})
		waitFor(t, name+" queued", func() bool { return gauge(t, reg, "suanli_api_waiting", "tenant") == waiting })
	}
	for i := range 4 {
		queue(acme, "acme"+strconv.Itoa(i+2), float64(i+1))
	}
	queue(other, "other1", 5)
	first()
	wg.Wait()
	want := "acme2 other1 acme3 acme4 acme5"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("served %s; want %s", got, want)
	}
}

// TestQueueFullAndTimeout: a flow whose queue is full is refused at once;
// a request that waits past the level's wait is refused; both are 429s
// counted by reason.
func TestQueueFullAndTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newAdmission(Fairness{Staff: LevelConfig{Seats: 1, Queue: 1, Wait: 50 * time.Millisecond}}, reg)
	ctx := context.Background()
	op := Principal{TokenID: "op", Role: v1.RoleOperator}
	release, err := a.admit(ctx, op, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := a.admit(ctx, op, false)
		done <- err
	}()
	waitFor(t, "one waiting", func() bool { return gauge(t, reg, "suanli_api_waiting", "staff") == 1 })
	_, err = a.admit(ctx, op, false)
	var thr *Throttled
	if !errors.As(err, &thr) || thr.Reason != "queue-full" {
		t.Fatalf("second waiter: %v, want queue-full", err)
	}
	if err := <-done; !errors.As(err, &thr) || thr.Reason != "timeout" {
		t.Fatalf("waiter: %v, want timeout", err)
	}
	if code, _ := status(err); code != http.StatusTooManyRequests {
		t.Errorf("status %d, want 429", code)
	}
	// A long-running request takes no seat.
	if _, err := a.admit(ctx, op, true); err != nil {
		t.Errorf("stream while the seat is held: %v", err)
	}
	// A request whose client goes away while it waits leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	a.levels[LevelStaff].cfg.Wait = time.Minute
	if _, err := a.admit(cctx, op, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled waiter: %v", err)
	}
	if g := gauge(t, reg, "suanli_api_waiting", "staff"); g != 0 {
		t.Errorf("waiting = %g after the waiters left", g)
	}
}

func TestFairnessValidate(t *testing.T) {
	if err := DefaultFairness().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Fairness{Tenant: LevelConfig{Seats: -1, Rate: -2, Wait: -time.Second}}
	err := bad.Validate()
	for _, want := range []string{"negative", "rate -2", "wait -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to mention %q", err, want)
		}
	}
}
