//go:build unix

package workload

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Group identifies a worker's process group so that an agent can find it
// again after a restart: the group id (the leader's pid) and the leader's
// start time in clock ticks since boot (/proc/<pid>/stat field 22; 0 where
// there is no /proc), which tells a live leader from a later process that
// was given the same pid.
type Group struct {
	PGID       int    `json:"pgid"`
	StartTicks uint64 `json:"start_ticks,omitempty"`
}

// Grouped is a Process that runs as an operating-system process group.
type Grouped interface {
	Group() Group
}

// GroupPoll is how often a process group that is not the agent's child is
// checked for its end.
var GroupPoll = 50 * time.Millisecond

// startTicks reads a process's start time; ok is false when the process is
// gone or there is no /proc.
func startTicks(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	_, fields, ok := statFields(string(b))
	if !ok || len(fields) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(fields[19], 10, 64)
	return n, err == nil
}

// statFields splits /proc/<pid>/stat after the command name (which may
// hold spaces and parentheses): fields[0] is the state (field 3).
func statFields(s string) (comm string, fields []string, ok bool) {
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "", nil, false
	}
	return s[i+1 : j], strings.Fields(s[j+1:]), true
}

// GroupAlive reports whether a process group still has a live member
// (zombies do not count: their cards are free, whoever reaps them). A
// group whose leader runs but started at another time than g says is a
// different group that reuses the id: not alive.
func GroupAlive(g Group) bool {
	if g.PGID <= 1 {
		return false
	}
	if g.StartTicks != 0 {
		if st, ok := startTicks(g.PGID); ok && st != g.StartTicks {
			return false
		}
	}
	if err := syscall.Kill(-g.PGID, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return liveMember(g.PGID)
}

// liveMember reports whether a process of group pgid is not a zombie,
// reading /proc; without /proc, any member counts.
func liveMember(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		name := e.Name()
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		_, f, ok := statFields(string(b))
		if ok && len(f) > 2 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// Adopt returns a Process for a worker group started by an earlier agent
// process, or false when that group is gone. Its Done closes when no live
// member is left; its exit status is unknown (the process is not this
// agent's child), so Result says so unless Stop ended it.
func Adopt(g Group) (Process, bool) {
	if !GroupAlive(g) {
		return nil, false
	}
	p := &adopted{g: g, done: make(chan struct{}), start: time.Now()}
	go p.watch()
	return p, true
}

// ErrStatusUnknown is the Result.Err of an adopted worker that ended by
// itself: it was not this agent's child, so its exit status was lost.
var ErrStatusUnknown = errors.New("the exit status is unknown: the worker was started by an earlier agent process")

type adopted struct {
	g     Group
	done  chan struct{}
	start time.Time

	mu      sync.Mutex // guards stopped, res
	stopped bool
	res     Result
}

func (p *adopted) Group() Group          { return p.g }
func (p *adopted) Done() <-chan struct{} { return p.done }

func (p *adopted) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

func (p *adopted) watch() {
	t := time.NewTicker(GroupPoll)
	defer t.Stop()
	for range t.C {
		if !GroupAlive(p.g) {
			break
		}
	}
	p.mu.Lock()
	p.res = Result{ExitCode: -1, Stopped: p.stopped, Duration: time.Since(p.start)}
	if !p.stopped {
		p.res.Err = ErrStatusUnknown
	}
	p.mu.Unlock()
	close(p.done)
}

// Stop implements Process: SIGTERM to the group now, SIGKILL after grace.
func (p *adopted) Stop(grace time.Duration) {
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
	if !GroupAlive(p.g) {
		return
	}
	_ = syscall.Kill(-p.g.PGID, syscall.SIGTERM)
	time.AfterFunc(grace, func() {
		select {
		case <-p.done:
		default:
			if GroupAlive(p.g) {
				_ = syscall.Kill(-p.g.PGID, syscall.SIGKILL)
			}
		}
	})
}

// waitGroupGone polls until no live member of the group is left: a
// process that outlived its leader holds the cards as much as the leader.
func waitGroupGone(pgid int) {
	for d := time.Millisecond; GroupAlive(Group{PGID: pgid}); d = min(2*d, GroupPoll) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(d)
	}
}
