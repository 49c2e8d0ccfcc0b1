package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/workload"
)

// worker is one running worker of a placement.
type worker struct {
	key      string // job/worker@placed
	job      string
	worker   int
	placedAt *time.Time
	proc     workload.Process
	// silent workers were stopped because the lease ran out or the agent
	// is shutting down: their ends are not reported.
	silent bool
}

// event is what a worker tells the loop: a checkpoint, or its end.
type event struct {
	key  string
	step int64 // checkpoint step (when !exit)
	at   time.Time
	exit bool
	res  workload.Result
}

// Want is one worker this node should run, derived from an assignment.
type Want struct {
	Key        string
	Job        string
	Worker     int
	PlacedAt   *time.Time
	Task       workload.Task
	Vendor     string
	Cards      []int
	Simulated  bool // the job has no workload command
	RuntimeSec int64
}

// Wants turns the jobs placed on node into the workers it should run, with
// their environment. vendorOf maps a catalog model id to a vendor key.
// masterAddr is the address of this node (used when rank 0 runs here).
func Wants(node, masterAddr, checkpointRoot string, jobs []v1.AssignedJob, vendorOf func(model string) string) []Want {
	var out []Want
	for _, j := range jobs {
		if (j.State != v1.StatePlaced && j.State != v1.StateRunning) || j.Placement == nil {
			continue
		}
		as := j.Placement.Assignments
		master := ""
		for _, a := range as {
			if a.Worker == 0 {
				master = a.Node
			}
		}
		if master == node {
			master = masterAddr
		}
		for _, a := range as {
			if a.Node != node {
				continue
			}
			key := placementKey(j.ID, a.Worker, j.PlacedAt)
			rank := workload.Rank{Job: j.ID, Worker: a.Worker, Workers: max(len(as), j.Spec.Workers),
				Gang: j.Spec.Kind == "gang", MasterAddr: master}
			dir := ""
			if checkpointRoot != "" {
				dir = filepath.Join(checkpointRoot, safeName(j.ID), strconv.Itoa(a.Worker))
			}
			var extra map[string]string
			var cmd []string
			wdir := ""
			if j.Workload != nil {
				extra, cmd, wdir = j.Workload.Env, j.Workload.Command, j.Workload.Dir
			}
			vendor := vendorOf(a.Model)
			w := Want{Key: key, Job: j.ID, Worker: a.Worker, PlacedAt: j.PlacedAt, Vendor: vendor, Cards: a.Cards,
				Simulated: len(cmd) == 0, RuntimeSec: j.Spec.RuntimeSec}
			w.Task = workload.Task{ID: key, Command: cmd, Dir: wdir, RuntimeSec: j.Spec.RuntimeSec,
				ResumeStep: j.Checkpoint, CheckpointDir: dir,
				Env: workload.Env(vendor, a.Cards, rank, dir, j.Checkpoint, extra)}
			out = append(out, w)
		}
	}
	return out
}

func placementKey(job string, worker int, placed *time.Time) string {
	k := job + "/" + strconv.Itoa(worker)
	if placed != nil {
		k += "@" + strconv.FormatInt(placed.UnixNano(), 10)
	}
	return k
}

// safeName keeps a job id usable as one path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// vendorOf is the vendor of a catalog model: the vendor of a discovered
// device of that model, else the id's first dash-separated word.
func (a *Agent) vendorOf(model string) string {
	for _, d := range a.devices {
		if d.Model == model && d.Vendor != "" {
			return d.Vendor
		}
	}
	v, _, _ := strings.Cut(model, "-")
	return v
}

func (a *Agent) listAssignments(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, a.lease.Period)
	defer cancel()
	jobs, err := a.c.Assignments(cctx, a.cfg.Node)
	if err != nil {
		return fmt.Errorf("list assignments of %s: %w", a.cfg.Node, err)
	}
	a.listed = true
	a.reconcile(ctx, Wants(a.cfg.Node, a.cfg.Address, a.cfg.CheckpointRoot, jobs, a.vendorOf))
	return nil
}

// reconcile starts the wanted workers that are not running and stops the
// running ones no longer wanted (cancelled, preempted, requeued).
func (a *Agent) reconcile(ctx context.Context, wants []Want) {
	want := map[string]bool{}
	for _, w := range wants {
		want[w.Key] = true
	}
	for key, w := range a.workers {
		if !want[key] && !w.silent {
			a.log.Info("stopping a worker no longer assigned", "worker", key)
			w.proc.Stop(a.cfg.Grace)
		}
	}
	for key := range a.finished {
		if !want[key] {
			delete(a.finished, key)
		}
	}
	for _, w := range wants {
		if a.workers[w.Key] != nil || a.finished[w.Key] {
			continue
		}
		a.start(ctx, w)
	}
}

func (a *Agent) start(ctx context.Context, w Want) {
	ex := a.cfg.Executor
	if w.Simulated || ex == nil {
		ex = a.cfg.Simulator
	}
	report := v1.WorkerReport{Node: a.cfg.Node, Worker: w.Worker, PlacedAt: w.PlacedAt, At: time.Now()}
	if ex == nil {
		a.finished[w.Key] = true
		report.State, report.Reason = v1.StateFailed, "the job has no workload command and this agent runs no simulated workers; give the job a workload"
		a.queue(w.Job, report)
		return
	}
	task := w.Task
	key := w.Key
	task.OnCheckpoint = func(step int64) {
		select {
		case a.ev <- event{key: key, step: step, at: time.Now()}:
		case <-a.quit:
		}
	}
	p, err := ex.Start(ctx, task)
	if err != nil {
		a.finished[w.Key] = true
		report.State, report.Reason = v1.StateFailed, err.Error()
		a.queue(w.Job, report)
		return
	}
	a.workers[key] = &worker{key: key, job: w.Job, worker: w.Worker, placedAt: w.PlacedAt, proc: p}
	a.count(func(s *Status) { s.Started++ })
	a.log.Info("started worker", "worker", key, "vendor", w.Vendor, "cards", w.Cards, "simulated", ex == a.cfg.Simulator)
	report.State = v1.StateRunning
	a.queue(w.Job, report)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-p.Done():
		case <-a.quit:
			return
		}
		select {
		case a.ev <- event{key: key, exit: true, res: p.Result(), at: time.Now()}:
		case <-a.quit:
		}
	}()
}

// handle applies a worker's event.
func (a *Agent) handle(ctx context.Context, e event) {
	w := a.workers[e.key]
	if w == nil {
		return
	}
	report := v1.WorkerReport{Node: a.cfg.Node, Worker: w.worker, PlacedAt: w.placedAt, At: e.at, State: v1.StateRunning}
	if !e.exit {
		if w.silent {
			return
		}
		report.Checkpoint = &v1.Checkpoint{Step: e.step, At: e.at}
		a.queue(w.job, report)
		a.flush(ctx)
		return
	}
	delete(a.workers, e.key)
	a.log.Info("worker ended", "worker", e.key, "result", e.res.String(), "stopped", e.res.Stopped)
	if w.silent {
		// Stopped for a lost lease: if the placement is still this
		// node's after registering again, it runs again.
		a.listed = false
		return
	}
	a.finished[e.key] = true
	code := e.res.ExitCode
	report.ExitCode, report.Signal, report.OutputTail = &code, e.res.Signal, lastBytes(e.res.Tail, v1.MaxOutputTail)
	switch {
	case e.res.Stopped:
		report.State, report.Reason = v1.WorkerStopped, "stopped by the agent: no longer assigned to this node ("+e.res.String()+")"
	case e.res.Failed():
		report.State, report.Reason = v1.StateFailed, e.res.String()
	default:
		report.State = v1.StateCompleted
	}
	a.queue(w.job, report)
	a.flush(ctx)
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
