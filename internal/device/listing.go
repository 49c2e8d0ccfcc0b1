package device

import (
	"strings"
)

// Parsers for the tools that print one block or one row per device without
// a full box: mthreads-gmi (Moore Threads) and xpu_smi (Kunlunxin).

const toolMTGMI = "mthreads-gmi"

// ParseMthreadsGMI reads the table of `mthreads-gmi` (Moore Threads). Each
// device is a block between "+----" rules whose first line holds the index,
// name, PCI address, utilisation and memory as "0MiB(81920MiB)" (used, then
// total in brackets) and whose second line holds the temperature.
func ParseMthreadsGMI(out []byte) ([]Device, error) {
	lines := splitLines(out)
	var driver string
	head := -1
	for i, l := range lines {
		if v := versionAfter(l, "Driver Version:"); v != "" && driver == "" {
			driver = v
		}
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "ID" && f[1] == "Name" && strings.Contains(l, "|") {
			head = i
			break
		}
	}
	if head < 0 {
		return nil, &ParseError{Tool: toolMTGMI, Want: `a table header row "ID   Name |PCIe |%GPU  Mem"`}
	}
	var devs []Device
	inBlock := false // after a rule, waiting for the first line of a device
	for i := head + 1; i < len(lines); i++ {
		l := lines[i]
		if isRule(l) {
			inBlock = true
			continue
		}
		if !inBlock {
			continue // the header's continuation lines
		}
		if !hasDigitStart(l) {
			break // the end of the device table
		}
		p := strings.Split(l, "|")
		if len(p) < 3 {
			return nil, errAt(toolMTGMI, i, l, `"index name | PCI address | util memory" separated by |`)
		}
		f := strings.Fields(p[0])
		idx, ok := leadingInt(f[0])
		if !ok || len(f) < 2 {
			return nil, errAt(toolMTGMI, i, l, "the device index and name before the first |")
		}
		d := Device{Index: idx, Vendor: MooreThread, Tool: toolMTGMI, Name: strings.Join(f[1:], " "),
			BusID: firstField(p[1]), Driver: driver}
		m := strings.Fields(p[2])
		if len(m) < 2 {
			return nil, errAt(toolMTGMI, i, l, "utilisation and memory like 0%  0MiB(81920MiB) after the second |")
		}
		if d.UtilPercent, ok = intValue(m[0], unitPercent...); !ok {
			return nil, errAt(toolMTGMI, i, l, "utilisation like 0%, got "+m[0])
		}
		if d.MemUsedMiB, d.MemTotalMiB, ok = usedTotal(strings.Join(m[1:], ""), "MiB"); !ok {
			return nil, errAt(toolMTGMI, i, l, "memory like 0MiB(81920MiB), got "+strings.Join(m[1:], " "))
		}
		if i+1 >= len(lines) || isRule(lines[i+1]) || strings.TrimSpace(lines[i+1]) == "" {
			return nil, errAt(toolMTGMI, i+1, lineAt(lines, i+1), "the device's second line with its temperature; the output looks truncated")
		}
		i++
		l2 := lines[i]
		p2 := strings.Split(l2, "|")
		if len(p2) < 3 {
			return nil, errAt(toolMTGMI, i, l2, `"type perf | lanes | temperature" separated by |`)
		}
		if d.TempC, ok = intValue(firstField(p2[2]), unitTemp...); !ok {
			return nil, errAt(toolMTGMI, i, l2, "a temperature like 47C after the second |")
		}
		markHealth(&d, p, p2)
		d.ModelID = ModelID(MooreThread, d.Name)
		devs = append(devs, d)
		inBlock = false
	}
	if len(devs) == 0 {
		return nil, &ParseError{Tool: toolMTGMI, Line: len(lines), Want: "at least one device block below the header"}
	}
	return devs, nil
}

const toolXPUSMI = "xpu_smi"

// ParseXPUSMI reads the DEVICES table of `xpu_smi` (Kunlunxin); columns are
// found by their header names. The SN column gives UUID.
func ParseXPUSMI(out []byte) ([]Device, error) {
	lines := splitLines(out)
	var driver string
	head := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "Driver Version") && driver == "" {
			driver = versionAfter(l, "Driver Version")
		}
		c := cells(l)
		if len(c) >= 3 && c[0] == "DevID" && hasField(c, "Memory") {
			head = i
			break
		}
	}
	if head < 0 {
		return nil, &ParseError{Tool: toolXPUSMI, Want: `a DEVICES table header "| DevID | PCI Addr | Model | … | Memory |"`}
	}
	hc := cells(lines[head])
	col := map[string]int{}
	for k, name := range hc {
		col[name] = k
	}
	if _, ok := col["Model"]; !ok {
		return nil, errAt(toolXPUSMI, head, lines[head], "a Model column in the header")
	}
	get := func(c []string, name string) string {
		if k, ok := col[name]; ok {
			return c[k]
		}
		return ""
	}
	var devs []Device
	for i := head + 1; i < len(lines); i++ {
		l := lines[i]
		if isRule(l) {
			if len(devs) > 0 {
				break
			}
			continue
		}
		if strings.TrimSpace(l) == "" {
			break
		}
		c := cells(l)
		if len(c) != len(hc) {
			return nil, errAt(toolXPUSMI, i, l, itoa(len(hc))+" cells separated by | as in the header")
		}
		idx, ok := leadingInt(c[0])
		if !ok || !allDigits(c[0]) {
			return nil, errAt(toolXPUSMI, i, l, "the device id under DevID")
		}
		d := Device{Index: idx, Vendor: Kunlunxin, Tool: toolXPUSMI, Name: get(c, "Model"),
			BusID: get(c, "PCI Addr"), UUID: get(c, "SN"), Driver: driver}
		if v := get(c, "UseRate"); v != "" {
			if d.UtilPercent, ok = intValue(strings.ReplaceAll(v, " ", ""), unitPercent...); !ok {
				return nil, errAt(toolXPUSMI, i, l, "utilisation like 0 % under UseRate, got "+v)
			}
		}
		if d.MemUsedMiB, d.MemTotalMiB, ok = usedTotal(get(c, "Memory"), "MB"); !ok {
			return nil, errAt(toolXPUSMI, i, l, "memory like 0 / 32768 MB under Memory, got "+get(c, "Memory"))
		}
		markHealth(&d, c)
		d.ModelID = ModelID(Kunlunxin, d.Name)
		devs = append(devs, d)
	}
	if len(devs) == 0 {
		return nil, &ParseError{Tool: toolXPUSMI, Line: len(lines), Want: "at least one device row below the DEVICES header"}
	}
	return devs, nil
}
