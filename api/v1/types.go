// Package v1 holds Suanli's public wire types and a Go client for the HTTP
// API served under /v1. It imports only the standard library so that
// programs outside the module can depend on it.
package v1

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Roles a bearer token may carry.
const (
	RoleAdmin    = "admin"    // everything, including tokens and the audit log
	RoleOperator = "operator" // tenants, quotas, every job, policy
	RoleTenant   = "tenant"   // its own jobs and usage only
	RoleAgent    = "agent"    // one node's (or a bridge's sites') registration, assignments, reports
	// RoleBootstrap may only exchange itself, once per node, for that
	// node's own agent credential (POST /v1/nodes/{id}/credentials), the
	// way kubelets join a cluster with a bootstrap token.
	RoleBootstrap = "bootstrap"
)

// NodeCertURI is the URI SAN (and common name) prefix of a node
// certificate: suanli:node:<node id>.
const NodeCertURI = "suanli:node:"

// Job states, as the server reports them.
const (
	StatePending   = "pending"
	StateBlocked   = "blocked"
	StatePlaced    = "placed"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
	StatePreempted = "preempted"
)

// JobSpec is what a client submits: the shape of the work and its
// constraints. Tenant defaults to the caller's own tenant.
type JobSpec struct {
	Tenant         string `json:"tenant,omitempty"`
	Name           string `json:"name,omitempty"`
	Kind           string `json:"kind"`
	Priority       int    `json:"priority,omitempty"`
	Workers        int    `json:"workers"`
	CardsPerWorker int    `json:"cards_per_worker,omitempty"`
	ShareMilli     int    `json:"share_milli,omitempty"`
	MemMiB         int64  `json:"mem_mib,omitempty"`
	// CPUMilli and HostMemMiB are the host CPU (thousandths of a core) and
	// memory each worker needs besides its cards; zero takes the kind's
	// default per card (gang 8 cores and 64 GiB, inference 4 and 32,
	// batch 4 and 16; a share its fraction).
	CPUMilli        int64    `json:"cpu_milli,omitempty"`
	HostMemMiB      int64    `json:"host_mem_mib,omitempty"`
	Models          []string `json:"models,omitempty"`
	ComputeGFLOPS   int64    `json:"compute_gflops,omitempty"`
	EfficiencyMilli int      `json:"efficiency_milli,omitempty"`
	// Rates is the job's measured throughput per card on each model
	// (catalog id or name → work per second, in one unit of the job's
	// choosing). Where given, placement ranks models by it instead of by
	// peak FLOPS; it never says how much work the job has.
	Rates map[string]float64 `json:"rates,omitempty"`
	// WorkloadClass is the job's workload class in the throughput matrix
	// (`suanli throughput`, GET /v1/throughput), e.g. llm-pretrain. Its
	// workers' progress reports teach the server the class's throughput
	// per model, and placement ranks models by the learned (else default)
	// rates of the class where the job gives no rates of its own.
	WorkloadClass    string   `json:"workload_class,omitempty"`
	Stacks           []string `json:"stacks,omitempty"`
	PyTorch          []string `json:"pytorch,omitempty"`
	MinMemMiB        int64    `json:"min_mem_mib,omitempty"`
	Regions          []string `json:"regions,omitempty"`
	Sites            []string `json:"sites,omitempty"`
	Topology         string   `json:"topology,omitempty"`
	TopologyRequired bool     `json:"topology_required,omitempty"`
	CrossSite        bool     `json:"cross_site,omitempty"`
	Mixed            bool     `json:"mixed,omitempty"`
	Classification   string   `json:"classification,omitempty"`
	// Latency (interactive or batch), Users (a province or a site id) and
	// Data (the site and size of the input) let placement weigh what each
	// site would cost the job: energy per unit of work, moving its data
	// over the backbone, the round trip to its users.
	Latency    string   `json:"latency,omitempty"`
	Users      string   `json:"users,omitempty"`
	Data       *JobData `json:"data,omitempty"`
	RuntimeSec int64    `json:"runtime_sec,omitempty"`
	// LostAfterSec shortens how long the job's work on a disconnected
	// node is held for it before it is requeued (0: as long as the node's
	// site holds it, by default 5 minutes).
	LostAfterSec int64 `json:"lost_after_sec,omitempty"`
	// MaxRetries, RetryBackoffSec and RetryExitCodes are the retry policy
	// (see the field table, JobSpecFields).
	MaxRetries      int   `json:"max_retries,omitempty"`
	RetryBackoffSec int64 `json:"retry_backoff_sec,omitempty"`
	RetryExitCodes  []int `json:"retry_exit_codes,omitempty"`
	// Workload is what each worker runs; nil leaves it to the agent (a
	// simulated executor, where it has one).
	Workload *Workload `json:"workload,omitempty"`
}

// JobData is where a job's input data lies (a site id) and its size in GB
// (10^9 bytes).
type JobData struct {
	Site   string `json:"site"`
	SizeGB int64  `json:"size_gb,omitempty"`
}

// Job is a submitted job and where it stands.
type Job struct {
	ID          string     `json:"id"`
	Spec        JobSpec    `json:"spec"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"` // why it is blocked, failed or cancelled
	SubmittedAt time.Time  `json:"submitted_at"`
	PlacedAt    *time.Time `json:"placed_at,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	Placement   *Placement `json:"placement,omitempty"`
	Revision    int64      `json:"revision"`
	// Checkpoint is the last checkpoint step a worker reported: a requeued
	// job resumes from it.
	Checkpoint int64 `json:"checkpoint,omitempty"`
	// Overuse is the last report of a fractional worker whose card was
	// read using more device memory than its share (agent-run sites).
	Overuse string `json:"overuse,omitempty"`
	// OutputTail is the end (up to MaxOutputTail bytes) of the output of
	// the worker whose failure failed (or last retried) the job, as its
	// agent captured it.
	// Only GET /v1/jobs/{id} carries it, not listings.
	OutputTail string `json:"output_tail,omitempty"`
	// Retries are the failures that requeued the job under its retry
	// policy, oldest first.
	Retries []Retry `json:"retries,omitempty"`
	// Throughput is what the job's workers reported of their progress, per
	// model (GET /v1/jobs/{id} only).
	Throughput []JobRate `json:"throughput,omitempty"`
}

// Retry is one failure that requeued a job under its retry policy.
type Retry struct {
	At     time.Time `json:"at"`
	Worker int       `json:"worker"`
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	// NotBefore is when the job could be placed again (the backoff).
	NotBefore time.Time `json:"not_before"`
}

// Node states, as GET /v1/nodes reports them.
const (
	NodeUnregistered = "unregistered" // no agent has registered it: taken as healthy
	NodeReady        = "ready"        // registered, lease held, devices healthy
	NodeUnhealthy    = "unhealthy"    // a device reported in Error: no work
	NodeDisconnected = "disconnected" // heartbeats missed: no new work; its jobs are held for it until lost_after
	NodeLost         = "lost"         // disconnected for longer than lost_after: its jobs were requeued
)

// Node is one node of the network as the server sees it: its place, its
// cards, what is allocated on it and what its agent reported.
type Node struct {
	ID     string `json:"id"`
	Site   string `json:"site"`
	Domain string `json:"domain"`
	Model  string `json:"model"`
	Cards  int    `json:"cards"`
	// AllocatedMilli is the cards live placements hold, in thousandths.
	AllocatedMilli int64 `json:"allocated_milli"`
	// The host: CPU in thousandths of a core and memory in MiB, and what
	// live placements hold of them. Zero capacity: the node gives none
	// (not limited).
	CPUMilli          int64  `json:"cpu_milli"`
	CPUAllocatedMilli int64  `json:"cpu_allocated_milli"`
	MemMiB            int64  `json:"mem_mib"`
	MemAllocatedMiB   int64  `json:"mem_allocated_mib"`
	State             string `json:"state"`
	Healthy           bool   `json:"healthy"`
	Reason            string `json:"reason,omitempty"`
	// The agent's report, for registered nodes.
	Agent        string       `json:"agent,omitempty"`
	Address      string       `json:"address,omitempty"`
	RegisteredAt *time.Time   `json:"registered_at,omitempty"`
	Devices      []NodeDevice `json:"devices,omitempty"`
	// Unknown counts the devices whose name maps to no catalog model.
	Unknown  int      `json:"unknown_devices,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Placement is where a job runs.
type Placement struct {
	Assignments []Assignment `json:"assignments"`
	GFLOPS      int64        `json:"gflops"` // FP16 throughput held
}

// Assignment is one worker's cards on one node.
type Assignment struct {
	Worker     int    `json:"worker"`
	Node       string `json:"node"`
	Site       string `json:"site,omitempty"`
	Model      string `json:"model"`
	Cards      []int  `json:"cards"`
	ShareMilli int    `json:"share_milli,omitempty"`
	MemMiB     int64  `json:"mem_mib,omitempty"`
	// WorkShareMilli is this worker's share of a mixed-model gang's work,
	// in thousandths of the whole step, sized by the scheduler so that
	// every chip's step takes about as long (by the job's rates, its
	// class's learned or default ones, else peak FP16, as the explanation
	// says); the worker sees it as
	// SUANLI_WORK_SHARE. 0: an equal share (1/workers).
	WorkShareMilli int   `json:"work_share_milli,omitempty"`
	CPUMilli       int64 `json:"cpu_milli,omitempty"`
	HostMemMiB     int64 `json:"host_mem_mib,omitempty"`
}

// JobList is one page of jobs; Next, when set, is the cursor of the next
// page (pass it as ?after=).
type JobList struct {
	Jobs []Job  `json:"jobs"`
	Next string `json:"next,omitempty"`
}

// Tenant is an organisation that submits jobs, with its quota.
type Tenant struct {
	ID          string         `json:"id"`
	Name        string         `json:"name,omitempty"`
	Class       string         `json:"class"`
	QuotaGFLOPS int64          `json:"quota_gflops,omitempty"`
	Weight      int            `json:"weight,omitempty"`
	VendorCaps  map[string]int `json:"vendor_caps,omitempty"`
}

// TokenRequest asks for a new bearer token.
type TokenRequest struct {
	Role   string `json:"role"`
	Tenant string `json:"tenant,omitempty"` // required for the tenant role
	Name   string `json:"name,omitempty"`
	// Node binds an agent token to the one node it acts for.
	Node string `json:"node,omitempty"`
	// Sites binds an agent token to every node of these sites (a
	// Kubernetes site bridge, a simulated fleet), or limits the nodes a
	// bootstrap token may join.
	Sites []string `json:"sites,omitempty"`
	// TTLSeconds is the token's lifetime; 0: the role's default (tenant
	// tokens 90 days unless the server sets another, bootstrap tokens 24
	// hours, others none); -1: never expires.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// Token describes a bearer token. Secret is set only in the reply that
// creates or rotates it; the server keeps a hash, never the secret.
type Token struct {
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	Tenant    string     `json:"tenant,omitempty"`
	Name      string     `json:"name,omitempty"`
	Node      string     `json:"node,omitempty"`
	Sites     []string   `json:"sites,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RotatedAt is when the current secret was issued (nil: never rotated).
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
	// PreviousUntil is when the secret a rotation replaced stops working (nil:
	// no previous secret works any more).
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
	// LastUsed is when any of its secrets last authenticated a request,
	// to within a minute (nil: never).
	LastUsed *time.Time `json:"last_used,omitempty"`
	Secret   string     `json:"secret,omitempty"`
}

// TokenRotation asks for a new secret for a token. The old secret keeps
// working for OverlapSeconds (0: one hour; -1: none, it stops now).
type TokenRotation struct {
	OverlapSeconds int64 `json:"overlap_seconds,omitempty"`
	// TTLSeconds is the new secret's lifetime (0: the token's lifetime
	// so far, or its role's default; -1: never expires).
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// NodeCredentialRequest exchanges a bootstrap token for a node's own
// agent credential. CSR, a PEM certificate request whose common name or
// URI SAN is suanli:node:<id>, asks for a client
// certificate too, signed by the server's client CA when it holds the key.
type NodeCredentialRequest struct {
	CSR string `json:"csr,omitempty"`
}

// NodeCredential is a node's own agent credential: a bearer token bound
// to the node and, when asked for and the server can sign, a client
// certificate (PEM) for mutual TLS, with its CA.
type NodeCredential struct {
	Node        string `json:"node"`
	Token       Token  `json:"token"`
	Certificate string `json:"certificate,omitempty"`
	CA          string `json:"ca,omitempty"`
}

// Secret is a named set of values (API keys, passwords, certificates)
// that the server keeps encrypted for one tenant's workloads to reference
// (Workload.SecretEnv). Data is sent to write it and never returned:
// replies list the key names only.
type Secret struct {
	Tenant    string            `json:"tenant"`
	Name      string            `json:"name"`
	Data      map[string]string `json:"data,omitempty"`
	Keys      []string          `json:"keys,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Usage is a tenant's metered use in one month, in the unified measure of
// heterogeneous compute: FP16 PFLOP-hours, and card-hours, by site and
// model. Quantities are integers in thousandths; money in fen (0.01 CNY).
type Usage struct {
	Tenant          string      `json:"tenant"`
	Month           string      `json:"month"` // YYYY-MM, UTC
	Lines           []UsageLine `json:"lines"`
	CardHoursMilli  int64       `json:"card_hours_milli"`
	PFLOPHoursMilli int64       `json:"pflop_hours_milli"`
	CostFen         int64       `json:"cost_fen"`
	// Energy at the facility (cards, their hosts' share, PUE), its CO2 at
	// each site's grid factor and its electricity cost.
	KWhMilli   int64 `json:"kwh_milli"`
	KgCO2Milli int64 `json:"kg_co2_milli"`
	EnergyFen  int64 `json:"energy_fen"`
}

// UsageLine is one tenant's use of one model at one site.
type UsageLine struct {
	Site            string `json:"site"`
	Model           string `json:"model"`
	Ownership       string `json:"ownership"` // self-built or leased
	CardHoursMilli  int64  `json:"card_hours_milli"`
	PFLOPHoursMilli int64  `json:"pflop_hours_milli"`
	FenPerCardHour  int64  `json:"fen_per_card_hour"`
	FenPerPFLOPHour int64  `json:"fen_per_pflop_hour"`
	CostFen         int64  `json:"cost_fen"`
	KWhMilli        int64  `json:"kwh_milli"`
	KgCO2Milli      int64  `json:"kg_co2_milli"`
	EnergyFen       int64  `json:"energy_fen"`
	// UnmeteredCardHoursMilli is use on cards whose model has no power
	// figure: its energy is not in KWhMilli.
	UnmeteredCardHoursMilli int64 `json:"unmetered_card_hours_milli"`
}

// PriceEntry is what one card-hour, or one FP16 PFLOP-hour, of a model at
// a site costs a tenant, in fen (0.01 CNY); exactly one rate is set. An
// empty site or model matches any; the most specific entry wins (site and
// model, then model, then site). Leased sites the table does not price are
// billed at their lease price from the network spec.
type PriceEntry struct {
	Site            string `json:"site,omitempty"`
	Model           string `json:"model,omitempty"`
	FenPerCardHour  int64  `json:"fen_per_card_hour,omitempty"`
	FenPerPFLOPHour int64  `json:"fen_per_pflop_hour,omitempty"`
}

// PriceList is the price table in force. Version 0 is the network spec's
// table; every replacement through the API adds one and is audited.
type PriceList struct {
	Version   int64        `json:"version"`
	Source    string       `json:"source"` // "network spec" or "api"
	UpdatedAt *time.Time   `json:"updated_at,omitempty"`
	UpdatedBy string       `json:"updated_by,omitempty"`
	Prices    []PriceEntry `json:"prices"`
}

// PriceUpdate replaces the price table. Version must be the version in
// force (a stale one is refused with 409, so two admins cannot overwrite
// each other unseen).
type PriceUpdate struct {
	Version int64        `json:"version"`
	Prices  []PriceEntry `json:"prices"`
}

// AuditEntry is one link of the hash-chained audit log.
type AuditEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // token id, or "scheduler"
	Action string    `json:"action"` // e.g. job.submit, job.place
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Prev   string    `json:"prev"` // hash of the entry before (hex)
	Hash   string    `json:"hash"` // hash of this entry (hex)
}

// AuditList is one page of the audit log.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
	Next    int64        `json:"next,omitempty"`
}

// AuditVerification is the result of checking the whole chain.
type AuditVerification struct {
	Entries  int      `json:"entries"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
	// Signed: the signatures were checked against the keys asked for.
	Signed bool `json:"signed"`
}

// Event is one change, streamed as Server-Sent Events from /v1/events.
type Event struct {
	Revision int64  `json:"revision"`
	Type     string `json:"type"` // job
	Job      *Job   `json:"job,omitempty"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // ok or a reason
	Leader bool   `json:"leader"` // this replica runs the scheduling loop
	// Scheduling is who schedules, as this replica sees it: SchedLeading,
	// SchedFollowing (LeaderName leads) or SchedNoLeader (jobs are accepted
	// but nobody places them; a replica is being elected, or the store is
	// unreachable).
	Scheduling string `json:"scheduling"`
	LeaderName string `json:"leader_name,omitempty"`
}

// Health.Scheduling values.
const (
	SchedLeading   = "leading"
	SchedFollowing = "following"
	SchedNoLeader  = "no leader"
)

// Problem is one thing wrong with a request, with the field path.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the body of every 4xx and 5xx reply.
type Error struct {
	Status int `json:"-"`
	// RetryAfter is the reply's Retry-After header (a 429 or 503): how
	// long to wait before sending again; zero when absent.
	RetryAfter time.Duration `json:"-"`
	Message    string        `json:"error"`
	Problems   []Problem     `json:"problems,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d: ", e.Status)
	}
	b.WriteString(e.Message)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Field, p.Message)
	}
	return b.String()
}

// decodeError reads an error body; a body that is not JSON becomes the
// message as is.
func decodeError(status int, body []byte) *Error {
	e := &Error{Status: status}
	if json.Unmarshal(body, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if e.Message == "" {
			e.Message = fmt.Sprintf("HTTP status %d", status)
		}
	}
	return e
}

// StatusReport is an agent's report on a job placed on its node.
type StatusReport struct {
	State  string `json:"state"` // running, completed or failed
	Reason string `json:"reason,omitempty"`
}

// PolicyDocument carries a policy document (YAML or JSON text) to replace
// the policy in force.
type PolicyDocument struct {
	Document string `json:"document"`
}

// Policy is the policy in force.
type Policy struct {
	Version     int        `json:"version"`
	Name        string     `json:"name,omitempty"`
	Description string     `json:"description,omitempty"`
	Rules       int        `json:"rules"`
	Document    string     `json:"document"` // as submitted
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	UpdatedBy   string     `json:"updated_by,omitempty"`
	// Revision counts the policy changes (replacements, advisories filed
	// and lifted) this server has applied.
	Revision uint64 `json:"revision"`
}

// Advisory actions and severities.
const (
	ActionWatch = "watch" // record only
	ActionDrain = "drain" // no new placements of affected classes on covered cards
	ActionEvict = "evict" // also move affected running jobs, whole, keeping their queue position
)

// Advisory is a security advisory against a vendor, models and optionally
// firmware or driver version ranges. The server assigns ID when it is
// empty; Filed, FiledBy, Lifted and LiftedBy are the server's.
type Advisory struct {
	ID       string   `json:"id,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Vendor   string   `json:"vendor,omitempty"`
	Models   []string `json:"models,omitempty"`
	Firmware string   `json:"firmware,omitempty"` // version range over node label suanli.io/firmware
	Driver   string   `json:"driver,omitempty"`   // version range over node label suanli.io/driver
	// Classes are the job classifications affected; empty: all.
	Classes  []string   `json:"classes,omitempty"`
	Severity string     `json:"severity"` // low, medium, high, critical
	Action   string     `json:"action"`   // watch, drain, evict
	Filed    time.Time  `json:"filed,omitzero"`
	FiledBy  string     `json:"filed_by,omitempty"`
	Lifted   *time.Time `json:"lifted,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
}

// DryRun is the reply to POST /v1/jobs?dry_run=true: where the job would
// be placed now and why, computed by the scheduler on a snapshot of the
// live allocation. Nothing is stored and no capacity is held; a real
// submit may land elsewhere as the network changes.
type DryRun struct {
	Placeable bool       `json:"placeable"`
	Placement *Placement `json:"placement,omitempty"`
	// Score is the chosen placement's score and its parts (0..1000 each,
	// weighted into Total).
	Score *Score `json:"score,omitempty"`
	// Explanation is what `explain` would say of the job.
	Explanation Explanation `json:"explanation"`
	// Alternatives are runner-up placements, in words.
	Alternatives []string `json:"alternatives,omitempty"`
}

// TaskShape is one shape of task in the scheduler's task mix: Cards whole
// cards or a ShareMilli share of one card per worker, the host CPU and
// memory, the models named (none: any) and its popularity in thousandths.
type TaskShape struct {
	Cards           int      `json:"cards,omitempty"`
	ShareMilli      int      `json:"share_milli,omitempty"`
	CPUMilli        int64    `json:"cpu_milli,omitempty"`
	HostMemMiB      int64    `json:"host_mem_mib,omitempty"`
	Models          []string `json:"models,omitempty"`
	PopularityMilli int      `json:"popularity_milli,omitempty"`
}

// WeightedShape is a learned shape and its decayed weight, in arrivals.
type WeightedShape struct {
	TaskShape
	Weight float64 `json:"weight"`
}

// TaskMix is the task mix the scheduler measures fragmentation against,
// learned from the jobs submitted: Observed worker arrivals, decayed with
// HalfLifeWorkers, Typical the shapes in use now (covering 95% of the
// weight) and Shapes every shape kept, heaviest first. Learned is false
// while the scheduler has no stored mix (it uses its prior).
type TaskMix struct {
	Learned         bool            `json:"learned"`
	Observed        int64           `json:"observed"`
	HalfLifeWorkers int             `json:"half_life_workers"`
	Typical         []TaskShape     `json:"typical"`
	Shapes          []WeightedShape `json:"shapes"`
}
