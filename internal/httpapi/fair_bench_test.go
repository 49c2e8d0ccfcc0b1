package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRefusedSubmit is the server's cost of one submit refused with
// 429 for being over its tenant's rate: what a flooding tenant costs
// everyone else per request.
func BenchmarkRefusedSubmit(b *testing.B) {
	fair := DefaultFairness()
	fair.Tenant.Rate, fair.Tenant.Burst = 1e-6, 1 // the first submit empties the bucket for good
	h := New(Config{Backend: &fairStub{}, Registry: prometheus.NewRegistry(), Fairness: fair})
	send(h, "acme", "POST", "/v1/jobs", jobBody)
	req := httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(jobBody))
	req.Header.Set("Authorization", "Bearer acme")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.Clone(req.Context()))
		if rec.Code != http.StatusTooManyRequests {
			b.Fatalf("submit over the rate: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkHeartbeatRequest is the API layer's cost of one heartbeat
// (authentication, admission in the agent level, decoding, the reply),
// the backend's own work aside.
func BenchmarkHeartbeatRequest(b *testing.B) {
	h := New(Config{Backend: &fairStub{}, Registry: prometheus.NewRegistry(), Fairness: DefaultFairness()})
	const body = `{"lease":"l-1","seq":1}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/nodes/n-1/heartbeat", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer agent")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("heartbeat: %d %s", rec.Code, rec.Body)
		}
	}
}
