package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
)

// agentStub answers the agent calls; every other Backend method is nil
// (the handler's recover turns a call to one into a 500, failing the test).
type agentStub struct {
	Backend
	calls int
}

func (a *agentStub) Authenticate(ctx context.Context, secret string) (Principal, error) {
	return Principal{TokenID: "t", Role: v1.RoleAgent}, nil
}

func (a *agentStub) RegisterNode(ctx context.Context, p Principal, reg v1.NodeRegistration) (v1.NodeLease, error) {
	a.calls++
	return v1.NodeLease{Node: reg.Node, Lease: "l"}, nil
}

func (a *agentStub) Heartbeat(ctx context.Context, p Principal, node string, hb v1.Heartbeat) (v1.HeartbeatReply, error) {
	a.calls++
	return v1.HeartbeatReply{}, nil
}

func (a *agentStub) ReportWorker(ctx context.Context, p Principal, job string, r v1.WorkerReport) (v1.Job, error) {
	a.calls++
	return v1.Job{ID: job}, nil
}

// TestAgentPayloadsListEveryProblem: an agent's malformed request is a 400
// naming every problem with its field path, and reaches no backend.
func TestAgentPayloadsListEveryProblem(t *testing.T) {
	stub := &agentStub{}
	h := New(Config{Backend: stub})
	tests := []struct {
		name, method, path, body string
		want                     []string
	}{
		{"registration", "POST", "/v1/nodes/n1/register",
			`{"node":"n2","devices":[{"index":-2,"vendor":"","name":"x","health":"Fine"}],"domains":[{"vendor":"v","indices":[5000]}]}`,
			[]string{"node", "devices[0].health", "devices[0].index", "devices[0].vendor", "domains[0].indices[0]"}},
		{"heartbeat", "POST", "/v1/nodes/n1/heartbeat", `{"seq":1}`, []string{"lease"}},
		{"worker", "POST", "/v1/jobs/j-1/workers/2/status",
			`{"node":"","worker":3,"state":"exploded","output_tail":"` + strings.Repeat("x", v1.MaxOutputTail+1) + `","checkpoint":{"step":-1}}`,
			[]string{"worker", "node", "state", "output_tail", "checkpoint.step"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer sl_x")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var e v1.Error
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := map[string]bool{}
			for _, p := range e.Problems {
				got[p.Field] = true
			}
			for _, f := range tt.want {
				if !got[f] {
					t.Errorf("no problem at %s in %+v", f, e.Problems)
				}
			}
		})
	}
	if stub.calls != 0 {
		t.Errorf("%d invalid requests reached the backend", stub.calls)
	}
	// A valid registration does.
	req := httptest.NewRequest("POST", "/v1/nodes/n1/register", strings.NewReader(`{"node":"n1","devices":[{"index":0,"vendor":"Huawei","name":"910B3","health":"OK"}]}`))
	req.Header.Set("Authorization", "Bearer sl_x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || stub.calls != 1 {
		t.Errorf("valid registration: %d %s", rec.Code, rec.Body)
	}
}

// FuzzAgentPayloads: no agent payload makes the decoder or the validation
// panic or answer other than 4xx.
func FuzzAgentPayloads(f *testing.F) {
	f.Add([]byte(`{"node":"n1","devices":[{"index":0,"vendor":"Huawei","name":"910B3","health":"OK"}],"labels":{"a":"b"}}`))
	f.Add([]byte(`{"lease":"l","seq":3,"running":[{"job":"j","worker":0}]}`))
	f.Add([]byte(`{"node":"n","worker":0,"state":"completed","exit_code":0,"checkpoint":{"step":9,"at":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"lease":"l","devices":[{"index":-1,"vendor":"X","name":"?","health":"Unknown"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil {
				if code, _ := status(err); code < 400 || code >= 500 {
					t.Fatalf("input %q: status %d for %v", b, code, err)
				}
			}
		}
		var reg v1.NodeRegistration
		if err := decodeReader(bytes.NewReader(b), &reg); err == nil {
			if p := deviceProblems("devices", reg.Devices); len(p) > 0 {
				check(p)
			}
		} else {
			check(err)
		}
		var rep v1.WorkerReport
		check(decodeReader(bytes.NewReader(b), &rep))
		var dr v1.DeviceReport
		check(decodeReader(bytes.NewReader(b), &dr))
		var hb v1.Heartbeat
		check(decodeReader(bytes.NewReader(b), &hb))
	})
}

// nodesStub lists one node with its agent's devices.
type nodesStub struct{ agentStub }

func (n *nodesStub) Nodes(ctx context.Context, site string) ([]v1.Node, error) {
	return []v1.Node{{ID: "n1", Site: "s", Model: "m", Cards: 2, State: v1.NodeReady, Healthy: true,
		Devices:  []v1.NodeDevice{{Index: 0, Vendor: "v", Model: "m"}, {Index: 1, Vendor: "v", Model: "m"}},
		Warnings: []string{"w"}}}, nil
}

// TestNodesWithoutDevices: ?devices=false leaves out what agents reported
// (the dashboard's summary of the whole network); a bad value is a 400.
func TestNodesWithoutDevices(t *testing.T) {
	h := New(Config{Backend: &nodesStub{}})
	get := func(q string) (int, []v1.Node, string) {
		req := httptest.NewRequest("GET", "/v1/nodes"+q, nil)
		req.Header.Set("Authorization", "Bearer sl_x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var ns []v1.Node
		_ = json.Unmarshal(rec.Body.Bytes(), &ns)
		return rec.Code, ns, rec.Body.String()
	}
	if code, ns, body := get(""); code != 200 || len(ns) != 1 || len(ns[0].Devices) != 2 {
		t.Fatalf("full listing: %d %s", code, body)
	}
	code, ns, body := get("?devices=false")
	if code != 200 || len(ns) != 1 || ns[0].Devices != nil || ns[0].Warnings != nil || ns[0].Cards != 2 || !ns[0].Healthy {
		t.Fatalf("summary: %d %s", code, body)
	}
	if code, _, body := get("?devices=no"); code != http.StatusBadRequest || !strings.Contains(body, "devices") {
		t.Errorf("bad value: %d %s", code, body)
	}
}
