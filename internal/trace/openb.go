// Package trace reads and writes cluster traces: Alibaba's cluster-trace-gpu-v2023
// ("openb") node and pod lists, and the project's own JSON-lines job format.
//
// Readers are strict: a bad row is an error that names the file, the line and the
// column. With Options.SkipBad set, bad rows are counted and skipped instead, and
// the Report says how many and why.
package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// NoTime marks a time column that is empty in the trace (for example the
// scheduled_time of a pod that never ran) or absent (five-column pod lists).
const NoTime int64 = -1

// MaxGPUsPerRow bounds num_gpu and gpu columns; larger values are rejected as
// corrupt rather than trusted.
const MaxGPUsPerRow = 64

// Node is one row of an openb node list.
type Node struct {
	Name     string // sn
	CPUMilli int64  // cpu_milli
	MemMiB   int64  // memory_mib
	GPUs     int    // gpu
	GPUModel string // model; empty for CPU-only nodes
}

// Pod is one row of an openb pod list.
type Pod struct {
	Name     string
	CPUMilli int64
	MemMiB   int64
	NumGPU   int
	// GPUMilli is the share of each GPU in thousandths (1..1000); below 1000
	// only when NumGPU is 1. Zero for CPU-only pods.
	GPUMilli int
	// GPUSpec lists the GPU models the pod may run on; nil means any.
	GPUSpec []string
	QoS     string // LS, BE, Burstable, Guaranteed; empty in five-column lists
	Phase   string // Running, Pending, Succeeded, Failed; empty in five-column lists
	// Seconds from the trace start; NoTime where empty or absent.
	CreationTime, DeletionTime, ScheduledTime int64
}

// Options tune the readers.
type Options struct {
	// SkipBad skips bad rows (counting them in the Report) instead of failing.
	SkipBad bool
}

// Report describes a read.
type Report struct {
	Rows    int     // data rows read (good and bad)
	Skipped int     // bad rows skipped (only with SkipBad)
	Errors  []error // the first MaxReportedErrors row errors, when skipping
}

// MaxReportedErrors caps Report.Errors.
const MaxReportedErrors = 20

// RowError is a bad row: which file, which line (1-based, the header is line 1),
// which column and what is wrong with it.
type RowError struct {
	File   string
	Line   int
	Column string // empty when the problem is the row as a whole
	Msg    string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: column %s: %s", e.File, e.Line, e.Column, e.Msg)
}

var (
	nodeColumns = []string{"sn", "cpu_milli", "memory_mib", "gpu", "model"}
	podColumns  = []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli",
		"gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time", "scheduled_time"}
	podShortColumns = podColumns[:5]

	knownQoS   = map[string]bool{"LS": true, "BE": true, "Burstable": true, "Guaranteed": true}
	knownPhase = map[string]bool{"Running": true, "Pending": true, "Succeeded": true, "Failed": true}
)

// LoadNodes reads an openb node list from a file.
func LoadNodes(path string, opt Options) ([]Node, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, fmt.Errorf("open node list: %w", err)
	}
	defer f.Close()
	return ReadNodes(f, filepath.Base(path), opt)
}

// LoadPods reads an openb pod list from a file.
func LoadPods(path string, opt Options) ([]Pod, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, fmt.Errorf("open pod list: %w", err)
	}
	defer f.Close()
	return ReadPods(f, filepath.Base(path), opt)
}

// ReadNodes parses an openb node list (header sn,cpu_milli,memory_mib,gpu,model;
// columns may come in any order). name is used in error messages.
func ReadNodes(r io.Reader, name string, opt Options) ([]Node, Report, error) {
	var nodes []Node
	seen := map[string]int{}
	rep, err := readCSV(r, name, nodeColumns, nil, opt, func(row rowReader) {
		n := Node{
			Name:     row.name("sn"),
			CPUMilli: row.int64("cpu_milli", 0, 1<<40),
			MemMiB:   row.int64("memory_mib", 0, 1<<40),
			GPUs:     int(row.int64("gpu", 0, MaxGPUsPerRow)),
			GPUModel: row.optional("model"),
		}
		switch {
		case n.GPUs > 0 && n.GPUModel == "":
			row.fail("model", "empty, but the node has GPUs: give the GPU model")
		case n.GPUs == 0 && n.GPUModel != "":
			row.fail("model", fmt.Sprintf("%q given for a node with no GPUs", n.GPUModel))
		}
		if first, dup := seen[n.Name]; dup && n.Name != "" {
			row.fail("sn", fmt.Sprintf("duplicate node %q (first on line %d)", n.Name, first))
		}
		if row.ok() {
			seen[n.Name] = row.line
			nodes = append(nodes, n)
		}
	})
	return nodes, rep, err
}

// ReadPods parses an openb pod list: the eleven-column form
// (name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,
// creation_time,deletion_time,scheduled_time) or the five-column form of the
// multigpu lists. name is used in error messages.
func ReadPods(r io.Reader, name string, opt Options) ([]Pod, Report, error) {
	var pods []Pod
	rep, err := readCSV(r, name, podColumns, podShortColumns, opt, func(row rowReader) {
		p := Pod{
			Name:          row.name("name"),
			CPUMilli:      row.int64("cpu_milli", 0, 1<<40),
			MemMiB:        row.int64("memory_mib", 0, 1<<40),
			NumGPU:        int(row.int64("num_gpu", 0, MaxGPUsPerRow)),
			GPUMilli:      int(row.int64("gpu_milli", 0, 1000)),
			CreationTime:  NoTime,
			DeletionTime:  NoTime,
			ScheduledTime: NoTime,
		}
		switch {
		case p.NumGPU == 0 && p.GPUMilli != 0:
			row.fail("gpu_milli", fmt.Sprintf("%d for a pod with num_gpu 0: must be 0", p.GPUMilli))
		case p.NumGPU > 0 && p.GPUMilli == 0:
			row.fail("gpu_milli", "0 for a pod that asks for GPUs: must be 1..1000")
		case p.NumGPU > 1 && p.GPUMilli < 1000:
			row.fail("gpu_milli", fmt.Sprintf("%d with num_gpu %d: a GPU share below 1000 needs num_gpu 1", p.GPUMilli, p.NumGPU))
		}
		if row.has("gpu_spec") {
			p.GPUSpec = row.spec("gpu_spec")
			p.QoS = row.enum("qos", knownQoS)
			p.Phase = row.enum("pod_phase", knownPhase)
			p.CreationTime = row.time("creation_time")
			p.DeletionTime = row.time("deletion_time")
			p.ScheduledTime = row.time("scheduled_time")
		}
		if row.ok() {
			pods = append(pods, p)
		}
	})
	return pods, rep, err
}

// readCSV checks the header against want (or alt), then calls each for every
// data row. Row problems are collected through rowReader.
func readCSV(r io.Reader, file string, want, alt []string, opt Options, each func(rowReader)) (Report, error) {
	var rep Report
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return rep, &RowError{File: file, Line: 1, Msg: "empty file: expected a header line " + strings.Join(want, ",")}
	}
	if err != nil {
		return rep, &RowError{File: file, Line: 1, Msg: "bad header: " + csvMsg(err)}
	}
	cols, err := headerIndex(header, want, alt)
	if err != nil {
		return rep, &RowError{File: file, Line: 1, Msg: err.Error()}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
		rep.Rows++
		var rowErrs []error
		line := 0
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			rowErrs = append(rowErrs, &RowError{File: file, Line: line, Msg: csvMsg(err)})
		} else if line, _ = cr.FieldPos(0); len(rec) != len(header) {
			rowErrs = append(rowErrs, &RowError{File: file, Line: line,
				Msg: fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))})
		} else {
			row := rowReader{file: file, line: line, rec: rec, cols: cols, errs: &rowErrs}
			each(row)
		}
		if len(rowErrs) == 0 {
			continue
		}
		if !opt.SkipBad {
			return rep, errors.Join(rowErrs...)
		}
		rep.Skipped++
		if len(rep.Errors) < MaxReportedErrors {
			rep.Errors = append(rep.Errors, errors.Join(rowErrs...))
		}
	}
}

func csvMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func headerIndex(header, want, alt []string) (map[string]int, error) {
	cols := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := cols[h]; dup {
			return nil, fmt.Errorf("header names column %q twice", h)
		}
		cols[h] = i
	}
	missing := func(set []string) []string {
		var m []string
		for _, c := range set {
			if _, ok := cols[c]; !ok {
				m = append(m, c)
			}
		}
		return m
	}
	m := missing(want)
	if len(m) == 0 {
		return cols, nil
	}
	if alt != nil && len(missing(alt)) == 0 && len(header) == len(alt) {
		return cols, nil
	}
	return nil, fmt.Errorf("header lacks column(s) %s: expected %s", strings.Join(m, ", "), strings.Join(want, ","))
}

// rowReader converts the fields of one row, recording every problem.
type rowReader struct {
	file string
	line int
	rec  []string
	cols map[string]int
	errs *[]error
}

func (r rowReader) ok() bool { return len(*r.errs) == 0 }

func (r rowReader) has(col string) bool { _, ok := r.cols[col]; return ok }

func (r rowReader) fail(col, msg string) {
	*r.errs = append(*r.errs, &RowError{File: r.file, Line: r.line, Column: col, Msg: msg})
}

func (r rowReader) field(col string) string { return strings.TrimSpace(r.rec[r.cols[col]]) }

// optional returns the field, mapping pandas' "nan" to empty.
func (r rowReader) optional(col string) string {
	v := r.field(col)
	if strings.EqualFold(v, "nan") {
		return ""
	}
	return v
}

func (r rowReader) name(col string) string {
	v := r.field(col)
	if v == "" {
		r.fail(col, "empty: every row needs a name")
	}
	return v
}

func (r rowReader) int64(col string, lo, hi int64) int64 {
	v := r.field(col)
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case v == "":
		r.fail(col, "empty: expected an integer")
	case err != nil:
		r.fail(col, fmt.Sprintf("%q is not an integer", v))
	case n < lo || n > hi:
		r.fail(col, fmt.Sprintf("%d is out of range %d..%d", n, lo, hi))
	default:
		return n
	}
	return 0
}

func (r rowReader) time(col string) int64 {
	if r.field(col) == "" {
		return NoTime
	}
	return r.int64(col, 0, 1<<50)
}

func (r rowReader) enum(col string, known map[string]bool) string {
	v := r.field(col)
	if !known[v] {
		keys := make([]string, 0, len(known))
		for k := range known {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		r.fail(col, fmt.Sprintf("%q is not one of %s", v, strings.Join(keys, ", ")))
	}
	return v
}

// spec parses a '|'-separated model list; repeated models are kept once.
func (r rowReader) spec(col string) []string {
	v := r.optional(col)
	if v == "" {
		return nil
	}
	var out []string
	for _, m := range strings.Split(v, "|") {
		m = strings.TrimSpace(m)
		if m == "" {
			r.fail(col, fmt.Sprintf("%q has an empty model name", v))
			return nil
		}
		dup := false
		for _, o := range out {
			dup = dup || o == m
		}
		if !dup {
			out = append(out, m)
		}
	}
	return out
}
