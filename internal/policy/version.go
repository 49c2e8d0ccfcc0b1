package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Node labels that carry the software a card runs; agents set them from the
// vendor tool's output.
const (
	LabelFirmware = "suanli.io/firmware"
	LabelDriver   = "suanli.io/driver"
)

// Version is a semver-ish version: runs of digits and runs of letters,
// separated by '.', '-' or '_' (or by nothing, between a digit and a
// letter), with an optional leading "v" and "+build" suffix ignored.
// "24.1.0", "23.0.rc3", "535.104.05" and "7.1.0.5.220" all parse.
//
// Ordering compares part by part, the shorter padded with zeros: numbers by
// value, words alphabetically (case-insensitively), and a word sorts before
// any number, so "24.1.rc1" < "24.1" = "24.1.0" < "24.1.0.1".
type Version struct {
	raw string
	// The parts, inline up to len(small) so that reading a node's label on
	// the scheduler's path allocates nothing.
	n     int
	small [8]vpart
	more  []vpart
}

func (v *Version) part(i int) vpart {
	if i < len(v.small) {
		return v.small[i]
	}
	return v.more[i-len(v.small)]
}

func (v *Version) push(p vpart) {
	if v.n < len(v.small) {
		v.small[v.n] = p
	} else {
		v.more = append(v.more, p)
	}
	v.n++
}

type vpart struct {
	word string // lower-case letters, or "" for a number
	num  string // digits without leading zeros ("" is zero)
}

const maxVersionLen = 64

// ParseVersion parses a version string.
func ParseVersion(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	t := raw
	if i := strings.IndexByte(t, '+'); i >= 0 {
		for j := i + 1; j < len(t); j++ {
			if c := t[j]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
				return Version{}, fmt.Errorf("version %q has %q in its build suffix", s, c)
			}
		}
		t = t[:i]
	}
	if len(t) > 1 && (t[0] == 'v' || t[0] == 'V') && isDigit(t[1]) {
		t = t[1:]
	}
	switch {
	case t == "":
		return Version{}, fmt.Errorf("version %q is empty", s)
	case len(t) > maxVersionLen:
		return Version{}, fmt.Errorf("version %q is longer than %d characters", s, maxVersionLen)
	case !isDigit(t[0]):
		return Version{}, fmt.Errorf("version %q must start with a number", s)
	}
	v := Version{raw: raw}
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case c == '.' || c == '-' || c == '_':
			if i+1 == len(t) || !isAlnum(t[i+1]) {
				return Version{}, fmt.Errorf("version %q has an empty part", s)
			}
			i++
		case isDigit(c):
			j := i
			for j < len(t) && isDigit(t[j]) {
				j++
			}
			v.push(vpart{num: strings.TrimLeft(t[i:j], "0")})
			i = j
		case isLetter(c):
			j := i
			for j < len(t) && isLetter(t[j]) {
				j++
			}
			v.push(vpart{word: strings.ToLower(t[i:j])})
			i = j
		default:
			return Version{}, fmt.Errorf("version %q has %q; use digits, letters, '.', '-' and '_'", s, c)
		}
	}
	return v, nil
}

// String returns the version as written.
func (v Version) String() string { return v.raw }

// Compare returns -1, 0 or +1 as v sorts before, with or after w.
func (v *Version) Compare(w *Version) int {
	for i := range max(v.n, w.n) {
		var a, b vpart
		if i < v.n {
			a = v.part(i)
		}
		if i < w.n {
			b = w.part(i)
		}
		if c := a.compare(b); c != 0 {
			return c
		}
	}
	return 0
}

func (a vpart) compare(b vpart) int {
	switch {
	case a.word != "" && b.word != "":
		return strings.Compare(a.word, b.word)
	case a.word != "":
		return -1
	case b.word != "":
		return 1
	case len(a.num) != len(b.num):
		if len(a.num) < len(b.num) {
			return -1
		}
		return 1
	}
	return strings.Compare(a.num, b.num)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }

// Range is a set of versions: comparators joined by spaces (all must hold),
// alternatives joined by "||" (any may hold). ">=24.1.0 <25",
// "<23.0.3 || =23.0.5", "*". A bare version means "=".
type Range struct {
	alts [][]comparator
}

type comparator struct {
	op string // "", "=", "!=", "<", "<=", ">", ">="; "" is "any"
	v  Version
}

var ops = []string{">=", "<=", "!=", "==", ">", "<", "="}

// ParseRange parses a version range.
func ParseRange(s string) (Range, error) {
	if strings.TrimSpace(s) == "" {
		return Range{}, errors.New("range is empty; write e.g. \">=24.1.0 <25\" or \"*\"")
	}
	if len(s) > 512 {
		return Range{}, fmt.Errorf("range is %d characters long; 512 at most", len(s))
	}
	var r Range
	var errs []error
	for _, alt := range strings.Split(s, "||") {
		set, err := parseSet(alt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.alts = append(r.alts, set)
	}
	if len(errs) > 0 {
		return Range{}, errors.Join(errs...)
	}
	return r, nil
}

func parseSet(s string) ([]comparator, error) {
	fields := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(fields) == 0 {
		return nil, errors.New("range has an empty alternative around \"||\"")
	}
	var set []comparator
	var errs []error
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f == "*" || f == "x" || f == "X" {
			set = append(set, comparator{})
			continue
		}
		op := "="
		for _, o := range ops {
			if strings.HasPrefix(f, o) {
				op, f = o, f[len(o):]
				break
			}
		}
		if op == "==" {
			op = "="
		}
		if f == "" && i+1 < len(fields) { // ">= 24.1"
			i++
			f = fields[i]
		}
		v, err := ParseVersion(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set = append(set, comparator{op: op, v: v})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if empty(set) {
		return nil, fmt.Errorf("%q matches no version", strings.TrimSpace(s))
	}
	return set, nil
}

// empty reports whether the bounds of one set exclude every version.
func empty(set []comparator) bool {
	var lo, hi *comparator
	for i := range set {
		c := &set[i]
		switch c.op {
		case ">", ">=", "=":
			if lo == nil || c.v.Compare(&lo.v) > 0 || c.v.Compare(&lo.v) == 0 && c.op == ">" {
				lo = c
			}
		}
		switch c.op {
		case "<", "<=", "=":
			if hi == nil || c.v.Compare(&hi.v) < 0 || c.v.Compare(&hi.v) == 0 && c.op == "<" {
				hi = c
			}
		}
	}
	if lo == nil || hi == nil {
		return false
	}
	cmp := lo.v.Compare(&hi.v)
	return cmp > 0 || cmp == 0 && (lo.op == ">" || hi.op == "<")
}

// IsZero reports whether the range was never set (it then matches nothing;
// callers treat an unset range as "no condition").
func (r Range) IsZero() bool { return len(r.alts) == 0 }

// Contains reports whether v is in the range.
func (r Range) Contains(v Version) bool {
	return r.contains(&v)
}

func (r *Range) contains(v *Version) bool {
	for _, set := range r.alts {
		ok := true
		for i := range set {
			if !set[i].holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *comparator) holds(v *Version) bool {
	cmp := v.Compare(&c.v)
	switch c.op {
	case "":
		return true
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

// String renders the range canonically (it parses back to the same range).
func (r Range) String() string {
	alts := make([]string, len(r.alts))
	for i, set := range r.alts {
		cs := make([]string, len(set))
		for j, c := range set {
			if c.op == "" {
				cs[j] = "*"
			} else {
				cs[j] = c.op + c.v.raw
			}
		}
		alts[i] = strings.Join(cs, " ")
	}
	return strings.Join(alts, " || ")
}
