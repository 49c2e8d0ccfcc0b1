package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store"
)

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"ok", `{"kind":"gang","workers":2,"cards_per_worker":8}`, 0, ""},
		{"unknown field", `{"kind":"gang","workerz":2}`, 400, `unknown field "workerz"`},
		{"trailing", `{"kind":"gang"} {}`, 400, "trailing data"},
		{"empty", ``, 400, "body is empty"},
		{"syntax", `{"kind":`, 400, "not valid JSON"},
		{"type", `{"workers":"two"}`, 400, "want a int"},
		{"too big", `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "limit"},
		{"duplicate key", `{"kind":"gang","workers":2,"kind":"batch"}`, 400, `kind: duplicate key "kind"`},
		{"case-variant duplicate", `{"kind":"gang","workers":2,"Kind":"batch"}`, 400, `"Kind" and "kind" differ only in case`},
		{"case-variant key", `{"KIND":"gang","workers":2}`, 400, `KIND: not a field; did you mean "kind"? names are case-sensitive`},
		{"case-variant nested", `{"kind":"gang","workers":2,"workload":{"Command":["true"]}}`, 400, `workload.Command: not a field; did you mean "command"?`},
		{"duplicate map key", `{"kind":"gang","workers":2,"workload":{"command":["x"],"env":{"A":"1","A":"2"}}}`, 400, `workload.env.A: duplicate key "A"`},
		{"case-distinct map keys", `{"kind":"gang","workers":2,"workload":{"command":["x"],"env":{"A":"1","a":"2"}}}`, 0, ""},
		{"invalid UTF-8", "{\"kind\":\"g\xffang\",\"workers\":2}", 400, "not valid UTF-8 (at byte 10)"},
		{"invalid UTF-8 in a key", "{\"kind\":\"gang\",\"workers\":2,\"workload\":{\"command\":[\"x\"],\"env\":{\"\xc3\":\"1\"}}}", 400, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(tt.body))
			var spec v1.JobSpec
			err := decode(httptest.NewRecorder(), r, &spec)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			code, body := status(err)
			msg := body.Message
			for _, p := range body.Problems {
				msg += " " + p.Field + ": " + p.Message
			}
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("status(%v) = %d %q, want %d containing %q", err, code, msg, tt.code, tt.want)
			}
		})
	}
}

func TestJobFromSpecListsEveryProblem(t *testing.T) {
	_, err := JobFromSpec(v1.JobSpec{Kind: "gang", Workers: 0, CardsPerWorker: -1, ShareMilli: 2000, Topology: "planet", Priority: -5}, "acme")
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("err = %v, want Problems", err)
	}
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Field] = true
	}
	for _, f := range []string{"workers", "cards_per_worker", "share_milli", "topology", "priority"} {
		if !got[f] {
			t.Errorf("no problem reported for %s in %v", f, probs)
		}
	}
	if code, _ := status(err); code != 400 {
		t.Errorf("status = %d, want 400", code)
	}
}

func TestJobFromSpecRates(t *testing.T) {
	spec := v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, Rates: map[string]float64{"huawei-ascend-910b4": 2300, "metax-c500": 1900}}
	j, err := JobFromSpec(spec, "acme")
	if err != nil || j.Rates["metax-c500"] != 1900 || len(j.Rates) != 2 {
		t.Fatalf("rates not carried: %+v, %v", j.Rates, err)
	}
	spec.Rates = map[string]float64{"metax-c500": -1}
	_, err = JobFromSpec(spec, "acme")
	if code, _ := status(err); code != 400 || !strings.Contains(err.Error(), `rates["metax-c500"]`) {
		t.Errorf("negative rate: %d %v", code, err)
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{ErrUnauthorized, 401}, {ErrForbidden, 403}, {ErrNotFound, 404}, {ErrConflict, 409},
		{ErrInvalid, 400}, {ErrUnavailable, 503}, {errors.New("disk on fire"), 500},
		{&http.MaxBytesError{Limit: 5}, 413},
		{fmt.Errorf("store job j-1: %w", fmt.Errorf("txn: %w: etcdserver: request timed out", store.ErrUnavailable)), 503},
	}
	for _, tt := range tests {
		if code, body := status(tt.err); code != tt.code {
			t.Errorf("status(%v) = %d, want %d", tt.err, code, tt.code)
		} else if code == 500 && strings.Contains(body.Message, "fire") {
			t.Errorf("a 500 leaks its detail: %q", body.Message)
		}
	}
	// A 503 tells the client when to come back.
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("POST", "/v1/jobs", nil), slog.New(slog.DiscardHandler), fmt.Errorf("store job: %w", store.ErrUnavailable))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("store unavailable: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// FuzzDecodeJobSpec: no input panics, and every rejection is a 4xx.
func FuzzDecodeJobSpec(f *testing.F) {
	f.Add([]byte(`{"kind":"gang","workers":2,"cards_per_worker":8,"models":["ascend-910c"]}`))
	f.Add([]byte(`{"kind":"batch","workers":1,"share_milli":250,"mem_mib":4096}`))
	f.Add([]byte(`{"kind":"inference","workers":3,"compute_gflops":-1,"sites":[""]}`))
	f.Add([]byte(`{"workers":1e99}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"kind":"gang","Kind":"batch","workload":{"command":[],"env":{"a":"1","a":"2"}}}`))
	f.Add([]byte("{\"name\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var spec v1.JobSpec
		err := decodeReader(bytes.NewReader(b), &spec)
		if err == nil {
			_, err = JobFromSpec(spec, "t")
		}
		if err != nil {
			if code, _ := status(err); code < 400 || code >= 500 {
				t.Fatalf("input %q: status %d for %v", b, code, err)
			}
		}
	})
}

// FuzzDecodeTenant: the same for tenants and token requests.
func FuzzDecodeTenant(f *testing.F) {
	f.Add([]byte(`{"id":"acme","class":"private","quota_gflops":1000000,"vendor_caps":{"Huawei":8}}`))
	f.Add([]byte(`{"id":"../x","class":"alien","weight":-1}`))
	f.Add([]byte(`{"role":"tenant","tenant":"acme"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tn v1.Tenant
		if err := decodeReader(bytes.NewReader(b), &tn); err == nil {
			_, err = TenantFromWire(tn)
			if err != nil {
				if code, _ := status(err); code != 400 {
					t.Fatalf("input %q: status %d", b, code)
				}
			}
		}
		var tr v1.TokenRequest
		if err := decodeReader(bytes.NewReader(b), &tr); err != nil {
			if code, _ := status(err); code < 400 || code >= 500 {
				t.Fatalf("input %q: status %d", b, code)
			}
		}
	})
}

// TestOpenAPI keeps docs/openapi.json identical to the served document
// and checks that every route is in it. Run with -rewrite to update.
func TestOpenAPI(t *testing.T) {
	doc := OpenAPI()
	const path = "../../docs/openapi.json"
	if *rewriteFlag {
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/httpapi -run OpenAPI -rewrite)", err)
	}
	if !bytes.Equal(disk, doc) {
		t.Fatal("docs/openapi.json differs from the served document; run go test ./internal/httpapi -run OpenAPI -rewrite and review the diff")
	}
	d := openapiDoc(routes)
	paths := d["paths"].(obj)
	for _, rt := range routes {
		p, ok := paths[rt.path].(obj)
		if !ok || p[strings.ToLower(rt.method)] == nil {
			t.Errorf("%s %s is not documented", rt.method, rt.path)
		}
	}
	h := New(Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), doc) {
		t.Errorf("GET /v1/openapi.json = %d, not the document", rec.Code)
	}
}

// TestBounds: numbers out of their range and long or repetitive lists are
// refused, each with its field and the range allowed.
func TestBounds(t *testing.T) {
	many := func(n int, v string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	jobs := []struct {
		name  string
		spec  v1.JobSpec
		field string
		want  string
	}{
		{"mem", v1.JobSpec{Kind: "inference", Workers: 1, ShareMilli: 500, MemMiB: 1 << 62}, "mem_mib", "between 0 and 1073741824"},
		{"min mem", v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 1, MinMemMiB: 1 << 62}, "min_mem_mib", "between 0 and 1073741824"},
		{"compute", v1.JobSpec{Kind: "gang", Workers: 1, ComputeGFLOPS: 1<<63 - 1}, "compute_gflops", "between 0 and 1000000000000000"},
		{"runtime", v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 1, RuntimeSec: 1<<63 - 1}, "runtime_sec", "between 0 and 316224000"},
		{"duplicate sites", v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 1, Sites: many(20_000, "gz")}, "sites", `"gz" is given 20000 times`},
		{"duplicate models", v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 1, Models: []string{"a", "b", "a"}}, "models", `"a" is given 2 times`},
		{"long list", v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 1, Regions: append(many(300, ""), "x")}, "regions", "at most 256"},
	}
	for _, tt := range jobs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := JobFromSpec(tt.spec, "acme")
			checkProblem(t, err, tt.field, tt.want)
		})
	}
	tenants := []struct {
		name  string
		t     v1.Tenant
		field string
		want  string
	}{
		{"weight", v1.Tenant{ID: "a", Class: "private", Weight: 1<<63 - 1}, "weight", "between 0 and 1000"},
		{"quota", v1.Tenant{ID: "a", Class: "private", QuotaGFLOPS: 1<<63 - 1}, "quota_gflops", "between 0 and 1000000000000000"},
		{"vendor cap", v1.Tenant{ID: "a", Class: "private", VendorCaps: map[string]int{"Huawei": 1<<63 - 1}}, "vendor_caps.Huawei", "between 0 and 10000000"},
	}
	for _, tt := range tenants {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TenantFromWire(tt.t)
			checkProblem(t, err, tt.field, tt.want)
		})
	}
}

func checkProblem(t *testing.T, err error, field, want string) {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("err = %v, want Problems", err)
	}
	for _, p := range probs {
		if p.Field == field && strings.Contains(p.Message, want) {
			if len(p.Message) > 400 {
				t.Errorf("message of %d bytes: %.100q…", len(p.Message), p.Message)
			}
			return
		}
	}
	t.Errorf("no problem at %s containing %q in %v", field, want, probs)
}

func TestWorkloadImageAndResources(t *testing.T) {
	ok := v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 8, Workload: &v1.Workload{Command: []string{"train"},
		Image: "registry.example.com/team/train:1.0", Resources: &v1.WorkloadResources{CPUMilli: 8000, MemoryMiB: 65536}}}
	if _, err := JobFromSpec(ok, "acme"); err != nil {
		t.Fatalf("good workload refused: %v", err)
	}
	bad := ok
	bad.Workload = &v1.Workload{Command: []string{"train"}, Image: "not an image", Resources: &v1.WorkloadResources{CPUMilli: -1, MemoryMiB: -2}}
	_, err := JobFromSpec(bad, "acme")
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("err = %v, want Problems", err)
	}
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Field] = true
	}
	for _, f := range []string{"workload.image", "workload.resources.cpu_milli", "workload.resources.memory_mib"} {
		if !got[f] {
			t.Errorf("no problem reported for %s in %v", f, probs)
		}
	}
}
