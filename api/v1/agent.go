package v1

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The node-agent side of the API. An agent registers its node and receives
// a lease; it renews the lease with a heartbeat every HeartbeatMillis; the
// server marks the node lost once MissedBeats heartbeats in a row have not
// arrived (no heartbeat for more than MissedBeats × HeartbeatMillis) and
// requeues its jobs. Every heartbeat reply carries the revision of the
// node's assignment set, so an agent lists its assignments only when they
// changed. Endpoints (all for the agent role):
//
//	POST /v1/nodes/{id}/register   NodeRegistration → NodeLease
//	POST /v1/nodes/{id}/heartbeat  Heartbeat → HeartbeatReply
//	                               404: the server does not know the node or lease: register again
//	                               409: the lease was superseded or expired: register again
//	PUT  /v1/nodes/{id}/devices    DeviceReport → 204
//	GET  /v1/nodes/{id}/assignments → []Job (the live jobs placed on the node)
//	POST /v1/jobs/{id}/workers/{worker}/status  WorkerReport → Job

// Agent defaults, shared by the agent and the server's lease bookkeeping.
const (
	DefaultHeartbeatMillis = 5000
	DefaultMissedBeats     = 3
	// MaxOutputTail bounds WorkerReport.OutputTail in bytes.
	MaxOutputTail = 4096
)

// Worker states an agent reports, beyond the job states running,
// completed and failed.
const (
	// WorkerStopped: the agent stopped the worker because it was no longer
	// assigned (cancelled, preempted, requeued elsewhere).
	WorkerStopped = "stopped"
)

// NodeRegistration is what an agent says about its node when it joins.
type NodeRegistration struct {
	Node    string            `json:"node"`
	Site    string            `json:"site,omitempty"`
	Domain  string            `json:"domain,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Address string            `json:"address,omitempty"` // host or IP workloads of other nodes reach this one at (MASTER_ADDR)
	Agent   string            `json:"agent,omitempty"`   // agent version
	// Devices is every accelerator found, including those whose name maps
	// to no catalog model (Model ""): they are reported, never dropped.
	Devices []NodeDevice `json:"devices"`
	// Domains are the high-bandwidth groups of device indices.
	Domains  []DeviceDomain `json:"domains,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// NodeDevice is one accelerator of a node.
type NodeDevice struct {
	Index       int    `json:"index"` // the index the vendor runtime and its visible-devices variable use; -1 if unknown
	Vendor      string `json:"vendor"`
	Model       string `json:"model,omitempty"` // catalog model id; "" when the name maps to none
	Name        string `json:"name"`            // the name the vendor tool printed
	BusID       string `json:"bus_id,omitempty"`
	UUID        string `json:"uuid,omitempty"`
	MemTotalMiB int64  `json:"mem_total_mib,omitempty"`
	Health      string `json:"health"` // OK, Warning, Error, Unknown
	HealthRaw   string `json:"health_raw,omitempty"`
}

// DeviceDomain is a group of one vendor's devices linked by its fabric.
type DeviceDomain struct {
	Vendor  string `json:"vendor"`
	Fabric  string `json:"fabric,omitempty"` // HCCS, MetaXLink, NVLink; "" for a lone device
	Indices []int  `json:"indices"`
}

// NodeLease is the server's answer to a registration.
type NodeLease struct {
	Node            string    `json:"node"`
	Lease           string    `json:"lease"` // opaque; sent back with every heartbeat
	HeartbeatMillis int64     `json:"heartbeat_millis"`
	MissedBeats     int       `json:"missed_beats"` // heartbeats in a row that may be missed before the node is lost
	Expires         time.Time `json:"expires"`
}

// Heartbeat renews a lease. Running lists the workers the agent is running,
// so the server can tell an agent that lost work from one that kept it.
type Heartbeat struct {
	Lease   string      `json:"lease"`
	Seq     int64       `json:"seq"`
	Running []WorkerRef `json:"running,omitempty"`
}

// WorkerRef names one worker of one placement of a job. PlacedAt names
// the placement (a worker of an earlier placement may still be stopping
// while the job runs again); absent, it is taken for any placement.
type WorkerRef struct {
	Job      string     `json:"job"`
	Worker   int        `json:"worker"`
	PlacedAt *time.Time `json:"placed_at,omitempty"`
}

// HeartbeatReply renews the lease until Expires. Assignments is the
// revision of the node's assignment set: when it differs from the last one
// the agent saw, the agent lists its assignments again. Zero means the
// server does not track it, and the agent lists them every heartbeat.
type HeartbeatReply struct {
	Expires         time.Time `json:"expires"`
	HeartbeatMillis int64     `json:"heartbeat_millis,omitempty"` // a new period, when the server changes it
	Assignments     int64     `json:"assignments,omitempty"`
}

// DeviceReport is the health of a node's devices after a re-discovery; it
// replaces what the server knew. A device in Error should take no new work.
type DeviceReport struct {
	Lease   string       `json:"lease"`
	Devices []NodeDevice `json:"devices"`
}

// Workload is what a worker runs: argv, extra environment and working
// directory. A job without one is run by a simulated executor when the agent
// has one, and fails otherwise.
//
// SecretEnv sets variables from secrets stored on the server for the job's
// tenant. A job read shows only the references; the values reach nothing
// but the agent of a node the job is placed on, while it is placed, which
// finds them in Env with the plain variables.
//
// Image and Resources are used at Kubernetes sites only: the container
// image of the job's pods (without it, the server's --kube-image, or the
// env variable SUANLI_IMAGE), and the CPU and memory each pod asks for
// besides its accelerators. Node agents run Command on the host and
// ignore them.
type Workload struct {
	Command   []string           `json:"command"`
	Env       map[string]string  `json:"env,omitempty"`
	SecretEnv []SecretEnv        `json:"secret_env,omitempty"`
	Dir       string             `json:"dir,omitempty"`
	Image     string             `json:"image,omitempty"`
	Resources *WorkloadResources `json:"resources,omitempty"`
}

// WorkloadResources is what one worker's pod asks for besides its
// accelerators (requests and limits alike): CPU in thousandths of a core,
// memory in MiB. Zero asks for none.
type WorkloadResources struct {
	CPUMilli  int64 `json:"cpu_milli,omitempty"`
	MemoryMiB int64 `json:"memory_mib,omitempty"`
}

// SecretEnv is an environment variable whose value is one key of a stored
// secret.
type SecretEnv struct {
	Name   string    `json:"name"`
	Secret SecretRef `json:"secret"`
}

// SecretRef names one key of a secret of the job's tenant.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Checkpoint is a checkpoint a worker saved: Step is the workload's own
// counter, At when the agent saw it.
type Checkpoint struct {
	Step int64     `json:"step"`
	At   time.Time `json:"at"`
}

// WorkerReport is an agent's report on one worker of a placed job: started
// (running), a checkpoint (running, with Checkpoint), or ended (completed,
// failed, or stopped by the agent). PlacedAt names the placement it is about
// so that a report on an earlier placement of a requeued job can be told
// apart and ignored.
type WorkerReport struct {
	Node       string     `json:"node"`
	Worker     int        `json:"worker"`
	PlacedAt   *time.Time `json:"placed_at,omitempty"`
	State      string     `json:"state"` // running, completed, failed, stopped
	Reason     string     `json:"reason,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Signal     string     `json:"signal,omitempty"`      // the signal that ended the process, e.g. SIGKILL
	OutputTail string     `json:"output_tail,omitempty"` // the last MaxOutputTail bytes of its output
	// Requeue (state failed) says the worker was stopped by its site, not
	// by its own failure: a Kubernetes eviction or preemption on a Ready
	// node. The server requeues the job whole from its last checkpoint,
	// using none of its retries.
	Requeue bool `json:"requeue,omitempty"`
	// Overuse (state running) says that a fractional worker's card was
	// read using more device memory than its share, in words.
	Overuse    string      `json:"overuse,omitempty"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Progress (state running, or with the worker's end) is the work the
	// worker reported doing since the agent's previous progress report.
	Progress *Progress `json:"progress,omitempty"`
	At       time.Time `json:"at"`
}

// Progress is work a worker did on its cards: Work units (steps, tokens,
// samples: the unit of the job's workload class) in Seconds of its own
// measuring, summed over Reports lines of its progress file. Until is when
// the agent read the last of them; the server counts a report once, by
// Until, per worker placement.
type Progress struct {
	Work    float64   `json:"work"`
	Seconds float64   `json:"seconds"`
	Reports int       `json:"reports"`
	Until   time.Time `json:"until"`
}

// Progress bounds the server enforces (the agent sends nothing beyond).
const (
	// MaxProgressRate bounds work per second per card of one report.
	MaxProgressRate = 1e12
	// MaxProgressLine is the longest progress-file line read, in bytes;
	// longer lines are skipped.
	MaxProgressLine = 4096
)

// ProgressLine is one line of a worker's progress file (JSON):
// {"work": 1200, "seconds": 9.8} says 1200 units took 9.8 s.
type ProgressLine struct {
	Work    float64 `json:"work"`
	Seconds float64 `json:"seconds"`
}

// AssignedJob is a live job placed on a node, with the fields an agent
// needs beyond Job: the workload (JobSpec "workload") and the last
// checkpoint step to resume from (Job "checkpoint"). Both are read from the
// reply when the server sends them and are zero otherwise.
type AssignedJob struct {
	Job
	Workload   *Workload `json:"-"`
	Checkpoint int64     `json:"-"`
}

// RegisterNode registers (or re-registers) the node and returns its lease.
func (c *Client) RegisterNode(ctx context.Context, r NodeRegistration) (*NodeLease, error) {
	var l NodeLease
	return &l, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(r.Node)+"/register", r, &l)
}

// Heartbeat renews the node's lease.
func (c *Client) Heartbeat(ctx context.Context, node string, hb Heartbeat) (*HeartbeatReply, error) {
	var r HeartbeatReply
	return &r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/heartbeat", hb, &r)
}

// ReportDevices sends the health of the node's devices.
func (c *Client) ReportDevices(ctx context.Context, node string, r DeviceReport) error {
	return c.do(ctx, http.MethodPut, "/v1/nodes/"+url.PathEscape(node)+"/devices", r, nil)
}

// Assignments lists the live jobs placed on a node.
func (c *Client) Assignments(ctx context.Context, node string) ([]AssignedJob, error) {
	var raw json.RawMessage
	path := "/v1/nodes/" + url.PathEscape(node) + "/assignments"
	if err := c.do(ctx, http.MethodGet, path, nil, &raw); err != nil {
		return nil, err
	}
	var jobs []Job
	var extra []struct {
		Spec struct {
			Workload *Workload `json:"workload"`
		} `json:"spec"`
		Checkpoint int64 `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &jobs); err != nil {
		return nil, fmt.Errorf("GET %s: decode reply: %w", path, err)
	}
	if err := json.Unmarshal(raw, &extra); err != nil {
		return nil, fmt.Errorf("GET %s: decode reply: %w", path, err)
	}
	out := make([]AssignedJob, len(jobs))
	for i, j := range jobs {
		out[i] = AssignedJob{Job: j}
		if i < len(extra) {
			out[i].Workload, out[i].Checkpoint = extra[i].Spec.Workload, extra[i].Checkpoint
		}
	}
	return out, nil
}

// ReportWorker reports on one worker of a job.
func (c *Client) ReportWorker(ctx context.Context, job string, r WorkerReport) (*Job, error) {
	var j Job
	path := fmt.Sprintf("/v1/jobs/%s/workers/%d/status", url.PathEscape(job), r.Worker)
	return &j, c.do(ctx, http.MethodPost, path, r, &j)
}

// ReportJob reports on a whole job (running, completed or failed): the
// coarse report for servers without per-worker status.
func (c *Client) ReportJob(ctx context.Context, job string, r StatusReport) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(job)+"/status", r, &j)
}

// Lease is the arithmetic of a node lease, the same on both sides. The
// agent heartbeats every Period; the server counts a heartbeat as missed
// once its due time has passed, and loses the node when Missed are missed
// in a row. The agent stops its workers when Missed periods have passed
// since it sent its last acknowledged heartbeat: never later than the
// server loses the node, so no worker runs twice.
type Lease struct {
	Period time.Duration
	Missed int
}

// LeaseOf is the lease a registration reply describes, with the defaults
// for fields it leaves zero.
func LeaseOf(l NodeLease) Lease {
	out := Lease{Period: time.Duration(l.HeartbeatMillis) * time.Millisecond, Missed: l.MissedBeats}
	if out.Period <= 0 {
		out.Period = DefaultHeartbeatMillis * time.Millisecond
	}
	if out.Missed <= 0 {
		out.Missed = DefaultMissedBeats
	}
	return out
}

// TTL is how long a lease lasts after a heartbeat: Missed periods.
func (l Lease) TTL() time.Duration { return time.Duration(l.Missed) * l.Period }

// MissedBeats is how many heartbeats were due after last and strictly
// before now: the server's count for a node it last heard from at last.
func (l Lease) MissedBeats(last, now time.Time) int {
	d := now.Sub(last)
	if d <= 0 || l.Period <= 0 {
		return 0
	}
	return int((d - 1) / l.Period)
}

// Lost reports whether the server should mark a node lost that it last
// heard from at last: Missed heartbeats in a row have not arrived.
func (l Lease) Lost(last, now time.Time) bool { return l.MissedBeats(last, now) >= l.Missed }

// Expired reports whether an agent whose last acknowledged heartbeat was
// sent at sent must consider its lease gone and stop its workers.
func (l Lease) Expired(sent, now time.Time) bool { return now.Sub(sent) >= l.TTL() }
