package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed data/throughput.yaml
var embeddedThroughput []byte

// WorkloadClass is a kind of work whose throughput differs by accelerator
// (dense LLM pre-training, LLM decode, vision training …), with the unit
// its throughput is counted in.
type WorkloadClass struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Unit      string `json:"unit"` // per card: tokens/s, samples/s, steps/s
	Reference string `json:"reference,omitempty"`
	// FLOPsPerUnit and ClassEfficiency derive a figure from peak FP16
	// FLOPS where no entry exists (see Rate).
	FLOPsPerUnit    float64 `json:"flops_per_unit"`
	ClassEfficiency float64 `json:"class_efficiency,omitempty"`
	Note            string  `json:"note,omitempty"`
}

// StackEfficiency is the share of peak FLOPS a software stack's training
// and inference frameworks typically reach (model FLOPs utilisation).
type StackEfficiency struct {
	Stack string     `json:"stack"` // a software_stack prefix, or "*" for any other
	V     float64    `json:"v"`
	Conf  Confidence `json:"conf"`
	Note  string     `json:"note,omitempty"`
}

// RateFigure is one throughput figure of the matrix: per card, in its
// class's unit.
type RateFigure struct {
	Class   string     `json:"class"`
	Model   string     `json:"model"`
	V       float64    `json:"v"`
	Unit    string     `json:"unit,omitempty"`
	Conf    Confidence `json:"conf"`
	Sources []string   `json:"src,omitempty"`
	Note    string     `json:"note,omitempty"`
}

// Throughput is the throughput matrix: workload class × accelerator model.
type Throughput struct {
	classes []WorkloadClass
	stacks  []StackEfficiency
	entries map[[2]string]RateFigure
	sources map[string]string
}

type rawThroughput struct {
	SchemaVersion   int               `json:"schema_version"`
	Classes         []WorkloadClass   `json:"classes"`
	StackEfficiency []StackEfficiency `json:"stack_efficiency"`
	Entries         []RateFigure      `json:"entries"`
	Sources         []struct {
		ID  string `json:"id"`
		Ref string `json:"ref"`
	} `json:"sources"`
}

// DefaultThroughput is the embedded matrix. It panics only if the
// embedded data is broken, which its tests rule out.
func DefaultThroughput() *Throughput {
	t, err := (&Throughput{entries: map[[2]string]RateFigure{}, sources: map[string]string{}}).Overlay(embeddedThroughput, "embedded throughput.yaml")
	if err != nil {
		panic(fmt.Sprintf("catalog: embedded throughput data: %v", err))
	}
	return t
}

// LoadThroughputFile overlays an operator's file on the default matrix.
func LoadThroughputFile(path string) (*Throughput, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DefaultThroughput().Overlay(data, path)
}

// Overlay returns a new matrix with the file's classes, stack efficiencies
// and entries added or replacing those of the same id (class; stack;
// class and model). Every problem is reported with its path.
func (t *Throughput) Overlay(data []byte, name string) (*Throughput, error) {
	var f rawThroughput
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	o := &overlay{name: name, next: t.clone()}
	if f.SchemaVersion != 0 && f.SchemaVersion != 1 {
		o.bad("schema_version", "%d: this build reads version 1", f.SchemaVersion)
	}
	for _, s := range f.Sources {
		o.next.sources[s.ID] = s.Ref
	}
	o.classes(f.Classes)
	o.stacks(f.StackEfficiency)
	o.entries(f.Entries)
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}
	return o.next, nil
}

// clone is a copy of t that an overlay may change.
func (t *Throughput) clone() *Throughput {
	next := &Throughput{classes: slices.Clone(t.classes), stacks: slices.Clone(t.stacks),
		entries: make(map[[2]string]RateFigure, len(t.entries)), sources: make(map[string]string, len(t.sources))}
	for k, v := range t.entries {
		next.entries[k] = v
	}
	for k, v := range t.sources {
		next.sources[k] = v
	}
	return next
}

// overlay is one file being applied onto a copy of a matrix: the result
// and the problems found, each with its path in the file.
type overlay struct {
	name string
	next *Throughput
	errs []error
}

func (o *overlay) bad(path, format string, a ...any) {
	o.errs = append(o.errs, fmt.Errorf("%s: %s: %s", o.name, path, fmt.Sprintf(format, a...)))
}

// classes adds or replaces workload classes.
func (o *overlay) classes(classes []WorkloadClass) {
	for i, c := range classes {
		p := fmt.Sprintf("classes[%d]", i)
		switch {
		case strings.TrimSpace(c.ID) == "":
			o.bad(p+".id", "missing")
			continue
		case c.Unit == "":
			o.bad(p+".unit", "missing: say what the figures count (tokens/s, samples/s, steps/s)")
		case !(c.FLOPsPerUnit > 0) || math.IsInf(c.FLOPsPerUnit, 0):
			o.bad(p+".flops_per_unit", "%v must be positive (FLOPs one unit of work takes)", c.FLOPsPerUnit)
		case c.ClassEfficiency < 0 || c.ClassEfficiency > 1 || math.IsNaN(c.ClassEfficiency):
			o.bad(p+".class_efficiency", "%v must be between 0 and 1 (0: 1)", c.ClassEfficiency)
		}
		if k := slices.IndexFunc(o.next.classes, func(x WorkloadClass) bool { return x.ID == c.ID }); k >= 0 {
			o.next.classes[k] = c
		} else {
			o.next.classes = append(o.next.classes, c)
		}
	}
}

// stacks adds or replaces stack efficiencies.
func (o *overlay) stacks(stacks []StackEfficiency) {
	for i, s := range stacks {
		p := fmt.Sprintf("stack_efficiency[%d]", i)
		if s.Stack == "" {
			o.bad(p+".stack", "missing (a software_stack prefix, or * for any other)")
			continue
		}
		if !(s.V > 0 && s.V <= 1) {
			o.bad(p+".v", "%v must be in (0, 1]", s.V)
		}
		if s.Conf == "" {
			s.Conf = Unverified
		}
		if !s.Conf.valid() {
			o.bad(p+".conf", "%q is not a confidence level", s.Conf)
		}
		if k := slices.IndexFunc(o.next.stacks, func(x StackEfficiency) bool { return x.Stack == s.Stack }); k >= 0 {
			o.next.stacks[k] = s
		} else {
			o.next.stacks = append(o.next.stacks, s)
		}
	}
}

// entries adds or replaces measured rates; their classes and sources must
// be known (the file's own included).
func (o *overlay) entries(entries []RateFigure) {
	for i, e := range entries {
		p := fmt.Sprintf("entries[%d]", i)
		if !slices.ContainsFunc(o.next.classes, func(x WorkloadClass) bool { return x.ID == e.Class }) {
			o.bad(p+".class", "%q is not a workload class", e.Class)
			continue
		}
		if e.Model == "" {
			o.bad(p+".model", "missing (a catalog id)")
			continue
		}
		if !(e.V > 0) || math.IsInf(e.V, 0) {
			o.bad(p+".v", "%v must be a positive throughput", e.V)
		}
		if e.Conf == "" || !e.Conf.valid() || e.Conf == Unknown {
			o.bad(p+".conf", "%q: give vendor-spec, observed, derived, press, override or unverified", e.Conf)
		}
		for _, s := range e.Sources {
			if _, ok := o.next.sources[s]; !ok {
				o.bad(p+".src", "source %q is not in sources", s)
			}
		}
		o.next.entries[[2]string{e.Class, e.Model}] = e
	}
}

// Classes lists the workload classes.
func (t *Throughput) Classes() []WorkloadClass { return slices.Clone(t.classes) }

// Class returns a workload class by id.
func (t *Throughput) Class(id string) (WorkloadClass, bool) {
	k := slices.IndexFunc(t.classes, func(x WorkloadClass) bool { return x.ID == id })
	if k < 0 {
		return WorkloadClass{}, false
	}
	return t.classes[k], true
}

// Source returns a source's reference.
func (t *Throughput) Source(id string) string { return t.sources[id] }

// Entries lists the measured (non-derived) entries, by class then model.
func (t *Throughput) Entries() []RateFigure {
	var out []RateFigure
	for _, e := range t.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b RateFigure) int {
		return strings.Compare(a.Class+"\x00"+a.Model, b.Class+"\x00"+b.Model)
	})
	return out
}

// StackEfficiency returns the efficiency of a software stack: the longest
// prefix given, else "*".
func (t *Throughput) StackEfficiency(stack string) (StackEfficiency, bool) {
	best, fallback := -1, -1
	for i, s := range t.stacks {
		if s.Stack == "*" {
			fallback = i
			continue
		}
		if strings.HasPrefix(strings.ToLower(stack), strings.ToLower(s.Stack)) && (best < 0 || len(s.Stack) > len(t.stacks[best].Stack)) {
			best = i
		}
	}
	if best < 0 {
		best = fallback
	}
	if best < 0 {
		return StackEfficiency{}, false
	}
	return t.stacks[best], true
}

// Rate is the throughput of one card of m on the class: the entry where
// the matrix has one, else derived from peak FP16 FLOPS × the stack's
// efficiency × the class's efficiency ÷ FLOPs per unit (conf derived).
// ok is false for an unknown class, or a model with neither an entry nor
// a peak FP16 figure.
func (t *Throughput) Rate(class string, m *Model) (RateFigure, bool) {
	c, ok := t.Class(class)
	if !ok {
		return RateFigure{}, false
	}
	if e, ok := t.entries[[2]string{class, m.ID}]; ok {
		e.Unit = c.Unit
		return e, true
	}
	gflops, _, ok := m.FP16GFLOPS()
	if !ok || gflops <= 0 {
		return RateFigure{}, false
	}
	se, ok := t.StackEfficiency(m.Stack)
	if !ok {
		return RateFigure{}, false
	}
	ce := c.ClassEfficiency
	if ce == 0 {
		ce = 1
	}
	v := float64(gflops) * 1e9 * se.V * ce / c.FLOPsPerUnit
	note := fmt.Sprintf("%g TFLOPS FP16 × %g (%s) × %g (class) ÷ %g FLOPs/unit", float64(gflops)/1000, se.V, se.Stack, ce, c.FLOPsPerUnit)
	return RateFigure{Class: class, Model: m.ID, V: v, Unit: c.Unit, Conf: Derived, Note: note}, true
}
