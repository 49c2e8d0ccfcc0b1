package demo

import (
	"context"
	"fmt"
	"math"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
)

// submitJobs submits the synthetic workload at cfg.Rate, each job with
// its tenant's token, until ctx ends.
func (d *demo) submitJobs(ctx context.Context) {
	interval := time.Duration(float64(time.Minute) / d.cfg.Rate)
	next := time.Now()
	var jobs []trace.Job
	t := time.NewTimer(0)
	defer t.Stop()
	for chunk, seq := 0, 0; ; seq++ {
		if len(jobs) == 0 {
			var err error
			if jobs, err = d.chunk(chunk); err != nil {
				d.log.Error("the job stream stopped", "err", err)
				return
			}
			chunk++
		}
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A server that falls behind is not flooded afterwards.
		next = next.Add(interval)
		if behind := time.Now().Add(-time.Second); next.Before(behind) {
			next = behind
		}
		j := jobs[0]
		jobs = jobs[1:]
		_, err := d.tenants[j.Tenant].Submit(ctx, jobSpec(j, seq))
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		if err != nil {
			d.refused++
		} else {
			d.submitted++
		}
		first := err != nil && d.refused == 1
		d.mu.Unlock()
		if first {
			d.log.Warn("a job was refused (further refusals are only counted)", "tenant", j.Tenant, "err", err)
		}
	}
}

// demoChunk is how many jobs are drawn at a time.
const demoChunk = 1000

// chunk draws the next jobs of the stream: the synthetic national workload
// over the time they take to submit at cfg.Rate, runtimes in seconds
// scaled so that the offered load is cfg.Load of the network's cards.
func (d *demo) chunk(i int) ([]trace.Job, error) {
	span := max(1, int64(math.Round(demoChunk*60/d.cfg.Rate)))
	return sim.Synthesize(d.net, sim.SynthConfig{Seed: d.cfg.Seed*1_000_003 + uint64(i), SpanS: span, Jobs: demoChunk,
		LoadMilli: max(1, int(math.Round(d.cfg.Load*1000)))})
}

// jobSpec is the API form of a synthetic job; its runtime is the
// simulated workers' runtime.
func jobSpec(j trace.Job, seq int) v1.JobSpec {
	s := v1.JobSpec{Tenant: j.Tenant, Name: fmt.Sprintf("%s-%d", j.Kind, seq), Kind: j.Kind, Priority: j.Priority,
		Workers: j.Workers, CardsPerWorker: j.CardsPerWorker, ShareMilli: j.ShareMilli, MemMiB: j.MemMiB,
		Models: j.Models, ComputeGFLOPS: j.ComputeGFLOPS, Topology: j.Topology, Classification: j.Classification,
		RuntimeSec: j.DurationS, Latency: j.Latency, Users: j.Users}
	if s.ShareMilli > 0 || s.ComputeGFLOPS > 0 {
		s.CardsPerWorker = 0
	}
	if j.DataSite != "" {
		s.Data = &v1.JobData{Site: j.DataSite, SizeGB: j.DataGB}
	}
	return s
}
