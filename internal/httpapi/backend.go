package httpapi

import (
	"context"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
)

// JobQuery filters and pages a job listing.
type JobQuery struct {
	Tenant string // "" for every tenant
	State  string // "" for every state
	After  string // job id cursor: list ids greater than this
	Limit  int    // 1..MaxPage
}

// MaxPage is the most items one listing returns.
const MaxPage = 1000

// Jobs is the job side of the backend.
type Jobs interface {
	// Submit stores the job durably (acknowledged) and returns it. The
	// spec is already validated; the backend assigns its id and submit
	// time. When ctx carries an Idempotency (IdempotencyFrom), a key the
	// principal used before returns that job (Replayed set) for the same
	// digest and an ErrConflict for another.
	Submit(ctx context.Context, p Principal, spec model.Job, workload *v1.Workload) (v1.Job, error)
	// DryRun says where the validated job would be placed now and why,
	// storing nothing.
	DryRun(ctx context.Context, p Principal, spec model.Job) (v1.DryRun, error)
	Job(ctx context.Context, id string) (v1.Job, error)
	Jobs(ctx context.Context, q JobQuery) (v1.JobList, error)
	Cancel(ctx context.Context, p Principal, id string) (v1.Job, error)
	Explain(ctx context.Context, id string) (v1.Explanation, error)
	// Report records an agent's status report for a placed job.
	Report(ctx context.Context, p Principal, id string, r v1.StatusReport) (v1.Job, error)
	// Assignments lists the live jobs placed on a node, for a principal
	// that acts for it; an agent's reply carries the jobs' secret values
	// (Workload.SecretEnv resolved into Workload.Env).
	Assignments(ctx context.Context, p Principal, node string) ([]v1.Job, error)
	// Events streams job changes after revision from.
	Events(ctx context.Context, from int64) (<-chan v1.Event, error)
}

// Admin is the tenant, token, usage and audit side of the backend.
type Admin interface {
	Tenants(ctx context.Context) ([]v1.Tenant, error)
	Tenant(ctx context.Context, id string) (v1.Tenant, error)
	PutTenant(ctx context.Context, p Principal, t model.Tenant) (v1.Tenant, error)
	CreateToken(ctx context.Context, p Principal, r v1.TokenRequest) (v1.Token, error)
	Tokens(ctx context.Context) ([]v1.Token, error)
	RevokeToken(ctx context.Context, p Principal, id string) error
	// RotateToken issues a new secret for the token; the old one works
	// for the overlap window.
	RotateToken(ctx context.Context, p Principal, id string, r v1.TokenRotation) (v1.Token, error)
	Usage(ctx context.Context, tenant, month string) (v1.Usage, error)
	// Prices is the price table in force; ReplacePrices puts a new one in
	// force when u.Version is the current version (ErrConflict if not).
	Prices(ctx context.Context) (v1.PriceList, error)
	ReplacePrices(ctx context.Context, p Principal, u v1.PriceUpdate) (v1.PriceList, error)
	Audit(ctx context.Context, after int64, limit int) (v1.AuditList, error)
	// VerifyAudit checks the audit chain; with keys (base64 ed25519 public
	// keys) also its signatures.
	VerifyAudit(ctx context.Context, keys []string) (v1.AuditVerification, error)
}

// Info is the read-only view of the network and the server's state.
type Info interface {
	// Catalog, Network and Capacity return JSON-encodable documents.
	Catalog() any
	Network() any
	Capacity(ctx context.Context) (any, error)
	// Workload is the scheduler's learned task mix.
	Workload(ctx context.Context) (v1.TaskMix, error)
	// Throughput is the throughput matrix: per workload class and model,
	// the default figure and what workers' progress reports taught.
	Throughput(ctx context.Context) (v1.ThroughputTable, error)
	// CapacityPlan is the capacity plan to the operator's target on the
	// network as it stands (JSON-encodable; computed once a year and kept).
	CapacityPlan(ctx context.Context) (any, error)
	// Health reports liveness; Ready reports whether the server can take
	// requests (store reachable), and whether it leads scheduling.
	Ready(ctx context.Context) v1.Health
}

// Nodes is the node-agent side of the backend, and the node listing.
type Nodes interface {
	// RegisterNode records a node's agent and its devices and returns a
	// fresh lease; a registration that contradicts the network spec is a
	// Problems error.
	RegisterNode(ctx context.Context, p Principal, reg v1.NodeRegistration) (v1.NodeLease, error)
	// Heartbeat renews a lease: ErrNotFound for a node never registered,
	// ErrConflict for a superseded or expired lease (register again).
	Heartbeat(ctx context.Context, p Principal, node string, hb v1.Heartbeat) (v1.HeartbeatReply, error)
	// NodeCredential exchanges a bootstrap principal for the node's own
	// agent credential (ErrConflict while the node holds a live one).
	NodeCredential(ctx context.Context, p Principal, node string, r v1.NodeCredentialRequest) (v1.NodeCredential, error)
	// ReportDevices replaces the node's device health.
	ReportDevices(ctx context.Context, p Principal, node string, r v1.DeviceReport) error
	// ReportWorker records a report on one worker of a placed job.
	ReportWorker(ctx context.Context, p Principal, job string, r v1.WorkerReport) (v1.Job, error)
	// Nodes lists the network's nodes (of one site when site is set).
	Nodes(ctx context.Context, site string) ([]v1.Node, error)
}

// Policies is the sovereignty and security policy side of the backend.
type Policies interface {
	Policy(ctx context.Context) (v1.Policy, error)
	// ReplacePolicy puts a new document in force; a document with errors
	// is a Problems error listing every one, and the policy in force stays.
	ReplacePolicy(ctx context.Context, p Principal, doc string) (v1.Policy, error)
	Advisories(ctx context.Context) ([]v1.Advisory, error)
	FileAdvisory(ctx context.Context, p Principal, a v1.Advisory) (v1.Advisory, error)
	LiftAdvisory(ctx context.Context, p Principal, id string) (v1.Advisory, error)
	// Compliance returns the compliance report (JSON-encodable).
	Compliance(ctx context.Context) (any, error)
}

// Backend is everything the handlers need.
type Backend interface {
	Authenticator
	Jobs
	Nodes
	Policies
	Admin
	Secrets
	Info
}
