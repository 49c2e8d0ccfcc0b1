package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Job kinds in the JSON-lines format.
const (
	KindGang      = "gang"      // all workers start together or not at all (training)
	KindInference = "inference" // long-running service replicas, often fractional
	KindBatch     = "batch"     // independent workers that may start one by one
)

// Topology requirements: how close a job's workers must be to each other.
const (
	TopologyAny    = ""       // anywhere (the default)
	TopologyNode   = "node"   // all workers on one node
	TopologyDomain = "domain" // one high-bandwidth domain (supernode, rack)
	TopologySite   = "site"   // one site
)

// MaxJobLineBytes bounds one line of a jobs file.
const MaxJobLineBytes = 1 << 20

// Job is one line of the project's JSON-lines trace: one job of the synthetic
// national workload. Capacity is integer: thousandths of a card, MiB, GFLOPS.
type Job struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Kind   string `json:"kind"` // gang, inference or batch
	// ArrivalS is the submission time in seconds from the trace start.
	ArrivalS int64 `json:"arrival_s"`
	// DurationS is how long the job runs once placed, in seconds.
	DurationS int64 `json:"duration_s"`
	Workers   int   `json:"workers"`
	// CardsPerWorker is the number of whole cards per worker; 1 for fractional jobs.
	CardsPerWorker int `json:"cards_per_worker"`
	// ShareMilli is a fractional worker's share of one card in thousandths
	// (1..999); 0 means whole cards.
	ShareMilli int `json:"share_milli,omitempty"`
	// MemMiB is the device memory a fractional worker needs, in MiB.
	MemMiB int64 `json:"mem_mib,omitempty"`
	// Models lists acceptable accelerator models (catalog ids); empty means any
	// model that meets ComputeGFLOPS.
	Models []string `json:"models,omitempty"`
	// ComputeGFLOPS is the FP16 compute the job asks for in total, in GFLOPS
	// (1 PFLOPS = 1,000,000 GFLOPS), for jobs that name no model.
	ComputeGFLOPS int64 `json:"compute_gflops,omitempty"`
	// Priority orders jobs in the queue; higher runs first (0..1000).
	Priority int `json:"priority,omitempty"`
	// Topology is how close workers must be: "", node, domain or site.
	Topology string `json:"topology,omitempty"`
	// Classification is the data-security class the job carries (lower-case,
	// e.g. public, internal, confidential); policy decides where it may run.
	Classification string `json:"classification,omitempty"`
	// Latency is interactive or batch (empty: by kind); Users where the
	// job's users are (a province or a site id); DataSite and DataGB where
	// its input lies and its size in GB.
	Latency  string `json:"latency,omitempty"`
	Users    string `json:"users,omitempty"`
	DataSite string `json:"data_site,omitempty"`
	DataGB   int64  `json:"data_gb,omitempty"`
}

var classPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Validate reports every problem with the job, each prefixed by its field.
func (j Job) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(j.ID) == "" {
		bad("id", "empty: every job needs an id")
	}
	if strings.TrimSpace(j.Tenant) == "" {
		bad("tenant", "empty: every job belongs to a tenant")
	}
	switch j.Kind {
	case KindGang, KindInference, KindBatch:
	default:
		bad("kind", "%q is not one of gang, inference, batch", j.Kind)
	}
	if j.ArrivalS < 0 {
		bad("arrival_s", "%d is negative", j.ArrivalS)
	}
	if j.DurationS <= 0 {
		bad("duration_s", "%d: a job runs for at least one second", j.DurationS)
	}
	if j.Workers < 1 || j.Workers > 100000 {
		bad("workers", "%d is out of range 1..100000", j.Workers)
	}
	if j.CardsPerWorker < 1 || j.CardsPerWorker > 64 {
		bad("cards_per_worker", "%d is out of range 1..64", j.CardsPerWorker)
	}
	if j.ShareMilli < 0 || j.ShareMilli > 999 {
		bad("share_milli", "%d is out of range 0..999 (0 means whole cards)", j.ShareMilli)
	}
	if j.ShareMilli > 0 && j.CardsPerWorker != 1 {
		bad("share_milli", "a fractional worker uses part of one card: set cards_per_worker to 1")
	}
	if j.MemMiB < 0 {
		bad("mem_mib", "%d is negative", j.MemMiB)
	}
	if j.MemMiB > 0 && j.ShareMilli == 0 {
		bad("mem_mib", "only fractional jobs (share_milli > 0) give a device memory size")
	}
	for i, m := range j.Models {
		if strings.TrimSpace(m) == "" {
			bad(fmt.Sprintf("models[%d]", i), "empty model id")
		}
	}
	if j.ComputeGFLOPS < 0 {
		bad("compute_gflops", "%d is negative", j.ComputeGFLOPS)
	}
	if j.Priority < 0 || j.Priority > 1000 {
		bad("priority", "%d is out of range 0..1000", j.Priority)
	}
	switch j.Topology {
	case TopologyAny, TopologyNode, TopologyDomain, TopologySite:
	default:
		bad("topology", "%q is not one of node, domain, site (or empty for any)", j.Topology)
	}
	if j.Classification != "" && !classPattern.MatchString(j.Classification) {
		bad("classification", "%q: use a lower-case word such as public or confidential", j.Classification)
	}
	if j.Latency != "" && j.Latency != "interactive" && j.Latency != "batch" {
		bad("latency", "%.64q is not one of interactive, batch (or empty: by kind)", j.Latency)
	}
	if j.DataGB < 0 || j.DataGB > 1_000_000_000 {
		bad("data_gb", "%d is out of range 0..1000000000", j.DataGB)
	}
	if j.DataGB > 0 && j.DataSite == "" {
		bad("data_site", "missing: data_gb needs the site where the data lies")
	}
	return errors.Join(errs...)
}

// LineError is a bad line of a jobs file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ReadJobs decodes a JSON-lines jobs file strictly: unknown fields, trailing
// data, invalid jobs and repeated ids are errors naming the line. Blank lines
// and lines starting with '#' are ignored. With SkipBad, bad lines are counted
// in the Report and skipped.
func ReadJobs(r io.Reader, name string, opt Options) ([]Job, Report, error) {
	var (
		jobs []Job
		rep  Report
		seen = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxJobLineBytes)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		rep.Rows++
		j, err := decodeJob(text)
		if err == nil {
			if first, dup := seen[j.ID]; dup {
				err = fmt.Errorf("id: %q repeats the job on line %d", j.ID, first)
			}
		}
		if err == nil {
			seen[j.ID] = line
			jobs = append(jobs, j)
			continue
		}
		lerr := &LineError{File: name, Line: line, Err: err}
		if !opt.SkipBad {
			return nil, rep, lerr
		}
		rep.Skipped++
		if len(rep.Errors) < MaxReportedErrors {
			rep.Errors = append(rep.Errors, lerr)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, rep, fmt.Errorf("%s: a line is longer than %d bytes: one job per line", name, MaxJobLineBytes)
		}
		return nil, rep, fmt.Errorf("read %s: %w", name, err)
	}
	return jobs, rep, nil
}

func decodeJob(text []byte) (Job, error) {
	var j Job
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Job{}, fmt.Errorf("decode: %w", err)
	}
	if rest := bytes.TrimSpace(text[dec.InputOffset():]); len(rest) > 0 {
		return Job{}, errors.New("decode: data after the job object: one job per line")
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// WriteJobs writes jobs as JSON lines, validating each first.
func WriteJobs(w io.Writer, jobs []Job) error {
	bw := bufio.NewWriter(w)
	for i, j := range jobs {
		if err := j.Validate(); err != nil {
			return fmt.Errorf("job %d (%s): %w", i, j.ID, err)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("encode job %s: %w", j.ID, err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
