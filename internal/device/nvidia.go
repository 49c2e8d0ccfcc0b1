package device

import (
	"strings"
)

const toolNvidiaSMI = "nvidia-smi"

// NvidiaQuery is the field list Discover passes to nvidia-smi:
//
//	nvidia-smi --query-gpu=<NvidiaQuery> --format=csv,noheader,nounits
const NvidiaQuery = "index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw"

var nvidiaDefaultCols = strings.Split(NvidiaQuery, ",")

// ParseNvidiaCSV reads `nvidia-smi --query-gpu=… --format=csv`. Without a
// header line the fields must be in NvidiaQuery order; with one ("index,
// name, memory.total [MiB], …") they are found by name. Units ("MiB", "%",
// "W") may be present or not. A field reading "[GPU is lost]", "ERR!" or
// "[Requires Reset]" marks the card Error instead of failing the parse; a
// line "Unable to determine the device handle for GPU<bus>: …" becomes a
// device with Index -1 and Error health, so a lost card is still reported.
func ParseNvidiaCSV(out []byte) ([]Device, error) {
	lines := splitLines(out)
	cols := nvidiaDefaultCols
	var devs []Device
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "No devices were found"):
			return nil, nil
		case strings.HasPrefix(t, "Unable to determine the device handle for"):
			devs = append(devs, lostNvidia(t))
			continue
		}
		f := strings.Split(t, ",")
		for k := range f {
			f[k] = strings.TrimSpace(f[k])
		}
		if f[0] == "index" {
			cols = make([]string, len(f))
			for k, name := range f {
				n, _, _ := strings.Cut(name, " ") // "memory.total [MiB]"
				cols[k] = n
			}
			continue
		}
		if len(f) != len(cols) {
			return nil, errAt(toolNvidiaSMI, i, l, itoa(len(cols))+" comma-separated fields ("+strings.Join(cols, ",")+")")
		}
		d := Device{Index: -1, Vendor: Nvidia, Tool: toolNvidiaSMI, Health: Health{State: HealthOK}}
		for k, name := range cols {
			v := f[k]
			if errorMarker(v) {
				if d.Health.State != HealthError {
					d.Health = Health{State: HealthError, Raw: name + ": " + v}
				}
				continue
			}
			ok := true
			switch name {
			case "index":
				d.Index, ok = leadingInt(v)
				ok = ok && allDigits(v)
			case "name":
				d.Name = v
			case "uuid":
				d.UUID = v
			case "pci.bus_id":
				d.BusID = v
			case "memory.total":
				d.MemTotalMiB, ok = mib(v, "MiB")
			case "memory.used":
				d.MemUsedMiB, ok = mib(v, "MiB")
			case "utilization.gpu":
				d.UtilPercent, ok = intValue(v, unitPercent...)
			case "temperature.gpu":
				d.TempC, ok = intValue(v, unitTemp...)
			case "power.draw":
				d.PowerW, ok = intValue(v, unitPower...)
			case "driver_version":
				d.Driver = v
			case "vbios_version":
				d.Firmware = v
			}
			if !ok {
				return nil, errAt(toolNvidiaSMI, i, l, "a number under "+name+", got "+v)
			}
		}
		if d.Index < 0 && d.Health.State != HealthError {
			return nil, errAt(toolNvidiaSMI, i, l, "an index field")
		}
		d.ModelID = ModelID(Nvidia, d.Name)
		devs = append(devs, d)
	}
	if len(devs) == 0 {
		return nil, &ParseError{Tool: toolNvidiaSMI, Want: "one CSV line per GPU (" + NvidiaQuery + ")"}
	}
	return devs, nil
}

// lostNvidia makes a device of "Unable to determine the device handle for
// GPU0000:3B:00.0: Unknown Error".
func lostNvidia(line string) Device {
	rest := strings.TrimPrefix(line, "Unable to determine the device handle for")
	rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "GPU"))
	bus := firstField(rest)
	// The bus id itself holds colons: split off the message at ": ".
	if i := strings.Index(rest, ": "); i >= 0 {
		bus = rest[:i]
	}
	return Device{Index: -1, Vendor: Nvidia, Tool: toolNvidiaSMI, BusID: strings.TrimSpace(bus),
		Health: Health{State: HealthError, Raw: line}}
}
