package httpapi

import (
	"net/http"

	v1 "github.com/suanli/suanli/api/v1"
)

// routes is every endpoint: the mux, the authorisation table and the
// OpenAPI document all come from it.
var routes = []route{
	{method: "GET", path: "/healthz", summary: "Liveness: the process serves requests.", response: v1.Health{}, handle: (*handler).healthz},
	{method: "GET", path: "/readyz", summary: "Readiness: the store answers; says whether this replica leads scheduling.", response: v1.Health{}, handle: (*handler).readyz},
	{method: "GET", path: "/metrics", summary: "Prometheus metrics: queue depth, decisions, decision latency, allocated EFLOPS by vendor and site, requests.", response: "", handle: (*handler).metrics},
	{method: "GET", path: "/v1/openapi.json", summary: "This API's OpenAPI 3 document.", response: map[string]any{}, handle: (*handler).openapi},

	{method: "GET", path: "/v1/catalog", summary: "The accelerator catalog.", roles: all, response: map[string]any{}, handle: (*handler).catalog},
	{method: "GET", path: "/v1/network", summary: "Sites, high-bandwidth domains and nodes of the network.", roles: all, response: map[string]any{}, handle: (*handler).network},
	{method: "GET", path: "/v1/scheduler/workload", summary: "The task mix the scheduler measures fragmentation against, learned from the jobs submitted: typical shapes and their decayed weights.", roles: all, response: v1.TaskMix{}, handle: (*handler).workload},
	{method: "GET", path: "/v1/throughput", summary: "The throughput matrix per workload class and accelerator model, per card: the default figure, what workers' progress reports taught (reports, jobs, their mean) and the rate scheduling uses.", roles: all, response: v1.ThroughputTable{}, handle: (*handler).throughput},
	{method: "GET", path: "/v1/capacity", summary: "The live FP16 capacity ledger: installed, allocated and free by every breakdown.", roles: all, response: map[string]any{}, handle: (*handler).capacity},
	{method: "GET", path: "/v1/capacity/plan", summary: "The capacity plan to 100 EFLOPS FP16 by 2028 on the network as it stands (suanli plan's defaults: least cost, the embedded supply file, 70% load): EF, target path, capex and MW per year, what to add where, binding constraints; or why no plan meets the target. Computed once a year and kept.", roles: staff, response: map[string]any{}, handle: (*handler).capacityPlan},

	{method: "POST", path: "/v1/jobs", summary: "Submit a job; the reply comes once it is stored durably. With an Idempotency-Key header a retry of the same request (same token, same spec) returns the job the first created (200, Idempotent-Replayed: true) for 24 h; the key with another spec is a 409. With ?dry_run=true nothing is stored: the reply (200) is a DryRun, where the scheduler would place the job now and why.", roles: people,
		query: []param{{"dry_run", "true: say where the job would go and why, without creating it (reply: a DryRun)"}}, request: v1.JobSpec{}, response: v1.Job{}, code: http.StatusCreated, handle: (*handler).submit},
	{method: "GET", path: "/v1/jobs", summary: "List jobs (a tenant sees its own only), filtered and paged by id.", roles: people,
		query:    []param{{"tenant", "only this tenant's jobs"}, {"state", "only jobs in this state"}, {"after", "cursor: ids after this one"}, {"limit", "page size, 1 to 1000 (default 100)"}},
		response: v1.JobList{}, handle: (*handler).listJobs},
	{method: "GET", path: "/v1/jobs/{id}", summary: "One job.", roles: people, response: v1.Job{}, handle: (*handler).getJob},
	{method: "GET", path: "/v1/jobs/{id}/explain", summary: "Why the job is where it is: rejections by reason, best candidate, what would unblock it.", roles: people, response: v1.Explanation{}, handle: (*handler).explain},
	{method: "POST", path: "/v1/jobs/{id}/cancel", summary: "Cancel a job; its cards are freed.", roles: people, response: v1.Job{}, handle: (*handler).cancel},
	{method: "POST", path: "/v1/jobs/{id}/status", summary: "An agent reports a placed job running, completed or failed.", roles: agents, request: v1.StatusReport{}, response: v1.Job{}, handle: (*handler).report},
	{method: "GET", path: "/v1/nodes/{id}/assignments", summary: "The live jobs placed on a node, for its agent (with spec.workload and the checkpoint to resume from).", roles: agents, response: []v1.Job{}, handle: (*handler).assignments},
	{method: "GET", path: "/v1/nodes", summary: "The network's nodes: site, domain, model, cards, allocation, state and what each agent reported.", roles: all,
		query: []param{{"site", "only this site's nodes"}, {"devices", "false: leave out each agent's device list and warnings (a summary for views of the whole network)"}}, response: []v1.Node{}, handle: (*handler).nodes},
	{method: "POST", path: "/v1/nodes/{id}/credentials", summary: "A bootstrap token joins a node: it gets the node's own agent token and, for a CSR, a client certificate naming the node (once per node; 409 while the node holds a live credential).", roles: bootstrap, request: v1.NodeCredentialRequest{}, response: v1.NodeCredential{}, code: http.StatusCreated, handle: (*handler).nodeCredential},
	{method: "POST", path: "/v1/nodes/{id}/register", summary: "An agent registers its node and devices (unknown models included) and gets a lease.", roles: agentOnly, request: v1.NodeRegistration{}, response: v1.NodeLease{}, handle: (*handler).register},
	{method: "POST", path: "/v1/nodes/{id}/heartbeat", summary: "An agent renews its node's lease; 404: register again; 409: the lease expired or was superseded.", roles: agentOnly, request: v1.Heartbeat{}, response: v1.HeartbeatReply{}, handle: (*handler).heartbeat},
	{method: "PUT", path: "/v1/nodes/{id}/devices", summary: "An agent reports its devices' health; a device in Error takes its node out of service.", roles: agentOnly, request: v1.DeviceReport{}, code: http.StatusNoContent, handle: (*handler).devices},
	{method: "POST", path: "/v1/jobs/{id}/workers/{worker}/status", summary: "An agent reports on one worker: running, a checkpoint, completed, failed or stopped.", roles: agentOnly, request: v1.WorkerReport{}, response: v1.Job{}, handle: (*handler).workerReport},
	{method: "GET", path: "/v1/events", summary: "Server-Sent Events: every job change (a tenant's own only; agents read their nodes' assignments instead); resumes from Last-Event-ID.", roles: people,
		query: []param{{"from", "revision to stream after (default: now)"}}, response: v1.Event{}, stream: true, handle: (*handler).events},

	{method: "GET", path: "/v1/prices", summary: "The price table usage and bills are priced from: version, who set it, entries per site and model.", roles: staff, response: v1.PriceList{}, handle: (*handler).prices},
	{method: "PUT", path: "/v1/prices", summary: "Replace the price table (audited); version must be the one in force, else 409; a table with errors is refused with every error listed.", roles: adminOnly, request: v1.PriceUpdate{}, response: v1.PriceList{}, handle: (*handler).replacePrices},
	{method: "GET", path: "/v1/tenants", summary: "List tenants.", roles: staff, response: []v1.Tenant{}, handle: (*handler).tenants},
	{method: "GET", path: "/v1/tenants/{id}", summary: "One tenant (a tenant may read its own).", roles: people, response: v1.Tenant{}, handle: (*handler).getTenant},
	{method: "PUT", path: "/v1/tenants/{id}", summary: "Create or replace a tenant and its quota.", roles: staff, request: v1.Tenant{}, response: v1.Tenant{}, handle: (*handler).putTenant},

	{method: "GET", path: "/v1/tenants/{id}/secrets", summary: "A tenant's secrets: names and keys, never values (a tenant lists its own).", roles: secretKeepers, response: []v1.Secret{}, handle: (*handler).secrets},
	{method: "PUT", path: "/v1/tenants/{id}/secrets/{name}", summary: "Create or replace a secret of a tenant (a tenant: its own); stored encrypted, its values go only to the agents of nodes its tenant's jobs are placed on.", roles: secretKeepers, request: v1.Secret{}, response: v1.Secret{}, handle: (*handler).putSecret},
	{method: "DELETE", path: "/v1/tenants/{id}/secrets/{name}", summary: "Delete a secret (a tenant: its own).", roles: secretKeepers, code: http.StatusNoContent, handle: (*handler).deleteSecret},

	{method: "POST", path: "/v1/tokens", summary: "Create a bearer token; its secret is in this reply only.", roles: adminOnly, request: v1.TokenRequest{}, response: v1.Token{}, code: http.StatusCreated, handle: (*handler).createToken},
	{method: "GET", path: "/v1/tokens", summary: "List tokens (never their secrets) with their expiry, rotation and last use.", roles: adminOnly, response: []v1.Token{}, handle: (*handler).tokens},
	{method: "POST", path: "/v1/tokens/{id}/rotate", summary: "Issue a new secret for a token; the old one keeps working for the overlap window. The new secret is in this reply only.", roles: adminOnly, request: v1.TokenRotation{}, response: v1.Token{}, handle: (*handler).rotateToken},
	{method: "DELETE", path: "/v1/tokens/{id}", summary: "Revoke a token: every secret of it stops working, and the node certificate signed with it; the id cert-<serial in hex> revokes a node certificate.", roles: adminOnly, code: http.StatusNoContent, handle: (*handler).revokeToken},

	{method: "GET", path: "/v1/usage", summary: "A tenant's metered use in a month: PFLOP-hours and card-hours by site and model, priced.", roles: people,
		query: []param{{"tenant", "the tenant (a tenant token: its own, the default)"}, {"month", "YYYY-MM, UTC (default: this month)"}}, response: v1.Usage{}, handle: (*handler).usage},
	{method: "GET", path: "/v1/policy", summary: "The sovereignty and security policy in force: version, rules, the document.", roles: staff, response: v1.Policy{}, handle: (*handler).policy},
	{method: "PUT", path: "/v1/policy", summary: "Replace the policy; a document with errors is refused with every error listed, and the policy in force stays.", roles: adminOnly, request: v1.PolicyDocument{}, response: v1.Policy{}, handle: (*handler).replacePolicy},
	{method: "GET", path: "/v1/advisories", summary: "Every security advisory filed, lifted ones included.", roles: staff, response: []v1.Advisory{}, handle: (*handler).advisories},
	{method: "POST", path: "/v1/advisories", summary: "File an advisory against a vendor, models or firmware range: watch, drain (no new work) or evict (move affected running jobs).", roles: adminOnly, request: v1.Advisory{}, response: v1.Advisory{}, code: http.StatusCreated, handle: (*handler).fileAdvisory},
	{method: "POST", path: "/v1/advisories/{id}/lift", summary: "Lift an advisory: its capacity takes new work again.", roles: adminOnly, response: v1.Advisory{}, handle: (*handler).liftAdvisory},
	{method: "GET", path: "/v1/compliance", summary: "Compliance report: domestic share of installed and allocated FP16 capacity by operator, site and tenant class; jobs on capacity their policy no longer allows; advisories in force.", roles: staff, response: map[string]any{}, handle: (*handler).compliance},

	{method: "GET", path: "/v1/audit", summary: "A page of the hash-chained audit log.", roles: adminOnly,
		query: []param{{"after", "sequence number to list after (default 0)"}, {"limit", "page size, 1 to 1000 (default 100)"}}, response: v1.AuditList{}, handle: (*handler).audit},
	{method: "GET", path: "/v1/audit/verify", summary: "Check the whole audit chain for edits and deletions; with key, its signatures.", roles: adminOnly,
		query: []param{{"key", "base64 ed25519 public key the head and checkpoints must be signed with (repeatable)"}}, response: v1.AuditVerification{}, handle: (*handler).verifyAudit},
}
