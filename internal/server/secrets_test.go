package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store/mem"
)

const (
	secretValue = "hf_s3cr3t-VALUE-7Qx"
	plainValue  = "plain-value-P4z"
)

// rawGet returns a GET's status and body.
func rawGet(t *testing.T, url, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestSecretsReachOnlyTheirNodesAgent: a tenant's secret, referenced by its
// job's workload, is sent to the agent of the node the job is placed on
// while it is placed, and nowhere else: not in the job's reads, the
// explanation, the event stream, the audit log, an admin's view of the
// node's assignments, another node's assignments, or the store in the
// clear; another tenant can neither read it nor reference it.
func TestSecretsReachOnlyTheirNodesAgent(t *testing.T) {
	st := mem.New(mem.Config{})
	key := bytes.Repeat([]byte{7}, SecretKeyBytes)
	srv, url, _ := runServer(t, Config{Store: st, Network: defaultNetwork(t), SecretKey: key, TickEvery: 50 * time.Millisecond})
	ctx := context.Background()
	adminTok := adminToken(t, srv)
	admin := v1.NewClient(url, adminTok)
	tokens := map[string]string{}
	for _, tn := range []string{"acme", "other"} {
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: tn})
		if err != nil {
			t.Fatal(err)
		}
		tokens[tn] = tok.Secret
	}
	acme, other := v1.NewClient(url, tokens["acme"]), v1.NewClient(url, tokens["other"])

	put, err := acme.PutSecret(ctx, v1.Secret{Tenant: "acme", Name: "hf", Data: map[string]string{"token": secretValue, "user": "bot"}})
	if err != nil {
		t.Fatal(err)
	}
	if put.Data != nil || strings.Join(put.Keys, ",") != "token,user" {
		t.Errorf("put reply: %+v; want keys only", put)
	}
	// Another tenant neither sees nor writes acme's secrets.
	if _, err := other.Secrets(ctx, "acme"); errStatus(err) != http.StatusNotFound {
		t.Errorf("other lists acme's secrets: %v", err)
	}
	if _, err := other.PutSecret(ctx, v1.Secret{Tenant: "acme", Name: "hf", Data: map[string]string{"token": "x"}}); errStatus(err) != http.StatusNotFound {
		t.Errorf("other overwrites acme's secret: %v", err)
	}
	ls, err := admin.Secrets(ctx, "acme")
	if err != nil || len(ls) != 1 || ls[0].Data != nil {
		t.Errorf("admin's listing: %+v %v", ls, err)
	}

	wl := &v1.Workload{Command: []string{"train"}, Env: map[string]string{"MODE": plainValue},
		SecretEnv: []v1.SecretEnv{{Name: "HF_TOKEN", Secret: v1.SecretRef{Name: "hf", Key: "token"}}}}
	spec := v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, Workload: wl}
	// References to what the tenant does not have are 400s naming the field.
	for _, tc := range []struct {
		c     *v1.Client
		ref   v1.SecretRef
		field string
	}{
		{other, v1.SecretRef{Name: "hf", Key: "token"}, "workload.secret_env[0].secret.name"},
		{acme, v1.SecretRef{Name: "hf", Key: "password"}, "workload.secret_env[0].secret.key"},
		{acme, v1.SecretRef{Name: "Bad Name", Key: "token"}, "workload.secret_env[0].secret.name"},
	} {
		bad := spec
		bad.Workload = &v1.Workload{Command: []string{"x"}, SecretEnv: []v1.SecretEnv{{Name: "T", Secret: tc.ref}}}
		_, err := tc.c.Submit(ctx, bad)
		var e *v1.Error
		if !errors.As(err, &e) || e.Status != 400 || len(e.Problems) != 1 || e.Problems[0].Field != tc.field {
			t.Errorf("ref %+v: %v; want a 400 at %s", tc.ref, err, tc.field)
		}
	}

	j, err := acme.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	placed := waitState(t, acme, j.ID, v1.StatePlaced)
	node := placed.Placement.Assignments[0].Node
	agentTok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	agent := v1.NewClient(url, agentTok.Secret)

	// The node's agent gets the value, with the plain variables. The job
	// can read as placed a moment before its node's assignments list it
	// (agents poll): wait for it.
	as, err := agent.Assignments(ctx, node)
	for deadline := time.Now().Add(10 * time.Second); err == nil && len(as) == 0 && time.Now().Before(deadline); as, err = agent.Assignments(ctx, node) {
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(as) != 1 || as[0].Workload == nil {
		t.Fatalf("agent's assignments: %+v %v", as, err)
	}
	if env := as[0].Workload.Env; env["HF_TOKEN"] != secretValue || env["MODE"] != plainValue {
		t.Errorf("agent's env %v; want HF_TOKEN and MODE set", env)
	}
	// No one else does.
	leaks := map[string]string{}
	for _, path := range []string{"/v1/jobs/" + j.ID, "/v1/jobs", "/v1/jobs/" + j.ID + "/explain", "/v1/tenants/acme/secrets"} {
		for who, tok := range map[string]string{"tenant": tokens["acme"], "admin": adminTok} {
			_, body := rawGet(t, url, tok, path)
			leaks[who+" GET "+path] = body
		}
	}
	_, leaks["admin GET node's assignments"] = rawGet(t, url, adminTok, "/v1/nodes/"+node+"/assignments")
	_, leaks["admin GET audit"] = rawGet(t, url, adminTok, "/v1/audit?limit=1000")
	for _, n := range defaultNetwork(t).Nodes[:3] {
		if string(n.ID) != node {
			_, leaks["agent GET other node's assignments"] = rawGet(t, url, agentTok.Secret, "/v1/nodes/"+string(n.ID)+"/assignments")
		}
	}
	leaks["events"] = events(t, url, adminTok)
	for where, body := range leaks {
		if strings.Contains(body, secretValue) {
			t.Errorf("%s shows the secret's value: %s", where, body)
		}
	}
	if !strings.Contains(leaks["tenant GET /v1/jobs/"+j.ID], `"secret":{"name":"hf","key":"token"}`) {
		t.Errorf("the job does not show its reference: %s", leaks["tenant GET /v1/jobs/"+j.ID])
	}
	audit := leaks["admin GET audit"]
	if strings.Contains(audit, plainValue) || !strings.Contains(audit, "env=MODE") || !strings.Contains(audit, "secret_env=HF_TOKEN=hf/token") {
		t.Errorf("the audit should name the variables and never a value: %s", audit)
	}
	// Nor the store, in the clear.
	kvs, _, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	sealed := 0
	for _, kv := range kvs {
		if bytes.Contains(kv.Value, []byte(secretValue)) {
			t.Errorf("store key %s holds the secret's value in the clear", kv.Key)
		}
		if strings.HasPrefix(kv.Key, secretPrefix) {
			sealed++
		}
	}
	if sealed != 1 {
		t.Errorf("%d secret records in the store, want 1", sealed)
	}

	// Once the assignment ends, the agent is not sent it any more.
	if _, err := acme.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := rawGet(t, url, agentTok.Secret, "/v1/nodes/"+node+"/assignments")
		if !strings.Contains(body, secretValue) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled job's secret is still sent to the agent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := acme.DeleteSecret(ctx, "acme", "hf"); err != nil {
		t.Fatal(err)
	}
	if ls, err := acme.Secrets(ctx, "acme"); err != nil || len(ls) != 0 {
		t.Errorf("after delete: %+v %v", ls, err)
	}
}

func errStatus(err error) int {
	var e *v1.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// events reads the event stream from the start for a moment.
func events(t *testing.T, url, token string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/events?from=0", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body) // ends with the context
	if !strings.Contains(string(b), "HF_TOKEN") {
		t.Errorf("the event stream did not show the job: %.300s", b)
	}
	return string(b)
}

// TestSecretSealing: the sealed record opens only with the key that sealed
// it and under the tenant and name it was sealed for.
func TestSecretSealing(t *testing.T) {
	s1, err := newSealer(bytes.Repeat([]byte{1}, SecretKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := newSealer(bytes.Repeat([]byte{2}, SecretKeyBytes))
	nonce, sealed, err := s1.seal("acme", "hf", map[string]string{"token": secretValue})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secretValue)) {
		t.Fatal("the ciphertext holds the plaintext")
	}
	rec := &secretRecord{Tenant: "acme", Name: "hf", KeyID: s1.id, Nonce: nonce, Sealed: sealed}
	if data, err := s1.open(rec); err != nil || data["token"] != secretValue {
		t.Fatalf("open: %v %v", data, err)
	}
	if _, err := s2.open(rec); err == nil || !strings.Contains(err.Error(), "secret-key-file") {
		t.Errorf("another key opened it: %v", err)
	}
	moved := *rec
	moved.Tenant = "other"
	if _, err := s1.open(&moved); err == nil {
		t.Error("the record opened under another tenant")
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("a 5-byte key was taken")
	}
	b, _ := json.Marshal(rec)
	if bytes.Contains(b, []byte(secretValue)) {
		t.Error("the stored record holds the plaintext")
	}
}

// TestSecretsNeedAKey: without a key the server refuses to keep secrets or
// take jobs that reference them, saying why.
func TestSecretsNeedAKey(t *testing.T) {
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: defaultNetwork(t)})
	ctx := context.Background()
	admin := v1.NewClient(url, adminToken(t, srv))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	_, err := admin.PutSecret(ctx, v1.Secret{Tenant: "acme", Name: "hf", Data: map[string]string{"k": "v"}})
	if errStatus(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "secret-key-file") {
		t.Errorf("put without a key: %v", err)
	}
	_, err = admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1,
		Workload: &v1.Workload{Command: []string{"x"}, SecretEnv: []v1.SecretEnv{{Name: "T", Secret: v1.SecretRef{Name: "hf", Key: "k"}}}}})
	if errStatus(err) != http.StatusServiceUnavailable {
		t.Errorf("submit with a reference and no key: %v", err)
	}
}
