package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/suanli/suanli/internal/agent/workload"
)

// The agent's state file, <DataDir>/workers.json, lists the workers it runs
// as process groups, so that an agent started again after a crash (kill -9,
// OOM) finds the workers its predecessor left running: it adopts those the
// server still assigns to the node and kills the others, and it starts
// nothing on their cards until they are gone.
//
// The file is rewritten (a temporary file renamed over it) after every
// start and every end. It is not synced to disk: a machine that crashes
// loses its processes too, and a crash of the agent alone leaves the page
// cache intact.
const stateFile = "workers.json"

// stateVersion is the format of the state file.
const stateVersion = 1

type stateDoc struct {
	Version int           `json:"version"`
	Node    string        `json:"node"`
	Workers []workerState `json:"workers"`
}

// workerState is one recorded worker.
type workerState struct {
	Key      string         `json:"key"` // job/worker@placed
	Job      string         `json:"job"`
	Worker   int            `json:"worker"`
	PlacedAt *time.Time     `json:"placed_at,omitempty"`
	Cards    []int          `json:"cards"`
	Group    workload.Group `json:"group"`
}

func (a *Agent) statePath() string {
	if a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, stateFile)
}

// saveState writes the workers that run as process groups; an error is
// logged (the workers run on; only a later crash would miss them).
func (a *Agent) saveState() {
	path := a.statePath()
	if path == "" || !a.stateRead {
		return // never overwrite a state file that was not read
	}
	doc := stateDoc{Version: stateVersion, Node: a.cfg.Node, Workers: []workerState{}}
	for _, w := range a.workers {
		g, ok := w.proc.(workload.Grouped)
		if !ok {
			continue
		}
		doc.Workers = append(doc.Workers, workerState{Key: w.key, Job: w.job, Worker: w.worker, PlacedAt: w.placedAt,
			Cards: w.cards, Group: g.Group()})
	}
	slices.SortFunc(doc.Workers, func(x, y workerState) int {
		if x.Key < y.Key {
			return -1
		}
		if x.Key > y.Key {
			return 1
		}
		return 0
	})
	if err := writeState(path, doc); err != nil {
		a.log.Error("cannot record the running workers; after a crash of this agent they would be missed", "path", path, "err", err)
	}
}

func writeState(path string, doc stateDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// readState reads the state file; a missing file is an empty state.
func readState(path string) (stateDoc, error) {
	var doc stateDoc
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("decode %s: %w; move it away to start without the workers it lists", path, err)
	}
	if doc.Version != stateVersion {
		return doc, fmt.Errorf("%s: format version %d, this agent reads %d", path, doc.Version, stateVersion)
	}
	return doc, nil
}

// recover finds the workers an earlier agent process left running and
// takes them as its own: they run on until the first listing of the
// assignments says whether the server still wants them (then they are
// kept, or stopped like any worker no longer assigned). Their cards count
// as taken until they are gone. It fails when the state file cannot be
// read: starting anyway could put two workers on one card.
func (a *Agent) recover() error {
	path := a.statePath()
	if path == "" {
		return nil
	}
	doc, err := readState(path)
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	if doc.Node != "" && doc.Node != a.cfg.Node {
		return fmt.Errorf("agent state %s belongs to node %s, not %s; give each node's agent its own --data-dir", path, doc.Node, a.cfg.Node)
	}
	if doc.Version == 0 {
		// A first start: the directory must take the file, or a crash
		// would leave workers nobody finds.
		if err := writeState(path, stateDoc{Version: stateVersion, Node: a.cfg.Node, Workers: []workerState{}}); err != nil {
			return fmt.Errorf("agent state: %w; give a writable --data-dir", err)
		}
	}
	for _, ws := range doc.Workers {
		p, ok := workload.Adopt(ws.Group)
		if !ok {
			a.log.Info("a worker of the previous agent process is gone", "worker", ws.Key, "pgid", ws.Group.PGID)
			continue
		}
		a.log.Warn("found a worker left running by the previous agent process; it keeps its cards until the server says whether it is still assigned",
			"worker", ws.Key, "pgid", ws.Group.PGID, "cards", ws.Cards)
		w := &worker{key: ws.Key, job: ws.Job, worker: ws.Worker, placedAt: ws.PlacedAt, cards: ws.Cards, proc: p, adopted: true}
		a.workers[ws.Key] = w
		a.watch(w)
		a.count(func(s *Status) { s.Adopted++ })
	}
	a.stateRead = true
	a.saveState()
	return nil
}
