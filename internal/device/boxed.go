package device

import (
	"strconv"
	"strings"
)

// Parsers for the nvidia-smi-style box tables of cnmon (Cambricon), ixsmi
// (Iluvatar) and mx-smi (MetaX): two header rows, then two rows per device
// between rules.

// rowPair is one device's two rows, split into cells, with their line
// numbers (0-based).
type rowPair struct {
	l1, l2 int
	c1, c2 []string
}

// boxHeader finds the first header row (its first cell starts with first
// and contains also) and the second header row right below it.
func boxHeader(tool string, lines []string, first, also, want string) (h1, h2 int, err error) {
	h1 = -1
	for i, l := range lines {
		c := cells(l)
		if strings.HasPrefix(c[0], first) && strings.Contains(c[0], also) && len(c) >= 3 {
			h1 = i
			break
		}
	}
	if h1 < 0 {
		return 0, 0, &ParseError{Tool: tool, Want: want}
	}
	h2 = h1 + 1
	if h2 >= len(lines) || len(cells(lines[h2])) != len(cells(lines[h1])) {
		return 0, 0, errAt(tool, h2, lineAt(lines, h2), "a second header row with as many cells as the first")
	}
	return h1, h2, nil
}

// boxRows collects the device row pairs below the header rows. The table
// ends at a blank line, a process table or the end of the output.
func boxRows(tool string, lines []string, h2 int) ([]rowPair, error) {
	ncell := len(cells(lines[h2]))
	var pairs []rowPair
	var open *rowPair
	for i := h2 + 1; i < len(lines); i++ {
		l := lines[i]
		if isRule(l) {
			if open != nil {
				return nil, errAt(tool, i, l, "the second row of the device begun on line "+itoa(open.l1+1))
			}
			continue
		}
		t := strings.TrimSpace(l)
		if t == "" || strings.Contains(t, "Process") {
			break
		}
		c := cells(l)
		if len(c) != ncell {
			return nil, errAt(tool, i, l, itoa(ncell)+" cells separated by | as in the header")
		}
		if open == nil {
			open = &rowPair{l1: i, c1: c}
			continue
		}
		open.l2, open.c2 = i, c
		pairs = append(pairs, *open)
		open = nil
	}
	if open != nil {
		return nil, &ParseError{Tool: tool, Line: len(lines), Want: "the second row of the device begun on line " + itoa(open.l1+1) + "; the output looks truncated"}
	}
	if len(pairs) == 0 {
		return nil, &ParseError{Tool: tool, Want: "at least one device row below the table header"}
	}
	return pairs, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// markHealth sets Error when any cell of the device's rows carries an error
// marker, and OK otherwise (these tools print no health column).
func markHealth(d *Device, rows ...[]string) {
	d.Health = Health{State: HealthOK}
	for _, r := range rows {
		for _, c := range r {
			if errorMarker(c) {
				d.Health = Health{State: HealthError, Raw: c}
				return
			}
		}
	}
}

const toolCNMON = "cnmon"

// ParseCNMON reads the table of `cnmon` (Cambricon). cnmon prints one row
// pair per MLU chip, so an MLU370-X8 (two chips) shows as two devices of
// about 23 GiB each.
func ParseCNMON(out []byte) ([]Device, error) {
	lines := splitLines(out)
	var driver string
	for _, l := range lines {
		if strings.Contains(l, "CNMON") {
			driver = versionAfter(l, "Driver")
			break
		}
	}
	h1, h2, err := boxHeader(toolCNMON, lines, "Card", "Name", `a table header row "| Card  VF  Name  Firmware | Bus-Id | Util  Ecc-Error |"`)
	if err != nil {
		return nil, err
	}
	head := strings.Fields(cells(lines[h1])[0])
	hasVF := hasField(head, "VF")
	hasFW := hasField(head, "Firmware")
	pairs, err := boxRows(toolCNMON, lines, h2)
	if err != nil {
		return nil, err
	}
	devs := make([]Device, 0, len(pairs))
	for _, p := range pairs {
		f := strings.Fields(p.c1[0])
		min := 2
		if hasVF {
			min++
		}
		if hasFW {
			min++
		}
		idx, ok := 0, len(f) >= min
		if ok {
			idx, ok = leadingInt(f[0])
		}
		if !ok {
			return nil, errAt(toolCNMON, p.l1, lines[p.l1], "card number, "+strings.Join(head[1:], ", ")+" in the first cell")
		}
		d := Device{Index: idx, Vendor: Cambricon, Tool: toolCNMON, BusID: firstField(p.c1[1]), Driver: driver}
		name := f[1:]
		if hasVF {
			name = name[1:]
		}
		if hasFW {
			d.Firmware = name[len(name)-1]
			name = name[:len(name)-1]
		}
		d.Name = strings.Join(name, " ")
		if d.UtilPercent, ok = intValue(firstField(p.c1[2]), unitPercent...); !ok {
			return nil, errAt(toolCNMON, p.l1, lines[p.l1], "utilisation like 0% in the third cell")
		}
		// "0%   32C        106 W/ 250 W"
		f2 := strings.Fields(p.c2[0])
		if len(f2) < 3 {
			return nil, errAt(toolCNMON, p.l2, lines[p.l2], "fan, temperature and power usage/cap in the first cell")
		}
		if d.TempC, ok = intValue(f2[1], unitTemp...); !ok {
			return nil, errAt(toolCNMON, p.l2, lines[p.l2], "a temperature like 32C, got "+f2[1])
		}
		if d.PowerW, ok = intValue(powerUsage(strings.Join(f2[2:], " ")), unitPower...); !ok {
			return nil, errAt(toolCNMON, p.l2, lines[p.l2], "power usage like 106 W/ 250 W")
		}
		if d.MemUsedMiB, d.MemTotalMiB, ok = usedTotal(p.c2[1], "MiB"); !ok {
			return nil, errAt(toolCNMON, p.l2, lines[p.l2], "memory usage like 0 MiB/ 23374 MiB in the second cell")
		}
		markHealth(&d, p.c1, p.c2)
		d.ModelID = ModelID(Cambricon, d.Name)
		devs = append(devs, d)
	}
	return devs, nil
}

const toolIXSMI = "ixsmi"

// ParseIXSMI reads the table of `ixsmi` (Iluvatar CoreX), which follows the
// nvidia-smi layout; it reads nvidia-smi's own table as well.
func ParseIXSMI(out []byte) ([]Device, error) { return parseSMITable(toolIXSMI, Iluvatar, out) }

func parseSMITable(tool, vendor string, out []byte) ([]Device, error) {
	lines := splitLines(out)
	var driver string
	for _, l := range lines {
		if v := versionAfter(l, "Driver Version:"); v != "" {
			driver = v
			break
		}
	}
	h1, h2, err := boxHeader(tool, lines, "GPU", "Name", `a table header row "| GPU  Name | Bus-Id | … |"`)
	if err != nil {
		return nil, err
	}
	persist := strings.Contains(cells(lines[h1])[0], "Persistence")
	pairs, err := boxRows(tool, lines, h2)
	if err != nil {
		return nil, err
	}
	devs := make([]Device, 0, len(pairs))
	for _, p := range pairs {
		f := strings.Fields(p.c1[0])
		if persist && len(f) > 0 {
			f = f[:len(f)-1]
		}
		idx, ok := 0, len(f) >= 2
		if ok {
			idx, ok = leadingInt(f[0])
		}
		if !ok {
			return nil, errAt(tool, p.l1, lines[p.l1], "the GPU index and name in the first cell")
		}
		d := Device{Index: idx, Vendor: vendor, Tool: tool, Name: strings.Join(f[1:], " "),
			BusID: firstField(p.c1[1]), Driver: driver}
		// "0%   33C   P0    N/A / N/A"
		f2 := strings.Fields(p.c2[0])
		if len(f2) < 4 {
			return nil, errAt(tool, p.l2, lines[p.l2], "fan, temperature, performance state and power usage/cap in the first cell")
		}
		if d.TempC, ok = intValue(f2[1], unitTemp...); !ok {
			return nil, errAt(tool, p.l2, lines[p.l2], "a temperature like 33C, got "+f2[1])
		}
		if d.PowerW, ok = intValue(powerUsage(strings.Join(f2[3:], " ")), unitPower...); !ok {
			return nil, errAt(tool, p.l2, lines[p.l2], "power usage like 74W / 500W or N/A / N/A, got "+strings.Join(f2[3:], " "))
		}
		if d.MemUsedMiB, d.MemTotalMiB, ok = usedTotal(p.c2[1], "MiB"); !ok {
			return nil, errAt(tool, p.l2, lines[p.l2], "memory usage like 114MiB / 32768MiB in the second cell")
		}
		if d.UtilPercent, ok = intValue(firstField(p.c2[2]), unitPercent...); !ok {
			return nil, errAt(tool, p.l2, lines[p.l2], "utilisation like 0% in the third cell")
		}
		markHealth(&d, p.c1, p.c2)
		d.ModelID = ModelID(vendor, d.Name)
		devs = append(devs, d)
	}
	return devs, nil
}

const toolMXSMI = "mx-smi"

// ParseMXSMI reads the table of `mx-smi` (MetaX). Index is the GPU column
// (the runtime's index), not the board number; GPU-State gives the health.
func ParseMXSMI(out []byte) ([]Device, error) {
	lines := splitLines(out)
	var driver, bios string
	for _, l := range lines {
		if v := versionAfter(l, "Driver Version:"); v != "" && driver == "" {
			driver = v
		}
		if v := versionAfter(l, "BIOS Version:"); v != "" && bios == "" {
			bios = v
		}
	}
	h1, h2, err := boxHeader(toolMXSMI, lines, "Board", "Name", `a table header row "| Board  Name | GPU  Persist-M | Bus-id | GPU-Util  sGPU-M |"`)
	if err != nil {
		return nil, err
	}
	if len(cells(lines[h1])) != 4 {
		return nil, errAt(toolMXSMI, h1, lines[h1], "4 header cells (Board Name, GPU, Bus-id, GPU-Util)")
	}
	pairs, err := boxRows(toolMXSMI, lines, h2)
	if err != nil {
		return nil, err
	}
	devs := make([]Device, 0, len(pairs))
	for _, p := range pairs {
		f := strings.Fields(p.c1[0])
		if len(f) < 2 {
			return nil, errAt(toolMXSMI, p.l1, lines[p.l1], "the board number and name in the first cell")
		}
		idx, ok := leadingInt(firstField(p.c1[1]))
		if !ok {
			return nil, errAt(toolMXSMI, p.l1, lines[p.l1], "the GPU index in the second cell")
		}
		d := Device{Index: idx, Vendor: MetaX, Tool: toolMXSMI, Name: strings.Join(f[1:], " "),
			BusID: firstField(p.c1[2]), Driver: driver, Firmware: bios}
		if d.UtilPercent, ok = intValue(firstField(p.c1[3]), unitPercent...); !ok {
			return nil, errAt(toolMXSMI, p.l1, lines[p.l1], "utilisation like 0% in the fourth cell")
		}
		if d.PowerW, ok = intValue(powerUsage(p.c2[0]), unitPower...); !ok {
			return nil, errAt(toolMXSMI, p.l2, lines[p.l2], "power usage like 57W / 350W in the first cell")
		}
		if d.TempC, ok = intValue(firstField(p.c2[1]), unitTemp...); !ok {
			return nil, errAt(toolMXSMI, p.l2, lines[p.l2], "a temperature like 35C in the second cell")
		}
		if d.MemUsedMiB, d.MemTotalMiB, ok = usedTotal(p.c2[2], "MiB"); !ok {
			return nil, errAt(toolMXSMI, p.l2, lines[p.l2], "memory usage like 826/65536 MiB in the third cell")
		}
		markHealth(&d, p.c1, p.c2)
		if d.Health.State == HealthOK {
			d.Health = mxState(p.c2[3])
		}
		d.ModelID = ModelID(MetaX, d.Name)
		devs = append(devs, d)
	}
	return devs, nil
}

// mxState maps mx-smi's GPU-State column.
func mxState(raw string) Health {
	l := strings.ToLower(raw)
	switch {
	case l == "available" || l == "normal" || l == "ok":
		return Health{State: HealthOK, Raw: raw}
	case strings.Contains(l, "err") || strings.Contains(l, "fault") || strings.Contains(l, "lost") || strings.Contains(l, "fail"):
		return Health{State: HealthError, Raw: raw}
	case strings.Contains(l, "warn"):
		return Health{State: HealthWarning, Raw: raw}
	}
	return Health{State: HealthUnknown, Raw: raw}
}

// powerUsage returns the usage half of "usage / cap" ("74W / 500W",
// "106 W/ 250 W", "N/A / N/A"), with spaces removed.
func powerUsage(s string) string {
	if i := strings.Index(s, " / "); i >= 0 {
		s = s[:i]
	} else if i := strings.Index(s, "W/"); i >= 0 {
		s = s[:i+1]
	}
	return strings.ReplaceAll(s, " ", "")
}
