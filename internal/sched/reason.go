package sched

// Reason is why candidates were rejected. The values are stable kebab-case
// strings: they are API and show in explanations, metrics and golden files.
type Reason string

// Rejection reasons.
const (
	// InvalidJob: the job fails model.Job.Validate; nothing was considered.
	InvalidJob Reason = "invalid-job"
	// NodeUnhealthy: the node is marked unhealthy.
	NodeUnhealthy Reason = "node-unhealthy"
	// ModelExcluded: the node's model is not one the job names.
	ModelExcluded Reason = "model-excluded"
	// UnknownThroughput: a compute request cannot use a model whose FP16
	// throughput the catalog does not know.
	UnknownThroughput Reason = "unknown-throughput"
	// StackIncompatible: the model's software stack is not one the job accepts.
	StackIncompatible Reason = "stack-incompatible"
	// PyTorchIncompatible: the model's PyTorch integration is not one the job accepts.
	PyTorchIncompatible Reason = "pytorch-incompatible"
	// MemoryTooSmall: a card has less memory than the job needs per card.
	MemoryTooSmall Reason = "memory-too-small"
	// Residency: the node's site or region is outside the job's allowed set.
	Residency Reason = "residency"
	// PolicyDenied: the policy hook denied the node.
	PolicyDenied Reason = "policy-denied"
	// QuotaExceeded: the placement would take the tenant over its FP16 quota.
	QuotaExceeded Reason = "quota-exceeded"
	// VendorCapExceeded: the placement would take the tenant over its card cap for a vendor.
	VendorCapExceeded Reason = "vendor-cap-exceeded"
	// CardsTooFew: the node has fewer cards in total than one worker needs.
	CardsTooFew Reason = "node-too-small"
	// InsufficientCards: the node passes every filter but has too few free
	// cards (or too little free share and memory) now.
	InsufficientCards Reason = "insufficient-cards"
	// CPUTooFew: no node of the model has the host CPU one worker asks
	// for (all of them, for a node-scoped job), even empty.
	CPUTooFew Reason = "cpu-too-few"
	// HostMemoryTooSmall: no node of the model has the host memory one
	// worker asks for (all of them, for a node-scoped job), even empty.
	HostMemoryTooSmall Reason = "host-memory-too-small"
	// CPUExhausted: the node has the cards but too little free host CPU
	// for the job's workers.
	CPUExhausted Reason = "cpu-exhausted"
	// HostMemoryExhausted: the node has the cards and CPU but too little
	// free host memory for the job's workers.
	HostMemoryExhausted Reason = "host-memory-exhausted"
	// TopologyUnsatisfiable: enough free cards exist, but not within the
	// scope the job requires (one node, one domain, one site).
	TopologyUnsatisfiable Reason = "topology-unsatisfiable"
)

// Unit is what a rejection counts.
type Unit string

// Units.
const (
	UnitNodes   Unit = "nodes"
	UnitDomains Unit = "domains"
	UnitSites   Unit = "sites"
	UnitTenant  Unit = "tenant"
	UnitJob     Unit = "job" // the job itself (can-never-fit)
)

// Rejection counts the candidates one reason removed: Count of Unit
// (nodes for filters, domains or sites for topology), and the cards on
// them.
type Rejection struct {
	Reason Reason `json:"reason"`
	Count  int    `json:"count"`
	Unit   Unit   `json:"unit"`
	Cards  int    `json:"cards"`
	Detail string `json:"detail,omitempty"`
}

// Partial is the best candidate that came closest to holding the job.
type Partial struct {
	Scope     Scope  `json:"scope"`
	Where     string `json:"where"`
	Model     string `json:"model"`
	FreeCards int    `json:"free_cards"` // usable free cards (or workers' worth) there
	NeedCards int    `json:"need_cards"`
}

// Unblock is one thing that would let the job be placed, in words and as
// data.
type Unblock struct {
	Reason Reason `json:"reason"`
	Text   string `json:"text"`
	Model  string `json:"model,omitempty"`
	Where  string `json:"where,omitempty"`
	// Cards more cards that would have to free up (or be granted).
	Cards int `json:"cards,omitempty"`
	// GFLOPS more quota that would be needed.
	GFLOPS int64 `json:"gflops,omitempty"`
}

// Explanation says why a job was or was not placed.
type Explanation struct {
	Placed     bool        `json:"placed"`
	Summary    string      `json:"summary"`
	Rejections []Rejection `json:"rejections,omitempty"`
	Best       *Partial    `json:"best_partial,omitempty"`
	Unblock    []Unblock   `json:"unblock,omitempty"`
	// Waits lists the models whose freed capacity could unblock the job
	// (the capacity classes a blocked job waits for).
	Waits []string `json:"waits_for_models,omitempty"`
}

// Count returns the count of a reason (0 when absent).
func (e *Explanation) Count(r Reason) int {
	for _, x := range e.Rejections {
		if x.Reason == r {
			return x.Count
		}
	}
	return 0
}

// CanNeverFit: the job cannot be placed even on the empty network — no
// model, node, domain, site or set of sites it may use holds it (FitsEmpty).
// It is a job's reason, not a node's: waiting frees nothing that helps.
const CanNeverFit Reason = "can-never-fit"
