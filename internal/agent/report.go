package agent

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/device"
)

// pendingReport is a report not yet acknowledged by the server.
type pendingReport struct {
	job string
	r   v1.WorkerReport
}

// maxPending bounds the reports kept while the server does not answer; the
// oldest checkpoint reports go first.
const maxPending = 256

func (a *Agent) queue(job string, r v1.WorkerReport) {
	a.pending = append(a.pending, pendingReport{job: job, r: r})
	if len(a.pending) > maxPending {
		for i, p := range a.pending {
			if p.r.Checkpoint != nil || p.r.Progress != nil && p.r.State == v1.StateRunning {
				a.pending = slices.Delete(a.pending, i, i+1)
				return
			}
		}
		a.pending = a.pending[1:]
	}
}

// flush sends the pending reports in order. A report the server refuses
// (4xx: the job ended, or was placed again) is dropped; on a transport
// error or 5xx the rest wait for the next heartbeat.
func (a *Agent) flush(ctx context.Context) {
	if !a.registered {
		return
	}
	for len(a.pending) > 0 {
		p := a.pending[0]
		cctx, cancel := context.WithTimeout(ctx, a.lease.Period)
		err := a.send(cctx, p)
		cancel()
		var e *v1.Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e.Status >= 400 && e.Status < 500:
			a.log.Warn("the server refused a worker report; dropping it", "job", p.job, "worker", p.r.Worker, "state", p.r.State, "err", err)
		default:
			a.log.Warn("reporting failed; will retry", "job", p.job, "err", err)
			return
		}
		a.pending = a.pending[1:]
	}
}

// send sends one report: per worker, or, on a server without per-worker
// reports, as a job report (running, completed, failed; the rest is
// folded into the reason or skipped).
func (a *Agent) send(ctx context.Context, p pendingReport) error {
	if !a.coarse {
		_, err := a.c.ReportWorker(ctx, p.job, p.r)
		if !noEndpoint(err) {
			return err
		}
		a.log.Warn("the server has no per-worker status endpoint; sending job status reports instead")
		a.coarse = true
	}
	switch p.r.State {
	case v1.StateRunning:
		if p.r.Checkpoint != nil || p.r.Progress != nil {
			return nil
		}
	case v1.StateCompleted, v1.StateFailed:
	default:
		return nil
	}
	reason := p.r.Reason
	if p.r.State == v1.StateFailed && p.r.OutputTail != "" {
		reason += "; output ends: " + lastBytes(p.r.OutputTail, 512)
	}
	_, err := a.c.ReportJob(ctx, p.job, v1.StatusReport{State: p.r.State, Reason: reason})
	return err
}

// noEndpoint reports whether err says the server has no such route.
func noEndpoint(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed) &&
		strings.Contains(e.Message, "no such endpoint")
}

// discover runs discovery and records the devices; a failing tool leaves
// what the others found, with a warning.
func (a *Agent) discover(ctx context.Context) {
	rep, err := a.cfg.Discoverer.Discover(ctx)
	if err != nil {
		a.log.Warn("device discovery had errors; reporting what was found", "err", err)
	}
	devs, doms := Devices(rep)
	warnings := rep.Warnings
	if err != nil {
		warnings = append(warnings, "discovery: "+err.Error())
	}
	if a.devices != nil && !sameHealth(a.devices, devs) {
		a.devDirty = true
		for _, d := range devs {
			if d.Health != string(device.HealthOK) {
				a.log.Warn("device unhealthy", "vendor", d.Vendor, "index", d.Index, "model", d.Model, "health", d.Health, "raw", d.HealthRaw)
			}
		}
	}
	a.devices, a.domains, a.warnings = devs, doms, warnings
	a.memUsed = map[int]int64{}
	for _, d := range rep.Devices {
		if d.MemUsedMiB > 0 {
			a.memUsed[d.Index] = d.MemUsedMiB
		}
	}
	a.checkOveruse(ctx)
}

// Devices converts a discovery report to the wire form: every device,
// those without a catalog model included.
func Devices(rep device.Report) ([]v1.NodeDevice, []v1.DeviceDomain) {
	devs := make([]v1.NodeDevice, 0, len(rep.Devices))
	for _, d := range rep.Devices {
		devs = append(devs, v1.NodeDevice{Index: d.Index, Vendor: d.Vendor, Model: d.ModelID, Name: d.Name, BusID: d.BusID,
			UUID: d.UUID, MemTotalMiB: d.MemTotalMiB, Health: string(d.Health.State), HealthRaw: d.Health.Raw})
	}
	var doms []v1.DeviceDomain
	for _, d := range rep.Topology.Domains {
		doms = append(doms, v1.DeviceDomain{Vendor: d.Vendor, Fabric: d.Fabric, Indices: d.Indices})
	}
	return devs, doms
}

// sameHealth reports whether two device lists name the same devices in the
// same health.
func sameHealth(a, b []v1.NodeDevice) bool {
	return slices.EqualFunc(a, b, func(x, y v1.NodeDevice) bool {
		return x.Vendor == y.Vendor && x.Index == y.Index && x.BusID == y.BusID && x.Health == y.Health && x.HealthRaw == y.HealthRaw
	})
}

func (a *Agent) sendDevices(ctx context.Context) {
	if !a.registered || !a.devDirty {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, a.lease.Period)
	defer cancel()
	err := a.c.ReportDevices(cctx, a.cfg.Node, v1.DeviceReport{Lease: a.leaseID, Devices: a.devices})
	var e *v1.Error
	switch {
	case err == nil:
		a.devDirty = false
	case errors.As(err, &e) && e.Status >= 400 && e.Status < 500 && !mustRegister(err):
		a.log.Warn("the server refused the device report", "err", err)
		a.devDirty = false
	default:
		a.log.Warn("device report failed; will retry", "err", err)
	}
}
