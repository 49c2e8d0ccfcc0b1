package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// Store keys of the agent side.
const (
	nodePrefix = "nodes/" // + node id: nodeRecord
	beatPrefix = "beats/" // + node id: a heartbeat a follower heard
)

// nodeRecord is a registered node as the store holds it.
type nodeRecord struct {
	Reg             v1.NodeRegistration `json:"registration"`
	Lease           string              `json:"lease"`
	HeartbeatMillis int64               `json:"heartbeat_millis"`
	MissedBeats     int                 `json:"missed_beats"`
	RegisteredAt    time.Time           `json:"registered_at"`
	// State is ready, unhealthy (a device in Error), disconnected
	// (heartbeats missed; its work held) or lost (disconnected for longer
	// than lost_after; its work requeued); the scheduling leader steps the
	// core to match.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// DisconnectedAt is when the node was disconnected (lost_after counts
	// from it, across leader changes).
	DisconnectedAt *time.Time `json:"disconnected_at,omitempty"`
}

func (r *nodeRecord) ID() model.NodeID { return model.NodeID(r.Reg.Node) }

func (r *nodeRecord) lease() v1.Lease {
	return v1.LeaseOf(v1.NodeLease{HeartbeatMillis: r.HeartbeatMillis, MissedBeats: r.MissedBeats})
}

func nodeKey(id model.NodeID) string { return nodePrefix + string(id) }

func decodeNode(b []byte) (*nodeRecord, error) {
	var r nodeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode node record: %w", err)
	}
	return &r, nil
}

// beat is the last heartbeat heard from a node, with its lease and the
// workers its agent still runs (stopping ones included).
type beat struct {
	Lease   string         `json:"lease"`
	At      time.Time      `json:"at"`
	Running []v1.WorkerRef `json:"running,omitempty"`
	// Heard: a heartbeat of the agent (Running is its word), not a lease
	// renewed by a registration or a new leader.
	Heard bool `json:"heard,omitempty"`
}

// noteBeat records a heartbeat unless a later one is known.
func (s *Server) noteBeat(id model.NodeID, b beat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.beats[id]; !ok || cur.Lease != b.Lease || b.At.After(cur.At) {
		s.beats[id] = b
	}
}

func (s *Server) lastBeat(id model.NodeID) (beat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.beats[id]
	return b, ok
}

// deviceState is the node state its devices imply.
func deviceState(devs []v1.NodeDevice) (state, reason string) {
	for _, d := range devs {
		if d.Health == "Error" {
			return v1.NodeUnhealthy, fmt.Sprintf("device %d (%s) reports Error %s", d.Index, d.Name, d.HealthRaw)
		}
	}
	return v1.NodeReady, ""
}

// RegisterNode implements httpapi.Nodes: it checks the registration
// against the network spec, records the node with a fresh lease (a
// re-registration supersedes the old lease) and returns the lease.
func (s *Server) RegisterNode(ctx context.Context, p httpapi.Principal, reg v1.NodeRegistration) (v1.NodeLease, error) {
	id := model.NodeID(reg.Node)
	n, ok := s.net.Node(id)
	if !ok { // the network is public: saying so reveals nothing
		return v1.NodeLease{}, httpapi.Problems{{Field: "node", Message: fmt.Sprintf("%q is not a node of network %s; add it to the network spec first", reg.Node, s.net.Name)}}
	}
	if err := p.ActsFor(reg.Node, string(n.Site)); err != nil {
		return v1.NodeLease{}, err
	}
	var probs httpapi.Problems
	if reg.Site != "" && reg.Site != string(n.Site) {
		probs = append(probs, v1.Problem{Field: "site", Message: fmt.Sprintf("%q, but the network spec puts node %s in site %s", reg.Site, id, n.Site)})
	}
	if reg.Domain != "" && reg.Domain != string(n.Domain) {
		probs = append(probs, v1.Problem{Field: "domain", Message: fmt.Sprintf("%q, but the network spec puts node %s in domain %s", reg.Domain, id, n.Domain)})
	}
	if len(probs) > 0 {
		return v1.NodeLease{}, probs
	}
	reg.Warnings = append(slices.Clone(reg.Warnings), s.deviceWarnings(n.Model, n.Cards, reg.Devices)...)
	var b [12]byte
	_, _ = rand.Read(b[:])
	now := s.now().UTC()
	rec := &nodeRecord{Reg: reg, Lease: "ls-" + hex.EncodeToString(b[:]), HeartbeatMillis: s.cfg.Heartbeat.Milliseconds(),
		MissedBeats: s.cfg.MissedBeats, RegisteredAt: now}
	rec.State, rec.Reason = deviceState(reg.Devices)
	val, _ := json.Marshal(rec)
	unknown := 0
	for _, d := range reg.Devices {
		if d.Model == "" {
			unknown++
		}
	}
	rev, err := s.w.apply(ctx, &mutation{
		ops: []store.Op{store.PutOp(nodeKey(id), val)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "node.register", Target: string(id),
			Detail: fmt.Sprintf("agent=%s devices=%d unknown=%d state=%s", reg.Agent, len(reg.Devices), unknown, rec.State)}},
	})
	if err != nil {
		return v1.NodeLease{}, fmt.Errorf("register node %s: %w", id, err)
	}
	s.v.putNode(rec, rev)
	s.noteBeat(id, beat{Lease: rec.Lease, At: now})
	l := rec.lease()
	return v1.NodeLease{Node: reg.Node, Lease: rec.Lease, HeartbeatMillis: rec.HeartbeatMillis, MissedBeats: rec.MissedBeats, Expires: now.Add(l.TTL())}, nil
}

// deviceWarnings says what in a device list does not match the node's
// spec; the devices are recorded as reported either way.
func (s *Server) deviceWarnings(specModel string, cards int, devs []v1.NodeDevice) []string {
	var out []string
	known := 0
	for i, d := range devs {
		switch {
		case d.Model == "":
			out = append(out, fmt.Sprintf("devices[%d]: %s %q maps to no catalog model: reported, not scheduled", i, d.Vendor, d.Name))
		case s.net.Model(d.Model) == nil:
			out = append(out, fmt.Sprintf("devices[%d]: model %q is not in the catalog: reported, not scheduled", i, d.Model))
		case d.Model != specModel:
			out = append(out, fmt.Sprintf("devices[%d]: model %s, but the network spec says %s", i, d.Model, specModel))
		default:
			known++
		}
	}
	if known != cards {
		out = append(out, fmt.Sprintf("%d %s devices found; the network spec says %d cards", known, specModel, cards))
	}
	return out
}

// Heartbeat implements httpapi.Nodes: it renews the node's lease.
func (s *Server) Heartbeat(ctx context.Context, p httpapi.Principal, node string, hb v1.Heartbeat) (v1.HeartbeatReply, error) {
	if err := s.actsFor(p, node); err != nil {
		return v1.HeartbeatReply{}, err
	}
	id := model.NodeID(node)
	if err := s.v.wait(ctx); err != nil {
		return v1.HeartbeatReply{}, fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	rec, _, ok := s.v.node(id)
	switch {
	case !ok:
		return v1.HeartbeatReply{}, fmt.Errorf("node %s is not registered; register it again: %w", node, httpapi.ErrNotFound)
	case rec.Lease != hb.Lease:
		return v1.HeartbeatReply{}, fmt.Errorf("%w: the lease of node %s was superseded; register again", httpapi.ErrConflict, node)
	case rec.State == v1.NodeLost:
		return v1.HeartbeatReply{}, fmt.Errorf("%w: the lease of node %s expired (%s) and its jobs were requeued; register again", httpapi.ErrConflict, node, rec.Reason)
	case rec.State == v1.NodeDisconnected:
		return v1.HeartbeatReply{}, fmt.Errorf("%w: node %s was disconnected (%s); register again to reconnect it", httpapi.ErrConflict, node, rec.Reason)
	}
	now := s.now().UTC()
	b := beat{Lease: hb.Lease, At: now, Heard: true, Running: hb.Running}
	s.noteBeat(id, b)
	if !s.Leader() {
		// The leader sweeps leases: tell it, through the store.
		val, _ := json.Marshal(b)
		if _, err := s.s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(beatPrefix+node, val)}}); err != nil {
			return v1.HeartbeatReply{}, fmt.Errorf("record heartbeat of %s: %w", node, err)
		}
	}
	return v1.HeartbeatReply{Expires: now.Add(rec.lease().TTL()), Assignments: s.v.assignmentsRev(id)}, nil
}

// ReportDevices implements httpapi.Nodes: the devices' health replaces
// what the server knew; a device in Error makes the node unhealthy (no
// work; its jobs are requeued), all healthy again makes it ready.
func (s *Server) ReportDevices(ctx context.Context, p httpapi.Principal, node string, rep v1.DeviceReport) error {
	if err := s.actsFor(p, node); err != nil {
		return err
	}
	id := model.NodeID(node)
	if err := s.v.wait(ctx); err != nil {
		return fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	for range 20 {
		rec, rev, ok := s.v.node(id)
		switch {
		case !ok:
			return fmt.Errorf("node %s is not registered; register it again: %w", node, httpapi.ErrNotFound)
		case rec.Lease != rep.Lease || rec.State == v1.NodeLost || rec.State == v1.NodeDisconnected:
			return fmt.Errorf("%w: the lease of node %s is no longer valid; register again", httpapi.ErrConflict, node)
		}
		next := *rec
		next.Reg.Devices = rep.Devices
		next.State, next.Reason = deviceState(rep.Devices)
		n, _ := s.net.Node(id)
		next.Reg.Warnings = s.deviceWarnings(n.Model, n.Cards, rep.Devices)
		val, _ := json.Marshal(&next)
		nrev, err := s.w.apply(ctx, &mutation{
			conds: []store.Cond{{Key: nodeKey(id), ModRev: rev}},
			ops:   []store.Op{store.PutOp(nodeKey(id), val)},
			audit: []audit.Record{{Actor: p.Actor(), Action: "node.devices", Target: node, Detail: fmt.Sprintf("state=%s %s", next.State, next.Reason)}},
		})
		if errors.Is(err, store.ErrConflict) {
			if kv, gerr := s.s.Get(ctx, nodeKey(id)); gerr == nil {
				if r, derr := decodeNode(kv.Value); derr == nil {
					s.v.putNode(r, kv.ModRev)
				}
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("record devices of %s: %w", node, err)
		}
		s.v.putNode(&next, nrev)
		return nil
	}
	return fmt.Errorf("%w: node %s keeps changing", httpapi.ErrConflict, node)
}

// Nodes implements httpapi.Nodes: every node of the network (of one site
// when site is set) with its allocation and what its agent reported.
func (s *Server) Nodes(ctx context.Context, site string) ([]v1.Node, error) {
	alloc, err := s.allocation(ctx)
	if err != nil {
		return nil, err
	}
	host, err := s.hostAllocation(ctx)
	if err != nil {
		return nil, err
	}
	out := []v1.Node{}
	for i := range s.net.Nodes {
		n := &s.net.Nodes[i]
		if site != "" && string(n.Site) != site {
			continue
		}
		w := v1.Node{ID: string(n.ID), Site: string(n.Site), Domain: string(n.Domain), Model: n.Model, Cards: n.Cards,
			AllocatedMilli: alloc[n.ID], State: v1.NodeUnregistered, Healthy: true,
			CPUMilli: n.CPUCores * 1000, MemMiB: n.MemGiB * 1024,
			CPUAllocatedMilli: host[n.ID].cpuMilli, MemAllocatedMiB: host[n.ID].memMiB}
		if rec, _, ok := s.v.node(n.ID); ok {
			t := rec.RegisteredAt
			w.State, w.Reason, w.Healthy = rec.State, rec.Reason, rec.State == v1.NodeReady
			w.Agent, w.Address, w.RegisteredAt, w.Devices, w.Warnings = rec.Reg.Agent, rec.Reg.Address, &t, rec.Reg.Devices, rec.Reg.Warnings
			for _, d := range rec.Reg.Devices {
				if d.Model == "" {
					w.Unknown++
				}
			}
		}
		out = append(out, w)
	}
	if site != "" && len(out) == 0 {
		if _, ok := s.net.Site(model.SiteID(site)); !ok {
			return nil, fmt.Errorf("site %q: %w", site, httpapi.ErrNotFound)
		}
	}
	return out, nil
}
