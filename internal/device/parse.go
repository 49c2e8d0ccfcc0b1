package device

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// ParseError says which tool's output could not be read, on which line
// (1-based; 0 when the problem is the output as a whole) and what the parser
// expected there.
type ParseError struct {
	Tool string
	Line int
	Want string
	Got  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s output: expected %s; is this the output of %s?", e.Tool, e.Want, e.Tool)
	}
	got := e.Got
	if len(got) > 120 {
		got = got[:120] + "…"
	}
	return fmt.Sprintf("%s output line %d: expected %s; the line reads %q", e.Tool, e.Line, e.Want, got)
}

func errAt(tool string, line int, text, want string) *ParseError {
	return &ParseError{Tool: tool, Line: line + 1, Want: want, Got: strings.TrimSpace(text)}
}

// splitLines splits tool output into lines without their line endings.
func splitLines(out []byte) []string {
	s := strings.ReplaceAll(string(out), "\r\n", "\n")
	return strings.Split(s, "\n")
}

// cells splits a box-drawn table row ("| a | b |") into its trimmed cells.
func cells(line string) []string {
	t := strings.TrimSpace(line)
	t = strings.TrimPrefix(t, "|")
	t = strings.TrimSuffix(t, "|")
	parts := strings.Split(t, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// isRule reports whether a line is a table rule such as "+----+====+" or
// "---------".
func isRule(line string) bool {
	t := strings.TrimSpace(line)
	if t == "" {
		return false
	}
	for _, r := range t {
		if r != '-' && r != '=' && r != '+' && r != '|' {
			return false
		}
	}
	return true
}

// notAvailable reports whether a value means "the tool has no figure".
func notAvailable(s string) bool {
	switch strings.ToUpper(strings.Trim(s, "[] ")) {
	case "N/A", "NA", "-", "", "NOT SUPPORTED", "UNKNOWN ERROR":
		return true
	}
	return false
}

// errorMarker reports whether a value is a tool's way of saying the card is
// broken.
func errorMarker(s string) bool {
	u := strings.ToUpper(s)
	return strings.Contains(u, "ERR!") || strings.Contains(u, "GPU IS LOST") ||
		strings.Contains(u, "REQUIRES RESET") || strings.Contains(u, "ERROR")
}

// number reads a decimal number with an optional unit suffix ("155.0W",
// "43.0°C", "0%", "500MHz") and returns the number and the unit.
func number(s string) (float64, string, bool) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || (end == 0 && (s[end] == '-' || s[end] == '+'))) {
		end++
	}
	if end == 0 {
		return 0, "", false
	}
	v, err := strconv.ParseFloat(s[:end], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
		return 0, "", false
	}
	return v, strings.TrimSpace(s[end:]), true
}

// intValue reads a whole number with one of the allowed unit suffixes
// (compared without case; "" means none), rounding decimals. "N/A" reads as
// zero.
func intValue(s string, units ...string) (int, bool) {
	if notAvailable(s) {
		return 0, true
	}
	v, unit, ok := number(s)
	if !ok {
		return 0, false
	}
	if len(units) > 0 && !unitIn(unit, units) {
		return 0, false
	}
	return int(math.Round(v)), true
}

func unitIn(unit string, units []string) bool {
	for _, u := range units {
		if strings.EqualFold(unit, u) {
			return true
		}
	}
	return false
}

// Unit suffixes accepted for each kind of figure.
var (
	unitPercent = []string{"%", ""}
	unitTemp    = []string{"C", "°C", "c", "℃", ""}
	unitPower   = []string{"W", ""}
)

// mib converts a size to MiB. defUnit applies when the text has no unit.
// The "MB" of npu-smi, xpu_smi and cnmon is a binary megabyte (a 64 GiB card
// reads 65536 MB), so MB and MiB are the same here; "B" is bytes (hy-smi and
// rocm-smi --showmeminfo).
func mib(s, defUnit string) (int64, bool) {
	if notAvailable(s) {
		return 0, true
	}
	v, unit, ok := number(s)
	if !ok || v < 0 {
		return 0, false
	}
	if unit == "" {
		unit = defUnit
	}
	var f float64
	switch strings.ToLower(unit) {
	case "b":
		f = v / (1 << 20)
	case "kb", "kib":
		f = v / 1024
	case "mb", "mib", "m":
		f = v
	case "gb", "gib", "g":
		f = v * 1024
	case "tb", "tib":
		f = v * 1024 * 1024
	default:
		return 0, false
	}
	return int64(math.Round(f)), true
}

// usedTotal reads "826/65536 MiB", "0 MiB/ 23374 MiB", "3318 / 65536" or
// "0MiB(81920MiB)" into used and total MiB.
func usedTotal(s, defUnit string) (used, total int64, ok bool) {
	s = strings.TrimSpace(s)
	var a, b string
	switch {
	case strings.Contains(s, "/"):
		a, b, _ = strings.Cut(s, "/")
	case strings.HasSuffix(s, ")") && strings.Contains(s, "("):
		a, b, _ = strings.Cut(strings.TrimSuffix(s, ")"), "(")
	default:
		return 0, 0, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	// "826/65536 MiB": the unit is written once, after the total.
	_, unitB, okB := number(b)
	if !okB {
		return 0, 0, false
	}
	if unitB == "" {
		unitB = defUnit
	}
	if _, unitA, okA := number(a); okA && unitA == "" {
		a += unitB
	}
	used, ok1 := mib(a, unitB)
	total, ok2 := mib(b, unitB)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return used, total, true
}

// joinPairs rewrites the tokens of "0    / 0" as one token "0/0", so that a
// used/total pair counts as one column value.
func joinPairs(fields []string) []string {
	var out []string
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case f == "/" && len(out) > 0 && i+1 < len(fields):
			out[len(out)-1] += "/" + fields[i+1]
			i++
		case strings.HasSuffix(f, "/") && len(f) > 1 && i+1 < len(fields):
			out = append(out, f+fields[i+1])
			i++
		case strings.HasPrefix(f, "/") && len(f) > 1 && len(out) > 0:
			out[len(out)-1] += f
		default:
			out = append(out, f)
		}
	}
	return out
}

// versionAfter returns the first whitespace-delimited word after label in
// line ("Driver Version: 4.1.0" → "4.1.0"), "" when the label is absent.
func versionAfter(line, label string) string {
	i := strings.Index(line, label)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(line[i+len(label):], " :\t")
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimRight(f[0], "|")
}

// leadingInt reads the decimal integer a string starts with.
func leadingInt(s string) (int, bool) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 || end > 6 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}

// hasDigitStart reports whether a trimmed line starts with a digit.
func hasDigitStart(s string) bool {
	t := strings.TrimSpace(s)
	return t != "" && unicode.IsDigit(rune(t[0]))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// firstField returns the first whitespace-delimited word of s.
func firstField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
