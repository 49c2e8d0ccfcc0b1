package sim

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// GavelCard is one accelerator type of the replayed cluster.
type GavelCard struct {
	Name  string // as the throughput matrix names it: v100, p100, k80
	Cards int
}

// ParseGavelCluster reads "v100:36,p100:36,k80:36".
func ParseGavelCluster(s string) ([]GavelCard, error) {
	var out []GavelCard
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), ":")
		name = strings.ToLower(strings.TrimSpace(name))
		cards, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || name == "" || err != nil || cards < 1 || cards > 100000 {
			return nil, fmt.Errorf("cluster %q: want type:cards,… such as v100:36,p100:36,k80:36 (1..100000 cards a type)", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("cluster %q: %s given twice", s, name)
		}
		seen[name] = true
		out = append(out, GavelCard{Name: name, Cards: cards})
	}
	return out, nil
}

// gavelModels are catalog entries for Gavel's GPU types: the peak figures
// only steer the heterogeneity-agnostic run (by peak FLOPS, as the
// scheduler does without a throughput table).
var gavelModels = map[string]struct {
	id, family, name string
	fp16, memGB      float64
	note             string
}{
	"v100": {"nvidia-v100-16g", "Volta", "V100 16GB", 125, 16, "NVIDIA datasheet: 125 TFLOPS tensor (SXM2)"},
	"p100": {"nvidia-p100", "Pascal", "P100 16GB", 18.7, 16, "NVIDIA datasheet: 18.7 TFLOPS FP16 (PCIe)"},
	"k80":  {"nvidia-k80", "Kepler", "K80 (one GK210)", 4.37, 12, "NVIDIA datasheet: 8.73 TFLOPS FP32 per two-GPU board with boost; Kepler has no fast FP16"},
	"a100": {"nvidia-a100-40g", "Ampere", "A100 40GB", 312, 40, "NVIDIA datasheet: 312 TFLOPS FP16 tensor, dense"},
	"t4":   {"nvidia-t4", "Turing", "T4", 65, 16, "NVIDIA datasheet: 65 TFLOPS mixed-precision"},
}

// GavelNetwork is Gavel's cluster as a network: one site, one pool per GPU
// type, one GPU per server (as Gavel's simulator runs it). It returns the
// network and the catalog id of each type.
func GavelNetwork(cards []GavelCard) (*network.Network, map[string]string, error) {
	var entries []map[string]any
	ids := map[string]string{}
	spec := network.Spec{
		Name: "gavel", Note: "Gavel's simulated cluster: one GPU per server",
		Sites: []network.SiteSpec{{ID: "gavel", Name: "Gavel cluster", Region: "sim", Operator: "Gavel (simulated)", Ownership: string(model.SelfBuilt)}},
	}
	for _, c := range cards {
		m, ok := gavelModels[c.Name]
		if !ok {
			return nil, nil, fmt.Errorf("GPU type %q: the replay knows %s", c.Name, strings.Join(slices.Sorted(mapsKeys(gavelModels)), ", "))
		}
		ids[c.Name] = m.id
		entries = append(entries, map[string]any{
			"id": m.id, "vendor": "NVIDIA", "family": m.family, "model": m.name, "country": "US",
			"role":           "training/inference",
			"fp16_tflops":    map[string]any{"v": m.fp16, "conf": "override", "note": m.note},
			"memory_gb":      map[string]any{"v": m.memGB, "conf": "override"},
			"software_stack": "CUDA",
		})
		spec.Sites[0].Pools = append(spec.Sites[0].Pools, network.PoolSpec{
			Model: m.id, Nodes: c.Cards, CardsPerNode: 1, NodesPerDomain: 1, DomainKind: string(model.DomainServer),
		})
	}
	overlay, err := json.Marshal(entries)
	if err != nil {
		return nil, nil, err
	}
	spec.Catalog = overlay
	net, err := spec.Expand(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("gavel network: %w", err)
	}
	return net, ids, nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// GavelConfig sets up a replay of Gavel's job stream.
type GavelConfig struct {
	Cluster     []GavelCard
	Throughputs Throughputs
	// Aware gives each job its throughput table (Job.Rates), so the
	// scheduler places it where it runs fastest, and lets the replay
	// migrate running jobs to faster free types. Otherwise the scheduler
	// ranks types by peak FLOPS and jobs stay where they start.
	Aware bool
	// NoMigrate turns migration off in an aware run.
	NoMigrate bool
	// Migration bounds (defaults in DefaultMigration).
	Migration Migration
	// JobsPerHour rescales the arrivals (0: the stream's own times).
	JobsPerHour float64
	// StreamGapS is the stream's own mean gap (default 1125 s) for JobsPerHour.
	StreamGapS float64
	// Core configures the core.
	Core core.Config
}

// Migration bounds moving a running job to a faster accelerator type.
// A job on type a moves to a free type b when
//
//	rate_b ≥ rate_a × MinSpeedup           (hysteresis: no ping-pong between near-equal types)
//	age × (1 − rate_a/rate_b) ≥ GainFactor × RestoreCostS
//
// where age (how long it has run) stands in for its remaining time, which
// the scheduler does not know (long-running jobs tend to run long), it has
// run at least MinDwellS since it last started, and it has moved fewer
// than MaxMoves times. Every move costs RestoreCostS of lost progress
// (checkpoint, restore, warm-up).
type Migration struct {
	MinSpeedup   float64
	RestoreCostS int64
	GainFactor   float64
	MinDwellS    int64
	MaxMoves     int
}

// DefaultMigration is the migration policy of an aware replay.
var DefaultMigration = Migration{MinSpeedup: 1.15, RestoreCostS: 120, GainFactor: 2, MinDwellS: 360, MaxMoves: 8}

// GavelReport is the outcome of a Gavel replay.
type GavelReport struct {
	Mode        string  `json:"mode"` // aware or agnostic
	JobsPerHour float64 `json:"jobs_per_hour"`
	Jobs        int     `json:"jobs"`
	Cards       int     `json:"cards"`
	WindowJobs  int     `json:"window_jobs"`
	// WindowAvgJCTS is the mean completion − arrival of the window jobs
	// (Gavel's measure); NoWaitAvgJCTS, the same if each ran alone on its
	// fastest type from its arrival.
	WindowAvgJCTS float64 `json:"window_avg_jct_s"`
	NoWaitAvgJCTS float64 `json:"no_wait_avg_jct_s"`
	// WindowDurationS runs from the first window arrival to the last
	// window completion; MakespanS to when the run ends (the last window
	// job done, as Gavel's simulator stops).
	WindowDurationS float64 `json:"window_duration_s"`
	MakespanS       float64 `json:"makespan_s"`
	// Utilization is the busy share of card-time from 0 to MakespanS.
	Utilization float64 `json:"utilization"`
	Completed   int     `json:"completed"`
	Migrations  int     `json:"migrations"`
	// Migration is the migration policy (aware runs).
	Migration *Migration `json:"migration,omitempty"`
	// PerType is the card-hours run on each type.
	PerType map[string]float64 `json:"card_hours_per_type"`
}

type gavelRun struct {
	j         *GavelJob
	arrival   float64
	left      float64 // steps left
	onType    string
	startedAt int64 // when its current placement began
	firstRun  int64 // -1 until placed
	moves     int
	running   bool
	restoring bool // its current placement began with a restore (after a move)
	gen       int
	done      float64
}

// RunGavel replays Gavel's job stream through the core on the cluster. A
// job's runtime on a type is its steps left ÷ the type's isolated
// throughput; the scheduler never sees the steps, only (when aware) the
// rates.
func RunGavel(ctx context.Context, jobs []GavelJob, cfg GavelConfig) (*GavelReport, error) {
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
	typeOf := map[string]string{} // catalog id → type name
	total := map[string]int{}
	for _, c := range cfg.Cluster {
		typeOf[ids[c.Name]] = c.Name
		total[c.Name] = c.Cards
	}
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
	runs := make([]gavelRun, len(jobs))
	for i := range jobs {
		runs[i] = gavelRun{j: &jobs[i], arrival: jobs[i].ArrivalS * scale, left: jobs[i].TotalSteps, firstRun: -1, done: -1}
	}
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(runs[a].arrival, runs[b].arrival) })

	c := core.New(net, cfg.Core)
	rep := &GavelReport{Mode: "agnostic", JobsPerHour: 3600 / (cfg.StreamGapS * scale), Jobs: len(jobs), Cards: net.Cards(), PerType: map[string]float64{}}
	if cfg.Aware {
		rep.Mode = "aware"
		if !cfg.NoMigrate {
			m := cfg.Migration
			rep.Migration = &m
		} else {
			rep.Mode = "aware, no migration"
		}
	}
	rate := func(r *gavelRun, typ string) float64 { return cfg.Throughputs[r.j.Type][typ] }
	jobID := func(i int) model.JobID { return model.JobID(fmt.Sprintf("gavel-%d", runs[i].j.ID)) }
	coreJob := func(i int, at int64) model.Job {
		j := model.Job{ID: jobID(i), Tenant: "gavel", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, SubmitTime: at}
		if cfg.Aware {
			j.Rates = map[string]float64{}
			for _, cd := range cfg.Cluster {
				j.Rates[ids[cd.Name]] = rate(&runs[i], cd.Name)
			}
		}
		return j
	}
	byID := map[model.JobID]int{}
	free := cloneCounts(total)
	var (
		fq       finishQueue
		busy     float64 // card-seconds
		runningN int
		window   = 0
		winDone  = 0
	)
	for i := range runs {
		if runs[i].j.InWindow {
			window++
		}
	}
	if window == 0 {
		return nil, errors.New("the stream has no window jobs (in_window): nothing to measure")
	}
	rep.WindowJobs = window
	// runFor is how long run r takes from a start at t on its type.
	finishAt := func(r *gavelRun, t int64, restore int64) int64 {
		return t + restore + int64(math.Ceil(r.left/rate(r, r.onType)))
	}
	stop := func(r *gavelRun, t int64) {
		ran := float64(t - r.startedAt)
		if r.restoring {
			ran -= float64(cfg.Migration.RestoreCostS)
		}
		if ran > 0 {
			r.left = max(0, r.left-ran*rate(r, r.onType))
		}
		busy += float64(t - r.startedAt)
		rep.PerType[r.onType] += float64(t-r.startedAt) / 3600
		free[r.onType]++
		r.running = false
		r.gen++
		runningN--
	}
	drain := func(t int64) error {
		for c.HasReady() {
			rd := c.Ready()
			for _, s := range rd.Stops {
				if i, ok := byID[s.Job]; ok && runs[i].running {
					stop(&runs[i], t)
				}
			}
			for k := range rd.Placements {
				p := &rd.Placements[k]
				i, ok := byID[p.Job]
				if !ok || len(p.Assignments) != 1 {
					return fmt.Errorf("the core placed %s, which the replay does not hold as one card", p.Job)
				}
				n, _ := net.Node(p.Assignments[0].Node)
				r := &runs[i]
				r.onType = typeOf[n.Model]
				r.startedAt = t
				r.running = true
				free[r.onType]--
				runningN++
				if r.firstRun < 0 {
					r.firstRun = t
				}
				restore := int64(0)
				if r.restoring = r.moves > 0; r.restoring {
					restore = cfg.Migration.RestoreCostS
				}
				heap.Push(&fq, finish{t: finishAt(r, t, restore), run: &run{i: i}, gen: r.gen})
			}
			c.Advance(rd)
		}
		return nil
	}
	// migrate moves running jobs to faster free types while one gains.
	migrate := func(t int64) error {
		mg := cfg.Migration
		for range len(runs) {
			best, bestRatio := -1, 0.0
			for _, i := range byID {
				r := &runs[i]
				if !r.running || r.moves >= mg.MaxMoves || t-r.startedAt < mg.MinDwellS {
					continue
				}
				ra := rate(r, r.onType)
				for _, cd := range cfg.Cluster {
					if free[cd.Name] == 0 {
						continue
					}
					rb := rate(r, cd.Name)
					age := float64(t - r.firstRun)
					if rb < ra*mg.MinSpeedup || age*(1-ra/rb) < mg.GainFactor*float64(mg.RestoreCostS) {
						continue
					}
					if ratio := rb / ra; ratio > bestRatio || ratio == bestRatio && i < best {
						best, bestRatio = i, ratio
					}
				}
			}
			if best < 0 {
				return nil
			}
			r := &runs[best]
			r.moves++
			rep.Migrations++
			if err := c.Step(core.JobMigrated{At: t, Job: jobID(best)}); err != nil {
				return err
			}
			if err := drain(t); err != nil {
				return err
			}
		}
		return nil
	}
	ai := 0
	var endT int64
	for winDone < window {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := int64(-1)
		if ai < len(order) {
			t = int64(math.Ceil(runs[order[ai]].arrival))
		}
		if len(fq) > 0 && (t < 0 || fq[0].t < t) {
			t = fq[0].t
		}
		if t < 0 {
			return nil, fmt.Errorf("the replay stalled at %d s with %d window jobs unfinished", endT, window-winDone)
		}
		endT = t
		for len(fq) > 0 && fq[0].t == t {
			f := heap.Pop(&fq).(finish)
			r := &runs[f.run.i]
			if f.gen != r.gen || !r.running {
				continue
			}
			id := jobID(f.run.i)
			if err := c.Step(core.JobFinished{At: t, Job: id}); err != nil {
				return nil, err
			}
			delete(byID, id)
			stop(r, t)
			r.left = 0
			r.done = float64(t)
			rep.Completed++
			if r.j.InWindow {
				winDone++
			}
		}
		if err := drain(t); err != nil {
			return nil, err
		}
		for ai < len(order) && int64(math.Ceil(runs[order[ai]].arrival)) == t {
			i := order[ai]
			ai++
			byID[jobID(i)] = i
			if err := c.Step(core.JobSubmitted{At: t, Job: coreJob(i, t)}); err != nil {
				return nil, fmt.Errorf("job %d: %w", runs[i].j.ID, err)
			}
		}
		if err := drain(t); err != nil {
			return nil, err
		}
		if cfg.Aware && !cfg.NoMigrate && len(byID) == runningN {
			if err := migrate(t); err != nil {
				return nil, err
			}
		}
	}
	for i := range runs {
		if runs[i].running {
			busy += float64(endT - runs[i].startedAt)
			rep.PerType[runs[i].onType] += float64(endT-runs[i].startedAt) / 3600
		}
	}
	var sum, noWait, firstWin float64
	firstWin = math.Inf(1)
	for i := range runs {
		r := &runs[i]
		if !r.j.InWindow {
			continue
		}
		sum += r.done - r.arrival
		firstWin = min(firstWin, r.arrival)
		fastest := 0.0
		for _, cd := range cfg.Cluster {
			fastest = max(fastest, rate(r, cd.Name))
		}
		noWait += r.j.TotalSteps / fastest
		rep.WindowDurationS = max(rep.WindowDurationS, r.done)
	}
	rep.WindowDurationS -= firstWin
	rep.WindowAvgJCTS = sum / float64(window)
	rep.NoWaitAvgJCTS = noWait / float64(window)
	rep.MakespanS = float64(endT)
	if endT > 0 {
		rep.Utilization = busy / (float64(endT) * float64(net.Cards()))
	}
	return rep, nil
}

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
