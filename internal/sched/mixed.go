package sched

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/suanli/suanli/internal/model"
)

// mixedGroup is one (site, model) group's part of a mixed gang.
type mixedGroup struct {
	sm int32
	C  int
	w  int
}

// placeMixed spans models when no single model holds the gang (the job
// allows it with Mixed): within one site, or across sites when the job
// allows that too. Each worker keeps one model; work shares equalise step
// time (by the job's rates where they cover every model the gang may use,
// else by peak FLOPS: mixedSpeed) and the placement's throughput carries
// the mixed-efficiency penalty. Models of unknown throughput take no part:
// their work share cannot be sized.
func (s *search) placeMixed() []model.Assignment {
	job := s.job
	W := job.Workers
	s.mixedPer = resize(s.mixedPer, len(s.st.models))
	pen := uint64(s.cfg.MixedEfficiencyMilli)
	eff := uint64(job.EfficiencyMilli)
	if eff == 0 {
		eff = uint64(s.cfg.DefaultEfficiencyMilli)
	}
	for _, m := range s.eligible {
		mi := &s.st.models[m]
		if !mi.known || mi.gflops <= 0 {
			continue
		}
		C := s.perWorker[m]
		if job.ComputeGFLOPS > 0 {
			// Each worker must carry its part of the request after the penalty.
			C = int(min(mulDivCeil(uint64(job.ComputeGFLOPS), 1_000_000, uint64(W)*uint64(mi.gflops)*eff*pen), 1<<30))
		}
		if C > 0 && C <= mi.maxCards {
			s.mixedPer[m] = C
		}
	}
	s.mixedByRate = len(job.Rates) > 0
	for _, m := range s.eligible {
		if s.mixedPer[m] > 0 && s.modValue[m] <= 0 {
			s.mixedByRate = false // a model without a rate: peak for all
		}
	}
	s.top = s.top[:0]
	if job.Topology != model.TopoNode && job.Topology != model.TopoDomain || !job.TopologyRequired {
		for site := range s.st.sites {
			if !s.siteOK(int32(site)) {
				continue
			}
			groups := s.mixedGroups(int32(site))
			if total(groups) < W {
				continue
			}
			var sc Score
			sc.Topology, sc.Frag, sc.Heterogeneity = 300, 500, 500
			sc.Cost = s.costScore(int32(site))
			sc.Place = s.placeScore(int32(site), -1)
			s.offer(&cand{scope: ScopeSite, where: int32(site), model: -1, cards: cardsOf(groups, W), workers: W, score: sc})
		}
		if len(s.top) > 0 {
			return s.buildMixed(s.mixedGroups(s.top[0].where))
		}
	}
	if !job.CrossSite || job.TopologyRequired && job.Topology != model.TopoNone {
		return nil
	}
	groups := s.mixedGroups(-1)
	if total(groups) < W {
		return nil
	}
	var sc Score
	sc.Topology, sc.Frag, sc.Heterogeneity = 100, 500, 500
	first := s.st.sm[groups[0].sm].site
	sc.Cost = s.costScore(first)
	sc.Place = s.placeScore(first, -1)
	s.offer(&cand{scope: ScopeSites, where: first, model: -1, cards: cardsOf(groups, W), workers: W, score: sc})
	return s.buildMixed(groups)
}

// mixedSpeed is what one card of model m does in a mixed gang, in the
// unit work shares are sized by: the job's rate on it scaled to rateScale
// for its fastest model (mixedByRate), else its peak GFLOPS.
func (s *search) mixedSpeed(m int32) int64 {
	if s.mixedByRate {
		return s.modValue[m]
	}
	return s.st.models[m].gflops
}

// mixedGroups lists the usable (site, model) groups of one site (all
// allowed sites for site < 0), the fastest model first.
func (s *search) mixedGroups(site int32) []mixedGroup {
	var out []mixedGroup
	for _, m := range s.eligible {
		C := s.mixedPer[m]
		if C == 0 {
			continue
		}
		for _, sm := range s.st.models[m].sms {
			smi := &s.st.sm[sm]
			if site >= 0 && smi.site != site || !s.siteOK(smi.site) || int(s.c.smFree[sm]) < C {
				continue
			}
			if w := s.siteCaps(sm, C); w > 0 {
				out = append(out, mixedGroup{sm: sm, C: C, w: w})
			}
		}
	}
	slices.SortFunc(out, func(a, b mixedGroup) int {
		ga := s.mixedSpeed(s.st.sm[a.sm].model) * int64(a.C)
		gb := s.mixedSpeed(s.st.sm[b.sm].model) * int64(b.C)
		return cmp.Or(cmp.Compare(gb, ga), cmp.Compare(b.w, a.w), cmp.Compare(a.sm, b.sm))
	})
	return out
}

func total(gs []mixedGroup) int {
	t := 0
	for _, g := range gs {
		t += g.w
	}
	return t
}

// cardsOf is the cards W workers take from the groups in order.
func cardsOf(gs []mixedGroup, W int) int {
	cards := 0
	for _, g := range gs {
		take := min(g.w, W)
		cards += take * g.C
		if W -= take; W == 0 {
			break
		}
	}
	return cards
}

// buildMixed takes the gang's workers from the groups in order and sets
// each worker's work share in proportion to its throughput (mixedSpeed ×
// cards), so that every worker's step takes the same time. Shares sum to
// exactly 1000.
func (s *search) buildMixed(groups []mixedGroup) []model.Assignment {
	var out []model.Assignment
	rem, first := s.job.Workers, 0
	for _, g := range groups {
		if rem == 0 {
			break
		}
		take := min(g.w, rem)
		out = s.buildSite(g.sm, g.C, take, first, out)
		first += take
		rem -= take
	}
	if rem > 0 || len(out) != s.job.Workers {
		return nil
	}
	var sum uint64
	for i := range out {
		sum += s.assignmentSpeed(&out[i])
	}
	if sum == 0 {
		return nil
	}
	// Largest remainders: each worker its share rounded down, the
	// thousandths left to the largest fractions (the first worker first).
	given := 0
	rems := make([]uint64, len(out))
	for i := range out {
		share, rem := mulDivRem(s.assignmentSpeed(&out[i]), 1000, sum)
		out[i].WorkShareMilli, rems[i] = int(share), rem
		given += int(share)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for i := 0; given < 1000; i = (i + 1) % len(out) {
		out[order[i]].WorkShareMilli++
		given++
	}
	return out
}

func (s *search) assignmentSpeed(a *model.Assignment) uint64 {
	return uint64(s.mixedSpeed(s.st.modelIdx[a.Model])) * uint64(len(a.Cards))
}

// mulDivRem is ⌊a×b÷c⌋ and the remainder, without overflow (c > 0, the
// quotient below 2⁶²).
func mulDivRem(a, b, c uint64) (q, r uint64) {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 1 << 62, 0
	}
	return bits.Div64(hi, lo, c)
}

// shareNote names what a mixed gang's work shares were sized by, with
// each model's figure: the job's own rates, its class's (learned from
// workers' reports or the default matrix's, per model), or peak FP16 —
// and, for peak with rates, the model the rates leave out.
func (s *search) shareNote(p *model.Placement) string {
	var models []int32 // the gang's models, in worker order
	for _, a := range p.Assignments {
		if m := s.st.modelIdx[a.Model]; !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	var b strings.Builder
	if !s.mixedByRate {
		b.WriteString("; work shares by peak FP16 (")
		for i, m := range models {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %g TFLOPS per card", s.st.models[m].id, float64(s.st.models[m].gflops)/1000)
		}
		b.WriteByte(')')
		if len(s.job.Rates) > 0 {
			for _, m := range s.eligible {
				if s.mixedPer[m] > 0 && s.modValue[m] <= 0 {
					fmt.Fprintf(&b, ": the job's rates leave out %s", s.st.models[m].id)
					break
				}
			}
		}
		return b.String()
	}
	if s.in.RatesFrom == "" {
		b.WriteString("; work shares by the job's own rates (")
	} else {
		fmt.Fprintf(&b, "; work shares by throughput (%s: ", s.in.RatesFrom)
	}
	for i, m := range models {
		if i > 0 {
			b.WriteString(", ")
		}
		id := s.st.models[m].id
		fmt.Fprintf(&b, "%s %.4g/s per card", id, s.rateOf(id))
		switch {
		case s.in.RatesFrom == "":
		case s.in.Learned[id]:
			b.WriteString(" learned")
		default:
			b.WriteString(" default")
		}
	}
	b.WriteByte(')')
	return b.String()
}

// rateOf is the job's rate on a model id (its table may name models by
// catalog name).
func (s *search) rateOf(id string) float64 {
	if r, ok := s.job.Rates[id]; ok {
		return r
	}
	for name, r := range s.job.Rates {
		if s.c.modelID(name) == id {
			return r
		}
	}
	return 0
}
