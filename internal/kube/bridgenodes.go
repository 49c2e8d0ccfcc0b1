package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// The bridge's side of the node protocol: registration with the devices
// the inventory implies, device reports when a node's readiness changes,
// heartbeats.

func (b *Bridge) heartbeat(ctx context.Context, n *bridgeNode, running []v1.WorkerRef) {
	cctx, cancel := context.WithTimeout(ctx, b.lease.Period)
	defer cancel()
	r, err := b.cfg.Server.Heartbeat(cctx, string(n.spec.ID), v1.Heartbeat{Lease: n.lease, Running: running})
	switch {
	case mustRegister(err):
		b.log.Warn("the server no longer holds the node's lease; registering again", "node", n.spec.ID, "err", err)
		n.lease, n.listed = "", false
		b.register(ctx, n)
		return
	case err != nil:
		b.log.Warn("heartbeat failed", "node", n.spec.ID, "err", err)
		return
	}
	b.count(func(s *BridgeStatus) { s.Heartbeats++ })
	if r.HeartbeatMillis > 0 {
		b.lease.Period = time.Duration(r.HeartbeatMillis) * time.Millisecond
	}
	if r.Assignments == 0 || r.Assignments != n.rev {
		n.rev, n.listed = r.Assignments, false
	}
}

// mustRegister reports whether an error means the server does not hold the
// node's lease: it forgot the node (404) or the lease ran out (409).
func mustRegister(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusConflict || e.Status == http.StatusGone)
}

// refused reports whether the server answered with a client error: the
// request will not succeed by repeating it.
func refused(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500
}

// syncNodes registers the nodes not registered and sends the devices of
// those whose readiness changed.
func (b *Bridge) syncNodes(ctx context.Context) {
	if !b.haveInv {
		return
	}
	for _, id := range b.order {
		n := b.nodes[id]
		if n.lease == "" || n.blind {
			b.register(ctx, n)
			continue
		}
		reg := b.registration(n)
		fp := fingerprint(reg.Devices)
		if fp == n.sent {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, b.lease.Period)
		err := b.cfg.Server.ReportDevices(cctx, string(id), v1.DeviceReport{Lease: n.lease, Devices: reg.Devices})
		cancel()
		switch {
		case err == nil:
			n.sent = fp
			b.log.Info("reported the node's devices", "node", id, "health", reg.Devices[0].Health, "why", reg.Devices[0].HealthRaw)
		case mustRegister(err):
			n.lease, n.listed = "", false
			b.register(ctx, n)
		default:
			b.log.Warn("device report failed; will retry", "node", id, "err", err)
		}
	}
}

func (b *Bridge) register(ctx context.Context, n *bridgeNode) {
	reg := b.registration(n)
	cctx, cancel := context.WithTimeout(ctx, b.lease.Period)
	defer cancel()
	l, err := b.cfg.Server.RegisterNode(cctx, reg)
	if err != nil {
		if msg := err.Error(); msg != n.regErr {
			n.regErr = msg
			b.log.Error("registering the node failed; retrying every heartbeat", "node", n.spec.ID, "err", err)
		}
		return
	}
	n.lease, n.sent, n.listed, n.regErr, n.blind = l.Lease, fingerprint(reg.Devices), false, "", !b.haveInv
	b.lease = v1.LeaseOf(*l)
	b.log.Info("registered", "node", n.spec.ID, "devices", len(reg.Devices), "health", reg.Devices[0].Health, "warnings", len(reg.Warnings))
}

// registerBlind registers the nodes not registered yet while the
// inventory is unknown.
func (b *Bridge) registerBlind(ctx context.Context) {
	for _, id := range b.order {
		if n := b.nodes[id]; n.lease == "" {
			b.register(ctx, n)
		}
	}
}

// registration is what the node's agent would say: its cards as the
// inventory counts them, in Error with the reason when the Kubernetes node
// is not usable, and every resource the catalog cannot name, reported with
// no model.
func (b *Bridge) registration(n *bridgeNode) v1.NodeRegistration {
	id := n.spec.ID
	modelID, cards, name := n.spec.Model, n.spec.Cards, ""
	inv, found := b.invNodes[id]
	if found {
		modelID, cards, name = inv.Model, inv.Cards, b.inv.Resource[id]
	}
	health, raw := "OK", ""
	switch {
	case !b.haveInv:
		health, raw = "Error", "the Kubernetes API server has not answered since the bridge started: capacity unknown"
	case !b.present[n.k8s]:
		health, raw = "Error", fmt.Sprintf("Kubernetes node %s is not in the cluster", n.k8s)
	case b.notReady[id]:
		health, raw = "Error", fmt.Sprintf("Kubernetes node %s is not Ready", n.k8s)
	case !found:
		health, raw = "Error", fmt.Sprintf("Kubernetes node %s has no accelerator resource the catalog names", n.k8s)
	}
	vendor := "unknown"
	if m, ok := b.cfg.Catalog.Lookup(modelID); ok {
		vendor = m.Vendor
		if name == "" && len(m.K8sResources) > 0 {
			name = m.K8sResources[0]
		}
	}
	if name == "" {
		name = modelID
	}
	devs := []v1.NodeDevice{}
	for i := 0; i < cards && len(devs) < maxDevices; i++ {
		devs = append(devs, v1.NodeDevice{Index: i, Vendor: vendor, Model: modelID, Name: name, Health: health, HealthRaw: raw})
	}
	var warnings []string
	for _, u := range b.unknownBy[n.k8s] {
		warnings = append(warnings, fmt.Sprintf("Kubernetes resource %s (%d): %s", u.Resource, u.Count, u.Reason))
		v, _, _ := strings.Cut(u.Resource, "/")
		for i := int64(0); i < u.Count && len(devs) < maxDevices; i++ {
			devs = append(devs, v1.NodeDevice{Index: -1, Vendor: v, Name: u.Resource, Health: "Unknown", HealthRaw: u.Reason})
		}
	}
	if len(devs) == 0 {
		// Report one card so that the node's state carries the reason.
		devs = append(devs, v1.NodeDevice{Index: 0, Vendor: vendor, Model: modelID, Name: name, Health: "Error", HealthRaw: raw})
	}
	return v1.NodeRegistration{Node: string(id), Site: string(b.cfg.Site), Domain: string(n.spec.Domain),
		Labels: map[string]string{"suanli.io/kubernetes-node": n.k8s}, Address: n.k8s,
		Agent: strings.TrimSpace("suanli-kube-bridge " + b.cfg.Version), Devices: devs, Warnings: warnings}
}

func fingerprint(devs []v1.NodeDevice) string {
	out, _ := json.Marshal(devs)
	return string(out)
}
