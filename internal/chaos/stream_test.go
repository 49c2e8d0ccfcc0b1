//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// Tenants of the job stream: three well-behaved ones and one that sends
// poison and unsatisfiable jobs.
const (
	tenantProc    = "acme"    // gangs of real worker processes at site pa
	tenantSim     = "beta"    // simulated workers at site sa
	tenantProbe   = "gamma"   // one-card jobs at site big: they always fit
	tenantMallory = "mallory" // poison and unsatisfiable jobs
)

// lingering is the workload of the process jobs: it runs for its seconds
// and, on SIGTERM, takes three more seconds to exit, as a training job
// saving a checkpoint does. A card is free only once it is gone.
func lingering(seconds int) []string {
	return []string{"sh", "-c", fmt.Sprintf(
		`trap 'sleep 3; exit 0' TERM; i=0; while [ $i -lt %d ]; do sleep 1; i=$((i+1)); done`, seconds)}
}

// acked is what the stream knows: every job a server acknowledged (201).
type acked struct {
	mu     sync.Mutex // guards the fields below
	jobs   map[string]ackedJob
	errors map[string]int    // submit failures by kind
	sample map[string]string // one message of each kind
}

type ackedJob struct {
	tenant string
	at     time.Time
}

func newAcked() *acked {
	return &acked{jobs: map[string]ackedJob{}, errors: map[string]int{}, sample: map[string]string{}}
}

func (a *acked) add(id, tenant string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jobs[id] = ackedJob{tenant: tenant, at: at}
}

func (a *acked) fail(err error) {
	kind := "transport"
	var e *v1.Error
	if errors.As(err, &e) {
		kind = fmt.Sprintf("%d", e.Status)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errors[kind]++
	if _, ok := a.sample[kind]; !ok {
		a.sample[kind] = err.Error()
	}
}

// refusals counts the failed submits answered with an HTTP error other
// than "retry later" (429, 503): the stream's specs are valid, so any other
// 4xx or 5xx is another tenant's fault or the server's.
func (a *acked) refusals() (n int, sample string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.errors {
		if k != "transport" && k != "429" && k != "503" {
			n += c
			sample = a.sample[k]
		}
	}
	return n, sample
}

func (a *acked) snapshot() map[string]ackedJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]ackedJob, len(a.jobs))
	for k, v := range a.jobs {
		out[k] = v
	}
	return out
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.jobs)
}

func (a *acked) errorKinds() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ks []string
	for k, n := range a.errors {
		ks = append(ks, fmt.Sprintf("%s×%d (%.160s)", k, n, a.sample[k]))
	}
	sort.Strings(ks)
	return fmt.Sprint(ks)
}

// stream submits the well-behaved tenants' jobs until ctx ends, each to
// a random replica; a failed submit is counted and not retried (only
// acknowledged jobs are owed).
func (d *deployment) stream(ctx context.Context, ack *acked, seed uint64) {
	var wg sync.WaitGroup
	loop := func(every time.Duration, s uint64, spec func(r *rand.Rand) v1.JobSpec, after func(r *rand.Rand, c *v1.Client, id string)) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, s))
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				sp := spec(r)
				c := d.as(sp.Tenant, r.IntN(len(d.replicas)))
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				j, err := c.Submit(sctx, sp)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						ack.fail(err)
					}
					continue
				}
				ack.add(j.ID, j.Spec.Tenant, time.Now())
				if after != nil {
					after(r, c, j.ID)
				}
			}
		})
	}
	// Real processes at pa; one in four is cancelled while it runs, so
	// the agent stops workers and the scheduler reuses their cards.
	loop(700*time.Millisecond, 1, func(r *rand.Rand) v1.JobSpec {
		return v1.JobSpec{Tenant: tenantProc, Kind: "gang", Workers: 1 + r.IntN(2), CardsPerWorker: 1 + r.IntN(4),
			Sites: []string{"pa"}, Workload: &v1.Workload{Command: lingering(3 + r.IntN(6))}}
	}, func(r *rand.Rand, c *v1.Client, id string) {
		if r.IntN(4) == 0 {
			wait := time.Duration(1000+r.IntN(3000)) * time.Millisecond
			wg.Go(func() {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_, _ = c.Cancel(cctx, id)
					cancel()
				}
			})
		}
	})
	// Simulated workers at sa.
	loop(500*time.Millisecond, 2, func(r *rand.Rand) v1.JobSpec {
		if r.IntN(2) == 0 {
			return v1.JobSpec{Tenant: tenantSim, Kind: "gang", Workers: 1 + r.IntN(2), CardsPerWorker: 1 + r.IntN(4),
				Sites: []string{"sa"}, RuntimeSec: int64(4 + r.IntN(6))}
		}
		return v1.JobSpec{Tenant: tenantSim, Kind: "batch", Workers: 1, CardsPerWorker: 1 + r.IntN(2),
			Sites: []string{"sa"}, RuntimeSec: int64(4 + r.IntN(6))}
	}, nil)
	// Probes at big: one card each, they always fit.
	loop(300*time.Millisecond, 3, func(r *rand.Rand) v1.JobSpec {
		return v1.JobSpec{Tenant: tenantProbe, Kind: "batch", Workers: 1, CardsPerWorker: 1, Sites: []string{"big"}, RuntimeSec: 3600}
	}, nil)
	wg.Wait()
}

// listAll lists every job through the first replica that answers,
// retrying for up to timeout.
func (d *deployment) listAll(ctx context.Context, f v1.JobFilter, timeout time.Duration) ([]v1.Job, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for try := 0; ; try++ {
		c := d.client(try)
		var out []v1.Job
		f.After, f.Limit = "", 1000
		err := func() error {
			for {
				lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				l, err := c.Jobs(lctx, f)
				cancel()
				if err != nil {
					return err
				}
				out = append(out, l.Jobs...)
				if l.Next == "" {
					return nil
				}
				f.After = l.Next
			}
		}()
		if err == nil {
			return out, nil
		}
		last = err
		if (try+1 >= len(d.replicas) && time.Now().After(deadline)) || ctx.Err() != nil {
			return nil, fmt.Errorf("list jobs for %v: %w", timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
