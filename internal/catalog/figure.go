package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Confidence says how much a figure can be trusted. The values are the
// vocabulary of the catalog data file and are API: they show in every
// capacity report.
type Confidence string

// Confidence levels, from the strongest to the weakest evidence.
const (
	VendorSpec Confidence = "vendor-spec" // the vendor's own published figure
	Observed   Confidence = "observed"    // seen in real tool output or shipped device-plugin config
	Derived    Confidence = "derived"     // arithmetic on other cited figures
	Press      Confidence = "press"       // a media or analyst figure
	Unverified Confidence = "unverified"  // a repeated figure with no primary source found
	Override   Confidence = "override"    // supplied by the operator's network spec or catalog file
	Unknown    Confidence = "unknown"     // no figure at all
)

// Confidences lists every level in report order.
var Confidences = []Confidence{VendorSpec, Observed, Derived, Press, Override, Unverified, Unknown}

// Estimate reports whether a figure of this confidence rests on an estimate
// rather than a vendor specification or an observation.
func (c Confidence) Estimate() bool {
	switch c {
	case VendorSpec, Observed:
		return false
	}
	return true
}

func (c Confidence) valid() bool {
	for _, k := range Confidences {
		if c == k {
			return true
		}
	}
	return false
}

// Figure is one catalog number with its provenance. Milli is the value in
// thousandths of the field's unit (TFLOPS, GB, GB/s, W), so that sums over a
// network stay exact integers. Known is false when the catalog has no value;
// Low and High keep the range sources disagree on (in the same unit, zero
// when none).
type Figure struct {
	Milli     int64      `json:"milli"`
	Known     bool       `json:"known"`
	Low, High int64      `json:"-"`
	Conf      Confidence `json:"conf"`
	Sources   []string   `json:"sources,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// Value returns the figure in its unit as a float, for display only.
func (f Figure) Value() float64 { return float64(f.Milli) / 1000 }

// String renders the figure with its confidence, e.g. "96 (vendor-spec)".
func (f Figure) String() string {
	if !f.Known {
		if f.High > 0 {
			return fmt.Sprintf("? [%s-%s] (%s)", milliString(f.Low), milliString(f.High), f.Conf)
		}
		return "?"
	}
	return fmt.Sprintf("%s (%s)", milliString(f.Milli), f.Conf)
}

func milliString(m int64) string {
	s := strconv.FormatInt(m/1000, 10)
	if r := m % 1000; r != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", r), "0")
	}
	return s
}

// rawFigure is the data file's {v, range, conf, src, note} form.
type rawFigure struct {
	V     *float64   `json:"v"`
	Range []float64  `json:"range"`
	Conf  Confidence `json:"conf"`
	Src   []string   `json:"src"`
	Note  string     `json:"note"`
}

// UnmarshalJSON accepts either the {v, conf, ...} form or a bare number
// (taken as an operator override).
func (r *rawFigure) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*r = rawFigure{V: &n, Conf: Override}
		return nil
	}
	type plain rawFigure
	return json.Unmarshal(b, (*plain)(r))
}

func toMilli(v float64) (int64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1e12 {
		return 0, fmt.Errorf("value %v out of range (want a finite number ≥ 0)", v)
	}
	return int64(math.Round(v * 1000)), nil
}

func (r *rawFigure) figure() (Figure, error) {
	if r == nil {
		return Figure{Conf: Unknown}, nil
	}
	f := Figure{Conf: r.Conf, Sources: r.Src, Note: r.Note}
	if f.Conf == "" {
		f.Conf = Unverified
	}
	if base, _, qualified := strings.Cut(string(f.Conf), "-"); qualified && !f.Conf.valid() && Confidence(base).valid() {
		// A qualified level such as "observed-ambiguous" is weaker than its
		// base: keep the figure, count it as unverified, say why.
		f.Note = strings.TrimSpace(f.Note + " (confidence in the data: " + string(f.Conf) + ")")
		f.Conf = Unverified
	}
	if !f.Conf.valid() {
		return f, fmt.Errorf("conf %q is not one of %v", r.Conf, Confidences)
	}
	if r.V != nil {
		m, err := toMilli(*r.V)
		if err != nil {
			return f, err
		}
		f.Milli, f.Known = m, true
	}
	if len(r.Range) == 2 {
		lo, err1 := toMilli(r.Range[0])
		hi, err2 := toMilli(r.Range[1])
		if err1 != nil || err2 != nil || lo > hi {
			return f, fmt.Errorf("range %v is not [low, high]", r.Range)
		}
		f.Low, f.High = lo, hi
	} else if len(r.Range) != 0 {
		return f, fmt.Errorf("range %v must have two numbers", r.Range)
	}
	return f, nil
}
