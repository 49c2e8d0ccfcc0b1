//go:build linux

package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

// cardWatch samples the real process table: for every live (not zombie)
// process carrying tag in its environment, the cards of its
// ASCEND_RT_VISIBLE_DEVICES, by process group (one worker). It records
// every moment two groups held one card.
type cardWatch struct {
	tag  string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards below
	doubles []string
	seen    map[int][]int // pgid → cards, every group ever seen
}

func watchCards(t *testing.T, tag string) *cardWatch {
	w := &cardWatch{tag: tag, stop: make(chan struct{}), done: make(chan struct{}), seen: map[int][]int{}}
	go func() {
		defer close(w.done)
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *cardWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// live returns card → process groups holding it now.
func (w *cardWatch) live() map[int][]int {
	out := map[int][]int{}
	for _, p := range agenttest.TaggedProcs(w.tag) {
		v, ok := p.Env["ASCEND_RT_VISIBLE_DEVICES"]
		if !ok {
			continue
		}
		for _, c := range strings.Split(v, ",") {
			n, _ := strconv.Atoi(c)
			if !slices.Contains(out[n], p.PGID) {
				out[n] = append(out[n], p.PGID)
			}
		}
	}
	return out
}

func (w *cardWatch) sample() {
	cards := w.live()
	w.mu.Lock()
	defer w.mu.Unlock()
	for c, gs := range cards {
		for _, g := range gs {
			if !slices.Contains(w.seen[g], c) {
				w.seen[g] = append(w.seen[g], c)
			}
		}
		if len(gs) > 1 {
			w.doubles = append(w.doubles, fmt.Sprintf("card %d held by process groups %v", c, gs))
		}
	}
}

func (w *cardWatch) check(t *testing.T) {
	t.Helper()
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.doubles) > 0 {
		t.Fatalf("two live workers on one card (%d samples), first: %s", len(w.doubles), w.doubles[0])
	}
}

func (w *cardWatch) groups() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// procAgent runs an agent of node n1 with the process executor against
// srv, keeping its state in dir; crash() ends it as kill -9 would (the
// workers are left running), stop() ends it cleanly.
type procAgent struct {
	a      *Agent
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func runProcAgent(t *testing.T, srv *agenttest.Server, dir, tag string) *procAgent {
	t.Helper()
	c := v1.NewClient("http://suanli.test", "")
	c.HTTP = &http.Client{Transport: srv.Transport()}
	rep, _ := device.ParseSimulate("Ascend910B3x8")
	a, err := New(Config{Client: c, Node: "n1", Discoverer: device.Simulated{Report: rep},
		Executor: workload.Proc{BaseEnv: append(os.Environ(), "SUANLI_TEST_TAG="+tag)},
		Lease:    srv.Lease, Rediscover: -1, Grace: 5 * time.Second, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &procAgent{a: a, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(p.done); p.err = a.Run(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *procAgent) crash() {
	p.a.abandon.Store(true)
	p.cancel()
	<-p.done
}

func (p *procAgent) stop() { p.cancel(); <-p.done }

// lingering is a worker that takes linger to exit after SIGTERM, as a
// training process saving its state does; it announces itself with a
// checkpoint line once its trap is set.
func lingering(linger string) *v1.Workload {
	return &v1.Workload{Command: []string{"/bin/sh", "-c",
		`trap 'sleep ` + linger + `; exit 0' TERM; echo SUANLI_CHECKPOINT 1; while :; do sleep 0.05; done`}}
}

func placeOn(srv *agenttest.Server, id string, cards []int, wl *v1.Workload) {
	srv.Place(v1.Job{ID: id, Spec: v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: len(cards)},
		Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "huawei-ascend-910b3", Cards: cards}}}}, wl, 0)
}

func tag(t *testing.T) string {
	return strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(t.Name(), "/", "-")
}

func TestRestartedAgentAdoptsItsWorkers(t *testing.T) {
	srv := agenttest.New(v1.Lease{Period: 50 * time.Millisecond, Missed: 3})
	dir, tg := t.TempDir(), tag(t)
	cw := watchCards(t, tg)
	a1 := runProcAgent(t, srv, dir, tg)
	placeOn(srv, "j1", []int{0, 1}, lingering("0.2"))
	waitFor(t, "the worker to run", func() bool { return len(cw.live()[0]) == 1 })
	pg := cw.live()[0][0]
	a1.crash()
	if len(cw.live()[0]) != 1 {
		t.Fatal("the worker died with its agent; the test needs it running on")
	}
	// The server still assigns j1 here: the new agent keeps the worker.
	a2 := runProcAgent(t, srv, dir, tg)
	waitFor(t, "the new agent to list its assignments", func() bool { n, _ := srv.Node("n1"); return n.Registered == 2 && a2.a.Status().Heartbeats > 2 })
	st := a2.a.Status()
	if st.Adopted != 1 || st.Started != 0 || st.Running != 1 {
		t.Fatalf("status %+v; want the worker adopted, none started", st)
	}
	if g := cw.live()[0]; len(g) != 1 || g[0] != pg {
		t.Fatalf("card 0 held by %v, want only the adopted group %d", g, pg)
	}
	cw.check(t)
	// Cancelled: the adopted worker is stopped like any other.
	srv.Cancel("j1")
	waitFor(t, "the adopted worker to be stopped", func() bool { return len(cw.live()[0]) == 0 && a2.a.Status().Running == 0 })
	a2.stop()
	doc, err := readState(filepath.Join(dir, stateFile))
	if err != nil || len(doc.Workers) != 0 {
		t.Fatalf("state after a clean stop: %+v, %v", doc, err)
	}
}

func TestRestartedAgentKillsUnassignedWorkersBeforeReusingTheirCards(t *testing.T) {
	srv := agenttest.New(v1.Lease{Period: 50 * time.Millisecond, Missed: 3})
	dir, tg := t.TempDir(), tag(t)
	cw := watchCards(t, tg)
	a1 := runProcAgent(t, srv, dir, tg)
	placeOn(srv, "j1", []int{2, 3}, lingering("1"))
	waitFor(t, "the worker to run", func() bool { return len(cw.live()[2]) == 1 })
	old := cw.live()[2][0]
	a1.crash()
	// While no agent runs, j1 is requeued elsewhere and j2 takes its cards.
	srv.Cancel("j1")
	placeOn(srv, "j2", []int{3, 4}, &v1.Workload{Command: []string{"/bin/sh", "-c", "echo SUANLI_CHECKPOINT 1; sleep 600"}})
	a2 := runProcAgent(t, srv, dir, tg)
	waitFor(t, "j2 to start", func() bool { return len(cw.live()[4]) == 1 && a2.a.Status().Started == 1 })
	cw.check(t)
	if err := syscall.Kill(old, 0); err == nil && slices.Contains(cw.live()[2], old) {
		t.Fatalf("the orphan %d of the crashed agent still runs", old)
	}
	if st := a2.a.Status(); st.Adopted != 1 || st.Started != 1 || st.Running != 1 {
		t.Fatalf("status %+v", st)
	}
	if cw.groups() != 2 {
		t.Fatalf("%d worker groups seen, want 2", cw.groups())
	}
}

func TestRequeuedWorkerStartsAfterTheOldGroupIsGone(t *testing.T) {
	srv := agenttest.New(v1.Lease{Period: 50 * time.Millisecond, Missed: 3})
	dir, tg := t.TempDir(), tag(t)
	cw := watchCards(t, tg)
	a := runProcAgent(t, srv, dir, tg)
	placeOn(srv, "j1", []int{5, 6}, lingering("1"))
	waitFor(t, "the worker to run", func() bool { return len(cw.live()[5]) == 1 })
	old := cw.live()[5][0]
	// Requeued and placed again on the same cards: a new placement.
	time.Sleep(time.Millisecond)
	requeued := time.Now()
	placeOn(srv, "j1", []int{6, 5}, lingering("0"))
	waitFor(t, "the new worker to run", func() bool {
		g := cw.live()[5]
		return len(g) == 1 && g[0] != old && a.a.Status().Started == 2
	})
	took := time.Since(requeued)
	cw.check(t)
	if took < time.Second {
		t.Fatalf("the new worker ran %s after the requeue, before the old one's 1 s exit", took)
	}
	if st := a.a.Status(); st.Started != 2 || st.Running != 1 || st.Deferred != 0 {
		t.Fatalf("status %+v", st)
	}
}

// An agent that cannot read its state file does not start: starting
// without it could put two workers on one card.
func TestUnreadableStateStopsTheAgent(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":      "{not json",
		"version":      `{"version": 99, "node": "n1", "workers": []}`,
		"another node": `{"version": 1, "node": "n7", "workers": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := agenttest.New(v1.Lease{Period: 50 * time.Millisecond, Missed: 3})
			p := runProcAgent(t, srv, dir, tag(t))
			<-p.done
			if p.err == nil || !strings.Contains(p.err.Error(), path) {
				t.Fatalf("Run: %v; want an error naming %s", p.err, path)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Fatal("the unreadable state file was overwritten")
			}
			if n, _ := srv.Node("n1"); n.Registered != 0 {
				t.Fatal("registered without its state")
			}
		})
	}
}

func TestUnwritableDataDirStopsTheAgent(t *testing.T) {
	// A directory where the temporary file goes: no write succeeds, even
	// as root.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, stateFile+".tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	srv := agenttest.New(v1.Lease{Period: 50 * time.Millisecond, Missed: 3})
	p := runProcAgent(t, srv, dir, tag(t))
	<-p.done
	if p.err == nil || !strings.Contains(p.err.Error(), "--data-dir") {
		t.Fatalf("Run: %v; want an error asking for a writable --data-dir", p.err)
	}
	if n, _ := srv.Node("n1"); n.Registered != 0 {
		t.Fatal("registered without a place to record its workers")
	}
}
