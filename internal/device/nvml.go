//go:build nvml

package device

import (
	"context"
	"fmt"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML discovers Nvidia GPUs through the NVML library instead of parsing
// nvidia-smi. It exists only in builds with the nvml tag (it needs cgo and,
// at run time, the driver's libnvidia-ml.so).
type NVML struct{}

// Discover implements Discoverer. A GPU whose handle or readings fail is
// reported with Error health rather than dropped; NVLink peers (P2P over
// NVLink) form the domains.
func (NVML) Discover(ctx context.Context) (Report, error) {
	if ret := nvml.Init(); ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return Report{}, fmt.Errorf("nvml: init: %v: %w", ret, ErrNoLibrary)
	} else if ret != nvml.SUCCESS {
		return Report{}, fmt.Errorf("nvml: init: %v; is the Nvidia driver installed?", ret)
	}
	defer nvml.Shutdown()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return Report{}, fmt.Errorf("nvml: device count: %v", ret)
	}
	driver, _ := nvml.SystemGetDriverVersion()
	var rep Report
	var devs []Device
	var handles []nvml.Device
	var ids []int
	for i := range n {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		d := Device{Index: i, Vendor: Nvidia, Tool: "nvml", Driver: driver, Health: Health{State: HealthOK}}
		h, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			d.Health = Health{State: HealthError, Raw: "handle: " + ret.Error()}
			devs = append(devs, d)
			continue
		}
		var errs []string
		check := func(what string, r nvml.Return) bool {
			if r == nvml.SUCCESS {
				return true
			}
			if r != nvml.ERROR_NOT_SUPPORTED {
				errs = append(errs, what+": "+r.Error())
			}
			return false
		}
		if name, r := h.GetName(); check("name", r) {
			d.Name = name
		}
		if uuid, r := h.GetUUID(); check("uuid", r) {
			d.UUID = uuid
		}
		if pci, r := h.GetPciInfo(); check("pci", r) {
			d.BusID = cString(pci.BusId[:])
		}
		if mem, r := h.GetMemoryInfo(); check("memory", r) {
			d.MemTotalMiB, d.MemUsedMiB = int64(mem.Total>>20), int64(mem.Used>>20)
		}
		if u, r := h.GetUtilizationRates(); check("utilization", r) {
			d.UtilPercent = int(u.Gpu)
		}
		if t, r := h.GetTemperature(nvml.TEMPERATURE_GPU); check("temperature", r) {
			d.TempC = int(t)
		}
		if mw, r := h.GetPowerUsage(); check("power", r) {
			d.PowerW = int((mw + 500) / 1000)
		}
		if v, r := h.GetVbiosVersion(); check("vbios", r) {
			d.Firmware = v
		}
		if len(errs) > 0 {
			d.Health = Health{State: HealthError, Raw: strings.Join(errs, "; ")}
		}
		d.ModelID = ModelID(Nvidia, d.Name)
		devs = append(devs, d)
		handles = append(handles, h)
		ids = append(ids, i)
	}
	rep.add(devs)
	adj := func(a, b int) bool {
		s, r := handles[a].GetP2PStatus(handles[b], nvml.P2P_CAPS_INDEX_NVLINK)
		return r == nvml.SUCCESS && s == nvml.P2P_STATUS_OK
	}
	rep.Topology.Domains = cliques(nvTopo, ids, adj)
	rep.finish()
	return rep, nil
}

// cString converts a NUL-terminated C char array.
func cString(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}
