package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Action is what an advisory does to the cards it covers.
type Action string

// Advisory actions, from the mildest.
const (
	// Watch only records the advisory: placements go on, the compliance
	// report shows what it covers.
	Watch Action = "watch"
	// Drain stops new placements of the affected job classes on the
	// covered cards; running work stays.
	Drain Action = "drain"
	// Evict drains and also moves the affected running jobs: Violations
	// reports them, whole gangs, and the core requeues them at their
	// original queue position to compliant capacity.
	Evict Action = "evict"
)

// Severity grades an advisory.
type Severity string

// Severities.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Advisory is a security advisory filed against a vendor, models and
// optionally firmware or driver version ranges. It covers a card when every
// field given matches; a node with an unknown firmware or driver version is
// covered by a range (unknown software is treated as affected).
type Advisory struct {
	ID      string `json:"id"`
	Summary string `json:"summary,omitempty"`

	Vendor   string   `json:"vendor,omitempty"`
	Models   []string `json:"models,omitempty"`
	Firmware string   `json:"firmware,omitempty"` // version range
	Driver   string   `json:"driver,omitempty"`   // version range
	// Classes are the job classifications affected; empty: all.
	Classes []model.Classification `json:"classes,omitempty"`

	Severity Severity `json:"severity"`
	Action   Action   `json:"action"`

	// Filed and Lifted are seconds on the caller's clock; Lifted is nil
	// while the advisory is in force. FiledBy and LiftedBy name who acted.
	Filed    int64  `json:"filed"`
	FiledBy  string `json:"filed_by,omitempty"`
	Lifted   *int64 `json:"lifted,omitempty"`
	LiftedBy string `json:"lifted_by,omitempty"`

	firmware, driver Range
}

// Active reports whether the advisory is in force (filed, not lifted).
func (a *Advisory) Active() bool { return a.Lifted == nil }

var advisoryID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// resolve validates the advisory, reporting every problem with its path,
// and puts vendor and model names in catalog form.
func (a *Advisory) resolve(cat *catalog.Catalog) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("advisory.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case a.ID == "":
		bad("id", "missing; give the advisory an id such as ADV-2026-001")
	case ruleID.MatchString(a.ID):
		bad("id", "%q looks like a rule id; advisory ids must differ from R1, R2, …", a.ID)
	case !advisoryID.MatchString(a.ID):
		bad("id", "%q: use up to 64 letters, digits, '.', '_', ':' or '-'", a.ID)
	}
	if a.Vendor == "" && len(a.Models) == 0 {
		bad("vendor", "give a vendor, models, or both: an advisory must say which cards it covers")
	}
	if a.Vendor != "" {
		v, ok := vendorAliases(cat)[normalizeName(a.Vendor)]
		if !ok {
			bad("vendor", "%q is not a vendor in the catalog; known: %s", a.Vendor, strings.Join(vendorNames(cat), ", "))
		} else {
			a.Vendor = v
		}
	}
	models := a.Models
	a.Models = nil
	for i, name := range models {
		m, ok := cat.Lookup(name)
		switch {
		case !ok:
			bad(fmt.Sprintf("models[%d]", i), "%q is not a model in the catalog; `suanli catalog` lists the ids", name)
		case a.Vendor != "" && m.Vendor != a.Vendor:
			bad(fmt.Sprintf("models[%d]", i), "%s is made by %s, not %s", m.ID, m.Vendor, a.Vendor)
		default:
			a.Models = appendNew(a.Models, m.ID)
		}
	}
	for _, f := range []struct {
		name string
		s    *string
		r    *Range
	}{{"firmware", &a.Firmware, &a.firmware}, {"driver", &a.Driver, &a.driver}} {
		if *f.s == "" {
			*f.r = Range{}
			continue
		}
		r, err := ParseRange(*f.s)
		if err != nil {
			bad(f.name, "%v", err)
			continue
		}
		*f.s, *f.r = r.String(), r
	}
	for i, c := range a.Classes {
		if !validClassification(c) {
			bad(fmt.Sprintf("classes[%d]", i), "%q is not one of %s", c, classificationNames)
		}
	}
	switch a.Severity {
	case Low, Medium, High, Critical:
	default:
		bad("severity", "%q is not one of low, medium, high, critical", a.Severity)
	}
	switch a.Action {
	case Watch, Drain, Evict:
	default:
		bad("action", "%q is not one of watch, drain, evict", a.Action)
	}
	if a.Lifted != nil && *a.Lifted < a.Filed {
		bad("lifted", "%d is before filed %d", *a.Lifted, a.Filed)
	}
	return errors.Join(errs...)
}

// affectsJob reports whether the advisory's job classes include the job's.
func (a *Advisory) affectsJob(job *model.Job) bool {
	if len(a.Classes) == 0 {
		return true
	}
	cl := job.Classification
	if cl == "" {
		cl = model.Public
	}
	return containsT(a.Classes, cl)
}

// covers reports whether the advisory covers the card and, when
// explaining, how.
func (a *Advisory) covers(c card, explain bool) (bool, string) {
	if a.Vendor != "" && c.m.Vendor != a.Vendor ||
		len(a.Models) > 0 && !containsT(a.Models, c.m.ID) ||
		!versionHolds(c.node, LabelFirmware, a.firmware, true) ||
		!versionHolds(c.node, LabelDriver, a.driver, true) {
		return false, ""
	}
	if !explain {
		return true, ""
	}
	detail := fmt.Sprintf("node %s has %s", c.node.ID, c.m.ID)
	for _, f := range []struct {
		name, label string
		r           Range
	}{{"firmware", LabelFirmware, a.firmware}, {"driver", LabelDriver, a.driver}} {
		if f.r.IsZero() {
			continue
		}
		if v, why := nodeVersion(c.node, f.label); why != "" {
			detail += " and " + why
		} else {
			detail += fmt.Sprintf(" with %s %s", f.name, v)
		}
	}
	return true, detail
}

// target names the cards the advisory covers: "nvidia-h20 cards with
// firmware <24".
func (a *Advisory) target() string {
	var s string
	switch {
	case len(a.Models) > 0:
		s = strings.Join(a.Models, "/") + " cards"
	default:
		s = a.Vendor + " cards"
	}
	if a.Firmware != "" {
		s += " with firmware " + a.Firmware
	}
	if a.Driver != "" {
		s += " with driver " + a.Driver
	}
	return s
}

func (a *Advisory) summary() string {
	if a.Summary != "" {
		return a.Summary
	}
	who := "all"
	if len(a.Classes) > 0 {
		who = joinT(a.Classes, "/")
	}
	switch a.Action {
	case Evict:
		return who + " jobs must leave " + a.target()
	case Drain:
		return "no new " + who + " jobs on " + a.target()
	}
	return a.target() + " under watch"
}
