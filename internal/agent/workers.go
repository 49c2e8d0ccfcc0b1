package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

// worker is one running worker of a placement.
type worker struct {
	key      string // job/worker@placed
	job      string
	worker   int
	placedAt *time.Time
	cards    []int // the node's card indices the worker was given
	// share and memMiB are a fractional worker's share of its card and
	// device memory; overuse is the last overuse reported ("" when none).
	share   int
	memMiB  int64
	overuse string
	proc    workload.Process
	// silent workers were stopped because the agent is shutting down:
	// their ends are not reported.
	silent bool
	// adopted workers were started by an earlier agent process (found in
	// the state file): kept if still assigned, stopped otherwise.
	adopted bool
	// stopping: Stop was called; the worker holds its cards until it is
	// gone.
	stopping bool
	// prog is the worker's progress file, nil without one.
	prog *progress
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
	// ShareMilli and MemMiB: a fractional worker's share of its one card.
	ShareMilli int
	MemMiB     int64
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
				Gang: j.Spec.Kind == "gang", MasterAddr: master, WorkShareMilli: a.WorkShareMilli}
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
				Simulated: len(cmd) == 0, RuntimeSec: j.Spec.RuntimeSec, ShareMilli: a.ShareMilli, MemMiB: a.MemMiB}
			w.Task = workload.Task{ID: key, Command: cmd, Dir: wdir, RuntimeSec: j.Spec.RuntimeSec,
				ResumeStep: j.Checkpoint, CheckpointDir: dir,
				Env: workload.Env(vendor, a.Cards, rank, dir, j.Checkpoint, extra)}
			if len(a.Cards) == 1 {
				// After the workload's own: Suanli's limits win.
				w.Task.Env = append(w.Task.Env, device.ShareEnv(vendor, a.Cards[0], a.ShareMilli, a.MemMiB)...)
			}
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
	a.wants = Wants(a.cfg.Node, a.cfg.Address, a.cfg.CheckpointRoot, jobs, a.vendorOf)
	a.reconcile(ctx, a.wants)
	return nil
}

// reconcile starts the wanted workers that are not running and stops the
// running ones no longer wanted (cancelled, preempted, requeued, or left
// by an earlier agent process and no longer this node's). A wanted worker
// whose cards a stopping worker still holds waits until that one is gone
// (its whole process group): one card never has two workers of different
// placements alive at once.
func (a *Agent) reconcile(ctx context.Context, wants []Want) {
	want := map[string]bool{}
	for _, w := range wants {
		want[w.Key] = true
	}
	held := map[int]string{} // card → a stopping worker holding it
	for key, w := range a.workers {
		if want[key] || w.silent {
			continue
		}
		if !w.stopping {
			a.log.Info("stopping a worker no longer assigned", "worker", key, "adopted", w.adopted)
			w.stopping = true
			w.proc.Stop(a.cfg.Grace)
		}
		for _, c := range w.cards {
			held[c] = key
		}
	}
	for key := range a.finished {
		if !want[key] {
			delete(a.finished, key)
		}
	}
	a.deferred = 0
	for _, w := range wants {
		if a.workers[w.Key] != nil || a.finished[w.Key] {
			continue
		}
		if old, busy := holder(held, w.Cards); busy {
			a.deferred++
			a.log.Info("waiting for a stopped worker to end before starting one on its cards", "worker", w.Key, "cards", w.Cards, "held_by", old)
			continue
		}
		a.start(ctx, w)
	}
	a.count(func(s *Status) { s.Deferred = a.deferred })
}

// holder names a worker in held that holds one of cards.
func holder(held map[int]string, cards []int) (string, bool) {
	for _, c := range cards {
		if k, ok := held[c]; ok {
			return k, true
		}
	}
	return "", false
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
	if a.cfg.SharePreload != "" && w.ShareMilli > 0 && w.ShareMilli < 1000 && strings.EqualFold(w.Vendor, device.Nvidia) {
		task.Env = append(slices.Clone(task.Env), "LD_PRELOAD="+a.cfg.SharePreload)
	}
	key := w.Key
	task.OnCheckpoint = func(step int64) {
		select {
		case a.ev <- event{key: key, step: step, at: time.Now()}:
		case <-a.quit:
		}
	}
	prog := a.newProgress(w)
	if prog != nil {
		task.Env = append(slices.Clone(task.Env), "SUANLI_PROGRESS_FILE="+prog.path)
	}
	p, err := ex.Start(ctx, task)
	if err != nil {
		if prog != nil {
			_ = os.Remove(prog.path)
		}
		a.finished[w.Key] = true
		report.State, report.Reason = v1.StateFailed, err.Error()
		a.queue(w.Job, report)
		return
	}
	wk := &worker{key: key, job: w.Job, worker: w.Worker, placedAt: w.PlacedAt, cards: w.Cards, proc: p, prog: prog}
	if w.ShareMilli > 0 && w.ShareMilli < 1000 {
		wk.share, wk.memMiB = w.ShareMilli, w.MemMiB
	}
	a.workers[key] = wk
	a.saveState()
	a.count(func(s *Status) { s.Started++ })
	a.log.Info("started worker", "worker", key, "vendor", w.Vendor, "cards", w.Cards, "simulated", ex == a.cfg.Simulator)
	report.State = v1.StateRunning
	a.queue(w.Job, report)
	a.watch(wk)
}

// watch tells the loop when a worker ends.
func (a *Agent) watch(w *worker) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-w.proc.Done():
		case <-a.quit:
			return
		}
		select {
		case a.ev <- event{key: w.key, exit: true, res: w.proc.Result(), at: time.Now()}:
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
	a.saveState()
	report.Progress = a.endProgress(w, e.at)
	a.log.Info("worker ended", "worker", e.key, "result", e.res.String(), "stopped", e.res.Stopped)
	if w.silent {
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
	if a.deferred > 0 {
		// Its cards are free now: start what waited for them.
		a.reconcile(ctx, a.wants)
	}
	a.flush(ctx)
}

// checkOveruse compares each card's device memory reading with what the
// fractional workers on it were given, and reports every such worker of a
// card that uses more (once, until the reading falls back or changes
// level): a worker report, state running, with Overuse. Readings are per
// card, so workers sharing a card are reported together. Cards without a
// reading, and whole-card workers, are not checked.
func (a *Agent) checkOveruse(ctx context.Context) {
	given := map[int]int64{}
	var onCard = map[int][]*worker{}
	for _, w := range a.workers {
		if w.share == 0 || w.memMiB <= 0 || w.stopping || w.silent || len(w.cards) != 1 {
			continue
		}
		given[w.cards[0]] += w.memMiB
		onCard[w.cards[0]] = append(onCard[w.cards[0]], w)
	}
	queued := false
	for card, ws := range onCard {
		used, ok := a.memUsed[card]
		for _, w := range ws {
			msg := ""
			if ok && used > given[card] {
				msg = fmt.Sprintf("card %d uses %d MiB of device memory; its fractional workers were given %d MiB (this one %d MiB, share %d/1000)",
					card, used, given[card], w.memMiB, w.share)
				if len(ws) > 1 {
					msg += fmt.Sprintf("; %d workers share the card", len(ws))
				}
			}
			if msg == w.overuse || msg == "" && w.overuse == "" {
				continue
			}
			w.overuse = msg
			if msg == "" {
				continue
			}
			a.log.Warn("a fractional worker's card uses more device memory than its share", "worker", w.key, "card", card, "used_mib", used, "given_mib", given[card])
			a.count(func(s *Status) { s.Overuse++ })
			a.queue(w.job, v1.WorkerReport{Node: a.cfg.Node, Worker: w.worker, PlacedAt: w.placedAt, At: time.Now(), State: v1.StateRunning, Overuse: msg})
			queued = true
		}
	}
	if queued {
		a.flush(ctx)
	}
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
