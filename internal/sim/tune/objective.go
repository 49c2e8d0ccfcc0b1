package tune

import (
	"context"
	"fmt"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

// OpenbList is one openb pod list and its cluster's nodes.
type OpenbList struct {
	Name  string
	Nodes []trace.Node
	Pods  []trace.Pod
}

// Workloads are what the objective measures a weight vector on: protocol
// A's sequences of the openb lists' GPU pods through the scheduler, and
// synthetic workloads replayed through the core at virtual time.
type Workloads struct {
	Openb []OpenbList
	// Net is the network of the synthetic workloads (nil: none).
	Net *network.Network
	// Synth sizes the synthetic workloads (its Seed is each run's).
	Synth sim.SynthConfig

	mu    sync.Mutex
	synth map[uint64][]trace.Job
}

// Measures are a weight vector's outcomes, means over the lists and seeds.
type Measures struct {
	// UnallocatedGPUs: protocol A through the scheduler, GPUs left
	// unallocated at 130% arrived.
	UnallocatedGPUs float64 `json:"unallocated_gpus"`
	// QueueDelayS, QueueDelayP95S and Util: the synthetic replays' mean
	// and 95th-percentile queueing delay and mean utilisation.
	QueueDelayS    float64 `json:"queue_delay_mean_s"`
	QueueDelayP95S float64 `json:"queue_delay_p95_s"`
	Util           float64 `json:"mean_util"`
}

// Objective is what the search minimises: the weight vector's measures
// relative to the baseline's on the same seeds, ½ protocol A's
// unallocated GPUs, ¼ the synthetic mean queueing delay (plus a minute,
// so that a lightly loaded replay's seconds do not dominate), ¼ the
// synthetic idle share (1 − utilisation). The baseline scores 1; lower is
// better.
func Objective(m, base Measures) float64 {
	ratio := func(x, b float64) float64 {
		if b <= 0 {
			return 1 + x
		}
		return x / b
	}
	return 0.5*ratio(m.UnallocatedGPUs, base.UnallocatedGPUs) +
		0.25*ratio(m.QueueDelayS+60, base.QueueDelayS+60) +
		0.25*ratio(1-m.Util, 1-base.Util)
}

// ObjectiveText describes Objective.
const ObjectiveText = "J = ½·U/U₀ + ¼·(D+60 s)/(D₀+60 s) + ¼·(1−u)/(1−u₀): U protocol A's unallocated GPUs at 130% " +
	"through the scheduler, D the synthetic mean queueing delay, u its mean utilisation, ₀ the current weights on the same seeds; lower is better"

// Weights is a point of the search as the scheduler's weights; the place
// component, not searched, keeps its default.
func Weights(p Point) sched.Weights {
	return sched.Weights{Frag: p[0], Topology: p[1], Heterogeneity: p[2], Cost: p[3], Place: sched.DefaultConfig().Weights.Place}
}

// PointOf is the scheduler's weights as a point (the place component
// left out).
func PointOf(w sched.Weights) Point { return Point{w.Frag, w.Topology, w.Heterogeneity, w.Cost} }

// Measure runs every workload with weights w on the seeds. The scheduler
// runs as the server does: the default candidates and the task mix learned
// from the arriving jobs.
func (wl *Workloads) Measure(ctx context.Context, w sched.Weights, seeds []uint64) (Measures, error) {
	var m Measures
	if len(seeds) == 0 {
		return m, fmt.Errorf("no seeds")
	}
	for _, l := range wl.Openb {
		for _, seed := range seeds {
			if err := ctx.Err(); err != nil {
				return m, err
			}
			u, err := sim.SchedulerProtocolAWith(l.Nodes, l.Pods, seed, sim.MixLearned, sched.Config{Weights: w, Alternatives: -1})
			if err != nil {
				return m, fmt.Errorf("%s, seed %d: %w", l.Name, seed, err)
			}
			m.UnallocatedGPUs += u / float64(len(wl.Openb)*len(seeds))
		}
	}
	if wl.Net == nil {
		return m, nil
	}
	for _, seed := range seeds {
		js, err := wl.jobs(seed)
		if err != nil {
			return m, err
		}
		r, err := sim.ReplayTrace(ctx, wl.Net, js, sim.SyntheticConfig{Samples: 8,
			Core: core.Config{Sched: sched.Config{Weights: w}, Seed: seed, Mix: &sched.MixConfig{}}})
		if err != nil {
			return m, fmt.Errorf("synthetic, seed %d: %w", seed, err)
		}
		n := float64(len(seeds))
		m.QueueDelayS += r.QueueDelay.Mean / n
		m.QueueDelayP95S += float64(r.QueueDelay.P95) / n
		m.Util += r.MeanUtil / n
	}
	return m, nil
}

// jobs is the synthetic workload of a seed, made once.
func (wl *Workloads) jobs(seed uint64) ([]trace.Job, error) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	if js, ok := wl.synth[seed]; ok {
		return js, nil
	}
	cfg := wl.Synth
	cfg.Seed = seed
	js, err := sim.Synthesize(wl.Net, cfg)
	if err != nil {
		return nil, err
	}
	if wl.synth == nil {
		wl.synth = map[uint64][]trace.Job{}
	}
	wl.synth[seed] = js
	return js, nil
}

// ScaledNetwork is a network spec with every pool's nodes divided by
// `scale` (rounded up): the same sites, models and prices, smaller, so
// that a loaded synthetic workload replays in seconds.
func ScaledNetwork(spec []byte, scale int, cat *catalog.Catalog) (*network.Network, error) {
	var s network.Spec
	if err := yaml.UnmarshalStrict(spec, &s); err != nil {
		return nil, fmt.Errorf("network spec: %w", err)
	}
	if scale > 1 {
		for i := range s.Sites {
			for j := range s.Sites[i].Pools {
				p := &s.Sites[i].Pools[j]
				p.Nodes = (p.Nodes + scale - 1) / scale
				p.Names = nil
			}
		}
		s.Name = fmt.Sprintf("%s, 1/%d", s.Name, scale)
	}
	return s.Expand(cat)
}
