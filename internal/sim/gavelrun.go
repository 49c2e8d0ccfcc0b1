package sim

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// gavelReplay is one run of RunGavel.
type gavelReplay struct {
	cfg      GavelConfig
	net      *network.Network
	ids      map[string]string // type name → catalog id
	typeOf   map[string]string // catalog id → type name
	runs     []gavelRun
	c        *core.Core
	rep      *GavelReport
	byID     map[model.JobID]int
	free     map[string]int
	fq       finishQueue
	busy     float64 // card-seconds
	runningN int
	window   int
	winDone  int
}

// coreMigration is the core's migration policy for the replay's bounds:
// the core decides every move, as in the server.
func coreMigration(m Migration) core.Migration {
	return core.Migration{Enabled: true, MinSpeedupMilli: int64(math.Round(m.MinSpeedup * 1000)), RestoreCostSec: m.RestoreCostS,
		GainFactorMilli: int64(math.Round(m.GainFactor * 1000)), MinIntervalSec: m.MinDwellS, MaxMoves: m.MaxMoves, MaxPerPass: 64}
}

// RunGavel replays Gavel's job stream through the core on the cluster. A
// job's runtime on a type is its steps left ÷ the type's isolated
// throughput; the scheduler never sees the steps, only (when aware) the
// rates. In an aware run the core migrates running jobs to faster free
// types by its own rule (core.Migration, from cfg.Migration), at a Tick
// after every event; each move costs RestoreCostS of progress.
func RunGavel(ctx context.Context, jobs []GavelJob, cfg GavelConfig) (*GavelReport, error) {
	g, err := newGavelReplay(jobs, cfg)
	if err != nil {
		return nil, err
	}
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(g.runs[a].arrival, g.runs[b].arrival) })
	ai := 0
	var endT int64
	for g.winDone < g.window {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := int64(-1)
		if ai < len(order) {
			t = int64(math.Ceil(g.runs[order[ai]].arrival))
		}
		if len(g.fq) > 0 && (t < 0 || g.fq[0].t < t) {
			t = g.fq[0].t
		}
		if t < 0 {
			return nil, fmt.Errorf("the replay stalled at %d s with %d window jobs unfinished", endT, g.window-g.winDone)
		}
		endT = t
		if err := g.finishDue(t); err != nil {
			return nil, err
		}
		for ai < len(order) && int64(math.Ceil(g.runs[order[ai]].arrival)) == t {
			i := order[ai]
			ai++
			g.byID[g.jobID(i)] = i
			if err := g.c.Step(core.JobSubmitted{At: t, Job: g.coreJob(i, t)}); err != nil {
				return nil, fmt.Errorf("job %d: %w", g.runs[i].j.ID, err)
			}
		}
		if err := g.drain(t); err != nil {
			return nil, err
		}
		if g.cfg.Core.Migration.Enabled || g.cfg.Core.Service.Enabled {
			if err := g.c.Step(core.Tick{At: t}); err != nil {
				return nil, err
			}
			if err := g.drain(t); err != nil {
				return nil, err
			}
		}
	}
	g.summarize(endT)
	return g.rep, nil
}

func newGavelReplay(jobs []GavelJob, cfg GavelConfig) (*gavelReplay, error) {
	if cfg.Migration == (Migration{}) {
		cfg.Migration = DefaultMigration
	}
	if cfg.StreamGapS == 0 {
		cfg.StreamGapS = 1125
	}
	net, ids, err := GavelNetwork(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	g := &gavelReplay{cfg: cfg, net: net, ids: ids, typeOf: map[string]string{}, byID: map[model.JobID]int{}}
	total := map[string]int{}
	for _, c := range cfg.Cluster {
		g.typeOf[ids[c.Name]] = c.Name
		total[c.Name] = c.Cards
	}
	g.free = cloneCounts(total)
	var missing []string
	for _, j := range jobs {
		for _, c := range cfg.Cluster {
			if cfg.Throughputs[j.Type][c.Name] <= 0 {
				missing = append(missing, fmt.Sprintf("%s on %s", j.Type, c.Name))
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("the throughput matrix has no rate for %s", strings.Join(slices.Compact(missing), "; "))
	}
	scale := 1.0
	if cfg.JobsPerHour > 0 {
		scale = 3600 / cfg.JobsPerHour / cfg.StreamGapS
	}
	g.runs = make([]gavelRun, len(jobs))
	for i := range jobs {
		g.runs[i] = gavelRun{j: &jobs[i], arrival: jobs[i].ArrivalS * scale, left: jobs[i].TotalSteps, firstRun: -1, done: -1}
		if g.runs[i].j.InWindow {
			g.window++
		}
	}
	if g.window == 0 {
		return nil, errors.New("the stream has no window jobs (in_window): nothing to measure")
	}
	g.rep = &GavelReport{Mode: "agnostic", JobsPerHour: 3600 / (cfg.StreamGapS * scale), Jobs: len(jobs), Cards: net.Cards(), PerType: map[string]float64{}, WindowJobs: g.window}
	if cfg.Aware {
		g.rep.Mode = "aware"
		if !cfg.NoMigrate {
			m := cfg.Migration
			g.rep.Migration = &m
			g.cfg.Core.Migration = coreMigration(m)
		} else {
			g.rep.Mode = "aware, no migration"
		}
	}
	if cfg.LAS {
		g.cfg.Core.Service = cfg.Service
		if !g.cfg.Core.Service.Enabled {
			g.cfg.Core.Service = core.DefaultService
		}
		g.rep.Mode += ", LAS"
	}
	g.c = core.New(net, g.cfg.Core)
	return g, nil
}

func (g *gavelReplay) rate(r *gavelRun, typ string) float64 { return g.cfg.Throughputs[r.j.Type][typ] }

func (g *gavelReplay) jobID(i int) model.JobID {
	return model.JobID(fmt.Sprintf("gavel-%d", g.runs[i].j.ID))
}

func (g *gavelReplay) coreJob(i int, at int64) model.Job {
	j := model.Job{ID: g.jobID(i), Tenant: "gavel", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, SubmitTime: at}
	if g.cfg.Aware {
		j.Rates = map[string]float64{}
		for _, cd := range g.cfg.Cluster {
			j.Rates[g.ids[cd.Name]] = g.rate(&g.runs[i], cd.Name)
		}
	}
	return j
}

// finishAt is when run r ends from a start at t on its type.
func (g *gavelReplay) finishAt(r *gavelRun, t int64, restore int64) int64 {
	return t + restore + int64(math.Ceil(r.left/g.rate(r, r.onType)))
}

// stop ends r's current stretch at t: its progress, busy time and card.
func (g *gavelReplay) stop(r *gavelRun, t int64) {
	ran := float64(t - r.startedAt)
	if r.restoring {
		ran -= float64(g.cfg.Migration.RestoreCostS)
	}
	if ran > 0 {
		r.left = max(0, r.left-ran*g.rate(r, r.onType))
	}
	g.busy += float64(t - r.startedAt)
	g.rep.PerType[r.onType] += float64(t-r.startedAt) / 3600
	g.free[r.onType]++
	r.running = false
	r.gen++
	g.runningN--
}

// finishDue completes the runs that end at t.
func (g *gavelReplay) finishDue(t int64) error {
	for len(g.fq) > 0 && g.fq[0].t == t {
		f := heap.Pop(&g.fq).(finish)
		r := &g.runs[f.run.i]
		if f.gen != r.gen || !r.running {
			continue
		}
		id := g.jobID(f.run.i)
		if err := g.c.Step(core.JobFinished{At: t, Job: id}); err != nil {
			return err
		}
		delete(g.byID, id)
		g.stop(r, t)
		r.left = 0
		r.done = float64(t)
		g.rep.Completed++
		if r.j.InWindow {
			g.winDone++
		}
	}
	return g.drain(t)
}

// drain applies what the core decided: stops (migrations counted) and
// placements.
func (g *gavelReplay) drain(t int64) error {
	for g.c.HasReady() {
		rd := g.c.Ready()
		for _, s := range rd.Stops {
			if i, ok := g.byID[s.Job]; ok && g.runs[i].running {
				g.stop(&g.runs[i], t)
				switch s.Reason {
				case core.StopMigrated:
					g.runs[i].moves++
					g.rep.Migrations++
				case core.StopPreempted:
					g.rep.Preemptions++
				}
			}
		}
		for k := range rd.Placements {
			if err := g.start(&rd.Placements[k], t); err != nil {
				return err
			}
		}
		g.c.Advance(rd)
	}
	return nil
}

// start begins a run where the core placed it.
func (g *gavelReplay) start(p *model.Placement, t int64) error {
	i, ok := g.byID[p.Job]
	if !ok || len(p.Assignments) != 1 {
		return fmt.Errorf("the core placed %s, which the replay does not hold as one card", p.Job)
	}
	n, _ := g.net.Node(p.Assignments[0].Node)
	r := &g.runs[i]
	r.onType = g.typeOf[n.Model]
	r.startedAt = t
	r.running = true
	g.free[r.onType]--
	g.runningN++
	restore := int64(0)
	if r.restoring = r.firstRun >= 0; r.restoring { // resumed from a checkpoint
		restore = g.cfg.Migration.RestoreCostS
	}
	if r.firstRun < 0 {
		r.firstRun = t
	}
	heap.Push(&g.fq, finish{t: g.finishAt(r, t, restore), run: &run{i: i}, gen: r.gen})
	return nil
}

// summarize fills the report's figures once the window is done at endT.
func (g *gavelReplay) summarize(endT int64) {
	rep := g.rep
	for i := range g.runs {
		if g.runs[i].running {
			g.busy += float64(endT - g.runs[i].startedAt)
			rep.PerType[g.runs[i].onType] += float64(endT-g.runs[i].startedAt) / 3600
		}
	}
	var sum, noWait float64
	firstWin := math.Inf(1)
	for i := range g.runs {
		r := &g.runs[i]
		if !r.j.InWindow {
			continue
		}
		sum += r.done - r.arrival
		firstWin = min(firstWin, r.arrival)
		fastest := 0.0
		for _, cd := range g.cfg.Cluster {
			fastest = max(fastest, g.rate(r, cd.Name))
		}
		noWait += r.j.TotalSteps / fastest
		rep.WindowDurationS = max(rep.WindowDurationS, r.done)
	}
	rep.WindowDurationS -= firstWin

	rep.WindowAvgJCTS = sum / float64(g.window)
	rep.NoWaitAvgJCTS = noWait / float64(g.window)
	rep.MakespanS = float64(endT)
	if endT > 0 {
		rep.Utilization = g.busy / (float64(endT) * float64(g.net.Cards()))
	}
}
