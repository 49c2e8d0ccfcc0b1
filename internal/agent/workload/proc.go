//go:build unix

package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proc runs workers as operating-system processes, each the leader of its
// own process group so that Stop reaches everything it started.
type Proc struct {
	// TailBytes is the output kept for the report (default 4096).
	TailBytes int
	// BaseEnv is the environment the task's variables are added to; nil
	// means the agent's own.
	BaseEnv []string
	// CheckpointPoll is how often CheckpointDir is read (default 5 s).
	CheckpointPoll time.Duration
	// WaitDelay bounds how long output is read after the process exits,
	// when a descendant keeps its pipes open (default 2 s).
	WaitDelay time.Duration
}

// Start implements Executor. The context bounds only the start; the
// process runs until it exits or Stop is called.
func (e Proc) Start(ctx context.Context, t Task) (Process, error) {
	if len(t.Command) == 0 || t.Command[0] == "" {
		return nil, fmt.Errorf("start %s: the workload has no command; give the job a workload command", t.ID)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.ID, err)
	}
	if t.CheckpointDir != "" {
		if err := os.MkdirAll(t.CheckpointDir, 0o755); err != nil {
			return nil, fmt.Errorf("start %s: checkpoint directory: %w", t.ID, err)
		}
	}
	base := e.BaseEnv
	if base == nil {
		base = os.Environ()
	}
	cmd := exec.Command(t.Command[0], t.Command[1:]...)
	cmd.Env = append(append([]string(nil), base...), t.Env...)
	cmd.Dir = t.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = e.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	tailBytes := e.TailBytes
	if tailBytes <= 0 {
		tailBytes = 4096
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), tail: NewTail(tailBytes), onCkpt: t.OnCheckpoint, dir: t.CheckpointDir}
	p.last.Store(t.ResumeStep)
	cmd.Stdout = &lineWriter{tail: p.tail, fn: func(line string) {
		if step, ok := ParseCheckpointLine(line); ok {
			p.checkpoint(step)
		}
	}}
	cmd.Stderr = p.tail
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.ID, err)
	}
	p.group = Group{PGID: cmd.Process.Pid}
	p.group.StartTicks, _ = startTicks(cmd.Process.Pid)
	go p.wait()
	if t.CheckpointDir != "" {
		poll := e.CheckpointPoll
		if poll <= 0 {
			poll = 5 * time.Second
		}
		go p.pollCheckpoint(poll)
	}
	return p, nil
}

type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	tail   *Tail
	start  time.Time
	group  Group
	onCkpt func(int64)
	dir    string       // checkpoint directory; "" for none
	last   atomic.Int64 // latest checkpoint step reported

	mu      sync.Mutex // guards stopped, res
	stopped bool
	res     Result
}

func (p *proc) Done() <-chan struct{} { return p.done }

// Group implements Grouped.
func (p *proc) Group() Group { return p.group }

func (p *proc) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

// checkpoint reports step when it is newer than the last one.
func (p *proc) checkpoint(step int64) {
	for {
		old := p.last.Load()
		if step <= old {
			return
		}
		if p.last.CompareAndSwap(old, step) {
			break
		}
	}
	if p.onCkpt != nil {
		p.onCkpt(step)
	}
}

func (p *proc) wait() {
	err := p.cmd.Wait()
	pid := p.cmd.Process.Pid
	// Whatever the leader left behind in its group goes with it, and the
	// worker has ended only when the whole group is gone: its cards are
	// free from then on.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	waitGroupGone(pid)
	res := Result{Duration: time.Since(p.start), Tail: p.tail.String(), ExitCode: -1}
	if st := p.cmd.ProcessState; st != nil {
		res.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
			res.Signal = signalName(ws.Signal())
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		res.Err = err
	}
	p.readCheckpoint() // a checkpoint written just before exit comes before the exit
	p.mu.Lock()
	res.Stopped = p.stopped
	p.res = res
	p.mu.Unlock()
	close(p.done)
}

// Stop implements Process.
func (p *proc) Stop(grace time.Duration) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	time.AfterFunc(grace, func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
}

func (p *proc) pollCheckpoint(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.readCheckpoint()
		}
	}
}

// readCheckpoint reports the step in the checkpoint file, if it is new.
func (p *proc) readCheckpoint() {
	if p.dir == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(p.dir, CheckpointFile))
	if err != nil {
		return
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n >= 0 {
		p.checkpoint(n)
	}
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGTERM: "SIGTERM", syscall.SIGKILL: "SIGKILL", syscall.SIGINT: "SIGINT",
	syscall.SIGHUP: "SIGHUP", syscall.SIGQUIT: "SIGQUIT", syscall.SIGSEGV: "SIGSEGV",
	syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE",
	syscall.SIGILL: "SIGILL", syscall.SIGPIPE: "SIGPIPE",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}
