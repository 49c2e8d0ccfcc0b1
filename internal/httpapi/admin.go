package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
)

// healthz answers 200 while the process serves requests; its body says
// what readyz says (the store, who schedules).
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) error {
	if h.b == nil {
		writeJSON(w, http.StatusOK, v1.Health{Status: "ok"})
		return nil
	}
	writeJSON(w, http.StatusOK, h.b.Ready(r.Context()))
	return nil
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) error {
	hl := h.b.Ready(r.Context())
	code := http.StatusOK
	if hl.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, hl)
	return nil
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) error {
	h.prom.ServeHTTP(w, r)
	return nil
}

func (h *handler) catalog(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, h.b.Catalog())
	return nil
}

func (h *handler) network(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, h.b.Network())
	return nil
}

func (h *handler) capacity(w http.ResponseWriter, r *http.Request) error {
	c, err := h.b.Capacity(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (h *handler) workload(w http.ResponseWriter, r *http.Request) error {
	wl, err := h.b.Workload(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wl)
	return nil
}

func (h *handler) capacityPlan(w http.ResponseWriter, r *http.Request) error {
	p, err := h.b.CapacityPlan(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) tenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.b.Tenants(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []v1.Tenant{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !PrincipalFrom(r.Context()).SeesTenant(id) {
		return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	t, err := h.b.Tenant(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// TenantFromWire converts and validates a wire tenant, every problem with
// its field path.
func TenantFromWire(t v1.Tenant) (model.Tenant, error) {
	mt := model.Tenant{ID: model.TenantID(t.ID), Name: t.Name, Class: model.TenantClass(t.Class),
		QuotaGFLOPS: t.QuotaGFLOPS, Weight: t.Weight, VendorCaps: t.VendorCaps}
	probs := ProblemsOf(mt.Validate(), "")
	if !validID(t.ID) {
		probs = append(probs, v1.Problem{Field: "id", Message: fmt.Sprintf("%q: use 1 to 64 letters, digits, '-', '_' or '.'", t.ID)})
	}
	if len(probs) > 0 {
		return model.Tenant{}, probs
	}
	if mt.Weight == 0 {
		mt.Weight = 1
	}
	return mt, nil
}

// validID reports whether s is a safe identifier for store keys and URLs.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func (h *handler) putTenant(w http.ResponseWriter, r *http.Request) error {
	var t v1.Tenant
	if err := decode(w, r, &t); err != nil {
		return err
	}
	id := r.PathValue("id")
	if t.ID == "" {
		t.ID = id
	}
	if t.ID != id {
		return Problems{{Field: "id", Message: fmt.Sprintf("%q differs from the path's %q", t.ID, id)}}
	}
	mt, err := TenantFromWire(t)
	if err != nil {
		return err
	}
	out, err := h.b.PutTenant(r.Context(), PrincipalFrom(r.Context()), mt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) createToken(w http.ResponseWriter, r *http.Request) error {
	var req v1.TokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	var probs Problems
	if !ValidRole(req.Role) {
		probs = append(probs, v1.Problem{Field: "role", Message: fmt.Sprintf("%q is not one of admin, operator, tenant, agent", req.Role)})
	}
	switch {
	case req.Role == v1.RoleTenant && req.Tenant == "":
		probs = append(probs, v1.Problem{Field: "tenant", Message: "a tenant token needs its tenant"})
	case req.Role != v1.RoleTenant && req.Tenant != "":
		probs = append(probs, v1.Problem{Field: "tenant", Message: "only a tenant token names a tenant"})
	case req.Tenant != "" && !validID(req.Tenant):
		probs = append(probs, v1.Problem{Field: "tenant", Message: fmt.Sprintf("%q is not a valid tenant id", req.Tenant)})
	}
	switch {
	case req.Role == v1.RoleAgent && req.Node == "" && len(req.Sites) == 0:
		probs = append(probs, v1.Problem{Field: "node", Message: "an agent token acts for one node: name it (node), or the sites of a bridge (sites); or give agents a bootstrap token to join with"})
	case req.Role == v1.RoleAgent && req.Node != "" && len(req.Sites) > 0:
		probs = append(probs, v1.Problem{Field: "sites", Message: "an agent token names its node or its sites, not both"})
	case req.Role != v1.RoleAgent && req.Node != "":
		probs = append(probs, v1.Problem{Field: "node", Message: "only an agent token names a node"})
	case req.Role != v1.RoleAgent && req.Role != v1.RoleBootstrap && len(req.Sites) > 0:
		probs = append(probs, v1.Problem{Field: "sites", Message: "only an agent or bootstrap token names sites"})
	}
	if req.Node != "" && !validID(req.Node) {
		probs = append(probs, v1.Problem{Field: "node", Message: fmt.Sprintf("%q is not a valid node id", req.Node)})
	}
	if len(req.Sites) > 256 {
		probs = append(probs, v1.Problem{Field: "sites", Message: fmt.Sprintf("%d sites; at most 256", len(req.Sites))})
	}
	for i, st := range req.Sites {
		if !validID(st) {
			probs = append(probs, v1.Problem{Field: fmt.Sprintf("sites[%d]", i), Message: fmt.Sprintf("%q is not a valid site id", st)})
		}
	}
	if req.TTLSeconds < -1 {
		probs = append(probs, v1.Problem{Field: "ttl_seconds", Message: fmt.Sprintf("%d: give a lifetime in seconds, 0 for the role's default or -1 for none", req.TTLSeconds)})
	}
	if len(req.Name) > 128 {
		probs = append(probs, v1.Problem{Field: "name", Message: "longer than 128 bytes"})
	}
	if len(probs) > 0 {
		return probs
	}
	t, err := h.b.CreateToken(r.Context(), PrincipalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (h *handler) rotateToken(w http.ResponseWriter, r *http.Request) error {
	var req v1.TokenRotation
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	var probs Problems
	if req.OverlapSeconds < -1 {
		probs = append(probs, v1.Problem{Field: "overlap_seconds", Message: fmt.Sprintf("%d: give seconds, 0 for the default (one hour) or -1 for none", req.OverlapSeconds)})
	}
	if req.TTLSeconds < -1 {
		probs = append(probs, v1.Problem{Field: "ttl_seconds", Message: fmt.Sprintf("%d: give a lifetime in seconds, 0 for the token's own or -1 for none", req.TTLSeconds)})
	}
	if len(probs) > 0 {
		return probs
	}
	t, err := h.b.RotateToken(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (h *handler) tokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.b.Tokens(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []v1.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := h.b.RevokeToken(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) usage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	tenant, month := r.URL.Query().Get("tenant"), r.URL.Query().Get("month")
	if tenant == "" && p.Role == v1.RoleTenant {
		tenant = p.Tenant
	}
	var probs Problems
	if tenant == "" {
		probs = append(probs, v1.Problem{Field: "tenant", Message: "missing; name the tenant (?tenant=)"})
	}
	if month == "" {
		month = time.Now().UTC().Format("2006-01")
	}
	if _, err := time.Parse("2006-01", month); err != nil {
		probs = append(probs, v1.Problem{Field: "month", Message: fmt.Sprintf("%q: want YYYY-MM, e.g. 2026-11", month)})
	}
	if len(probs) > 0 {
		return probs
	}
	if !p.SeesTenant(tenant) {
		return fmt.Errorf("%w: a tenant token reads its own usage only", ErrForbidden)
	}
	u, err := h.b.Usage(r.Context(), tenant, month)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (h *handler) audit(w http.ResponseWriter, r *http.Request) error {
	after := int64(0)
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Problems{{Field: "after", Message: fmt.Sprintf("%q is not a sequence number", s)}}
		}
		after = n
	}
	n, err := limitParam(r)
	if err != nil {
		return err
	}
	l, err := h.b.Audit(r.Context(), after, n)
	if err != nil {
		return err
	}
	if l.Entries == nil {
		l.Entries = []v1.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (h *handler) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	v, err := h.b.VerifyAudit(r.Context(), r.URL.Query()["key"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *handler) throughput(w http.ResponseWriter, r *http.Request) error {
	t, err := h.b.Throughput(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
