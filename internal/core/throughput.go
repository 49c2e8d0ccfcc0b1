package core

import (
	"fmt"
	"maps"
	"math"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Throughput: the heterogeneity term and, in effective-share mode, fair
// share and quotas, on measured throughput.
//
// A job that gives its own Rates is ranked by them. A job that names a
// WorkloadClass and gives none is ranked by the class's row of the table
// the shell hands the core (ThroughputRates: the learned estimates where
// workers reported progress, else the matrix's defaults).
//
// With Config.EffectiveShare, what a placement is charged toward its
// tenant's fair share and FP16 quota is its effective throughput instead
// of its peak FLOPS: the work it gets done per second, in cards of the
// reference model (Config.ReferenceModel) it equals, times that card's
// peak GFLOPS. A job on chips that deliver a third of the reference's
// throughput per card is charged a third of a reference card per card,
// whatever their peak figure. Jobs without rates for both the model and
// the reference are charged at peak, as before.

// ThroughputRates replaces the core's per-class rate table: class → model
// id → throughput per card (any positive unit, one per class). Source
// names where the figures come from, for explanations.
type ThroughputRates struct {
	At     int64
	Rates  map[string]map[string]float64
	Source string
	// Learned names, per class, the models whose rate includes workers'
	// progress reports (the rest are the default matrix's), for
	// explanations.
	Learned map[string]map[string]bool
}

// maxRateClasses bounds the classes of a rate table.
const maxRateClasses = 1024

func (e ThroughputRates) time() int64 { return e.At }

func checkRates(ev ThroughputRates) error {
	if len(ev.Rates) > maxRateClasses || len(ev.Learned) > maxRateClasses {
		return fmt.Errorf("throughput rates: %d classes, at most %d", max(len(ev.Rates), len(ev.Learned)), maxRateClasses)
	}
	for class, row := range ev.Learned {
		if len(row) > model.MaxRates {
			return fmt.Errorf("learned throughput of %s: %d models, at most %d", class, len(row), model.MaxRates)
		}
	}
	for class, row := range ev.Rates {
		if len(row) > model.MaxRates {
			return fmt.Errorf("throughput rates of %s: %d models, at most %d", class, len(row), model.MaxRates)
		}
		for m, r := range row {
			if !(r > 0) || math.IsInf(r, 0) {
				return fmt.Errorf("throughput rate of %s on %s: %v is not a positive finite rate", class, m, r)
			}
		}
	}
	return nil
}

// setRates takes a new table: class jobs are ranked by it from now on,
// and, in effective-share mode, blocked tenants' jobs are tried again
// (what they would be charged changed).
func (c *Core) setRates(ev ThroughputRates) {
	c.rates = make(map[string]map[string]float64, len(ev.Rates))
	for class, row := range ev.Rates {
		c.rates[class] = maps.Clone(row)
	}
	c.ratesSource = ev.Source
	c.learned = make(map[string]map[string]bool, len(ev.Learned))
	for class, row := range ev.Learned {
		c.learned[class] = maps.Clone(row)
	}
	for _, e := range c.jobs {
		c.classRates(e)
	}
	if c.cfg.EffectiveShare {
		for t := range c.tenants {
			c.wake(quotaClass(t))
		}
	}
}

// classRates gives a job that names a class and no rates of its own the
// class's row.
func (c *Core) classRates(e *entry) {
	if e.ownRates || e.job.WorkloadClass == "" {
		return
	}
	e.job.Rates = c.rates[e.job.WorkloadClass] // read only, shared
}

// effMilli is EffectiveMilli for job e in effective-share mode, nil when
// the mode is off.
func (c *Core) effMilli(e *entry) map[string]int64 {
	if !c.cfg.EffectiveShare {
		return nil
	}
	return EffectiveMilli(c.model, c.cfg.ReferenceModel, e.job.Rates)
}

// EffectiveMilli is, per model (catalog id), what one peak GFLOPS of a job
// with these rates (catalog id or name → rate per card) counts for in
// effective-share mode, in thousandths: (rate on the model ÷ rate on the
// reference) × (reference peak ÷ model peak). nil when the rates lack the
// reference model. lookup resolves ids and names.
func EffectiveMilli(lookup func(string) *catalog.Model, reference string, rates map[string]float64) map[string]int64 {
	if len(rates) == 0 {
		return nil
	}
	ref := lookup(reference)
	if ref == nil {
		return nil
	}
	refRate, refG := rateOn(lookup, rates, ref.ID), peakGFLOPS(ref)
	if refRate <= 0 || refG <= 0 {
		return nil
	}
	out := make(map[string]int64, len(rates))
	for name, r := range rates {
		m := lookup(name)
		if m == nil {
			continue
		}
		if g := peakGFLOPS(m); g > 0 && r > 0 {
			out[m.ID] = int64(math.Round(r / refRate * float64(refG) / float64(g) * 1000))
		}
	}
	return out
}

// rateOn is job e's rate on a model id.
func (c *Core) rateOn(e *entry, id string) float64 { return rateOn(c.model, e.job.Rates, id) }

// rateOn is a rate table's rate on a model id (the table may name models
// by catalog name).
func rateOn(lookup func(string) *catalog.Model, rates map[string]float64, id string) float64 {
	if r, ok := rates[id]; ok {
		return r
	}
	for name, r := range rates {
		if m := lookup(name); m != nil && m.ID == id {
			return r
		}
	}
	return 0
}

// usageOf is what placement p of job e is charged: c.usage, with the
// GFLOPS effective in effective-share mode.
func (c *Core) usageOf(e *entry, p *model.Placement) usage {
	u := c.usage(p)
	u.gflops = chargedGFLOPS(c.model, p, u.gflops, c.effMilli(e))
	return u
}

// ChargedGFLOPS is what placement p is charged toward its tenant's fair
// share and FP16 quota: its GFLOPS, scaled by milli (EffectiveMilli) in
// effective-share mode; at peak when milli is nil or leaves out one of
// the placement's models.
func ChargedGFLOPS(lookup func(string) *catalog.Model, p *model.Placement, milli map[string]int64) int64 {
	return chargedGFLOPS(lookup, p, p.GFLOPS, milli)
}

func chargedGFLOPS(lookup func(string) *catalog.Model, p *model.Placement, gflops int64, milli map[string]int64) int64 {
	if milli == nil {
		return gflops
	}
	var peak, eff int64
	for _, a := range p.Assignments {
		m := lookup(a.Model)
		if m == nil {
			return gflops
		}
		f, ok := milli[m.ID]
		if !ok {
			return gflops // no rate on this model: peak, as before
		}
		g := int64(len(a.Cards)) * peakGFLOPS(m)
		if a.ShareMilli > 0 {
			g = int64(a.ShareMilli) * int64(max(1, len(a.Cards))) * peakGFLOPS(m) / model.MilliCard
		}
		peak += g
		eff += g * f / 1000
	}
	if peak > 0 {
		return mulDiv(gflops, eff, peak)
	}
	return gflops
}

// peakGFLOPS is a model's peak FP16 GFLOPS, 0 when unknown.
func peakGFLOPS(m *catalog.Model) int64 {
	g, _, _ := m.FP16GFLOPS()
	return g
}

// learnedOf is, for a job ranked by its class's rates, the models whose
// figure was learned (read only, shared); nil otherwise.
func (c *Core) learnedOf(e *entry) map[string]bool {
	if e.ownRates || len(e.job.Rates) == 0 {
		return nil
	}
	return c.learned[e.job.WorkloadClass]
}

// ratesFrom says where a job's rates come from, for explanations.
func (c *Core) ratesFrom(e *entry) string {
	if e.ownRates || len(e.job.Rates) == 0 {
		return ""
	}
	if c.ratesSource == "" {
		return "class " + e.job.WorkloadClass
	}
	return "class " + e.job.WorkloadClass + ", " + c.ratesSource
}
