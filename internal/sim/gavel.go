package sim

import (
	"encoding/json"
	"fmt"
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
	// LAS turns on the core's attained-service scheduling (core.Service,
	// from Service or core.DefaultService): least attained service first,
	// preempting from checkpoint; each restart costs RestoreCostS.
	LAS     bool
	Service core.Service
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
var DefaultMigration = Migration{MinSpeedup: 1.15, RestoreCostS: 120, GainFactor: 2, MinDwellS: 360, MaxMoves: 16}

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
	// Preemptions counts the placements stopped for jobs with less
	// attained service (LAS runs).
	Preemptions int `json:"preemptions"`
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

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
