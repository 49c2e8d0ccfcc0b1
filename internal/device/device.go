// Package device discovers the accelerators of one node: it runs each
// vendor's management tool (npu-smi, cnmon, mx-smi, …), parses its text
// output into Device values with catalog model ids, and reads the
// high-bandwidth domains from the topology matrices. Vendor SDKs never leak
// out of this package; NVML is used only when built with the nvml tag.
package device

import (
	"fmt"
	"sort"
	"strings"
)

// Vendor keys. They are the prefixes of the catalog ids
// ("huawei-ascend-910b3" belongs to Huawei).
const (
	Huawei      = "huawei"
	Cambricon   = "cambricon"
	Biren       = "biren"
	MooreThread = "mthreads"
	Iluvatar    = "iluvatar"
	MetaX       = "metax"
	Enflame     = "enflame"
	THead       = "thead"
	Kunlunxin   = "kunlunxin"
	Hygon       = "hygon"
	Nvidia      = "nvidia"
	AMD         = "amd"
)

// HealthState is the coarse health of a device.
type HealthState string

// Health states. A tool that prints no health column yields OK for a card
// whose row reads cleanly and Error for one carrying an error marker
// ("ERR!", "[GPU is lost]").
const (
	HealthOK      HealthState = "OK"
	HealthWarning HealthState = "Warning"
	HealthError   HealthState = "Error"
	HealthUnknown HealthState = "Unknown"
)

// Health is the state with the tool's own words for it.
type Health struct {
	State HealthState
	Raw   string // the tool's text ("OK", "Critical", "Available"); "" when it prints none
}

// Device is one accelerator as a vendor tool reports it. Numbers the tool
// does not print are zero. Index is the index the vendor's runtime and its
// visible-devices variable use; -1 when the tool could not tell it (a lost
// card named only by its bus id).
type Device struct {
	Index       int
	Vendor      string // one of the vendor keys (Huawei, MetaX, …)
	Tool        string // the tool that reported it ("npu-smi")
	Name        string // raw name from the tool ("910B3", "MetaX C500")
	ModelID     string // catalog model id; "" when the name is unknown
	BusID       string // PCI address as printed
	UUID        string // UUID or serial number where the tool prints one
	MemTotalMiB int64
	MemUsedMiB  int64
	UtilPercent int
	TempC       int
	PowerW      int
	Health      Health
	Firmware    string
	Driver      string
}

// Domain is a group of devices of one vendor fully linked by the vendor's
// fabric. A device reached only over PCIe or the CPU interconnect is a
// domain of its own.
type Domain struct {
	Vendor  string
	Fabric  string // "HCCS", "MetaXLink", "NVLink", "" for a lone device
	Indices []int  // device indices, ascending
}

// Topology is the set of high-bandwidth domains of a node.
type Topology struct {
	Domains []Domain
}

// Report is what discovery found on a node.
type Report struct {
	Devices  []Device
	Topology Topology
	// Unknown holds every device whose name maps to no catalog model; the
	// devices stay in Devices too: an unknown card is reported, never
	// dropped.
	Unknown  []Device
	Warnings []string
}

// add appends the devices of one tool and records the unknown ones.
func (r *Report) add(devs []Device) {
	for _, d := range devs {
		r.Devices = append(r.Devices, d)
		if d.ModelID == "" {
			r.Unknown = append(r.Unknown, d)
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"%s device %d (%q, bus %s): no catalog model matches this name; add it to the device name table or the catalog",
				d.Tool, d.Index, d.Name, d.BusID))
		}
		if d.Index < 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"%s reported a device at bus %s without an index: %s", d.Tool, d.BusID, d.Health.Raw))
		}
	}
}

// finish sorts devices and domains so that the same node always gives the
// same report, and gives every device not in a fabric domain its own.
func (r *Report) finish() {
	sort.SliceStable(r.Devices, func(i, j int) bool {
		a, b := r.Devices[i], r.Devices[j]
		if a.Vendor != b.Vendor {
			return a.Vendor < b.Vendor
		}
		return a.Index < b.Index
	})
	in := map[string]bool{}
	for _, d := range r.Topology.Domains {
		for _, i := range d.Indices {
			in[fmt.Sprintf("%s/%d", d.Vendor, i)] = true
		}
	}
	for _, d := range r.Devices {
		if d.Index >= 0 && !in[fmt.Sprintf("%s/%d", d.Vendor, d.Index)] {
			r.Topology.Domains = append(r.Topology.Domains, Domain{Vendor: d.Vendor, Indices: []int{d.Index}})
		}
	}
	sortDomains(r.Topology.Domains)
}

func sortDomains(ds []Domain) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Vendor != ds[j].Vendor {
			return ds[i].Vendor < ds[j].Vendor
		}
		return ds[i].Indices[0] < ds[j].Indices[0]
	})
}

// String renders a domain as "HCCS[0 1 2 3]".
func (d Domain) String() string {
	s := make([]string, len(d.Indices))
	for i, x := range d.Indices {
		s[i] = fmt.Sprint(x)
	}
	f := d.Fabric
	if f == "" {
		f = "alone"
	}
	return fmt.Sprintf("%s:%s[%s]", d.Vendor, f, strings.Join(s, " "))
}
