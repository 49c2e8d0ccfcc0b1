package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store"
)

// Learned throughput. Workers' progress reports (v1.Progress, forwarded
// by their agents) teach two things, both kept in the store in the same
// transaction, so that they survive a restart or a change of leader:
//
//   - per job and model, the job's own observed rate (jobRecord.Rates,
//     shown as Job.Throughput);
//   - per (workload class, model), the class's rate, under
//     throughput/<class>/<model>, for jobs that name their class.
//
// One job, or one tenant, cannot pull a class's figure far: a report
// counts toward the class at most maxJobReports times per job and model
// and maxTenantReports times per tenant and model, and its rate is clamped
// to within clampFactor of the default figure. A report is counted
// once: per worker, its Until must be later than the last one counted.

const throughputPrefix = "throughput/"

const (
	// maxJobReports is how many reports of one job (per model) count
	// toward a class's figure; the rest only teach the job's own rate.
	maxJobReports = 16
	// maxTenantReports is how many reports of one tenant's jobs (per
	// class and model) count toward the class's figure.
	maxTenantReports = 64
	// clampFactor bounds a report's rate, for the class's figure, to
	// [default/clampFactor, default×clampFactor].
	clampFactor = 16
)

// rateRecord is what the store keeps of one (class, model) pair.
type rateRecord struct {
	catalog.Observation
	Work      float64   `json:"work"`
	Seconds   float64   `json:"seconds"`
	Jobs      int       `json:"jobs"`
	UpdatedAt time.Time `json:"updated_at"`
	// Tenants counts the reports counted per tenant.
	Tenants map[string]int `json:"tenants,omitempty"`
}

// jobRate is what a job's record keeps of its rate on one model.
type jobRate struct {
	catalog.Observation
	Work    float64 `json:"work"`
	Seconds float64 `json:"seconds"`
	// Counted is how many of the job's reports fed the class's figure.
	Counted int `json:"counted,omitempty"`
}

func rateKey(class, model string) string { return throughputPrefix + class + "/" + model }

func (s *Server) throughput() *catalog.Throughput { return s.cfg.Throughput }

// classList names the workload classes, for error messages.
func classList(tp *catalog.Throughput) string {
	var ids []string
	for _, c := range tp.Classes() {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, ", ")
}

// progressSite is where a worker's report is about: its model and how
// many cards' worth it ran on (a share counts its fraction).
func progressSite(r *jobRecord, rep v1.WorkerReport) (modelID string, cards float64, ok bool) {
	if r.Placement == nil {
		return "", 0, false
	}
	for _, a := range r.Placement.Assignments {
		if a.Worker != rep.Worker || string(a.Node) != rep.Node {
			continue
		}
		cards = float64(len(a.Cards))
		if a.ShareMilli > 0 {
			cards = float64(a.ShareMilli) / 1000 * max(1, cards)
		}
		return a.Model, cards, cards > 0
	}
	return "", 0, false
}

// checkProgress is the per-card rate of a report, or a client error.
func checkProgress(p *v1.Progress, cards float64) (float64, error) {
	rate, err := catalog.CheckRate(p.Work, p.Seconds*cards)
	if err == nil && rate > v1.MaxProgressRate {
		err = fmt.Errorf("%g units per second per card is more than %g", rate, float64(v1.MaxProgressRate))
	}
	if err == nil && p.Until.IsZero() {
		err = errors.New("until is missing")
	}
	if err != nil {
		return 0, httpapi.Problems{{Field: "progress", Message: err.Error()}}
	}
	return rate, nil
}

// learnProgress records a worker's progress report: the job's own rate
// and, for a job of a workload class, the class's, in one transaction. A
// report counted before (its Until not after the worker's last) changes
// nothing.
func (s *Server) learnProgress(ctx context.Context, id string, rep v1.WorkerReport) error {
	for range 20 {
		r, rev, err := s.loadJob(ctx, id)
		if err != nil {
			return err
		}
		if rep.PlacedAt != nil && (r.PlacedAt == nil || !rep.PlacedAt.Equal(*r.PlacedAt)) {
			return nil // about an earlier placement: ReportWorker refused it already
		}
		mid, cards, ok := progressSite(r, rep)
		if !ok {
			return nil
		}
		rate, err := checkProgress(rep.Progress, cards)
		if err != nil {
			return err
		}
		wk := strconv.Itoa(rep.Worker)
		if last, ok := r.ProgressUntil[wk]; ok && !rep.Progress.Until.After(last) {
			return nil
		}
		if r.Rates == nil {
			r.Rates = map[string]jobRate{}
		}
		m := &mutation{conds: []store.Cond{{Key: jobKey(r.Spec.ID), ModRev: rev}}}
		if err := s.addClassRate(ctx, m, r, mid, rate, rep.Progress); err != nil {
			return err
		}
		jr := r.Rates[mid]
		jr.Observation = jr.Add(rate)
		jr.Work += rep.Progress.Work
		jr.Seconds += rep.Progress.Seconds * cards
		r.Rates[mid] = jr
		if r.ProgressUntil == nil {
			r.ProgressUntil = map[string]time.Time{}
		}
		r.ProgressUntil[wk] = rep.Progress.Until
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		m.ops = append(m.ops, store.PutOp(jobKey(r.Spec.ID), b))
		_, err = s.w.apply(ctx, m)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("record progress of %s: %w", id, err)
		}
		s.ratesChanged.Add(1)
		return nil
	}
	return fmt.Errorf("record progress of %s: %w: the job keeps changing", id, httpapi.ErrConflict)
}

// addClassRate adds the report to the class's figure (conditions and put
// on m) when the job names a class and has not used up its reports.
func (s *Server) addClassRate(ctx context.Context, m *mutation, r *jobRecord, mid string, rate float64, p *v1.Progress) error {
	class := r.Spec.WorkloadClass
	jr := r.Rates[mid]
	if class == "" || jr.Counted >= maxJobReports {
		return nil
	}
	if _, ok := s.throughput().Class(class); !ok {
		return nil // the class left the matrix since the job was submitted
	}
	key := rateKey(class, mid)
	rec, krev, err := s.loadRate(ctx, key)
	if err != nil {
		return err
	}
	tenant := string(r.Spec.Tenant)
	if rec.Tenants[tenant] >= maxTenantReports {
		return nil
	}
	if rec.Tenants == nil {
		rec.Tenants = map[string]int{}
	}
	rec.Tenants[tenant]++
	if cm := s.net.Model(mid); cm != nil {
		if prior, ok := s.throughput().Rate(class, cm); ok {
			rate = min(max(rate, prior.V/clampFactor), prior.V*clampFactor)
		}
	}
	rec.Observation = rec.Add(rate)
	rec.Work += p.Work
	rec.Seconds += p.Seconds
	if jr.Counted == 0 {
		rec.Jobs++
	}
	rec.UpdatedAt = s.now().UTC()
	jr.Counted++
	r.Rates[mid] = jr
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m.conds = append(m.conds, store.Cond{Key: key, ModRev: krev})
	m.ops = append(m.ops, store.PutOp(key, b))
	return nil
}

func (s *Server) loadRate(ctx context.Context, key string) (rateRecord, int64, error) {
	kv, err := s.s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return rateRecord{}, 0, nil
	}
	if err != nil {
		return rateRecord{}, 0, fmt.Errorf("read %s: %w", key, err)
	}
	var rec rateRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return rateRecord{}, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return rec, kv.ModRev, nil
}

// learnedRates reads every stored class figure: class → model → record.
func (s *Server) learnedRates(ctx context.Context) (map[string]map[string]rateRecord, error) {
	kvs, _, err := s.s.List(ctx, throughputPrefix)
	if err != nil {
		return nil, fmt.Errorf("list learned throughput: %w", err)
	}
	out := map[string]map[string]rateRecord{}
	for _, kv := range kvs {
		class, mid, ok := strings.Cut(strings.TrimPrefix(kv.Key, throughputPrefix), "/")
		if !ok {
			continue
		}
		var rec rateRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if out[class] == nil {
			out[class] = map[string]rateRecord{}
		}
		out[class][mid] = rec
	}
	return out, nil
}

// networkModels lists the catalog models of the network's nodes, sorted.
func (s *Server) networkModels() []*catalog.Model {
	var ids []string
	for i := range s.net.Nodes {
		if id := s.net.Nodes[i].Model; !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []*catalog.Model
	for _, id := range ids {
		if m := s.net.Model(id); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Throughput implements httpapi.Info: every workload class on every model
// of the network, the default and the learned figure.
func (s *Server) Throughput(ctx context.Context) (v1.ThroughputTable, error) {
	learned, err := s.learnedRates(ctx)
	if err != nil {
		return v1.ThroughputTable{}, err
	}
	tp := s.throughput()
	est := catalog.NewRateEstimator(tp)
	out := v1.ThroughputTable{Entries: []v1.ThroughputEntry{}}
	for _, c := range tp.Classes() {
		for _, m := range s.networkModels() {
			rec, seen := learned[c.ID][m.ID]
			est.Set(c.ID, m.ID, rec.Observation)
			f, ok := est.Estimate(c.ID, m)
			if !ok {
				continue
			}
			e := v1.ThroughputEntry{Class: c.ID, Model: m.ID, Unit: c.Unit, Rate: f.V, Conf: string(f.Conf), Reports: int64(rec.Reports)}
			if prior, ok := tp.Rate(c.ID, m); ok {
				e.Default, e.DefaultConf, e.PriorWeight = prior.V, string(prior.Conf), est.WeightOf(prior)
			}
			if seen {
				t := rec.UpdatedAt
				e.Learned, e.Jobs, e.UpdatedAt = rec.Mean(), rec.Jobs, &t
			}
			out.Entries = append(out.Entries, e)
		}
	}
	return out, nil
}

// wireRates is a job's observed rates for its API form, by model.
func wireRates(rs map[string]jobRate) []v1.JobRate {
	var out []v1.JobRate
	for mid, r := range rs {
		if r.Reports <= 0 || math.IsNaN(r.SumLog) {
			continue
		}
		out = append(out, v1.JobRate{Model: mid, Rate: r.Mean(), Reports: int64(r.Reports), Work: r.Work, Seconds: r.Seconds})
	}
	slices.SortFunc(out, func(a, b v1.JobRate) int { return strings.Compare(a.Model, b.Model) })
	return out
}

// classRates is the rate table the scheduler uses: per class, per model
// of the network, the learned estimate where there are reports, else the
// matrix's figure; and, per class, the models whose figure was learned.
func (s *Server) classRates(learned map[string]map[string]rateRecord) (map[string]map[string]float64, map[string]map[string]bool) {
	tp := s.throughput()
	est := catalog.NewRateEstimator(tp)
	out, from := map[string]map[string]float64{}, map[string]map[string]bool{}
	for _, c := range tp.Classes() {
		row := map[string]float64{}
		for _, m := range s.networkModels() {
			o := learned[c.ID][m.ID].Observation
			est.Set(c.ID, m.ID, o)
			if f, ok := est.Estimate(c.ID, m); ok && f.V > 0 && !math.IsInf(f.V, 0) {
				row[m.ID] = f.V
				if o.Reports > 0 {
					if from[c.ID] == nil {
						from[c.ID] = map[string]bool{}
					}
					from[c.ID][m.ID] = true
				}
			}
		}
		out[c.ID] = row
	}
	return out, from
}

// ratesSource names the class rates in explanations.
const ratesSource = "learned where reported, else the default matrix"

// defaultRatesEvery is Config.RatesEvery's default.
const defaultRatesEvery = 10 * time.Second

// pushRates hands the core the class throughput table (learned where
// reported, else the matrix's), when force or when it changed and
// RatesEvery has passed since the last time.
func (l *loop) pushRates(ctx context.Context, force bool) error {
	every := l.s.cfg.RatesEvery
	if every <= 0 {
		every = defaultRatesEvery
	}
	now := l.s.now()
	if !force && (!l.ratesDirty || now.Sub(l.ratesAt) < every) {
		return nil
	}
	learned, err := l.s.learnedRates(ctx)
	if err != nil {
		return err
	}
	l.ratesDirty, l.ratesAt = false, now
	rates, from := l.s.classRates(learned)
	if err := l.c.Step(core.ThroughputRates{At: now.Unix(), Rates: rates, Learned: from, Source: ratesSource}); err != nil {
		l.s.log.Warn("the throughput table was refused; the scheduler keeps the last one", "err", err)
	}
	return nil
}
