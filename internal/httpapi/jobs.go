package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
)

// JobFromSpec converts a wire spec to a model job for tenant and reports
// every problem with its field path (prefixed "spec."), or nil.
func JobFromSpec(s v1.JobSpec, tenant string) (model.Job, error) {
	j := model.Job{
		ID: "j-validating", Tenant: model.TenantID(tenant), Name: s.Name, Kind: model.JobKind(s.Kind),
		Priority: s.Priority, Workers: s.Workers, CardsPerWorker: s.CardsPerWorker, ShareMilli: s.ShareMilli,
		MemMiB: s.MemMiB, CPUMilli: s.CPUMilli, HostMemMiB: s.HostMemMiB, Models: s.Models, ComputeGFLOPS: s.ComputeGFLOPS, EfficiencyMilli: s.EfficiencyMilli,
		Stacks: s.Stacks, PyTorch: s.PyTorch, MinMemMiB: s.MinMemMiB, Regions: s.Regions,
		Topology: model.Topology(s.Topology), TopologyRequired: s.TopologyRequired, CrossSite: s.CrossSite,
		Mixed: s.Mixed, Classification: model.Classification(s.Classification), RuntimeSec: s.RuntimeSec,
		LostAfterSec: s.LostAfterSec, Rates: s.Rates, WorkloadClass: s.WorkloadClass, Latency: model.Latency(s.Latency), Users: s.Users,
		MaxRetries: s.MaxRetries, RetryBackoffSec: s.RetryBackoffSec, RetryExitCodes: s.RetryExitCodes,
	}
	for _, site := range s.Sites {
		j.Sites = append(j.Sites, model.SiteID(site))
	}
	if d := s.Data; d != nil {
		j.Data = &model.DataLocation{Site: model.SiteID(d.Site), SizeGB: d.SizeGB}
	}
	var probs Problems
	if wl := s.Workload; wl != nil {
		probs = append(probs, workloadProblems(wl)...)
	}
	if len(s.Name) > 256 {
		probs = append(probs, v1.Problem{Field: "name", Message: "longer than 256 bytes"})
	}
	if s.Workers > 100_000 || s.CardsPerWorker > 100_000 {
		probs = append(probs, v1.Problem{Field: "workers", Message: "workers and cards_per_worker must each be at most 100000"})
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"models", s.Models}, {"stacks", s.Stacks}, {"pytorch", s.PyTorch}, {"regions", s.Regions}, {"sites", s.Sites}} {
		probs = append(probs, listProblems(l.field, l.list)...)
	}
	probs = append(probs, ProblemsOf(j.Validate(), "")...)
	if len(probs) > 0 {
		return model.Job{}, probs
	}
	j.HostDefaults()
	j.ID = ""
	return j, nil
}

func (h *handler) submit(w http.ResponseWriter, r *http.Request) error {
	var spec v1.JobSpec
	if err := decode(w, r, &spec); err != nil {
		return err
	}
	p := PrincipalFrom(r.Context())
	tenant := spec.Tenant
	switch {
	case p.Role == v1.RoleTenant && tenant == "":
		tenant = p.Tenant
	case p.Role == v1.RoleTenant && tenant != p.Tenant:
		return fmt.Errorf("%w: a tenant token submits for its own tenant %q only, not %q", ErrForbidden, p.Tenant, tenant)
	case tenant == "":
		return Problems{{Field: "tenant", Message: "missing; an admin or operator token must name the tenant"}}
	}
	j, err := JobFromSpec(spec, tenant)
	if err != nil {
		return err
	}
	switch dry := r.URL.Query().Get("dry_run"); dry {
	case "", "false":
	case "true":
		d, err := h.b.DryRun(r.Context(), p, j)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	default:
		return Problems{{Field: "dry_run", Message: fmt.Sprintf("%.32q is not true or false", dry)}}
	}
	idem, err := idempotency(r, spec, tenant)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if idem != nil {
		ctx = WithIdempotency(ctx, idem)
	}
	out, err := h.b.Submit(ctx, p, j, spec.Workload)
	if err != nil {
		return err
	}
	code := http.StatusCreated
	if idem != nil && idem.Replayed {
		code = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, code, out)
	return nil
}

// ownJob fetches a job and checks the principal may see it; a job of
// another tenant is reported as not found, so that ids do not leak.
func (h *handler) ownJob(r *http.Request) (v1.Job, error) {
	id := r.PathValue("id")
	j, err := h.b.Job(r.Context(), id)
	if err != nil {
		return v1.Job{}, err
	}
	if !PrincipalFrom(r.Context()).SeesTenant(j.Spec.Tenant) {
		return v1.Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return j, nil
}

func (h *handler) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := h.ownJob(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (h *handler) explain(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.ownJob(r); err != nil {
		return err
	}
	e, err := h.b.Explain(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.ownJob(r); err != nil {
		return err
	}
	j, err := h.b.Cancel(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (h *handler) report(w http.ResponseWriter, r *http.Request) error {
	var rep v1.StatusReport
	if err := decode(w, r, &rep); err != nil {
		return err
	}
	switch rep.State {
	case v1.StateRunning, v1.StateCompleted, v1.StateFailed:
	default:
		return Problems{{Field: "state", Message: fmt.Sprintf("%q is not one of running, completed, failed", rep.State)}}
	}
	j, err := h.b.Report(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), rep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (h *handler) assignments(w http.ResponseWriter, r *http.Request) error {
	js, err := h.b.Assignments(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	if js == nil {
		js = []v1.Job{}
	}
	writeJSON(w, http.StatusOK, js)
	return nil
}

var jobStates = []string{v1.StatePending, v1.StateBlocked, v1.StatePlaced, v1.StateRunning, v1.StateCompleted, v1.StateFailed, v1.StateCancelled, v1.StatePreempted}

// limitParam reads ?limit= (default 100, 1..MaxPage).
func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPage {
		return 0, Problems{{Field: "limit", Message: fmt.Sprintf("%q is not a whole number from 1 to %d", s, MaxPage)}}
	}
	return n, nil
}

func (h *handler) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := PrincipalFrom(r.Context())
	jq := JobQuery{Tenant: q.Get("tenant"), State: q.Get("state"), After: q.Get("after")}
	var probs Problems
	if jq.State != "" && !contains(jobStates, jq.State) {
		probs = append(probs, v1.Problem{Field: "state", Message: fmt.Sprintf("%q is not one of %s", jq.State, strings.Join(jobStates, ", "))})
	}
	n, err := limitParam(r)
	var lp Problems
	if errors.As(err, &lp) {
		probs = append(probs, lp...)
	}
	if len(probs) > 0 {
		return probs
	}
	jq.Limit = n
	if p.Role == v1.RoleTenant {
		if jq.Tenant != "" && jq.Tenant != p.Tenant {
			return fmt.Errorf("%w: a tenant token lists its own tenant %q only", ErrForbidden, p.Tenant)
		}
		jq.Tenant = p.Tenant
	}
	l, err := h.b.Jobs(r.Context(), jq)
	if err != nil {
		return err
	}
	if l.Jobs == nil {
		l.Jobs = []v1.Job{}
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MaxList is the most entries a job's list field (models, sites, regions,
// stacks, pytorch) may hold.
const MaxList = 256

// listProblems refuses a list over MaxList entries and names every value
// given more than once (each once, with its count).
func listProblems(field string, list []string) Problems {
	var probs Problems
	if len(list) > MaxList {
		probs = append(probs, v1.Problem{Field: field, Message: fmt.Sprintf("%d entries; at most %d", len(list), MaxList)})
	}
	count := map[string]int{}
	var order []string
	for _, v := range list {
		if count[v]++; count[v] == 2 {
			order = append(order, v)
		}
	}
	const named = 10
	for i, v := range order {
		if i == named {
			probs = append(probs, v1.Problem{Field: field, Message: fmt.Sprintf("and %d more values given more than once", len(order)-named)})
			break
		}
		probs = append(probs, v1.Problem{Field: field, Message: fmt.Sprintf("%.64q is given %d times; give each value once", v, count[v])})
	}
	return probs
}
