package v1

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to a Suanli server. The zero HTTP client is
// http.DefaultClient.
type Client struct {
	Base  string // e.g. http://127.0.0.1:7480
	Token string
	HTTP  *http.Client
}

// NewClient returns a client for the server at base with the bearer token.
func NewClient(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) newRequest(ctx context.Context, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// do sends a request with an optional JSON body and decodes the JSON reply
// into out (when non-nil). Replies of 400 and above become *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doHeader(ctx, method, path, nil, in, out)
}

// doHeader is do with extra request headers.
func (c *Client) doHeader(ctx context.Context, method, path string, hdr http.Header, in, out any) error {
	req, err := c.newRequest(ctx, method, path, in)
	if err != nil {
		return err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := decodeError(resp.StatusCode, body)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
	}
	return nil
}

// PutSecret creates or replaces a secret of a tenant; the reply lists
// its keys, never its values.
func (c *Client) PutSecret(ctx context.Context, s Secret) (*Secret, error) {
	var out Secret
	return &out, c.do(ctx, http.MethodPut, "/v1/tenants/"+url.PathEscape(s.Tenant)+"/secrets/"+url.PathEscape(s.Name), s, &out)
}

// Secrets lists a tenant's secrets: names and keys.
func (c *Client) Secrets(ctx context.Context, tenant string) ([]Secret, error) {
	var out []Secret
	return out, c.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenant)+"/secrets", nil, &out)
}

// DeleteSecret deletes a tenant's secret.
func (c *Client) DeleteSecret(ctx context.Context, tenant, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tenants/"+url.PathEscape(tenant)+"/secrets/"+url.PathEscape(name), nil, nil)
}

// Submit submits a job and returns it as acknowledged (durably stored).
func (c *Client) Submit(ctx context.Context, spec JobSpec) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs", spec, &j)
}

// DryRun asks where the job would be placed now and why, without creating
// it (POST /v1/jobs?dry_run=true).
func (c *Client) DryRun(ctx context.Context, spec JobSpec) (*DryRun, error) {
	var d DryRun
	return &d, c.do(ctx, http.MethodPost, "/v1/jobs?dry_run=true", spec, &d)
}

// IdempotencyHeader is the request header SubmitIdempotent sends.
const IdempotencyHeader = "Idempotency-Key"

// SubmitIdempotent is Submit with an idempotency key (up to 255 printable
// ASCII characters, e.g. a UUID): a retry with the same key and spec, by
// the same token within 24 hours, returns the job the first call created
// instead of making another, so it is safe after a timeout or a dropped
// connection. The key with a different spec is a 409.
func (c *Client) SubmitIdempotent(ctx context.Context, spec JobSpec, key string) (*Job, error) {
	var j Job
	return &j, c.doHeader(ctx, http.MethodPost, "/v1/jobs", http.Header{IdempotencyHeader: {key}}, spec, &j)
}

// JobFilter narrows a job listing. Zero fields do not filter.
type JobFilter struct {
	Tenant string
	State  string
	Limit  int
	After  string // cursor from JobList.Next
}

func (f JobFilter) query() string {
	q := url.Values{}
	if f.Tenant != "" {
		q.Set("tenant", f.Tenant)
	}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After != "" {
		q.Set("after", f.After)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Jobs lists one page of jobs.
func (c *Client) Jobs(ctx context.Context, f JobFilter) (*JobList, error) {
	var l JobList
	return &l, c.do(ctx, http.MethodGet, "/v1/jobs"+f.query(), nil, &l)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// Explain says why a job is where it is.
func (c *Client) Explain(ctx context.Context, id string) (*Explanation, error) {
	var e Explanation
	return &e, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/explain", nil, &e)
}

// Cancel cancels a job and returns it.
func (c *Client) Cancel(ctx context.Context, id string) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j)
}

// Usage returns a tenant's metered use in a month (YYYY-MM).
func (c *Client) Usage(ctx context.Context, tenant, month string) (*Usage, error) {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	if month != "" {
		q.Set("month", month)
	}
	var u Usage
	return &u, c.do(ctx, http.MethodGet, "/v1/usage?"+q.Encode(), nil, &u)
}

// Tenants lists the tenants.
func (c *Client) Tenants(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	return ts, c.do(ctx, http.MethodGet, "/v1/tenants", nil, &ts)
}

// PutTenant creates or replaces a tenant.
func (c *Client) PutTenant(ctx context.Context, t Tenant) (*Tenant, error) {
	var out Tenant
	return &out, c.do(ctx, http.MethodPut, "/v1/tenants/"+url.PathEscape(t.ID), t, &out)
}

// CreateToken makes a new bearer token; the reply carries its secret once.
func (c *Client) CreateToken(ctx context.Context, r TokenRequest) (*Token, error) {
	var t Token
	return &t, c.do(ctx, http.MethodPost, "/v1/tokens", r, &t)
}

// Tokens lists the tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var ts []Token
	return ts, c.do(ctx, http.MethodGet, "/v1/tokens", nil, &ts)
}

// RevokeToken deletes a token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// RotateToken issues a new secret for a token; the reply carries it once.
func (c *Client) RotateToken(ctx context.Context, id string, r TokenRotation) (*Token, error) {
	var t Token
	return &t, c.do(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(id)+"/rotate", r, &t)
}

// NodeCredential exchanges a bootstrap token (the client's) for the
// node's own agent credential.
func (c *Client) NodeCredential(ctx context.Context, node string, r NodeCredentialRequest) (*NodeCredential, error) {
	var nc NodeCredential
	return &nc, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/credentials", r, &nc)
}

// Audit returns a page of the audit log from sequence number after+1.
func (c *Client) Audit(ctx context.Context, after int64, limit int) (*AuditList, error) {
	var l AuditList
	path := fmt.Sprintf("/v1/audit?after=%d&limit=%d", after, limit)
	return &l, c.do(ctx, http.MethodGet, path, nil, &l)
}

// VerifyAudit asks the server to check the whole audit chain.
func (c *Client) VerifyAudit(ctx context.Context, keys ...string) (*AuditVerification, error) {
	var v AuditVerification
	path := "/v1/audit/verify"
	for i, k := range keys {
		path += map[bool]string{true: "?", false: "&"}[i == 0] + "key=" + url.QueryEscape(k)
	}
	return &v, c.do(ctx, http.MethodGet, path, nil, &v)
}

// Nodes lists the network's nodes (of one site when site is set).
func (c *Client) Nodes(ctx context.Context, site string) ([]Node, error) {
	var ns []Node
	path := "/v1/nodes"
	if site != "" {
		path += "?site=" + url.QueryEscape(site)
	}
	return ns, c.do(ctx, http.MethodGet, path, nil, &ns)
}

// TaskMix returns the task mix the scheduler has learned.
func (c *Client) TaskMix(ctx context.Context) (*TaskMix, error) {
	var m TaskMix
	return &m, c.do(ctx, http.MethodGet, "/v1/scheduler/workload", nil, &m)
}

// Health returns the server's readiness.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.do(ctx, http.MethodGet, "/readyz", nil, &h)
}

// Get fetches any JSON document of the API into out (for endpoints whose
// shape belongs to other packages: catalog, sites, capacity, policy).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Events streams events from /v1/events until ctx ends or fn returns an
// error, which Events returns.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	return c.EventsFrom(ctx, -1, fn)
}

// EventsFrom is Events starting after store revision from (e.g. a job's
// Revision, so that no change after reading the job is missed); a
// negative from starts now.
func (c *Client) EventsFrom(ctx context.Context, from int64, fn func(Event) error) error {
	path := "/v1/events"
	if from >= 0 {
		path += "?from=" + strconv.FormatInt(from, 10)
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp.StatusCode, body)
	}
	return readSSE(resp.Body, fn)
}

// readSSE parses a Server-Sent Events stream of JSON data lines.
func readSSE(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev Event
			if err := json.Unmarshal(data.Bytes(), &ev); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			data.Reset()
			if err := fn(ev); err != nil {
				return err
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return sc.Err()
}

// Policy returns the policy in force.
func (c *Client) Policy(ctx context.Context) (*Policy, error) {
	var p Policy
	return &p, c.do(ctx, http.MethodGet, "/v1/policy", nil, &p)
}

// ReplacePolicy puts a policy document (YAML) in force.
func (c *Client) ReplacePolicy(ctx context.Context, doc string) (*Policy, error) {
	var p Policy
	return &p, c.do(ctx, http.MethodPut, "/v1/policy", PolicyDocument{Document: doc}, &p)
}

// Advisories lists every advisory filed.
func (c *Client) Advisories(ctx context.Context) ([]Advisory, error) {
	var as []Advisory
	return as, c.do(ctx, http.MethodGet, "/v1/advisories", nil, &as)
}

// FileAdvisory files an advisory and returns it as recorded.
func (c *Client) FileAdvisory(ctx context.Context, a Advisory) (*Advisory, error) {
	var out Advisory
	return &out, c.do(ctx, http.MethodPost, "/v1/advisories", a, &out)
}

// LiftAdvisory lifts an advisory.
func (c *Client) LiftAdvisory(ctx context.Context, id string) (*Advisory, error) {
	var out Advisory
	return &out, c.do(ctx, http.MethodPost, "/v1/advisories/"+url.PathEscape(id)+"/lift", nil, &out)
}

// Compliance fetches the compliance report into out (the report's shape
// belongs to the server's policy package).
func (c *Client) Compliance(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/compliance", nil, out)
}

// Prices returns the price table in force.
func (c *Client) Prices(ctx context.Context) (*PriceList, error) {
	var out PriceList
	return &out, c.do(ctx, http.MethodGet, "/v1/prices", nil, &out)
}

// Throughput reads the throughput matrix: defaults and what was learned.
func (c *Client) Throughput(ctx context.Context) (*ThroughputTable, error) {
	var out ThroughputTable
	return &out, c.do(ctx, http.MethodGet, "/v1/throughput", nil, &out)
}

// ReplacePrices replaces the price table (admin).
func (c *Client) ReplacePrices(ctx context.Context, u PriceUpdate) (*PriceList, error) {
	var out PriceList
	return &out, c.do(ctx, http.MethodPut, "/v1/prices", u, &out)
}
