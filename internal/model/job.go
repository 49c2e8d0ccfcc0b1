package model

import (
	"errors"
	"fmt"
	"strings"
)

// JobKind is the shape of a job.
type JobKind string

// Job kinds.
const (
	Gang      JobKind = "gang"      // W workers × C whole cards, all or nothing
	Inference JobKind = "inference" // R replicas of whole cards or a fraction of one
	Batch     JobKind = "batch"     // one task of N cards or a fraction, on one node
)

// Topology is the scope a gang's workers must (or should) share.
type Topology string

// Topology scopes, from the tightest.
const (
	TopoNone   Topology = ""
	TopoNode   Topology = "node"
	TopoDomain Topology = "domain"
	TopoSite   Topology = "site"
)

// Classification is the sensitivity of a job's data, for policy.
type Classification string

// Classifications.
const (
	Public                 Classification = "public"
	Internal               Classification = "internal"
	Sensitive              Classification = "sensitive"
	CriticalInfrastructure Classification = "critical-infrastructure"
)

// JobState is where a job is in its life.
type JobState string

// Job states.
const (
	Pending   JobState = "pending"
	Blocked   JobState = "blocked" // unplaceable now; waits for matching capacity
	Placed    JobState = "placed"  // committed; agents are starting it
	Running   JobState = "running"
	Completed JobState = "completed"
	Failed    JobState = "failed"
	Cancelled JobState = "cancelled"
	Preempted JobState = "preempted" // evicted; requeued
)

// Terminal reports whether the state is final.
func (s JobState) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// MilliCard is a whole card in thousandths.
const MilliCard = 1000

// Job is one unit of work to place.
type Job struct {
	ID       JobID    `json:"id"`
	Tenant   TenantID `json:"tenant"`
	Name     string   `json:"name,omitempty"`
	Kind     JobKind  `json:"kind"`
	Priority int      `json:"priority"`

	// Workers is the gang size, the replica count of an inference job, or 1
	// for batch. CardsPerWorker is whole cards per worker; zero with
	// ShareMilli > 0 asks for a fraction of one card per worker.
	Workers        int   `json:"workers"`
	CardsPerWorker int   `json:"cards_per_worker"`
	ShareMilli     int   `json:"share_milli,omitempty"`
	MemMiB         int64 `json:"mem_mib,omitempty"` // memory of a fractional share

	// CPUMilli and HostMemMiB are the host CPU (thousandths of a core) and
	// host memory each worker needs on its node, besides its cards.
	CPUMilli   int64 `json:"cpu_milli,omitempty"`
	HostMemMiB int64 `json:"host_mem_mib,omitempty"`

	// Either concrete models (catalog ids)…
	Models []string `json:"models,omitempty"`
	// …or a compute request in FP16 GFLOPS, which the scheduler turns into
	// a card count per candidate model at EfficiencyMilli.
	ComputeGFLOPS   int64 `json:"compute_gflops,omitempty"`
	EfficiencyMilli int   `json:"efficiency_milli,omitempty"`
	// Rates is the job's throughput per card on each model (catalog id →
	// work per second, in one unit of the job's choosing: steps/s,
	// tokens/s …), measured or taken from a throughput matrix. Where it is
	// given, the scheduler's heterogeneity term ranks models by it instead
	// of by peak FLOPS; a model it leaves out ranks last. It never says how
	// much work the job has.
	Rates map[string]float64 `json:"rates,omitempty"`
	// WorkloadClass is the job's class in the throughput matrix (catalog
	// throughput classes, e.g. llm-pretrain); without Rates, the
	// scheduler ranks models by the class's rates where the core has them.
	WorkloadClass string `json:"workload_class,omitempty"`

	Stacks    []string `json:"stacks,omitempty"`      // acceptable software stacks (CANN, NeuWare …)
	PyTorch   []string `json:"pytorch,omitempty"`     // acceptable PyTorch integrations (torch_npu …)
	MinMemMiB int64    `json:"min_mem_mib,omitempty"` // per card
	Regions   []string `json:"regions,omitempty"`     // data residency
	Sites     []SiteID `json:"sites,omitempty"`

	Topology         Topology `json:"topology,omitempty"`
	TopologyRequired bool     `json:"topology_required,omitempty"`
	CrossSite        bool     `json:"cross_site,omitempty"` // a gang may span sites
	Mixed            bool     `json:"mixed,omitempty"`      // a gang may span models

	Classification Classification `json:"classification,omitempty"`

	// Latency says how the job's users wait on it: interactive work is
	// placed near its users, batch work where its work costs least (empty:
	// interactive for inference, batch otherwise; see EffectiveLatency).
	Latency Latency `json:"latency,omitempty"`
	// Users is where the job's users are: a province or a site id.
	Users string `json:"users,omitempty"`
	// Data is where the job's input lies and how large it is.
	Data *DataLocation `json:"data,omitempty"`

	// Times are seconds on the caller's clock (the core reads none).
	SubmitTime     int64 `json:"submit_time"`
	RuntimeSec     int64 `json:"runtime_sec,omitempty"` // declared, for backfill
	CheckpointTime int64 `json:"checkpoint_time,omitempty"`
	// LostAfterSec, when set, is how long the job's work on a disconnected
	// node is held before it is requeued, if shorter than the node's site
	// holds it (an inference service that must fail over fast).
	LostAfterSec int64 `json:"lost_after_sec,omitempty"`

	// Retry policy: a worker failure requeues the job whole, to resume
	// from its checkpoint, up to MaxRetries times, the first after
	// RetryBackoffSec and each next after twice the pause before (at most
	// MaxRetryBackoffSec). RetryExitCodes, when set, are the exit codes
	// that count; another ends the job at once.
	MaxRetries      int   `json:"max_retries,omitempty"`
	RetryBackoffSec int64 `json:"retry_backoff_sec,omitempty"`
	RetryExitCodes  []int `json:"retry_exit_codes,omitempty"`
}

// Latency is how latency-sensitive a job is.
type Latency string

// Latency classes.
const (
	LatencyInteractive Latency = "interactive" // users wait on each answer: place near them
	LatencyBatch       Latency = "batch"       // nobody waits on an answer: place where work is cheapest
)

// DataLocation is where a job's input data lies (a site id) and its size
// in GB (10^9 bytes), which must reach the cards before the job starts.
type DataLocation struct {
	Site   SiteID `json:"site"`
	SizeGB int64  `json:"size_gb"`
}

// EffectiveLatency is the job's latency class: its own, else interactive
// for inference and batch for other kinds.
func (j *Job) EffectiveLatency() Latency {
	switch {
	case j.Latency != "":
		return j.Latency
	case j.Kind == Inference:
		return LatencyInteractive
	}
	return LatencyBatch
}

// Bounds of a worker's host request: far above any server, low enough that
// sums over a node's workers cannot overflow.
const (
	MaxHostCPUMilli = 1 << 40
	MaxHostMemMiB   = 1 << 40
)

// Host requests a worker gets when its job names none, per card (a share
// gets its fraction of a card's, a compute request one card's), by kind:
// training feeds its cards hardest.
var hostPerCard = map[JobKind]struct{ cpuMilli, memMiB int64 }{
	Gang:      {8000, 64 << 10},
	Inference: {4000, 32 << 10},
	Batch:     {4000, 16 << 10},
}

// HostDefaults fills the host CPU and memory a job leaves at zero with the
// defaults of its kind: per card, 8 cores and 64 GiB for a training gang,
// 4 cores and 32 GiB for inference, 4 cores and 16 GiB for batch; a share
// takes its fraction (at least 1 milli-core and 1 MiB), a compute request
// one card's worth.
func (j *Job) HostDefaults() {
	d, ok := hostPerCard[j.Kind]
	if !ok {
		return
	}
	num, den := int64(max(j.CardsPerWorker, 1)), int64(1)
	if j.Fractional() {
		num, den = int64(j.ShareMilli), MilliCard
	}
	if j.CPUMilli == 0 {
		j.CPUMilli = max(d.cpuMilli*num/den, 1)
	}
	if j.HostMemMiB == 0 {
		j.HostMemMiB = max(d.memMiB*num/den, 1)
	}
}

// Cards is the whole cards the job asks for (zero for fractional jobs).
func (j *Job) Cards() int { return j.Workers * j.CardsPerWorker }

// Fractional reports whether each worker wants a share of one card.
func (j *Job) Fractional() bool { return j.CardsPerWorker == 0 && j.ShareMilli > 0 }

// Validate reports every problem with the job, each with its field path.
// Bounds of numeric fields: far above any real request, low enough that
// sums over a whole network cannot overflow an int64.
const (
	MaxMemMiB          = 1 << 30               // card memory a job asks for: 1 PiB
	MaxGFLOPS          = 1_000_000_000_000_000 // a compute request or quota: a million EFLOPS
	MaxRuntimeSec      = 10 * 366 * 86400      // a declared runtime: ten years
	MaxLostAfterSec    = 7 * 86400             // how long a job's work is held on a disconnected node: a week
	MaxWeight          = 1000                  // a tenant's fair-share weight
	MaxVendorCap       = 10_000_000            // a tenant's cards of one vendor
	MaxRates           = 256                   // entries of a job's throughput table
	MaxRate            = 1e12                  // one throughput figure, in the job's unit per second
	MaxRetries         = 100                   // retries of one job
	MaxRetryBackoffSec = 86400                 // a retry's pause: a day
	MaxDataGB          = 1_000_000_000         // a job's input data: an exabyte
	MaxPlaceName       = 128                   // bytes of a users or data.site name
)

func (j *Job) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if j.ID == "" {
		bad("id", "missing")
	}
	if j.Tenant == "" {
		bad("tenant", "missing")
	}
	switch j.Kind {
	case Gang, Inference, Batch:
	default:
		bad("kind", "%q is not one of gang, inference, batch", j.Kind)
	}
	if j.Workers <= 0 {
		bad("workers", "%d must be at least 1", j.Workers)
	}
	if j.Kind == Batch && j.Workers > 1 {
		bad("workers", "a batch job is one task; use cards_per_worker for more cards")
	}
	errs = append(errs, j.sizeProblems()...)
	switch j.Topology {
	case TopoNone, TopoNode, TopoDomain, TopoSite:
	default:
		bad("topology", "%q is not one of node, domain, site", j.Topology)
	}
	switch j.Classification {
	case "", Public, Internal, Sensitive, CriticalInfrastructure:
	default:
		bad("classification", "%q is not one of public, internal, sensitive, critical-infrastructure", j.Classification)
	}
	if j.Priority < 0 || j.Priority > 1000 {
		bad("priority", "%d must be between 0 and 1000", j.Priority)
	}
	if j.RuntimeSec < 0 || j.RuntimeSec > MaxRuntimeSec {
		bad("runtime_sec", "%d must be between 0 and %d (ten years)", j.RuntimeSec, MaxRuntimeSec)
	}
	errs = append(errs, j.retryProblems()...)
	errs = append(errs, j.placeProblems()...)
	if len(j.Rates) > MaxRates {
		bad("rates", "%d entries: at most %d (one per accelerator model)", len(j.Rates), MaxRates)
	}
	for m, r := range j.Rates {
		if strings.TrimSpace(m) == "" {
			bad("rates", "an entry has an empty model id")
		}
		if !(r > 0 && r <= MaxRate) { // also refuses NaN
			bad(fmt.Sprintf("rates[%q]", m), "%v must be a positive throughput of at most %g", r, float64(MaxRate))
		}
	}
	if len(j.WorkloadClass) > 64 {
		bad("workload_class", "longer than 64 bytes")
	}
	for i, m := range j.Models {
		if strings.TrimSpace(m) == "" {
			bad(fmt.Sprintf("models[%d]", i), "empty")
		}
	}
	return errors.Join(errs...)
}

// placeProblems checks the fields that say where a job's users and data
// are; whether the network has those places is the scheduler's check
// (sched.Names).
func (j *Job) placeProblems() []error {
	var errs []error
	switch j.Latency {
	case "", LatencyInteractive, LatencyBatch:
	default:
		errs = append(errs, fmt.Errorf("latency: %.64q is not one of interactive, batch", j.Latency))
	}
	if len(j.Users) > MaxPlaceName || j.Users != "" && strings.TrimSpace(j.Users) == "" {
		errs = append(errs, fmt.Errorf("users: must be a province or a site id of at most %d bytes", MaxPlaceName))
	}
	if d := j.Data; d != nil {
		if strings.TrimSpace(string(d.Site)) == "" || len(d.Site) > MaxPlaceName {
			errs = append(errs, fmt.Errorf("data.site: missing: the site id where the data lies (see `suanli network`)"))
		}
		if d.SizeGB < 0 || d.SizeGB > MaxDataGB {
			errs = append(errs, fmt.Errorf("data.size_gb: %d must be between 0 and %d", d.SizeGB, MaxDataGB))
		}
	}
	return errs
}

// retryProblems checks the retry policy and how long lost work is held.
func (j *Job) retryProblems() []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if j.MaxRetries < 0 || j.MaxRetries > MaxRetries {
		bad("max_retries", "%d must be between 0 and %d", j.MaxRetries, MaxRetries)
	}
	if j.RetryBackoffSec < 0 || j.RetryBackoffSec > MaxRetryBackoffSec {
		bad("retry_backoff_sec", "%d must be between 0 and %d (a day)", j.RetryBackoffSec, MaxRetryBackoffSec)
	}
	if (j.RetryBackoffSec > 0 || len(j.RetryExitCodes) > 0) && j.MaxRetries == 0 {
		bad("max_retries", "0: retry_backoff_sec and retry_exit_codes need max_retries")
	}
	if len(j.RetryExitCodes) > 256 {
		bad("retry_exit_codes", "%d codes; at most 256", len(j.RetryExitCodes))
	}
	for i, c := range j.RetryExitCodes {
		if c < 1 || c > 255 {
			bad(fmt.Sprintf("retry_exit_codes[%d]", i), "%d is not an exit code of a failure (1 to 255)", c)
		}
	}
	if j.LostAfterSec < 0 || j.LostAfterSec > MaxLostAfterSec {
		bad("lost_after_sec", "%d must be between 0 (the site's) and %d (a week)", j.LostAfterSec, MaxLostAfterSec)
	}
	return errs
}

// sizeProblems checks what each worker asks for: cards, a share, memory,
// host CPU and memory, a compute request.
func (j *Job) sizeProblems() []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	switch {
	case j.CardsPerWorker < 0:
		bad("cards_per_worker", "%d must not be negative", j.CardsPerWorker)
	case j.CardsPerWorker == 0 && j.ShareMilli <= 0 && j.ComputeGFLOPS == 0:
		bad("cards_per_worker", "ask for whole cards, a compute request, or share_milli for a fraction of one card")
	case j.CardsPerWorker > 0 && j.ShareMilli != 0:
		bad("share_milli", "a fraction of a card cannot be combined with whole cards")
	}
	if j.ShareMilli < 0 || j.ShareMilli >= MilliCard {
		bad("share_milli", "%d must be between 1 and 999 (thousandths of a card)", j.ShareMilli)
	}
	if j.Kind == Gang && j.Fractional() {
		bad("share_milli", "a training gang takes whole cards")
	}
	if j.MemMiB < 0 || j.MemMiB > MaxMemMiB {
		bad("mem_mib", "%d must be between 0 and %d", j.MemMiB, MaxMemMiB)
	}
	if j.MinMemMiB < 0 || j.MinMemMiB > MaxMemMiB {
		bad("min_mem_mib", "%d must be between 0 and %d", j.MinMemMiB, MaxMemMiB)
	}
	if j.CPUMilli < 0 || j.CPUMilli > MaxHostCPUMilli {
		bad("cpu_milli", "%d must be between 0 and %d (thousandths of a core per worker)", j.CPUMilli, int64(MaxHostCPUMilli))
	}
	if j.HostMemMiB < 0 || j.HostMemMiB > MaxHostMemMiB {
		bad("host_mem_mib", "%d must be between 0 and %d MiB per worker", j.HostMemMiB, int64(MaxHostMemMiB))
	}
	if len(j.Models) > 0 && j.ComputeGFLOPS > 0 {
		bad("compute_gflops", "give either models or a compute request, not both")
	}
	if j.ComputeGFLOPS < 0 || j.ComputeGFLOPS > MaxGFLOPS {
		bad("compute_gflops", "%d must be between 0 and %d", j.ComputeGFLOPS, MaxGFLOPS)
	}
	if j.ComputeGFLOPS > 0 && j.CardsPerWorker > 0 {
		bad("cards_per_worker", "a compute request sets the card count itself; leave cards_per_worker at 0")
	}
	if j.EfficiencyMilli < 0 || j.EfficiencyMilli > 1000 {
		bad("efficiency_milli", "%d must be between 0 and 1000", j.EfficiencyMilli)
	}
	return errs
}
