package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
)

// Bounds on what an agent may send.
const (
	maxDevices  = 1024
	maxLabels   = 256
	maxWarnings = 256
	maxRunning  = 4096
)

var deviceHealth = []string{"OK", "Warning", "Error", "Unknown"}

func deviceProblems(prefix string, devs []v1.NodeDevice) Problems {
	var probs Problems
	if len(devs) > maxDevices {
		return Problems{{Field: prefix, Message: fmt.Sprintf("%d devices; at most %d", len(devs), maxDevices)}}
	}
	for i, d := range devs {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		if !contains(deviceHealth, d.Health) {
			probs = append(probs, v1.Problem{Field: p + ".health", Message: fmt.Sprintf("%q is not one of OK, Warning, Error, Unknown", d.Health)})
		}
		if d.Index < -1 {
			probs = append(probs, v1.Problem{Field: p + ".index", Message: fmt.Sprintf("%d; an index is -1 (unknown) or more", d.Index)})
		}
		if d.Vendor == "" {
			probs = append(probs, v1.Problem{Field: p + ".vendor", Message: "missing"})
		}
		if d.MemTotalMiB < 0 {
			probs = append(probs, v1.Problem{Field: p + ".mem_total_mib", Message: "negative"})
		}
	}
	return probs
}

func workloadProblems(wl *v1.Workload) Problems {
	var probs Problems
	if len(wl.Command) == 0 || wl.Command[0] == "" {
		probs = append(probs, v1.Problem{Field: "workload.command", Message: "missing; give the program and its arguments"})
	}
	if len(wl.Env) > maxLabels {
		probs = append(probs, v1.Problem{Field: "workload.env", Message: fmt.Sprintf("%d variables; at most %d", len(wl.Env), maxLabels)})
	}
	if len(wl.Image) > 512 || strings.ContainsAny(wl.Image, " \t\n\r") {
		probs = append(probs, v1.Problem{Field: "workload.image", Message: "not an image reference such as registry.example.com/team/train:1.0 (at most 512 bytes, no spaces)"})
	}
	if r := wl.Resources; r != nil {
		if r.CPUMilli < 0 || r.CPUMilli > 10_000_000 {
			probs = append(probs, v1.Problem{Field: "workload.resources.cpu_milli", Message: fmt.Sprintf("%d: give thousandths of a core, 0 to 10000000", r.CPUMilli)})
		}
		if r.MemoryMiB < 0 || r.MemoryMiB > 1<<30 {
			probs = append(probs, v1.Problem{Field: "workload.resources.memory_mib", Message: fmt.Sprintf("%d: give MiB, 0 to %d", r.MemoryMiB, 1<<30)})
		}
	}
	probs = append(probs, secretEnvProblems(wl)...)
	return probs
}

// nodePath checks that a body's node matches the path's.
func nodePath(r *http.Request, body string) Problems {
	if id := r.PathValue("id"); body != id {
		return Problems{{Field: "node", Message: fmt.Sprintf("%q differs from node %q in the path", body, id)}}
	}
	return nil
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) error {
	var reg v1.NodeRegistration
	if err := decode(w, r, &reg); err != nil {
		return err
	}
	probs := nodePath(r, reg.Node)
	probs = append(probs, deviceProblems("devices", reg.Devices)...)
	if len(reg.Labels) > maxLabels {
		probs = append(probs, v1.Problem{Field: "labels", Message: fmt.Sprintf("%d labels; at most %d", len(reg.Labels), maxLabels)})
	}
	if len(reg.Warnings) > maxWarnings {
		probs = append(probs, v1.Problem{Field: "warnings", Message: fmt.Sprintf("%d warnings; at most %d", len(reg.Warnings), maxWarnings)})
	}
	for i, d := range reg.Domains {
		for j, x := range d.Indices {
			if x < 0 || x >= maxDevices {
				probs = append(probs, v1.Problem{Field: fmt.Sprintf("domains[%d].indices[%d]", i, j), Message: fmt.Sprintf("%d is not a device index", x)})
			}
		}
	}
	if len(probs) > 0 {
		return probs
	}
	l, err := h.b.RegisterNode(r.Context(), PrincipalFrom(r.Context()), reg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// maxCSRBytes bounds a node's certificate request.
const maxCSRBytes = 16 << 10

func (h *handler) nodeCredential(w http.ResponseWriter, r *http.Request) error {
	var req v1.NodeCredentialRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.CSR) > maxCSRBytes {
		return Problems{{Field: "csr", Message: fmt.Sprintf("%d bytes; at most %d", len(req.CSR), maxCSRBytes)}}
	}
	if id := r.PathValue("id"); !validID(id) {
		return Problems{{Field: "node", Message: fmt.Sprintf("%q is not a valid node id", id)}}
	}
	nc, err := h.b.NodeCredential(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, nc)
	return nil
}

func (h *handler) heartbeat(w http.ResponseWriter, r *http.Request) error {
	var hb v1.Heartbeat
	if err := decode(w, r, &hb); err != nil {
		return err
	}
	var probs Problems
	if hb.Lease == "" {
		probs = append(probs, v1.Problem{Field: "lease", Message: "missing; send the lease the registration returned"})
	}
	if len(hb.Running) > maxRunning {
		probs = append(probs, v1.Problem{Field: "running", Message: fmt.Sprintf("%d workers; at most %d", len(hb.Running), maxRunning)})
	}
	if len(probs) > 0 {
		return probs
	}
	rep, err := h.b.Heartbeat(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), hb)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (h *handler) devices(w http.ResponseWriter, r *http.Request) error {
	var rep v1.DeviceReport
	if err := decode(w, r, &rep); err != nil {
		return err
	}
	probs := deviceProblems("devices", rep.Devices)
	if rep.Lease == "" {
		probs = append(probs, v1.Problem{Field: "lease", Message: "missing; send the lease the registration returned"})
	}
	if len(probs) > 0 {
		return probs
	}
	if err := h.b.ReportDevices(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), rep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var workerStates = []string{v1.StateRunning, v1.StateCompleted, v1.StateFailed, v1.WorkerStopped}

func (h *handler) workerReport(w http.ResponseWriter, r *http.Request) error {
	var rep v1.WorkerReport
	if err := decode(w, r, &rep); err != nil {
		return err
	}
	var probs Problems
	if n, err := strconv.Atoi(r.PathValue("worker")); err != nil || n != rep.Worker {
		probs = append(probs, v1.Problem{Field: "worker", Message: fmt.Sprintf("%d differs from worker %q in the path", rep.Worker, r.PathValue("worker"))})
	}
	if rep.Node == "" {
		probs = append(probs, v1.Problem{Field: "node", Message: "missing"})
	}
	if !contains(workerStates, rep.State) {
		probs = append(probs, v1.Problem{Field: "state", Message: fmt.Sprintf("%q is not one of running, completed, failed, stopped", rep.State)})
	}
	if len(rep.OutputTail) > v1.MaxOutputTail {
		probs = append(probs, v1.Problem{Field: "output_tail", Message: fmt.Sprintf("%d bytes; at most %d", len(rep.OutputTail), v1.MaxOutputTail)})
	}
	if rep.Checkpoint != nil && rep.Checkpoint.Step < 0 {
		probs = append(probs, v1.Problem{Field: "checkpoint.step", Message: "negative"})
	}
	if len(probs) > 0 {
		return probs
	}
	j, err := h.b.ReportWorker(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"), rep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (h *handler) nodes(w http.ResponseWriter, r *http.Request) error {
	devices := true
	switch v := r.URL.Query().Get("devices"); v {
	case "", "true":
	case "false":
		devices = false
	default:
		return Problems{{Field: "devices", Message: fmt.Sprintf("%q is not true or false", v)}}
	}
	ns, err := h.b.Nodes(r.Context(), r.URL.Query().Get("site"))
	if err != nil {
		return err
	}
	if !devices {
		for i := range ns {
			ns[i].Devices, ns[i].Warnings = nil, nil
		}
	}
	writeJSON(w, http.StatusOK, ns)
	return nil
}
