//go:build linux

package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/suanli/suanli/internal/agent/agenttest"
)

// Environment variables the suite sets on every agent it starts; the
// agents' worker processes inherit them, which is how the scanner tells
// one run's workers and their node apart, even after their agent died.
const (
	envRun  = "SUANLI_CHAOS_RUN"
	envNode = "SUANLI_CHAOS_NODE"
)

// worker is one live worker process group as /proc shows it.
type worker struct {
	pgid   int
	node   string
	job    string
	worker string
	cards  []int
}

func (w worker) String() string {
	return fmt.Sprintf("pgid %d (job %s worker %s)", w.pgid, w.job, w.worker)
}

// scanWorkers reads /proc: every live (not zombie) process whose
// environment carries run's marker and a job id, grouped by process group,
// with the cards its visible-devices variables name.
func scanWorkers(run string) []worker {
	byGroup := map[int]worker{}
	for _, p := range agenttest.ProcsWithEnv(envRun, run) { // the first process found stands for its group
		job, ok := p.Env["SUANLI_JOB_ID"]
		if !ok {
			continue
		}
		if _, seen := byGroup[p.PGID]; seen {
			continue
		}
		w := worker{pgid: p.PGID, node: p.Env[envNode], job: job, worker: p.Env["SUANLI_WORKER"]}
		keys := slices.Sorted(maps.Keys(p.Env))
		for _, k := range keys {
			if !strings.HasSuffix(k, "_VISIBLE_DEVICES") {
				continue
			}
			for _, f := range strings.Split(p.Env[k], ",") {
				if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
					w.cards = append(w.cards, n)
				}
			}
		}
		byGroup[p.PGID] = w
	}
	out := make([]worker, 0, len(byGroup))
	for _, w := range byGroup {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pgid < out[j].pgid })
	return out
}

// sharedCards lists every card that two live worker process groups hold
// at once: the double allocation the records may not show.
func sharedCards(ws []worker) []string {
	holders := map[string][]worker{}
	for _, w := range ws {
		for _, c := range w.cards {
			k := fmt.Sprintf("%s/%d", w.node, c)
			holders[k] = append(holders[k], w)
		}
	}
	var out []string
	for k, hs := range holders {
		if len(hs) > 1 {
			var names []string
			for _, h := range hs {
				names = append(names, h.String())
			}
			out = append(out, fmt.Sprintf("card %s held by %s", k, strings.Join(names, " and ")))
		}
	}
	sort.Strings(out)
	return out
}

// scanner samples the run's worker processes every period and keeps every
// double allocation it saw.
type scanner struct {
	run  string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards seen, samples, maxLive
	seen    map[string]time.Time
	order   []string
	samples int
	maxLive int
}

func startScanner(run string, every time.Duration) *scanner {
	s := &scanner{run: run, stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]time.Time{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			ws := scanWorkers(run)
			shared := sharedCards(ws)
			s.mu.Lock()
			s.samples++
			s.maxLive = max(s.maxLive, len(ws))
			for _, d := range shared {
				if _, ok := s.seen[d]; !ok {
					s.seen[d] = time.Now()
					s.order = append(s.order, d)
				}
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *scanner) close() {
	close(s.stop)
	<-s.done
}

// violations returns the double allocations seen since mark (an index
// returned by an earlier call) and the new mark.
func (s *scanner) violations(mark int) ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order[mark:]...), len(s.order)
}

func (s *scanner) stats() (samples, maxLive int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.maxLive
}

// killRun kills every process group of the run's workers: what a crashed
// agent left behind does not outlive the test.
func killRun(run string) {
	for range 3 {
		ws := scanWorkers(run)
		if len(ws) == 0 {
			return
		}
		for _, w := range ws {
			_ = syscall.Kill(-w.pgid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
