package sim

import (
	"cmp"
	"context"
	"slices"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Job is a job to replay: what the core gets at its submit time, and how
// long it runs once placed.
type Job struct {
	Job model.Job
	// DurationS is how long the job runs once placed, in seconds; 0 means
	// it runs until the end of the replay.
	DurationS int64
}

// ReplayConfig tunes a replay through the core.
type ReplayConfig struct {
	// Core configures the core (its scheduler weights, its seed).
	Core core.Config
	// Tenants are upserted at time 0, before any job.
	Tenants []model.Tenant
	// Samples is how many points the time series has (default 240).
	Samples int
	// HorizonS ends the replay: jobs still running or waiting then are
	// counted as such. 0 means when the last job that can finish has (the
	// series then has about Samples points).
	HorizonS int64
	// Progress, if set, hears about submitted jobs.
	Progress ProgressFunc
	// Prices for the energy summary (nil: the network spec's).
	Prices *ledger.PriceTable
	// measure, if set, is called at each sample with the card usage.
	measure func(u *usage) (fragGPUs, fragRatio float64)
}

// Sample is the state of the replay at one instant.
type Sample struct {
	T int64 `json:"t_s"`
	// Util is the share of card capacity allocated (thousandths summed over
	// cards, over all cards).
	Util float64 `json:"util"`
	// Running and Queued are jobs placed, and jobs submitted but not
	// placed (pending or blocked).
	Running int `json:"running"`
	Queued  int `json:"queued"`
	// QueueDelayS is the mean queueing delay of the jobs first placed
	// since the previous sample.
	QueueDelayS float64 `json:"queue_delay_s"`
	// FragGPUs and FragRatio are the fragmentation (FGD's measure) where
	// the replay measures it (protocol B on openb).
	FragGPUs  float64 `json:"frag_gpus,omitempty"`
	FragRatio float64 `json:"frag_ratio,omitempty"`
}

// Dist summarises a distribution of durations in seconds.
type Dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_s"`
	P50  int64   `json:"p50_s"`
	P90  int64   `json:"p90_s"`
	P95  int64   `json:"p95_s"`
	P99  int64   `json:"p99_s"`
	Max  int64   `json:"max_s"`
}

func newDist(xs []int64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += float64(x)
	}
	q := func(p int) int64 { return s[min(len(s)-1, (len(s)*p)/100)] }
	return Dist{N: len(s), Mean: sum / float64(len(s)), P50: q(50), P90: q(90), P95: q(95), P99: q(99), Max: s[len(s)-1]}
}

// Group is the outcome for one kind of job or one tenant.
type Group struct {
	Name       string  `json:"name"`
	Jobs       int     `json:"jobs"`
	Placed     int     `json:"placed"`
	Completed  int     `json:"completed"`
	QueueDelay Dist    `json:"queue_delay"`
	CardHours  float64 `json:"card_hours"`
}

// TimedReport is the outcome of a replay through the core.
type TimedReport struct {
	Protocol string `json:"protocol"` // "time" (protocol B) or "synthetic"
	Trace    string `json:"trace,omitempty"`
	Network  string `json:"network"`
	Cards    int    `json:"cards"`
	// Jobs counts jobs submitted; Ignored, trace rows not replayed (CPU-only
	// pods) and Rejected, jobs the core refused as invalid.
	Jobs     int `json:"jobs"`
	Ignored  int `json:"ignored,omitempty"`
	Rejected int `json:"rejected,omitempty"`
	// Placed jobs were placed at least once; Completed ran to their end;
	// RunningAtEnd were placed at the end; NeverPlaced never were.
	Placed       int `json:"placed"`
	Completed    int `json:"completed"`
	RunningAtEnd int `json:"running_at_end"`
	NeverPlaced  int `json:"never_placed"`
	// Preemptions counts placements stopped to make room for others.
	Preemptions int `json:"preemptions"`
	// DelayReasons counts the jobs placed after a wait by the reason the
	// core last gave for it.
	DelayReasons map[string]int `json:"delay_reasons,omitempty"`
	// WaitReasons counts the jobs never placed by the reason the core
	// gives for the wait (insufficient-cards, quota-exceeded …).
	WaitReasons map[string]int `json:"wait_reasons,omitempty"`
	EndS        int64          `json:"end_s"`
	// QueueDelay is first placement − submission; Completion is end −
	// submission of completed jobs.
	QueueDelay Dist `json:"queue_delay"`
	Completion Dist `json:"completion"`
	// MeanUtil is the time-weighted mean allocated share of card capacity;
	// PeakUtil its maximum.
	MeanUtil float64 `json:"mean_util"`
	PeakUtil float64 `json:"peak_util"`
	// UnallocatedWaiting is the mean of the cards left unallocated over
	// the time some job waited for capacity (not for its tenant's quota or
	// caps), WaitingS seconds: capacity a better packing could have used.
	UnallocatedWaiting float64  `json:"unallocated_cards_waiting"`
	WaitingS           int64    `json:"waiting_s"`
	ByKind             []Group  `json:"by_kind"`
	ByTenant           []Group  `json:"by_tenant,omitempty"`
	Series             []Sample `json:"series"`
	// Energy is the facility energy, CO2 and cost of the work delivered,
	// and each per FP16 PFLOP-hour.
	Energy *ledger.EnergySummary `json:"energy,omitempty"`
}

// maxIdleTicks bounds the ticks a replay sends once no event is left while
// jobs still wait.
const maxIdleTicks = 8

// source is the jobs a replay submits, read one at a time so that a
// month of them need not be held in the core's form all at once.
type source interface {
	len() int
	// job is the i-th job in the core's form, built when submitted.
	job(i int) model.Job
	// submitTime, durationS, kind and tenant are what the replay reads of a
	// job besides submitting it.
	submitTime(i int) int64
	durationS(i int) int64
	kind(i int) string
	tenant(i int) string
}

// jobSlice is a source of jobs already in the core's form.
type jobSlice []Job

func (s jobSlice) len() int               { return len(s) }
func (s jobSlice) job(i int) model.Job    { return s[i].Job }
func (s jobSlice) submitTime(i int) int64 { return s[i].Job.SubmitTime }
func (s jobSlice) durationS(i int) int64  { return s[i].DurationS }
func (s jobSlice) kind(i int) string      { return string(s[i].Job.Kind) }
func (s jobSlice) tenant(i int) string    { return string(s[i].Job.Tenant) }

// run is the simulator's record of one job.
type run struct {
	i           int
	submitted   bool
	firstPlaced int64 // -1 until placed
	endedAt     int64 // -1 until completed
	gen         int   // bumped when a placement stops; stale finishes are dropped
	milli       int64 // card thousandths its placement holds
	placedAt    int64
	cardSeconds int64           // card-thousandth-seconds held, summed over placements
	placement   model.Placement // while running
	running     bool            // holds a placement now
	reason      string          // why it last waited
	capWait     bool            // waits for capacity now (replayer.capWaiting)
}

type finish struct {
	t   int64
	run *run
	gen int
}

type finishQueue []finish

func (q finishQueue) Len() int { return len(q) }
func (q finishQueue) Less(i, j int) bool {
	return q[i].t < q[j].t || q[i].t == q[j].t && q[i].run.i < q[j].run.i
}
func (q finishQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *finishQueue) Push(x any)   { *q = append(*q, x.(finish)) }
func (q *finishQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// usage is the card usage the replay mirrors from the core's placements:
// what the store would hold.
type usage struct {
	net     *network.Network
	cards   int64
	used    int64                    // Σ thousandths held
	perCard map[model.NodeID][]int32 // thousandths held per card, when measured
}

func (u *usage) apply(p *model.Placement, sign int64) int64 {
	var milli int64
	for _, a := range p.Assignments {
		share := int64(model.MilliCard)
		if a.ShareMilli > 0 {
			share = int64(a.ShareMilli)
		}
		milli += share * int64(len(a.Cards))
		if u.perCard != nil {
			cs := u.perCard[a.Node]
			if cs == nil {
				n, _ := u.net.Node(a.Node)
				cs = make([]int32, n.Cards)
				u.perCard[a.Node] = cs
			}
			for _, k := range a.Cards {
				if k >= 0 && k < len(cs) {
					cs[k] += int32(sign * share)
				}
			}
		}
	}
	u.used += sign * milli
	return milli
}

// Replay feeds jobs to a core over the network at virtual time: each job is
// submitted at its SubmitTime, runs DurationS once placed, and finishes;
// the core decides every placement, preemption and requeue. It returns
// the measures of the run. The same jobs and config give the same report.
func Replay(ctx context.Context, net *network.Network, jobs []Job, cfg ReplayConfig) (*TimedReport, error) {
	return replay(ctx, net, jobSlice(jobs), cfg)
}

func replay(ctx context.Context, net *network.Network, jobs source, cfg ReplayConfig) (*TimedReport, error) {
	rp, err := newReplayer(net, jobs, cfg)
	if err != nil {
		return nil, err
	}
	if err := rp.loop(ctx); err != nil {
		return nil, err
	}
	return rp.report()
}

// summarizeRuns counts outcomes overall, per kind and per tenant.
func summarizeRuns(rep *TimedReport, jobs source, runs []run, endT int64) {
	kinds := map[string]*groupAcc{}
	tenants := map[string]*groupAcc{}
	var completion []int64
	for i := range runs {
		r := &runs[i]
		if !r.submitted {
			continue
		}
		rep.Jobs++
		placed := r.firstPlaced >= 0
		done := r.endedAt >= 0
		cs := r.cardSeconds
		switch {
		case done:
			completion = append(completion, r.endedAt-jobs.submitTime(i))
		case r.running:
			rep.RunningAtEnd++
			cs += r.milli * (endT - r.placedAt)
		}
		if placed {
			rep.Placed++
		} else {
			rep.NeverPlaced++
		}
		for _, g := range []*groupAcc{acc(kinds, jobs.kind(i)), acc(tenants, jobs.tenant(i))} {
			g.jobs++
			if placed {
				g.placed++
				g.delays = append(g.delays, r.firstPlaced-jobs.submitTime(i))
			}
			if done {
				g.completed++
			}
			g.cardMilliS += cs
		}
	}
	rep.Completion = newDist(completion)
	rep.ByKind = groups(kinds)
	if len(tenants) > 1 {
		rep.ByTenant = groups(tenants)
	}
}

type groupAcc struct {
	jobs, placed, completed int
	delays                  []int64
	cardMilliS              int64
}

func acc(m map[string]*groupAcc, k string) *groupAcc {
	g := m[k]
	if g == nil {
		g = &groupAcc{}
		m[k] = g
	}
	return g
}

func groups(m map[string]*groupAcc) []Group {
	var out []Group
	for k, g := range m {
		out = append(out, Group{Name: k, Jobs: g.jobs, Placed: g.placed, Completed: g.completed,
			QueueDelay: newDist(g.delays), CardHours: float64(g.cardMilliS) / model.MilliCard / 3600})
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
