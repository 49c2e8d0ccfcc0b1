package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// Progress files. A worker that wants the scheduler to learn its
// throughput appends JSON lines to $SUANLI_PROGRESS_FILE, each the work it
// did and the seconds that work took: {"work": 1200, "seconds": 9.8}. The
// agent reads new complete lines at every heartbeat and sends their sums
// to the server at most every ProgressEvery per worker, and the rest with
// the worker's end. Lines that are not such an object (bad JSON, work or
// seconds not positive and finite, longer than v1.MaxProgressLine) are
// skipped and counted (Status.ProgressSkipped); a line not yet ended by a
// newline waits for the next read.

// progress is what the agent has read of one worker's progress file.
type progress struct {
	path    string
	off     int64     // bytes consumed
	work    float64   // since the last report
	seconds float64   // since the last report
	lines   int       // since the last report
	sent    time.Time // when the last report was queued
}

// maxProgressRead bounds one read of a progress file; the rest waits for
// the next heartbeat.
const maxProgressRead = 1 << 20

// progressDir is where the workers' progress files live: Config.ProgressDir,
// else <DataDir>/progress; "" when neither is set (no progress files).
func (a *Agent) progressDir() string {
	if a.cfg.ProgressDir != "" {
		return a.cfg.ProgressDir
	}
	if a.cfg.DataDir != "" {
		return filepath.Join(a.cfg.DataDir, "progress")
	}
	return ""
}

// newProgress creates a worker's empty progress file and returns its
// state, nil when the agent keeps none or the file cannot be made (logged:
// the worker runs without it).
func (a *Agent) newProgress(w Want) *progress {
	dir := a.progressDir()
	if dir == "" {
		return nil
	}
	name := safeName(w.Job) + "." + strconv.Itoa(w.Worker)
	if w.PlacedAt != nil {
		name += "." + strconv.FormatInt(w.PlacedAt.UnixNano(), 10)
	}
	path := filepath.Join(dir, name+".jsonl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		a.log.Warn("cannot make the progress directory; the worker runs without a progress file", "dir", dir, "err", err)
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		a.log.Warn("cannot create a progress file; the worker runs without one", "path", path, "err", err)
		return nil
	}
	_ = f.Close()
	return &progress{path: path, sent: time.Now()}
}

// read consumes the complete lines appended since the last read and
// returns how many were skipped.
func (p *progress) read() (skipped int, err error) {
	f, err := os.Open(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // removed by the worker: nothing more to read
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, maxProgressRead)
	n, err := f.ReadAt(buf, p.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	buf = buf[:n]
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(buf) == maxProgressRead {
				// One line fills the read: skip it whole.
				p.off += int64(len(buf))
				skipped++
			}
			return skipped, nil
		}
		line := buf[:i]
		buf = buf[i+1:]
		p.off += int64(i + 1)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !p.add(line) {
			skipped++
		}
	}
}

// add takes one line; false when it is not a progress line.
func (p *progress) add(line []byte) bool {
	if len(line) > v1.MaxProgressLine {
		return false
	}
	var l v1.ProgressLine
	if err := json.Unmarshal(line, &l); err != nil {
		return false
	}
	if !(l.Work > 0) || !(l.Seconds > 0) || math.IsInf(l.Work, 0) || math.IsInf(l.Seconds, 0) {
		return false
	}
	p.work += l.Work
	p.seconds += l.Seconds
	p.lines++
	return true
}

// take returns the progress read since the last report, and starts a new
// one.
func (p *progress) take(now time.Time) *v1.Progress {
	if p.lines == 0 {
		return nil
	}
	out := &v1.Progress{Work: p.work, Seconds: p.seconds, Reports: p.lines, Until: now.UTC()}
	p.work, p.seconds, p.lines, p.sent = 0, 0, 0, now
	return out
}

// readProgress reads a worker's new progress lines.
func (a *Agent) readProgress(w *worker) {
	if w.prog == nil {
		return
	}
	skipped, err := w.prog.read()
	if err != nil {
		a.log.Warn("reading a progress file failed", "worker", w.key, "path", w.prog.path, "err", err)
	}
	if skipped > 0 {
		a.log.Warn("skipped progress lines that are not {\"work\": >0, \"seconds\": >0}", "worker", w.key, "lines", skipped)
		a.count(func(s *Status) { s.ProgressSkipped += int64(skipped) })
	}
}

// pollProgress reads every running worker's progress file and queues a
// running report with what was read for each worker whose last progress
// report is ProgressEvery old.
func (a *Agent) pollProgress(now time.Time) {
	every := a.cfg.ProgressEvery
	if every <= 0 {
		every = DefaultProgressEvery
	}
	for _, w := range a.workers {
		if w.prog == nil || w.silent || w.stopping {
			continue
		}
		a.readProgress(w)
		if now.Sub(w.prog.sent) < every {
			continue
		}
		if p := w.prog.take(now); p != nil {
			a.queue(w.job, v1.WorkerReport{Node: a.cfg.Node, Worker: w.worker, PlacedAt: w.placedAt, At: now, State: v1.StateRunning, Progress: p})
			a.count(func(s *Status) { s.ProgressReports++ })
		}
	}
}

// endProgress reads what a worker that ended left in its progress file,
// returns it for its end report, and removes the file.
func (a *Agent) endProgress(w *worker, now time.Time) *v1.Progress {
	if w.prog == nil {
		return nil
	}
	a.readProgress(w)
	if err := os.Remove(w.prog.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("removing a progress file failed", "path", w.prog.path, "err", err)
	}
	if w.silent {
		return nil
	}
	return w.prog.take(now)
}

// DefaultProgressEvery is Config.ProgressEvery's default.
const DefaultProgressEvery = 30 * time.Second
