package workload

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// Sim runs simulated workers. Each draws its runtime from the task's
// declared runtime (uniformly between half of it and all of it, seeded by
// Seed and the task id, so a run is reproducible), counts one step per
// simulated second, announces a checkpoint every CheckpointEvery steps,
// resumes from the task's ResumeStep, and exits 0, or 1 with probability
// FailMilli/1000 at a drawn step. A simulated worker is a timer: it costs no
// goroutine while it runs.
type Sim struct {
	Seed uint64
	// FailMilli is the chance in thousandths that a worker fails.
	FailMilli int
	// CheckpointEvery is the steps between checkpoints (default: a tenth of
	// the runtime; negative: none).
	CheckpointEvery int64
	// DefaultRuntimeSec is used for a task that declares none (default 600).
	DefaultRuntimeSec int64
	// Second is how long one simulated second lasts (default 1 s); a demo
	// sets less to move faster.
	Second time.Duration
}

// Plan is what a simulated worker will do, drawn from its task.
type Plan struct {
	Steps    int64 // total steps of the work, resume included
	Every    int64 // steps between checkpoints; 0 for none
	FailAt   int64 // the step it fails at; -1 when it succeeds
	ExitCode int
}

// Plan draws the plan of a task; the same Seed and task id give the same
// plan.
func (s Sim) Plan(t Task) Plan {
	h := fnv.New64a()
	h.Write([]byte(t.ID))
	rng := rand.New(rand.NewPCG(s.Seed, h.Sum64()))
	r := t.RuntimeSec
	if r <= 0 {
		r = s.DefaultRuntimeSec
	}
	if r <= 0 {
		r = 600
	}
	p := Plan{Steps: max(r/2+rng.Int64N(r-r/2+1), 1), FailAt: -1}
	switch {
	case s.CheckpointEvery > 0:
		p.Every = s.CheckpointEvery
	case s.CheckpointEvery == 0:
		p.Every = max(p.Steps/10, 1)
	}
	if s.FailMilli > 0 && rng.IntN(1000) < s.FailMilli {
		p.FailAt = rng.Int64N(p.Steps)
		p.ExitCode = 1
	}
	return p
}

// Start implements Executor.
func (s Sim) Start(ctx context.Context, t Task) (Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.ID, err)
	}
	unit := s.Second
	if unit <= 0 {
		unit = time.Second
	}
	plan := s.Plan(t)
	end := plan.Steps
	if plan.FailAt >= 0 {
		end = plan.FailAt
	}
	p := &simProc{done: make(chan struct{}), unit: unit, every: plan.Every, onCkpt: t.OnCheckpoint,
		step: min(t.ResumeStep, end), end: end, code: plan.ExitCode, start: time.Now(), id: t.ID, from: t.ResumeStep}
	p.mu.Lock()
	p.schedule()
	p.mu.Unlock()
	return p, nil
}

type simProc struct {
	done   chan struct{}
	unit   time.Duration
	every  int64
	end    int64 // the step it exits at
	code   int   // its exit status at end
	onCkpt func(int64)
	start  time.Time
	id     string
	from   int64

	mu    sync.Mutex // guards step, timer, res, ended
	step  int64
	timer *time.Timer
	res   Result
	ended bool
}

func (p *simProc) Done() <-chan struct{} { return p.done }

func (p *simProc) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

// schedule arms the timer for the next checkpoint or the end; p.mu held.
func (p *simProc) schedule() {
	if p.step >= p.end {
		p.finish(Result{ExitCode: p.code})
		return
	}
	next := p.end
	if p.every > 0 {
		// the next multiple of every after step
		next = min((p.step/p.every+1)*p.every, p.end)
	}
	p.timer = time.AfterFunc(time.Duration(next-p.step)*p.unit, func() { p.advance(next) })
}

func (p *simProc) advance(to int64) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.step = to
	ckpt := p.every > 0 && to < p.end && to%p.every == 0
	p.mu.Unlock()
	if ckpt && p.onCkpt != nil {
		p.onCkpt(to)
	}
	p.mu.Lock()
	if !p.ended {
		p.schedule()
	}
	p.mu.Unlock()
}

// finish ends the worker with res; p.mu held.
func (p *simProc) finish(res Result) {
	if p.ended {
		return
	}
	p.ended = true
	if p.timer != nil {
		p.timer.Stop()
	}
	res.Duration = time.Since(p.start)
	res.Tail = fmt.Sprintf("simulated worker %s: steps %d to %d; %s\n", p.id, p.from, p.step, res)
	p.res = res
	close(p.done)
}

// Stop implements Process: a simulated worker honours SIGTERM at once.
func (p *simProc) Stop(time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finish(Result{ExitCode: 128 + 15, Signal: "SIGTERM", Stopped: true})
}
