package sim

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/trace"
)

// The throughput month: the synthetic workload on a network where a job's
// speed depends on the chips it gets, by a throughput matrix. Each job is
// given a workload class (drawn from its id) and an amount of work: its
// duration on reference cards (ReferenceModel) of the size it asks for
// (its cards, or its FP16 request in reference cards). On a placement it
// runs at Σ cards × rate(class, model) ÷ rate(class, reference) reference
// cards, the slowest model setting a gang's pace. Aware runs hand the core
// the matrix (ThroughputRates) and the jobs their class, so placement
// ranks models by the class's rate; peak runs rank by peak FLOPS.
// Effective work delivered is the work done, in reference card-hours.

// EffectiveConfig sets up a throughput month.
type EffectiveConfig struct {
	Synth      SynthConfig
	Core       core.Config
	Throughput *catalog.Throughput // default catalog.DefaultThroughput()
	Aware      bool
	// Migrate lets an aware run's core move running jobs to faster free
	// models (core.DefaultMigration unless Core.Migration is enabled);
	// each move costs the jobs its RestoreCostSec of progress.
	Migrate bool
	// ReferenceModel is the model work is counted in (default
	// core.DefaultReferenceModel).
	ReferenceModel string
}

// EffectiveReport is the outcome of a throughput month.
type EffectiveReport struct {
	Mode      string `json:"mode"` // aware or peak
	Reference string `json:"reference"`
	Jobs      int    `json:"jobs"`
	Completed int    `json:"completed"`
	// WorkCardHours is the work done by the end of the span (finished jobs
	// and the done part of running ones), in reference card-hours.
	WorkCardHours float64 `json:"work_reference_card_hours"`
	// AvgJCTS is the mean completion − arrival of the jobs completed
	// within the span; AvgWaitS their mean wait before first placement.
	AvgJCTS  float64 `json:"avg_jct_s"`
	AvgWaitS float64 `json:"avg_wait_s"`
	// Utilisation is the mean fraction of the network's cards allocated
	// over the span (shares counted by their fraction).
	Utilisation float64 `json:"utilisation"`
	// Migrations counts the moves to faster models (Migrate).
	Migrations int `json:"migrations,omitempty"`
	// MoveProbes counts the moves the core asked the scheduler to place
	// while looking for migrations; MoveSearches its searches.
	MoveProbes   int64 `json:"move_probes,omitempty"`
	MoveSearches int64 `json:"move_searches,omitempty"`
	SpanS        int64 `json:"span_s"`
}

type effRun struct {
	j       *trace.Job
	class   string
	work    float64 // reference card-seconds
	left    float64 // fraction of work left
	speed   float64 // reference cards of the current placement
	cards   float64 // cards the current placement holds
	held    int64   // when the current placement began
	started int64   // when it began making progress (after a restore)
	first   int64
	running bool
	restore bool // moved: its next placement first restores a checkpoint
	gen     int
}

// effReplay is one run of RunEffective.
type effReplay struct {
	cfg     EffectiveConfig
	net     *network.Network
	tp      *catalog.Throughput
	ref     *catalog.Model
	refPeak float64
	runs    []effRun
	byID    map[model.JobID]int
	c       *core.Core
	fq      finishQueue
	rep     *EffectiveReport
	jctSum  float64
	waitSum float64
	waitN   int
	cardSec float64 // Σ cards held × seconds
}

// RunEffective runs the synthetic workload through the core at virtual
// time until its span ends.
func RunEffective(ctx context.Context, net *network.Network, cfg EffectiveConfig) (*EffectiveReport, error) {
	js, err := Synthesize(net, cfg.Synth)
	if err != nil {
		return nil, err
	}
	g, err := newEffReplay(net, js, cfg)
	if err != nil {
		return nil, err
	}
	span := cfg.Synth.withDefaults(net.Cards()).SpanS
	g.rep.SpanS = span
	order := make([]int, len(js))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(js[a].ArrivalS, js[b].ArrivalS) })
	ai, lastTick := 0, int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := int64(-1)
		if ai < len(order) {
			t = js[order[ai]].ArrivalS
		}
		if len(g.fq) > 0 && (t < 0 || g.fq[0].t < t) {
			t = g.fq[0].t
		}
		if t < 0 || t > span {
			break
		}
		if err := g.finishDue(t); err != nil {
			return nil, err
		}
		for ai < len(order) && js[order[ai]].ArrivalS == t {
			i := order[ai]
			ai++
			if err := g.submit(i, t); err != nil {
				return nil, err
			}
		}
		if t-lastTick >= 300 {
			lastTick = t
			if err := g.c.Step(core.Tick{At: t}); err != nil {
				return nil, err
			}
		}
		if err := g.drain(t); err != nil {
			return nil, err
		}
	}
	g.close(span)
	return g.rep, nil
}

func newEffReplay(net *network.Network, js []trace.Job, cfg EffectiveConfig) (*effReplay, error) {
	if cfg.Throughput == nil {
		cfg.Throughput = catalog.DefaultThroughput()
	}
	if cfg.ReferenceModel == "" {
		cfg.ReferenceModel = core.DefaultReferenceModel
	}
	ref := net.Model(cfg.ReferenceModel)
	if ref == nil {
		return nil, fmt.Errorf("reference model %q is not in the catalog", cfg.ReferenceModel)
	}
	refPeak, _, ok := ref.FP16GFLOPS()
	if !ok || refPeak <= 0 {
		return nil, fmt.Errorf("reference model %s has no peak FP16 figure", ref.ID)
	}
	classes := cfg.Throughput.Classes()
	if len(classes) == 0 {
		return nil, errors.New("the throughput matrix has no workload class")
	}
	g := &effReplay{cfg: cfg, net: net, tp: cfg.Throughput, ref: ref, refPeak: float64(refPeak), byID: map[model.JobID]int{}}
	g.rep = &EffectiveReport{Mode: "peak", Reference: ref.ID, Jobs: len(js)}
	if cfg.Aware {
		g.rep.Mode = "aware"
		if cfg.Migrate {
			g.rep.Mode = "aware+migrate"
			if !cfg.Core.Migration.Enabled {
				g.cfg.Core.Migration = core.DefaultMigration
			}
		}
	}
	g.runs = make([]effRun, len(js))
	for i := range js {
		h := fnv.New32a()
		h.Write([]byte(js[i].ID))
		g.runs[i] = effRun{j: &js[i], class: classes[int(h.Sum32()%uint32(len(classes)))].ID, left: 1, first: -1}
		g.runs[i].work = float64(js[i].DurationS) * g.nominal(&js[i])
	}
	g.c = core.New(net, g.cfg.Core)
	for _, t := range SynthTenants(net) {
		if err := g.c.Step(core.TenantUpserted{At: 0, Tenant: t}); err != nil {
			return nil, err
		}
	}
	if cfg.Aware {
		if err := g.c.Step(core.ThroughputRates{At: 0, Rates: g.matrix(), Source: "default matrix"}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// nominal is the size of a job in reference cards.
func (g *effReplay) nominal(j *trace.Job) float64 {
	switch {
	case j.ComputeGFLOPS > 0:
		return float64(j.ComputeGFLOPS) / g.refPeak
	case j.ShareMilli > 0:
		return float64(j.Workers) * float64(j.ShareMilli) / 1000
	}
	return float64(j.Workers * j.CardsPerWorker)
}

// matrix is the throughput table for the network's models.
func (g *effReplay) matrix() map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, c := range g.tp.Classes() {
		row := map[string]float64{}
		for i := range g.net.Nodes {
			id := g.net.Nodes[i].Model
			if _, ok := row[id]; ok {
				continue
			}
			if f, ok := g.tp.Rate(c.ID, g.net.Model(id)); ok && f.V > 0 {
				row[id] = f.V
			}
		}
		out[c.ID] = row
	}
	return out
}

// relRate is a model's rate for the class relative to the reference's (1
// when either is unknown).
func (g *effReplay) relRate(class, id string) float64 {
	r, ok1 := g.tp.Rate(class, g.net.Model(id))
	rr, ok2 := g.tp.Rate(class, g.ref)
	if !ok1 || !ok2 || r.V <= 0 || rr.V <= 0 {
		return 1
	}
	return r.V / rr.V
}

// speed is a placement's pace in reference cards: its cards (shares
// counted by fraction) times the slowest model's relative rate; and its
// cards.
func (g *effReplay) speed(class string, p *model.Placement) (float64, float64) {
	cards, slowest := 0.0, math.Inf(1)
	for _, a := range p.Assignments {
		n := float64(len(a.Cards))
		if a.ShareMilli > 0 {
			n = float64(a.ShareMilli) / 1000 * max(1, n)
		}
		cards += n
		slowest = min(slowest, g.relRate(class, a.Model))
	}
	return cards * slowest, cards
}

func (g *effReplay) submit(i int, t int64) error {
	j := CoreJob(*g.runs[i].j)
	if g.cfg.Aware {
		j.WorkloadClass = g.runs[i].class
	}
	g.byID[j.ID] = i
	if err := g.c.Step(core.JobSubmitted{At: t, Job: j}); err != nil && !errors.Is(err, core.ErrInvalidJob) {
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	return nil
}

// pause ends run r's current stretch at t.
func (g *effReplay) pause(r *effRun, t int64) {
	if r.speed > 0 && r.work > 0 && t > r.started {
		r.left = max(0, r.left-float64(t-r.started)*r.speed/r.work)
	}
	g.cardSec += r.cards * float64(t-r.held)
	r.running = false
	r.gen++
}

func (g *effReplay) finishDue(t int64) error {
	for len(g.fq) > 0 && g.fq[0].t == t {
		f := heap.Pop(&g.fq).(finish)
		r := &g.runs[f.run.i]
		if f.gen != r.gen || !r.running {
			continue
		}
		id := model.JobID(r.j.ID)
		if err := g.c.Step(core.JobFinished{At: t, Job: id}); err != nil {
			return err
		}
		delete(g.byID, id)
		g.cardSec += r.cards * float64(t-r.held)
		r.running, r.left = false, 0
		g.rep.Completed++
		g.rep.WorkCardHours += r.work / 3600
		g.jctSum += float64(t - r.j.ArrivalS)
	}
	return g.drain(t)
}

func (g *effReplay) drain(t int64) error {
	for g.c.HasReady() {
		rd := g.c.Ready()
		for _, s := range rd.Stops {
			if i, ok := g.byID[s.Job]; ok && g.runs[i].running {
				g.pause(&g.runs[i], t)
				if s.Reason == core.StopMigrated {
					g.runs[i].restore = true
					g.rep.Migrations++
				}
			}
		}
		for k := range rd.Placements {
			p := &rd.Placements[k]
			i, ok := g.byID[p.Job]
			if !ok {
				return fmt.Errorf("the core placed %s, which the replay never submitted", p.Job)
			}
			r := &g.runs[i]
			r.speed, r.cards = g.speed(r.class, p)
			r.held, r.started, r.running = t, t, true
			if r.restore {
				r.restore = false
				r.started += g.cfg.Core.Migration.RestoreCostSec
			}
			if r.first < 0 {
				r.first = t
				g.waitSum += float64(t - r.j.ArrivalS)
				g.waitN++
			}
			d := int64(1)
			if r.speed > 0 {
				d = max(1, int64(math.Ceil(r.left*r.work/r.speed)))
			}
			heap.Push(&g.fq, finish{t: r.started + d, run: &run{i: i}, gen: r.gen})
		}
		g.c.Advance(rd)
	}
	return nil
}

// close counts the done part of the runs still going at the span's end.
func (g *effReplay) close(span int64) {
	for i := range g.runs {
		r := &g.runs[i]
		if r.running {
			g.pause(r, span)
		}
		if r.left > 0 && r.left < 1 {
			g.rep.WorkCardHours += (1 - r.left) * r.work / 3600
		}
	}
	if n := g.net.Cards(); n > 0 && span > 0 {
		g.rep.Utilisation = g.cardSec / float64(n) / float64(span)
	}
	w := g.c.Work()
	g.rep.MoveProbes, g.rep.MoveSearches = w.MoveProbes, w.MoveSearches
	if g.rep.Completed > 0 {
		g.rep.AvgJCTS = g.jctSum / float64(g.rep.Completed)
	}
	if g.waitN > 0 {
		g.rep.AvgWaitS = g.waitSum / float64(g.waitN)
	}
}
