package sim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/trace"
)

// TimedConfig sets up protocol B: the openb pods arrive at their creation
// times, run as long as they ran in the trace, and are placed by the core.
type TimedConfig struct {
	// NodesPath and PodsPath are the openb node and pod lists (the pod list
	// must have the time columns).
	NodesPath, PodsPath string
	// SkipBad skips bad trace rows instead of failing.
	SkipBad bool
	// Core configures the core; Core.Seed breaks ties between equal
	// placements.
	Core core.Config
	// Samples is how many points the time series has (default 240).
	Samples int
	// Compress divides the pods' creation times (not their run times),
	// raising the load by that factor (default 1: the trace's own times).
	// The openb lists are sparse in time: they hold about 1% load.
	Compress int64
	// Progress, if set, hears about submitted pods.
	Progress ProgressFunc
}

// RunTimed runs protocol B on an openb trace.
func RunTimed(ctx context.Context, cfg TimedConfig) (*TimedReport, error) {
	nodes, pods, _, err := LoadOpenb(cfg.NodesPath, cfg.PodsPath, cfg.SkipBad)
	if err != nil {
		return nil, err
	}
	r, err := ReplayOpenb(ctx, nodes, pods, cfg)
	if err != nil {
		return nil, err
	}
	r.Trace = filepath.Base(cfg.PodsPath)
	return r, nil
}

// ReplayOpenb is RunTimed on rows already read.
func ReplayOpenb(ctx context.Context, nodes []trace.Node, pods []trace.Pod, cfg TimedConfig) (*TimedReport, error) {
	oc, err := OpenbNetwork(nodes, nil)
	if err != nil {
		return nil, err
	}
	jobs, ignored, horizon, err := OpenbJobs(pods)
	if err != nil {
		return nil, err
	}
	if cfg.Compress > 1 {
		horizon = 0
		for i := range jobs {
			jobs[i].Job.SubmitTime /= cfg.Compress
			horizon = max(horizon, jobs[i].Job.SubmitTime+jobs[i].DurationS)
		}
		horizon++
	}
	measure, err := openbFrag(nodes, pods, oc)
	if err != nil {
		return nil, err
	}
	r, err := Replay(ctx, oc.Net, jobs, ReplayConfig{
		Core: cfg.Core, Samples: cfg.Samples, HorizonS: horizon, Progress: cfg.Progress, measure: measure,
	})
	if err != nil {
		return nil, err
	}
	r.Protocol, r.Ignored = "time", ignored
	return r, nil
}

// OpenbJobs converts the GPU pods of an openb pod list to jobs: submitted
// at creation_time, running for deletion_time − scheduled_time (or −
// creation_time when the pod was never scheduled), or to the end of the
// trace when it has no deletion time. It returns the jobs, how many
// CPU-only pods it left out and the trace's end (its latest time).
func OpenbJobs(pods []trace.Pod) (jobs []Job, ignored int, endS int64, err error) {
	var errs []error
	for _, p := range pods {
		if p.CreationTime == trace.NoTime {
			return nil, 0, 0, errors.New("the pod list has no creation times: protocol B (time) needs the eleven-column openb lists; use protocol A (fgd) for this one")
		}
		endS = max(endS, p.CreationTime, p.DeletionTime, p.ScheduledTime)
		j, ok, err := PodJob(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			ignored++
			continue
		}
		var dur int64
		if p.DeletionTime != trace.NoTime {
			start := p.CreationTime
			if p.ScheduledTime != trace.NoTime && p.ScheduledTime <= p.DeletionTime {
				start = max(start, p.ScheduledTime)
			}
			dur = max(1, p.DeletionTime-start)
		}
		jobs = append(jobs, Job{Job: j, DurationS: dur})
	}
	if len(errs) > 0 {
		return nil, 0, 0, errors.Join(errs...)
	}
	return jobs, ignored, endS + 1, nil
}

// openbFrag returns the fragmentation measure of protocol B: FGD's measure
// over the openb cluster, with the typical tasks of the pod list, computed
// from the card usage the replay mirrors (host CPU and memory, which the
// core does not place, count as free).
func openbFrag(nodes []trace.Node, pods []trace.Pod, oc *OpenbCluster) (func(*usage) (float64, float64), error) {
	ns, ps := FragSpecs(nodes, pods)
	fc, tasks, err := frag.Setup(ns, ps)
	if err != nil {
		return nil, fmt.Errorf("openb cluster: %w", err)
	}
	d := frag.NewDistribution(tasks, frag.DefaultCoverage, false)
	ids := make([]model.NodeID, len(nodes))
	for i, n := range nodes {
		ids[i] = oc.NodeID[n.Name]
	}
	return func(u *usage) (float64, float64) {
		for i := range fc.Nodes {
			n := &fc.Nodes[i]
			used := u.perCard[ids[i]]
			for g := 0; g < n.GPUs; g++ {
				n.Free[g] = frag.MilliPerGPU
				if g < len(used) {
					n.Free[g] -= used[g]
				}
			}
		}
		f, idle := d.ClusterFrag(fc)
		if idle == 0 {
			return f / frag.MilliPerGPU, 0
		}
		return f / frag.MilliPerGPU, f / float64(idle)
	}, nil
}
