// Package sched is Suanli's placement engine: given the allocation state of
// the network (a Cluster) and one job, Schedule filters the candidate cards,
// scores the feasible placements and selects one — a whole training gang, a
// set of inference replicas, or one batch task — or explains, with counts per
// rejection reason, why the job cannot be placed now and what would unblock
// it.
//
// A decision is pure: it does no I/O, reads no clock, starts no goroutine
// and does not log; the same cluster, job, input and config give a
// byte-identical Decision. Capacity is integer: cards, thousandths of a card
// (ShareMilli), MiB and GFLOPS.
package sched

import (
	"slices"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Policy is the filter slot for sovereignty and security rules. Allow says
// whether the job may run on a node of the site with the model, and if not,
// which rule denied it. The scheduler asks once per class of identical nodes
// (same site, model and labels) per decision, so a policy must decide on
// those and not on the node's id.
type Policy interface {
	Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (ok bool, rule string)
}

// Input is what a decision needs besides the cluster and the job.
type Input struct {
	// Tenant is the job's tenant; nil means no quota and no vendor caps.
	Tenant *model.Tenant `json:"tenant,omitempty"`
	// HeldGFLOPS is the FP16 throughput the tenant already holds; a
	// placement that would take it over Tenant.QuotaGFLOPS is rejected with
	// quota-exceeded.
	HeldGFLOPS int64 `json:"held_gflops,omitempty"`
	// HeldCards is the cards the tenant holds per vendor, checked against
	// Tenant.VendorCaps.
	HeldCards map[string]int `json:"held_cards,omitempty"`
	// EffectiveMilli, when set, counts the job's GFLOPS on each model
	// (catalog id) toward the quota at this many thousandths of peak: its
	// effective throughput in reference-model terms (the core's
	// effective-share mode). A model it leaves out counts at peak.
	EffectiveMilli map[string]int64 `json:"effective_milli,omitempty"`
	// RatesFrom says where the job's Rates come from, for the explanation
	// (e.g. "class vision-train, learned"); "" for the job's own.
	RatesFrom string `json:"rates_from,omitempty"`
	// Learned names the models (catalog ids) whose class rate includes
	// workers' progress reports; the class's other rates are the default
	// matrix's. It only words the explanation.
	Learned map[string]bool `json:"learned,omitempty"`
	// Policy filters nodes; nil allows everything.
	Policy Policy `json:"-"`
	// Seed breaks ties between candidates of equal score; zero keeps the
	// network's preference order (cheapest site, first domain, first node).
	Seed uint64 `json:"seed,omitempty"`
}

// Weights are the relative weights of the score components, each component
// being normalised to 0..1000 (higher is better).
type Weights struct {
	// Frag rewards placements that add the least expected fragmentation
	// (FGD) for the typical task mix. Default 625.
	Frag int64 `json:"frag"`
	// Topology rewards packing: filling a partly used domain or node before
	// opening another and keeping whole nodes free for gangs. Default 0:
	// measured (suanli tune, README), the fragmentation measure already
	// prefers packing where it leaves fewer unusable cards.
	Topology int64 `json:"topology"`
	// Heterogeneity rewards the model on which the job's effective
	// throughput per unit of scarce capacity is highest. Default 250.
	Heterogeneity int64 `json:"heterogeneity"`
	// Cost rewards self-built sites with cheap power and low PUE; leased
	// capacity and expensive power come last. Default 125.
	Cost int64 `json:"cost"`
	// Place rewards the placement that costs the job least: energy per
	// unit of work at the site's power price, moving its data over the
	// backbone, the round trip to its users when interactive (place.go).
	// Default 1000: among the placements that fit, the cheapest site
	// comes first, then packing and fragmentation; 0 leaves these terms out.
	Place int64 `json:"place,omitempty"`
}

// WithoutPlace returns the weights (the defaults when unset) with the
// place component off: the scheduler as it was before it weighed energy,
// transfer and latency.
func (w Weights) WithoutPlace() Weights {
	if w == (Weights{}) {
		w = DefaultConfig().Weights
	}
	w.Place = 0
	return w
}

// Config tunes the scheduler. The zero value means the defaults.
type Config struct {
	Weights Weights `json:"weights"`
	// MixedEfficiencyMilli is the efficiency of a mixed-model gang relative
	// to a homogeneous one, in thousandths (default 950: China Telecom
	// reported about 95% for four-chip mixed training).
	MixedEfficiencyMilli int `json:"mixed_efficiency_milli"`
	// DefaultEfficiencyMilli is the efficiency assumed for a compute
	// request whose job gives none (default 1000).
	DefaultEfficiencyMilli int `json:"default_efficiency_milli"`
	// Candidates bounds the nodes examined per model and free-card bucket
	// (default 8); the search stays sub-linear in the network's size.
	Candidates int `json:"candidates"`
	// Alternatives is how many runner-up placements a decision lists
	// (default 3).
	Alternatives int `json:"alternatives"`
	// TypicalTasks is the task mix fragmentation is measured against; nil
	// means DefaultTypicalTasks.
	TypicalTasks []TaskShape `json:"typical_tasks,omitempty"`
	// FragPolicy scores the fragmentation component (default FragSuanli;
	// the others are baselines for replays).
	FragPolicy FragPolicy `json:"frag_policy,omitempty"`
	// TasksGen, when not zero, names TypicalTasks: a caller that owns the
	// cluster and changes TasksGen whenever it changes the tasks (the
	// core) spares each decision comparing them with those the cluster's
	// fragmentation measure was built for. Zero: they are compared.
	TasksGen uint64 `json:"-"`
}

// TaskShape is one typical task for the fragmentation measure: Cards whole
// cards, a ShareMilli fraction of one card, or neither (a task that needs
// host CPU only), with the host CPU and memory it needs, the models it may
// use (catalog ids; none: any) and its popularity. Popularities are
// relative (thousandths by convention; counts work as well); the measure
// sums over the shapes in the order given.
type TaskShape struct {
	Cards           int      `json:"cards,omitempty"`
	ShareMilli      int      `json:"share_milli,omitempty"`
	CPUMilli        int64    `json:"cpu_milli,omitempty"`
	HostMemMiB      int64    `json:"host_mem_mib,omitempty"`
	Models          []string `json:"models,omitempty"`
	PopularityMilli int      `json:"popularity_milli"`
}

func (t TaskShape) equal(u TaskShape) bool {
	return t.Cards == u.Cards && t.ShareMilli == u.ShareMilli && t.CPUMilli == u.CPUMilli &&
		t.HostMemMiB == u.HostMemMiB && t.PopularityMilli == u.PopularityMilli && slices.Equal(t.Models, u.Models)
}

func cloneShapes(ts []TaskShape) []TaskShape {
	out := slices.Clone(ts)
	for i := range out {
		out[i].Models = slices.Clone(out[i].Models)
	}
	return out
}

// DefaultTypicalTasks is a task mix close to the Alibaba GPU-sharing trace:
// mostly fractional shares and single cards, some multi-card tasks, each
// with the host CPU its kind asks by default (model.Job.HostDefaults:
// inference shares 4 cores a card, training 8), so that the measure counts
// cards stranded without CPU.
var DefaultTypicalTasks = []TaskShape{
	{ShareMilli: 250, CPUMilli: 1000, PopularityMilli: 150},
	{ShareMilli: 500, CPUMilli: 2000, PopularityMilli: 200},
	{Cards: 1, CPUMilli: 8000, PopularityMilli: 350},
	{Cards: 2, CPUMilli: 16000, PopularityMilli: 120},
	{Cards: 4, CPUMilli: 32000, PopularityMilli: 100},
	{Cards: 8, CPUMilli: 64000, PopularityMilli: 80},
}

// DefaultConfig is the configuration the zero Config stands for.
func DefaultConfig() Config {
	return Config{
		Weights:                Weights{Frag: 625, Topology: 0, Heterogeneity: 250, Cost: 125, Place: 1000},
		MixedEfficiencyMilli:   950,
		DefaultEfficiencyMilli: 1000,
		Candidates:             8,
		Alternatives:           3,
		TypicalTasks:           DefaultTypicalTasks,
		FragPolicy:             FragSuanli,
	}
}

// withDefaults fills unset fields.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.Weights == (Weights{}) {
		cfg.Weights = d.Weights
	}
	if cfg.MixedEfficiencyMilli <= 0 || cfg.MixedEfficiencyMilli > 1000 {
		cfg.MixedEfficiencyMilli = d.MixedEfficiencyMilli
	}
	if cfg.DefaultEfficiencyMilli <= 0 || cfg.DefaultEfficiencyMilli > 1000 {
		cfg.DefaultEfficiencyMilli = d.DefaultEfficiencyMilli
	}
	if cfg.Candidates <= 0 {
		cfg.Candidates = d.Candidates
	}
	if cfg.Alternatives < 0 {
		cfg.Alternatives = 0
	} else if cfg.Alternatives == 0 {
		cfg.Alternatives = d.Alternatives
	}
	if len(cfg.TypicalTasks) == 0 {
		cfg.TypicalTasks = d.TypicalTasks
	}
	if cfg.FragPolicy == "" {
		cfg.FragPolicy = d.FragPolicy
	}
	return cfg
}

// Decision is the outcome of scheduling one job: a placement (nil when the
// job cannot be placed now), why, and the runners-up.
type Decision struct {
	Job          model.JobID      `json:"job"`
	Placement    *model.Placement `json:"placement,omitempty"`
	Score        *Score           `json:"score,omitempty"`
	Explanation  Explanation      `json:"explanation"`
	Alternatives []Alternative    `json:"alternatives,omitempty"`
}

// Placed reports whether the decision placed the job.
func (d *Decision) Placed() bool { return d.Placement != nil }

// Score is a candidate's score, each component 0..1000 and the weighted
// total (higher is better).
type Score struct {
	Total         int64 `json:"total"`
	Frag          int64 `json:"frag"`
	Topology      int64 `json:"topology"`
	Heterogeneity int64 `json:"heterogeneity"`
	Cost          int64 `json:"cost"`
	// Place is the place component; Terms (the chosen placement and the
	// alternatives of a decision only) its terms with their values.
	Place int64       `json:"place,omitempty"`
	Terms *PlaceTerms `json:"terms,omitempty"`
}

// Scope is the extent of a candidate placement.
type Scope string

// Scopes, from the tightest.
const (
	ScopeCard   Scope = "card"   // a share of one card
	ScopeNode   Scope = "node"   // one node
	ScopeDomain Scope = "domain" // one high-bandwidth domain
	ScopeSite   Scope = "site"   // one site, several domains
	ScopeSites  Scope = "sites"  // several sites (cross-site or replicas)
)

// Alternative is a runner-up placement the scheduler considered.
type Alternative struct {
	Scope Scope  `json:"scope"`
	Where string `json:"where"` // node, domain or site id; the first one for several
	Model string `json:"model"` // catalog id, or "mixed"
	Cards int    `json:"cards"` // whole cards (0 for a share)
	Score Score  `json:"score"`
}
