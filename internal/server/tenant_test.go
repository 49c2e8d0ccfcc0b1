package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestUnknownTenant: a tenant token is issued only for a registered
// tenant, and no caller (admins included, and a token issued before the
// check) submits a job for a tenant that does not exist.
func TestUnknownTenant(t *testing.T) {
	st := mem.New(mem.Config{})
	e := start(t, st)
	ctx := context.Background()
	admin := e.client(v1.RoleAdmin)

	_, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "ghost"})
	var ae *v1.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.Message, "ghost") {
		t.Fatalf("token for an unregistered tenant: %v, want 404 naming it", err)
	}

	big := v1.JobSpec{Kind: "gang", Workers: 40, CardsPerWorker: 8}
	for _, c := range []struct {
		name   string
		client *v1.Client
		tenant string
	}{
		{"admin", admin, "ghost"},
		{"operator", e.client(v1.RoleOperator), "ghost"},
	} {
		spec := big
		spec.Tenant = c.tenant
		_, err := c.client.Submit(ctx, spec)
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || len(ae.Problems) != 1 || ae.Problems[0].Field != "tenant" || !strings.Contains(ae.Problems[0].Message, "ghost") {
			t.Errorf("%s submits for an unregistered tenant: %v, want 400 on field tenant", c.name, err)
		}
	}

	// A tenant token written before tenants were checked (or by hand)
	// submits nothing either.
	secret := "sl_legacy-token-for-ghost"
	rec, _ := json.Marshal(tokenRecord{ID: "tok-legacy", Role: v1.RoleTenant, Tenant: "ghost"})
	if _, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(tokenPrefix+httpapi.HashSecret(secret), rec)}}); err != nil {
		t.Fatal(err)
	}
	_, err = v1.NewClient(e.url, secret).Submit(ctx, big)
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message+ae.Error(), "ghost") {
		t.Errorf("legacy token of an unregistered tenant submits: %v, want 400", err)
	}
	list, err := admin.Jobs(ctx, v1.JobFilter{})
	if err != nil || len(list.Jobs) != 0 {
		t.Errorf("jobs stored: %v %v, want none", list, err)
	}

	// Once the tenant exists, both work.
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "ghost", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "ghost"}); err != nil {
		t.Errorf("token for a registered tenant: %v", err)
	}
	if _, err := v1.NewClient(e.url, secret).Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1}); err != nil {
		t.Errorf("submit for a registered tenant: %v", err)
	}
}

// TestSubmitUnknownNames: a job naming a model, site, region or stack the
// network lacks is refused at submit with every problem and a suggestion,
// not accepted and blocked forever.
func TestSubmitUnknownNames(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	_, err := e.client(v1.RoleTenant).Submit(ctx, v1.JobSpec{Kind: "gang", Workers: 1, CardsPerWorker: 8,
		Models: []string{"Ascend 910X"}, Sites: []string{"../../etc"}, Regions: []string{"south"}})
	var ae *v1.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("submit: %v, want 400", err)
	}
	want := map[string]string{"models[0]": `did you mean "huawei-ascend-910`, "sites[0]": "not a site id", "regions[0]": `did you mean "South"?`}
	for _, p := range ae.Problems {
		if w, ok := want[p.Field]; ok && strings.Contains(p.Message, w) {
			delete(want, p.Field)
		}
	}
	if len(want) > 0 {
		t.Errorf("problems %+v lack %v", ae.Problems, want)
	}
	if l, _ := e.client(v1.RoleAdmin).Jobs(ctx, v1.JobFilter{}); len(l.Jobs) != 0 {
		t.Errorf("%d jobs stored, want none", len(l.Jobs))
	}
}
