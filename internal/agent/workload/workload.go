// Package workload runs the workers an agent is assigned: as operating
// system processes (Proc) or, for demos and load tests, as simulated ones
// (Sim). Both report the exit status, the tail of the output and the
// checkpoints the worker announces.
package workload

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/suanli/suanli/internal/device"
)

// Environment variables set for every worker.
const (
	EnvJob           = "SUANLI_JOB_ID"
	EnvWorker        = "SUANLI_WORKER"
	EnvCheckpointDir = "SUANLI_CHECKPOINT_DIR"
	EnvResumeStep    = "SUANLI_RESUME_STEP"
	// EnvWorkShare is a mixed-model gang worker's share of the step's work
	// as a decimal fraction ("0.347"), EnvWorkShareMilli the same in
	// thousandths ("347"), so that a framework can size its micro-batches
	// per chip.
	EnvWorkShare      = "SUANLI_WORK_SHARE"
	EnvWorkShareMilli = "SUANLI_WORK_SHARE_MILLI"
	// CheckpointPrefix starts a line of standard output that announces a
	// checkpoint: "SUANLI_CHECKPOINT 1200".
	CheckpointPrefix = "SUANLI_CHECKPOINT"
	// CheckpointFile is the file in $SUANLI_CHECKPOINT_DIR whose content (a
	// decimal step) announces a checkpoint when it changes.
	CheckpointFile = "step"
)

// Task is one worker to run.
type Task struct {
	ID      string   // unique per placement: job/worker@placed
	Command []string // argv; empty for a simulated worker
	Env     []string // KEY=VALUE, appended to the agent's environment
	Dir     string
	// RuntimeSec is the job's declared runtime: a simulated worker draws its
	// runtime from it.
	RuntimeSec int64
	// ResumeStep is the checkpoint step the worker resumes from.
	ResumeStep int64
	// CheckpointDir, when set, is created and polled for CheckpointFile.
	CheckpointDir string
	// OnCheckpoint is called (from the executor's goroutine) with each new
	// checkpoint step, in increasing order. It must not block for long.
	OnCheckpoint func(step int64)
}

// Result is how a worker ended.
type Result struct {
	ExitCode int    // the exit status; 128+n when killed by signal n; -1 when it never ran
	Signal   string // "SIGTERM", "SIGKILL" when a signal ended it
	Stopped  bool   // Stop was called before it ended
	Err      error  // the process could not be started or waited for
	Tail     string // the last bytes of standard output and error, interleaved
	Duration time.Duration
}

// Failed reports whether the worker failed: a non-zero exit or an error.
func (r Result) Failed() bool { return r.Err != nil || r.ExitCode != 0 }

// Process is a started worker.
type Process interface {
	// Done is closed when the worker has ended; Result is valid then.
	Done() <-chan struct{}
	Result() Result
	// Stop asks the worker to end: SIGTERM now, SIGKILL to its whole
	// process group after grace. It does not wait; watch Done.
	Stop(grace time.Duration)
}

// Executor starts workers.
type Executor interface {
	Start(ctx context.Context, t Task) (Process, error)
}

// Rank is a worker's place in its job, for the rank variables.
type Rank struct {
	Job        string
	Worker     int    // RANK
	Workers    int    // WORLD_SIZE
	Gang       bool   // set WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT
	MasterAddr string // where rank 0 runs
	// WorkShareMilli is the worker's share of a mixed-model gang's step,
	// in thousandths (SUANLI_WORK_SHARE, SUANLI_WORK_SHARE_MILLI); 0: an
	// equal share, and neither variable is set.
	WorkShareMilli int
}

// MasterPort is the rendezvous port of a job: 29500 plus a hash of the job
// id below 1000, so that jobs sharing a master node rarely collide and
// every worker computes the same port without asking anyone.
func MasterPort(job string) int {
	h := fnv.New32a()
	h.Write([]byte(job))
	return 29500 + int(h.Sum32()%1000)
}

// Env returns the variables of one worker, sorted: the vendor's
// visible-devices variable for its cards, the rank variables for a gang,
// and Suanli's own. The workload's own variables come first in the result
// so that Suanli's override them.
func Env(vendor string, cards []int, r Rank, checkpointDir string, resume int64, extra map[string]string) []string {
	var env []string
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	name, value := device.VisibleDevicesEnv(vendor, cards)
	own := []string{
		name + "=" + value,
		EnvJob + "=" + r.Job,
		EnvWorker + "=" + strconv.Itoa(r.Worker),
		EnvResumeStep + "=" + strconv.FormatInt(resume, 10),
	}
	if checkpointDir != "" {
		own = append(own, EnvCheckpointDir+"="+checkpointDir)
	}
	if r.WorkShareMilli > 0 {
		own = append(own,
			EnvWorkShare+"="+fmt.Sprintf("%d.%03d", r.WorkShareMilli/1000, r.WorkShareMilli%1000),
			EnvWorkShareMilli+"="+strconv.Itoa(r.WorkShareMilli))
	}
	if r.Gang {
		own = append(own,
			"WORLD_SIZE="+strconv.Itoa(r.Workers),
			"RANK="+strconv.Itoa(r.Worker),
			"LOCAL_RANK=0",
			"MASTER_ADDR="+r.MasterAddr,
			"MASTER_PORT="+strconv.Itoa(MasterPort(r.Job)),
		)
	}
	sort.Strings(own)
	return append(env, own...)
}

// ParseCheckpointLine reads "SUANLI_CHECKPOINT <step>" (surrounding space
// allowed); ok is false for any other line or a step that is not a
// non-negative decimal integer.
func ParseCheckpointLine(line string) (step int64, ok bool) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	line = line[i:]
	if len(line) <= len(CheckpointPrefix) || line[:len(CheckpointPrefix)] != CheckpointPrefix {
		return 0, false
	}
	rest := line[len(CheckpointPrefix):]
	if rest[0] != ' ' && rest[0] != '\t' {
		return 0, false
	}
	s := trimSpace(rest)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// describe says how a worker ended, for reports and logs.
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "error: " + r.Err.Error()
	case r.Signal != "":
		return fmt.Sprintf("killed by %s (exit %d)", r.Signal, r.ExitCode)
	default:
		return fmt.Sprintf("exit %d", r.ExitCode)
	}
}
