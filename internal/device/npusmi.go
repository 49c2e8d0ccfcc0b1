package device

import (
	"strings"
)

const toolNPUSMI = "npu-smi"

// ParseNPUSMI reads the table of `npu-smi info` (Huawei Ascend). Each NPU is
// a row with its name and health followed by one row per chip with the bus
// id and memory; a 910B has one chip per NPU, a 310P Duo or a 910C two.
// Columns are found by their header names, so the widths and the extra
// Hugepages column of newer versions do not matter. Memory comes from the
// HBM column when the card has HBM, else from the Memory column (npu-smi's
// MB are binary: 65536 MB on a 64 GiB card). Index is the chip's Device
// (logical) id when npu-smi prints that column, else the chip's position in
// the listing, which is the logical id the runtime assigns.
func ParseNPUSMI(out []byte) ([]Device, error) {
	lines := splitLines(out)
	driver, h1, h2 := npuHeaders(lines)
	if h1 < 0 {
		return nil, &ParseError{Tool: toolNPUSMI, Want: `a table header row "| NPU  Name | Health | Power(W) Temp(C) … |"`}
	}
	if h2 < 0 {
		return nil, errAt(toolNPUSMI, h1+1, lineAt(lines, h1+1), `the second header row "| Chip | Bus-Id | AICore(%) Memory-Usage(MB) … |"`)
	}
	cols1 := joinPairs(strings.Fields(cells(lines[h1])[2]))
	hc2 := cells(lines[h2])
	cols2 := joinPairs(strings.Fields(hc2[2]))
	chipHasDevice := len(strings.Fields(hc2[0])) >= 2

	var devs []Device
	var npu npuCard
	for i := h2 + 1; i < len(lines); i++ {
		l := lines[i]
		if isRule(l) || strings.TrimSpace(l) == "" {
			continue
		}
		c := cells(l)
		if len(c) >= 2 && (strings.Contains(c[1], "Process id") || strings.HasPrefix(c[0], "No running processes")) {
			break // the process table follows the device table
		}
		if len(c) != 3 {
			return nil, errAt(toolNPUSMI, i, l, "a device row with 3 cells separated by |")
		}
		f := strings.Fields(c[0])
		if len(f) >= 2 && !allDigits(f[1]) { // an NPU row: "| 0  910B3 | OK | 101.8  43  0 / 0 |"
			if err := npu.read(i, l, c, f, cols1); err != nil {
				return nil, err
			}
			continue
		}
		// A chip row: "| 0 | 0000:C1:00.0 | 0  0 / 0  3318 / 65536 |".
		index := len(devs)
		if chipHasDevice {
			index = -1
		}
		d, err := npu.chip(i, l, c, f, cols2, index)
		if err != nil {
			return nil, err
		}
		d.Driver = driver
		devs = append(devs, d)
	}
	if npu.seen && npu.chips == 0 {
		return nil, &ParseError{Tool: toolNPUSMI, Line: len(lines), Want: "a chip row (bus id, memory) after the last NPU row; the output looks truncated"}
	}
	if len(devs) == 0 {
		return nil, &ParseError{Tool: toolNPUSMI, Want: "at least one NPU row below the header"}
	}
	return devs, nil
}

// npuHeaders finds the driver version and the two header rows of the
// device table, the NPU row's (h1) and the chip row's (h2); -1 when
// missing.
func npuHeaders(lines []string) (driver string, h1, h2 int) {
	h1, h2 = -1, -1
	for i, l := range lines {
		if strings.Contains(l, "npu-smi") && strings.Contains(l, "Version") {
			driver = versionAfter(l, "Version:")
		}
		c := cells(l)
		if h1 < 0 && len(c) >= 3 && strings.HasPrefix(c[0], "NPU") && strings.Contains(c[0], "Name") && strings.HasPrefix(c[1], "Health") {
			h1 = i
			continue
		}
		if h1 >= 0 && !isRule(l) {
			if len(c) >= 3 && strings.HasPrefix(c[0], "Chip") {
				h2 = i
			}
			break
		}
	}
	return driver, h1, h2
}

// npuCard is the NPU row the chip rows below it belong to.
type npuCard struct {
	id     int
	name   string
	health Health
	power  int
	temp   int
	chips  int // chip rows read so far
	seen   bool
}

// read takes the NPU row l (line i; c its cells, f its first cell's
// fields) with values under the columns cols.
func (npu *npuCard) read(i int, l string, c, f, cols []string) error {
	id, ok := leadingInt(f[0])
	if !ok {
		return errAt(toolNPUSMI, i, l, "an NPU row starting with the NPU id and name")
	}
	vals := joinPairs(strings.Fields(c[2]))
	if len(vals) != len(cols) {
		return errAt(toolNPUSMI, i, l, "one value for each of "+strings.Join(cols, ", "))
	}
	npu.id, npu.name, npu.chips, npu.seen = id, strings.Join(f[1:], " "), 0, true
	npu.health = npuHealth(c[1])
	npu.power, npu.temp = 0, 0
	for k, name := range cols {
		switch {
		case strings.HasPrefix(name, "Power"):
			npu.power, ok = intValue(vals[k], unitPower...)
		case strings.HasPrefix(name, "Temp"):
			npu.temp, ok = intValue(vals[k], unitTemp...)
		}
		if !ok {
			return errAt(toolNPUSMI, i, l, "a number under "+name+", got "+vals[k])
		}
	}
	return nil
}

// chip is the device of the chip row l (line i; c its cells, f its first
// cell's fields) with values under the columns cols. Its index is index,
// or the device id in the first cell when index is -1.
func (npu *npuCard) chip(i int, l string, c, f, cols []string, index int) (Device, error) {
	if !npu.seen {
		return Device{}, errAt(toolNPUSMI, i, l, "an NPU row (id, name, health) before this chip row")
	}
	if len(f) == 0 {
		return Device{}, errAt(toolNPUSMI, i, l, "the chip id in the first cell")
	}
	if index < 0 {
		n, ok := 0, len(f) >= 2
		if ok {
			n, ok = leadingInt(f[1])
		}
		if !ok {
			return Device{}, errAt(toolNPUSMI, i, l, "the chip id and device id in the first cell")
		}
		index = n
	}
	vals := joinPairs(strings.Fields(c[2]))
	if len(vals) != len(cols) {
		return Device{}, errAt(toolNPUSMI, i, l, "one value for each of "+strings.Join(cols, ", "))
	}
	d := Device{Index: index, Vendor: Huawei, Tool: toolNPUSMI, Name: npu.name, BusID: c[1],
		TempC: npu.temp, Health: npu.health}
	if npu.chips == 0 {
		d.PowerW = npu.power // the NPU's power, counted once
	}
	npu.chips++
	var memU, memT, hbmU, hbmT int64
	for k, name := range cols {
		ok := true
		switch {
		case strings.HasPrefix(name, "AICore"):
			d.UtilPercent, ok = intValue(vals[k], unitPercent...)
		case strings.HasPrefix(name, "Memory-Usage"):
			memU, memT, ok = usedTotal(vals[k], "MB")
		case strings.HasPrefix(name, "HBM-Usage"):
			hbmU, hbmT, ok = usedTotal(vals[k], "MB")
		}
		if !ok {
			return Device{}, errAt(toolNPUSMI, i, l, "a value like 3318/65536 or a number under "+name+", got "+vals[k])
		}
	}
	d.MemUsedMiB, d.MemTotalMiB = memU, memT
	if hbmT > 0 {
		d.MemUsedMiB, d.MemTotalMiB = hbmU, hbmT
	}
	d.ModelID = ModelID(Huawei, d.Name)
	return d, nil
}

func lineAt(lines []string, i int) string {
	if i >= 0 && i < len(lines) {
		return lines[i]
	}
	return ""
}

// npuHealth maps npu-smi's health words (OK, Warning, Alarm, Critical).
func npuHealth(raw string) Health {
	h := Health{Raw: raw}
	switch strings.ToLower(raw) {
	case "ok":
		h.State = HealthOK
	case "warning", "alarm", "general warning", "minor":
		h.State = HealthWarning
	case "critical", "major", "error", "emergency":
		h.State = HealthError
	default:
		h.State = HealthUnknown
	}
	return h
}
