// Package schedbench measures the scheduler on a generated network: the
// figures `suanli bench schedule` prints. It is a shell around the pure
// decision: it reads the clock and the allocator's counters between
// decisions, never inside one.
package schedbench

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sched/gen"
)

// Config sizes a run. The zero value is the standard run: 100,000 cards
// (12,500 nodes × 8) on 32 sites, 20,000 decisions per scenario.
type Config struct {
	Nodes     int    `json:"nodes"`     // default 12,500
	Sites     int    `json:"sites"`     // default 32
	Decisions int    `json:"decisions"` // per scenario, default 20,000
	Seed      uint64 `json:"seed"`      // default 1
	// Scenarios to run; empty means all: "mixed", "single-node", "gang-256".
	Scenarios []string `json:"scenarios,omitempty"`
	// TargetUtilMilli is the share of cards held before the oldest jobs
	// are released (default 700), so that decisions see a busy network.
	TargetUtilMilli int `json:"target_util_milli"`
}

// Scenario is the figures of one job stream.
type Scenario struct {
	Name              string  `json:"name"`
	Decisions         int     `json:"decisions"`
	Placed            int     `json:"placed"`
	DecisionsPerSec   float64 `json:"decisions_per_sec"`
	PlacementsPerSec  float64 `json:"placements_per_sec"`
	P50LatencyUS      float64 `json:"p50_latency_us"`
	P99LatencyUS      float64 `json:"p99_latency_us"`
	MaxLatencyUS      float64 `json:"max_latency_us"`
	AllocsPerDecision float64 `json:"allocs_per_decision"`
	BytesPerDecision  float64 `json:"bytes_per_decision"`
	MeanUtilMilli     int64   `json:"mean_util_milli"`
}

// Result is a whole run.
type Result struct {
	NetworkCards int `json:"network_cards"`
	NetworkNodes int `json:"network_nodes"`
	Sites        int `json:"sites"`
	Models       int `json:"models"`
	// StateBytes is the scheduler's estimate of its allocation state;
	// StateHeapBytes the heap the state took when built (measured).
	StateBytes     int64      `json:"state_bytes"`
	StateHeapBytes int64      `json:"state_heap_bytes"`
	CloneUS        float64    `json:"clone_us"`
	GoMaxProcs     int        `json:"gomaxprocs"`
	Scenarios      []Scenario `json:"scenarios"`
}

// ScenarioNames are the job streams Run knows, in the order it runs them.
var ScenarioNames = []string{"mixed", "single-node", "gang-256"}

// CheckScenarios says which of names Run does not know, before any work.
func CheckScenarios(names []string) error {
	for _, name := range names {
		if !slices.Contains(ScenarioNames, name) {
			return fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(ScenarioNames, ", "))
		}
	}
	return nil
}

// Run builds the network and runs the scenarios.
func Run(cfg Config) (Result, error) {
	if err := CheckScenarios(cfg.Scenarios); err != nil {
		return Result{}, err
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 12_500
	}
	if cfg.Decisions <= 0 {
		cfg.Decisions = 20_000
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.TargetUtilMilli <= 0 || cfg.TargetUtilMilli > 1000 {
		cfg.TargetUtilMilli = 700
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = ScenarioNames
	}
	net, err := gen.Network(gen.NetConfig{Nodes: cfg.Nodes, Sites: cfg.Sites, Seed: cfg.Seed})
	if err != nil {
		return Result{}, fmt.Errorf("generate network: %w", err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	base := sched.NewCluster(net)
	runtime.GC()
	runtime.ReadMemStats(&after)
	res := Result{
		NetworkCards: base.Cards(), NetworkNodes: len(net.Nodes), Sites: len(net.Sites),
		StateBytes: base.StateBytes(), StateHeapBytes: int64(after.HeapAlloc) - int64(before.HeapAlloc),
		GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	models := map[string]bool{}
	for i := range net.Nodes {
		models[net.Nodes[i].Model] = true
	}
	res.Models = len(models)
	t0 := time.Now()
	for range 10 {
		_ = base.Clone()
	}
	res.CloneUS = float64(time.Since(t0).Microseconds()) / 10
	for _, name := range cfg.Scenarios {
		var jobs []model.Job
		switch name {
		case "mixed":
			jobs = gen.Stream(cfg.Decisions, gen.DefaultMix, cfg.Seed)
		case "single-node":
			jobs = gen.SingleNode(cfg.Decisions, cfg.Seed)
		case "gang-256":
			jobs = gen.Gangs(cfg.Decisions, 256, cfg.Seed)
		}
		res.Scenarios = append(res.Scenarios, runScenario(name, base.Clone(), jobs, cfg))
	}
	return res, nil
}

// runScenario schedules the jobs one by one, applying each placement and
// releasing the oldest jobs whenever the network is busier than the
// target, and times each decision.
func runScenario(name string, c *sched.Cluster, jobs []model.Job, cfg Config) Scenario {
	lat := make([]time.Duration, 0, len(jobs))
	var live []model.Placement
	head := 0
	limit := int64(c.Cards()) * int64(cfg.TargetUtilMilli)
	var utilSum int64
	placed := 0
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var total time.Duration
	for i := range jobs {
		for c.UsedCardsMilli() > limit && head < len(live) {
			_ = c.Release(live[head])
			head++
		}
		t := time.Now()
		d := sched.Schedule(c, &jobs[i], sched.Input{Seed: 0}, sched.Config{})
		el := time.Since(t)
		total += el
		lat = append(lat, el)
		if d.Placement != nil {
			if err := c.Apply(*d.Placement); err == nil {
				live = append(live, *d.Placement)
				placed++
			}
		}
		utilSum += c.UsedCardsMilli() / int64(c.Cards())
	}
	runtime.ReadMemStats(&ms1)
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100].Nanoseconds()) / 1000 }
	n := float64(len(jobs))
	// The allocation counters include Apply and Release; they are small.
	return Scenario{
		Name: name, Decisions: len(jobs), Placed: placed,
		DecisionsPerSec:   n / total.Seconds(),
		PlacementsPerSec:  float64(placed) / total.Seconds(),
		P50LatencyUS:      pct(50),
		P99LatencyUS:      pct(99),
		MaxLatencyUS:      float64(lat[len(lat)-1].Nanoseconds()) / 1000,
		AllocsPerDecision: float64(ms1.Mallocs-ms0.Mallocs) / n,
		BytesPerDecision:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / n,
		MeanUtilMilli:     utilSum / int64(len(jobs)),
	}
}
