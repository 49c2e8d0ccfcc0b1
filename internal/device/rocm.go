package device

import (
	"strings"
)

const (
	toolROCmSMI = "rocm-smi"
	toolHYSMI   = "hy-smi"
)

// ParseROCmSMI reads the concise table of `rocm-smi`. AMD's build names the
// first column Device (or GPU) and Hygon's DCU builds name it DCU or HCU,
// which is how the vendor is told apart. The concise table names a card only
// by its PCI device id (IDs column, e.g. 0x74a2), which becomes Name; a
// table without it (Hygon) leaves Name empty, so those cards are reported as
// unknown models. The table shows memory only as a percentage, so memory
// figures stay zero.
func ParseROCmSMI(out []byte) ([]Device, error) { return parseConcise(toolROCmSMI, "", out) }

// ParseHYSMI reads the table of `hy-smi` (Hygon DCU), the same layout as
// Hygon's rocm-smi.
func ParseHYSMI(out []byte) ([]Device, error) { return parseConcise(toolHYSMI, Hygon, out) }

type conciseCol struct {
	name  string
	start int // rune offset of the header word
}

func parseConcise(tool, vendor string, out []byte) ([]Device, error) {
	lines := splitLines(out)
	head := -1
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[0] == "Device" || f[0] == "GPU" || f[0] == "DCU" || f[0] == "HCU") && strings.Contains(l, "Temp") {
			head = i
			break
		}
	}
	if head < 0 {
		return nil, &ParseError{Tool: tool, Want: `a table header row "Device|GPU|DCU|HCU  …  Temp  …"`}
	}
	first := strings.Fields(lines[head])[0]
	if vendor == "" {
		vendor = AMD
		if first == "DCU" || first == "HCU" {
			vendor = Hygon
		}
	}
	cols := headerCols(lines[head])
	var devs []Device
	for i := head + 1; i < len(lines); i++ {
		l := lines[i]
		if isRule(l) {
			if len(devs) > 0 {
				break
			}
			continue
		}
		if !hasDigitStart(l) {
			if len(devs) > 0 {
				break
			}
			continue // the second header line: "(DID, GUID) (Junction) …"
		}
		vals := rowValues(l, cols)
		d := Device{Vendor: vendor, Tool: tool}
		markHealth(&d, vals)
		for k, c := range cols {
			v := vals[k]
			ok := true
			switch c.name {
			case first:
				d.Index, ok = leadingInt(v)
				ok = ok && allDigits(v)
			case "IDs":
				d.Name = strings.TrimSuffix(firstField(v), ",")
			case "Temp":
				d.TempC, ok = intValue(v, unitTemp...)
			case "AvgPwr", "Power":
				d.PowerW, ok = intValue(v, unitPower...)
			case "GPU%", "DCU%", "HCU%":
				d.UtilPercent, ok = intValue(v, unitPercent...)
			}
			if !ok && !errorMarker(v) {
				return nil, errAt(tool, i, l, "a value under "+c.name+", got "+v)
			}
		}
		d.ModelID = ModelID(vendor, d.Name)
		devs = append(devs, d)
	}
	if len(devs) == 0 {
		return nil, &ParseError{Tool: tool, Line: len(lines), Want: "at least one device row below the header"}
	}
	return devs, nil
}

// headerCols returns the words of a header line with their rune offsets.
func headerCols(l string) []conciseCol {
	var cols []conciseCol
	pos, start := 0, -1
	for _, r := range l + " " {
		if r == ' ' || r == '\t' {
			if start >= 0 {
				cols = append(cols, conciseCol{name: string([]rune(l)[start:pos]), start: start})
				start = -1
			}
		} else if start < 0 {
			start = pos
		}
		pos++
	}
	return cols
}

// rowValues splits a data row into one value per header column. When the row
// has exactly one word per column the words are used; otherwise (values with
// spaces such as "0x74a2,   1017" or "NPS1, SPX, 0") the row is cut at the
// header words' offsets, as the tool aligns values under their headers.
func rowValues(l string, cols []conciseCol) []string {
	f := strings.Fields(l)
	if len(f) == len(cols) {
		return f
	}
	r := []rune(l)
	vals := make([]string, len(cols))
	for k, c := range cols {
		end := len(r)
		if k+1 < len(cols) {
			end = cols[k+1].start
		}
		if c.start >= len(r) {
			continue
		}
		if end > len(r) {
			end = len(r)
		}
		vals[k] = strings.TrimSpace(string(r[c.start:end]))
	}
	return vals
}
