// Package agenttest is a small in-memory control plane that speaks the
// agent side of the v1 API: registration, leases and heartbeats, device
// reports, assignments and worker reports. It serves agent tests (in memory
// through Transport, so it works inside a synctest bubble) and the agent
// load benchmark (over loopback). Lost nodes are found by Sweep with the
// same lease arithmetic a server uses (v1.Lease).
package agenttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// Node is what the server knows of one node.
type Node struct {
	Reg        v1.NodeRegistration
	Lease      string
	Last       time.Time   // last heartbeat or registration
	Beats      []time.Time // every heartbeat received (kept when Record is set)
	BeatCount  int64
	Lost       bool
	Devices    []v1.NodeDevice
	Rev        int64 // revision of the node's assignment set
	Registered int   // registrations, the first included
}

// Report is one worker report received.
type Report struct {
	Job string
	v1.WorkerReport
}

type job struct {
	j        v1.Job
	workload *v1.Workload
	ckpt     int64
	done     map[int]bool // workers completed
}

// Server is the fake control plane. Its zero value is not usable; call New.
type Server struct {
	Lease v1.Lease
	Token string // when set, every request must carry it
	// Record keeps every heartbeat time in Node.Beats (off for load tests).
	Record bool

	mux  *http.ServeMux
	down atomic.Bool

	mu      sync.Mutex // guards everything below
	nodes   map[string]*Node
	jobs    map[string]*job
	reports []Report
	leases  int64
}

// New returns a server with the given lease.
func New(l v1.Lease) *Server {
	s := &Server{Lease: l, nodes: map[string]*Node{}, jobs: map[string]*job{}, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/nodes/{id}/register", s.register)
	s.mux.HandleFunc("POST /v1/nodes/{id}/heartbeat", s.heartbeat)
	s.mux.HandleFunc("PUT /v1/nodes/{id}/devices", s.devices)
	s.mux.HandleFunc("GET /v1/nodes/{id}/assignments", s.assignments)
	s.mux.HandleFunc("POST /v1/jobs/{id}/workers/{worker}/status", s.report)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeErr(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// ErrDown is what Transport returns while the server is down.
var ErrDown = errors.New("agenttest: connection refused (server down)")

// SetDown makes Transport fail every request (true) or serve again.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Transport serves requests in memory, without a network: usable inside a
// synctest bubble.
func (s *Server) Transport() http.RoundTripper { return roundTrip{s} }

type roundTrip struct{ s *Server }

func (t roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.s.down.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, ErrDown
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, v1.Error{Message: msg})
}

func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var reg v1.NodeRegistration
	if err := decode(r, &reg); err != nil {
		writeErr(w, http.StatusBadRequest, "registration: "+err.Error())
		return
	}
	id := r.PathValue("id")
	if reg.Node != id {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("node %q in the body differs from %q in the path", reg.Node, id))
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	if n == nil {
		n = &Node{}
		s.nodes[id] = n
	}
	s.leases++
	n.Reg, n.Lease, n.Last, n.Lost, n.Devices = reg, "lease-"+strconv.FormatInt(s.leases, 10), now, false, reg.Devices
	n.Registered++
	n.Rev++
	writeJSON(w, http.StatusOK, v1.NodeLease{Node: id, Lease: n.Lease, HeartbeatMillis: s.Lease.Period.Milliseconds(),
		MissedBeats: s.Lease.Missed, Expires: now.Add(s.Lease.TTL())})
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb v1.Heartbeat
	if err := decode(r, &hb); err != nil {
		writeErr(w, http.StatusBadRequest, "heartbeat: "+err.Error())
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[r.PathValue("id")]
	switch {
	case n == nil:
		writeErr(w, http.StatusNotFound, "node not registered; register it again")
	case n.Lost || n.Lease != hb.Lease:
		writeErr(w, http.StatusConflict, "the lease expired or was superseded; register again")
	default:
		n.Last = now
		n.BeatCount++
		if s.Record {
			n.Beats = append(n.Beats, now)
		}
		writeJSON(w, http.StatusOK, v1.HeartbeatReply{Expires: now.Add(s.Lease.TTL()), Assignments: n.Rev})
	}
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	var rep v1.DeviceReport
	if err := decode(r, &rep); err != nil {
		writeErr(w, http.StatusBadRequest, "devices: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[r.PathValue("id")]
	if n == nil || n.Lease != rep.Lease {
		writeErr(w, http.StatusConflict, "unknown node or lease; register again")
		return
	}
	n.Devices = rep.Devices
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) assignments(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	type wire struct {
		v1.Job
		Checkpoint int64 `json:"checkpoint,omitempty"`
	}
	s.mu.Lock()
	out := []json.RawMessage{}
	for _, jb := range s.jobs {
		if !live(jb.j.State) || jb.j.Placement == nil {
			continue
		}
		for _, a := range jb.j.Placement.Assignments {
			if a.Node == id {
				b, _ := json.Marshal(wire{Job: jb.j, Checkpoint: jb.ckpt})
				if jb.workload != nil {
					b = withWorkload(b, jb.workload)
				}
				out = append(out, b)
				break
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// withWorkload adds spec.workload to an encoded job, as a server that
// carries workloads would send it.
func withWorkload(b []byte, wl *v1.Workload) []byte {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	spec, _ := m["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	spec["workload"] = wl
	m["spec"] = spec
	out, _ := json.Marshal(m)
	return out
}

func live(state string) bool { return state == v1.StatePlaced || state == v1.StateRunning }

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	var rep v1.WorkerReport
	if err := decode(r, &rep); err != nil {
		writeErr(w, http.StatusBadRequest, "report: "+err.Error())
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	jb := s.jobs[id]
	if jb == nil {
		writeErr(w, http.StatusNotFound, "no job "+id)
		return
	}
	s.reports = append(s.reports, Report{Job: id, WorkerReport: rep})
	if !live(jb.j.State) || rep.PlacedAt == nil || jb.j.PlacedAt == nil || !rep.PlacedAt.Equal(*jb.j.PlacedAt) {
		writeErr(w, http.StatusConflict, "job "+id+" is "+jb.j.State+" or placed again; the report is stale")
		return
	}
	if rep.Checkpoint != nil && rep.Checkpoint.Step > jb.ckpt {
		jb.ckpt = rep.Checkpoint.Step
	}
	switch rep.State {
	case v1.StateRunning:
		jb.j.State = v1.StateRunning
	case v1.StateFailed:
		s.end(jb, v1.StateFailed, rep.Reason)
	case v1.StateCompleted:
		jb.done[rep.Worker] = true
		if len(jb.done) == len(jb.j.Placement.Assignments) {
			s.end(jb, v1.StateCompleted, "")
		}
	}
	writeJSON(w, http.StatusOK, jb.j)
}

// end finishes a job; s.mu held.
func (s *Server) end(jb *job, state, reason string) {
	jb.j.State, jb.j.Reason = state, reason
	s.bump(jb.j.Placement)
}

// bump moves the assignment revision of every node of a placement; s.mu held.
func (s *Server) bump(p *v1.Placement) {
	if p == nil {
		return
	}
	for _, a := range p.Assignments {
		if n := s.nodes[a.Node]; n != nil {
			n.Rev++
		}
	}
}

// Place adds a placed job (Placement set) with an optional workload and
// the checkpoint step it resumes from.
func (s *Server) Place(j v1.Job, wl *v1.Workload, ckpt int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.State == "" {
		j.State = v1.StatePlaced
	}
	if j.PlacedAt == nil {
		t := time.Now()
		j.PlacedAt = &t
	}
	s.jobs[j.ID] = &job{j: j, workload: wl, ckpt: ckpt, done: map[int]bool{}}
	s.bump(j.Placement)
}

// Cancel cancels a job.
func (s *Server) Cancel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if jb := s.jobs[id]; jb != nil && live(jb.j.State) {
		s.end(jb, v1.StateCancelled, "cancelled")
	}
}

// Job returns a job as the server holds it and its checkpoint step.
func (s *Server) Job(id string) (v1.Job, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	jb := s.jobs[id]
	if jb == nil {
		return v1.Job{}, 0, false
	}
	return jb.j, jb.ckpt, true
}

// Forget drops a node, as a server that lost its memory would.
func (s *Server) Forget(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, node)
}

// Sweep marks lost every node that missed Lease.Missed heartbeats by now
// and requeues every live job with a worker on it, whole: the job goes back
// to pending without a placement, keeping its checkpoint. It returns the
// nodes it marked lost.
func (s *Server) Sweep(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost []string
	for id, n := range s.nodes {
		if n.Lost || !s.Lease.Lost(n.Last, now) {
			continue
		}
		n.Lost = true
		lost = append(lost, id)
		for _, jb := range s.jobs {
			if !live(jb.j.State) || jb.j.Placement == nil {
				continue
			}
			for _, a := range jb.j.Placement.Assignments {
				if a.Node == id {
					s.bump(jb.j.Placement)
					jb.j.State, jb.j.Placement, jb.j.PlacedAt, jb.done = v1.StatePending, nil, nil, map[int]bool{}
					break
				}
			}
		}
	}
	return lost
}

// Node returns a copy of what the server knows of a node.
func (s *Server) Node(id string) (Node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	if n == nil {
		return Node{}, false
	}
	c := *n
	c.Beats = append([]time.Time(nil), n.Beats...)
	return c, true
}

// Nodes is the number of nodes known.
func (s *Server) Nodes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nodes)
}

// Reports returns every worker report received, in order.
func (s *Server) Reports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Report(nil), s.reports...)
}
