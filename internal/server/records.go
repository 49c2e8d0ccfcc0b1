package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
)

// Store keys. Every record is JSON.
const (
	jobPrefix    = "jobs/"
	tenantPrefix = "tenants/"
	tokenPrefix  = "tokens/" // + hash of the secret
	epochKey     = "sched/epoch"
	workloadKey  = "sched/workload"
)

// jobRecord is a job as the store holds it.
type jobRecord struct {
	Spec        model.Job        `json:"spec"`
	State       model.JobState   `json:"state"`
	Reason      string           `json:"reason,omitempty"`
	SubmittedAt time.Time        `json:"submitted_at"`
	PlacedAt    *time.Time       `json:"placed_at,omitempty"`
	EndedAt     *time.Time       `json:"ended_at,omitempty"`
	Placement   *model.Placement `json:"placement,omitempty"`
	// Decision is the scheduler's last decision on the job, as JSON.
	Decision json.RawMessage `json:"decision,omitempty"`
	Waits    []string        `json:"waits,omitempty"`
	// Spans are the job's earlier placements (stopped and requeued), kept
	// for metering.
	Spans []span `json:"spans,omitempty"`
	// Reported is the state an agent last reported (running, completed,
	// failed), for the scheduler to take up.
	Reported model.JobState `json:"reported,omitempty"`
	// Position is the job's queue position in the core (submission order,
	// kept across requeues and restarts).
	Position uint64 `json:"position,omitempty"`
	// Attained is the job's attained service (serve --las), kept so that a
	// new leader queues it at its level.
	Attained float64 `json:"attained,omitempty"`
	// Workload is what each worker runs (nil: the agent decides).
	Workload *v1.Workload `json:"workload,omitempty"`
	// Checkpoint is the last checkpoint step a worker reported; a requeued
	// job resumes from it. Spec.CheckpointTime is when it was saved.
	Checkpoint int64 `json:"checkpoint,omitempty"`
	// Done lists the workers of the current placement that completed.
	Done []int `json:"done,omitempty"`
	// OutputTail is the end of a failed worker's output.
	OutputTail string `json:"output_tail,omitempty"`
	// Overuse is the last report of a fractional worker using more device
	// memory than its share.
	Overuse string `json:"overuse,omitempty"`
	// Retries are the failures that requeued the job (its retry policy).
	Retries []v1.Retry `json:"retries,omitempty"`
	// Rates is what the job's workers' progress reports say of its rate
	// per model; ProgressUntil, per worker index, the Until of the last
	// report counted (a report is counted once).
	Rates         map[string]jobRate   `json:"rates,omitempty"`
	ProgressUntil map[string]time.Time `json:"progress_until,omitempty"`
}

// reportedRetry is Reported for a worker failure the job's retry policy
// answers with a retry: the loop steps core.JobRetried.
const reportedRetry model.JobState = "retry"

// reportedRequeue is Reported for a worker its site evicted (a
// WorkerReport with requeue): the loop requeues the job without a retry.
const reportedRequeue model.JobState = "requeue"

// span is one stretch a placement held its cards: what metering needs of
// it, per site and model, so that a requeued job's record grows by a few
// lines per requeue, not by its placement.
type span struct {
	Start time.Time   `json:"start"`
	End   time.Time   `json:"end"`
	Held  []heldCards `json:"held,omitempty"`
	// Placement is the whole placement, in spans stored before Held.
	Placement *model.Placement `json:"placement,omitempty"`
}

// heldCards is what a placement held of one model at one site.
type heldCards struct {
	Site       model.SiteID `json:"site"`
	Model      string       `json:"model"`
	MilliCards int64        `json:"milli_cards"`
}

// spanOf sums a placement held over [start, end) per site and model.
func spanOf(net *network.Network, p *model.Placement, start, end time.Time) span {
	type key struct {
		site  model.SiteID
		model string
	}
	sums := map[key]int64{}
	var order []key
	for _, a := range p.Assignments {
		k := key{model: a.Model}
		if n, ok := net.Node(a.Node); ok {
			k.site = n.Site
		}
		if _, seen := sums[k]; !seen {
			order = append(order, k)
		}
		sums[k] += assignmentMilli(a)
	}
	sp := span{Start: start, End: end}
	for _, k := range order {
		sp.Held = append(sp.Held, heldCards{Site: k.site, Model: k.model, MilliCards: sums[k]})
	}
	return sp
}

// assignmentMilli is the cards an assignment holds, in thousandths.
func assignmentMilli(a model.Assignment) int64 {
	if a.ShareMilli > 0 {
		return int64(a.ShareMilli)
	}
	return int64(len(a.Cards)) * model.MilliCard
}

func jobKey(id model.JobID) string { return jobPrefix + string(id) }

// newJobID returns a fresh job id; ids sort by submission time.
func newJobID(now time.Time) model.JobID {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return model.JobID(fmt.Sprintf("j-%011x-%08x", now.UnixMilli(), binary.BigEndian.Uint32(b[:])))
}

func decodeJob(b []byte) (*jobRecord, error) {
	var r jobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	return &r, nil
}

// wire converts a record to its API form.
func (r *jobRecord) wire(net *network.Network, rev int64) v1.Job {
	s := r.Spec
	j := v1.Job{
		ID: string(s.ID), State: string(r.State), Reason: r.Reason, SubmittedAt: r.SubmittedAt,
		PlacedAt: r.PlacedAt, EndedAt: r.EndedAt, Revision: rev, Checkpoint: r.Checkpoint, Overuse: r.Overuse, OutputTail: r.OutputTail, Retries: r.Retries,
		Throughput: wireRates(r.Rates),
		Spec: v1.JobSpec{
			Tenant: string(s.Tenant), Name: s.Name, Kind: string(s.Kind), Priority: s.Priority, Workers: s.Workers,
			CardsPerWorker: s.CardsPerWorker, ShareMilli: s.ShareMilli, MemMiB: s.MemMiB, CPUMilli: s.CPUMilli, HostMemMiB: s.HostMemMiB, Models: s.Models,
			ComputeGFLOPS: s.ComputeGFLOPS, EfficiencyMilli: s.EfficiencyMilli, Stacks: s.Stacks, PyTorch: s.PyTorch,
			MinMemMiB: s.MinMemMiB, Regions: s.Regions, Topology: string(s.Topology), TopologyRequired: s.TopologyRequired,
			CrossSite: s.CrossSite, Mixed: s.Mixed, Classification: string(s.Classification), RuntimeSec: s.RuntimeSec,
			LostAfterSec: s.LostAfterSec, Rates: s.Rates, WorkloadClass: s.WorkloadClass, MaxRetries: s.MaxRetries, RetryBackoffSec: s.RetryBackoffSec, RetryExitCodes: s.RetryExitCodes,
			Latency: string(s.Latency), Users: s.Users, Workload: r.Workload,
		},
	}
	for _, site := range s.Sites {
		j.Spec.Sites = append(j.Spec.Sites, string(site))
	}
	if d := s.Data; d != nil {
		j.Spec.Data = &v1.JobData{Site: string(d.Site), SizeGB: d.SizeGB}
	}
	if p := r.Placement; p != nil {
		wp := &v1.Placement{GFLOPS: p.GFLOPS}
		for _, a := range p.Assignments {
			wa := v1.Assignment{Worker: a.Worker, Node: string(a.Node), Model: a.Model, Cards: a.Cards, ShareMilli: a.ShareMilli, MemMiB: a.MemMiB,
				WorkShareMilli: a.WorkShareMilli, CPUMilli: a.CPUMilli, HostMemMiB: a.HostMemMiB}
			if n, ok := net.Node(a.Node); ok {
				wa.Site = string(n.Site)
			}
			wp.Assignments = append(wp.Assignments, wa)
		}
		j.Placement = wp
	}
	return j
}

// explanation is the part of a scheduler decision the API shows.
type explanation struct {
	Explanation struct {
		Summary    string `json:"summary"`
		Rejections []struct {
			Reason string `json:"reason"`
			Count  int    `json:"count"`
		} `json:"rejections"`
		Best    *sched.Partial  `json:"best_partial"`
		Unblock []sched.Unblock `json:"unblock"`
	} `json:"explanation"`
	Score        *v1.Score `json:"score"`
	Alternatives []struct {
		Scope string   `json:"scope"`
		Where string   `json:"where"`
		Model string   `json:"model"`
		Cards int      `json:"cards"`
		Score v1.Score `json:"score"`
	} `json:"alternatives"`
}

// explain turns a record into the API's explanation.
func (r *jobRecord) explain() v1.Explanation {
	e := v1.Explanation{Job: string(r.Spec.ID), State: string(r.State), Details: r.Waits}
	switch r.State {
	case model.Pending:
		e.Summary = "waiting for the scheduler"
	case model.Placed, model.Running:
		e.Summary = fmt.Sprintf("placed on %d node assignment(s)", len(r.Placement.Assignments))
	default:
		e.Summary = string(r.State)
	}
	if r.Reason != "" {
		e.Summary += ": " + r.Reason
	}
	var d explanation
	if len(r.Decision) > 0 && json.Unmarshal(r.Decision, &d) == nil {
		if d.Explanation.Summary != "" {
			e.Summary = d.Explanation.Summary
		}
		for _, rj := range d.Explanation.Rejections {
			if e.Rejections == nil {
				e.Rejections = map[string]int{}
			}
			e.Rejections[rj.Reason] += rj.Count
		}
		if b := d.Explanation.Best; b != nil {
			e.Best = fmt.Sprintf("%s %s (%s): %d of the %d cards needed are free", b.Scope, b.Where, b.Model, b.FreeCards, b.NeedCards)
		}
		for _, u := range d.Explanation.Unblock {
			e.Unblock = append(e.Unblock, u.Text)
		}
		if r.State == model.Placed || r.State == model.Running {
			e.Score = d.Score
			for _, a := range d.Alternatives {
				e.Alternatives = append(e.Alternatives, v1.Alternative{Scope: a.Scope, Where: a.Where, Model: a.Model, Cards: a.Cards, Score: a.Score})
			}
		}
	}
	return e
}

func tenantWire(t model.Tenant) v1.Tenant {
	return v1.Tenant{ID: string(t.ID), Name: t.Name, Class: string(t.Class), QuotaGFLOPS: t.QuotaGFLOPS, Weight: t.Weight, VendorCaps: t.VendorCaps}
}
