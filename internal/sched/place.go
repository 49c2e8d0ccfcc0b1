package sched

import (
	"cmp"
	"math"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// The place component: what a placement really costs the job, as three
// penalties out of 1000 subtracted from 1000.
//
//   - energy: facility energy per unit of work × electricity price, CNY per
//     FP16 PFLOP-hour (board power × (1 + host share) × PUE ÷ FP16 FLOPS ×
//     the site's price, what the ledger meters), against the cheapest
//     (site, model) of the network on a log scale: 333 for each doubling,
//     1000 at eight times its cost or more;
//   - transfer: moving the job's data from its site over the backbone (the
//     route of least round trip, at its narrowest link's rate, plus the
//     round trip), as a share of the job's declared runtime (or of an hour):
//     1000 when it takes as long as the job runs;
//   - latency (interactive jobs with users): the round trip from the users
//     (a site, or a province's capital) to the site, derived from distance:
//     1000 at latencyFullMs or more.
//
// Batch work therefore drifts to the sites where energy is cheapest unless
// its data is large next to its runtime; interactive work stays near its
// users.
const (
	latencyFullMs       = 30.0   // a round trip that costs the whole place component
	energyFullDoublings = 3.0    // doublings of the cheapest energy cost that cost it all
	transferRefSec      = 3600.0 // what a transfer is weighed against without a declared runtime
	unknownPenalty      = 500    // the energy penalty of a model without a power figure
	placeComponents     = 1000
)

// placeStatic holds a network's energy cost per (site, model) and its
// backbone routes; built once with the static part of a cluster.
type placeStatic struct {
	nm       int
	milliFen []int64 // site*nm+m: milli-fen per FP16 PFLOP-hour
	// estimated[m]: model m has no power figure; its energy is the
	// network's median model's per GFLOPS (boardPerGFLOPS).
	estimated []bool
	pen       []int64 // site*nm+m: energy penalty
	// laterMax[site*nm+m] is the most the place component of a job
	// without users or data can be at this site or any later one (sites
	// in preference order): the bound of a bucket scan.
	laterMax []int64
	minPen   []int64 // per site: the least energy penalty of its models
	paths    *network.Paths
	netSite  []int // sched site index → index in network.Sites (-1: none)
	lat, lon []float64
}

func newPlaceStatic(st *static) *placeStatic {
	ns, nm := len(st.sites), len(st.models)
	ps := &placeStatic{nm: nm, milliFen: make([]int64, ns*nm), pen: make([]int64, ns*nm),
		laterMax: make([]int64, ns*nm), minPen: make([]int64, ns), netSite: make([]int, ns),
		lat: make([]float64, ns), lon: make([]float64, ns)}
	net := st.net
	idx := map[model.SiteID]int{}
	for i := range net.Sites {
		idx[net.Sites[i].ID] = i
	}
	perGFLOPS, estimated := boardPerGFLOPS(st)
	ps.estimated = estimated
	least := int64(-1)
	for si := range st.sites {
		s := st.sites[si].s
		ps.netSite[si] = -1
		if i, ok := idx[s.ID]; ok {
			ps.netSite[si] = i
		}
		ps.lat[si], ps.lon[si] = s.Lat, s.Lon
		host := int64(network.DefaultHostShare * 1000)
		if e, ok := net.SiteEnergy(s.ID); ok {
			host = e.HostShareMilli
		}
		pue := cmp.Or(s.PUEMilli, 1000)
		for m := range st.models {
			// board W/GFLOPS × (1 + host share) × PUE = facility kW per PFLOPS
			// ×1000 = kWh per PFLOP-hour ×1000; × fen/kWh = milli-fen.
			v := int64(math.Round(perGFLOPS[m] * float64(1000+host) * float64(pue) * float64(s.PowerFenPerKWh)))
			ps.milliFen[si*nm+m] = v
			if v > 0 && (least < 0 || v < least) {
				least = v
			}
		}
	}
	for si := range st.sites {
		ps.minPen[si] = placeComponents
		for m := range nm {
			p := int64(0)
			if v := ps.milliFen[si*nm+m]; v > 0 && least > 0 {
				p = min(placeComponents, int64(math.Round(placeComponents*math.Log2(float64(v)/float64(least))/energyFullDoublings)))
			}
			ps.pen[si*nm+m] = p
			ps.minPen[si] = min(ps.minPen[si], p)
		}
	}
	for m := range nm {
		best := int64(0)
		for si := ns - 1; si >= 0; si-- {
			best = max(best, placeComponents-ps.pen[si*nm+m])
			ps.laterMax[si*nm+m] = best
		}
	}
	ps.paths = net.Paths()
	return ps
}

// placeJob is one decision's view of the place component: the job's
// transfer and latency penalty per site and, when it has one, the order
// in which its bucket scans visit sites (best place first, per model).
type placeJob struct {
	on      bool    // the place weight is set
	ordered bool    // the job names users (interactive) or data: scans follow order
	jobPen  []int64 // per site
	// Per model m, computed on first use (have[m]), at [m*sites:]: the
	// sites best first, the position of each site in that order, and the
	// most the cost component gives at a position or any later one.
	have    []bool
	order   []int32
	pos     []int32
	costMax []int64
}

// initPlace sets up the place component for the decision.
func (s *search) initPlace(prev placeJob) {
	s.pl = placeJob{on: s.cfg.Weights.Place != 0, jobPen: prev.jobPen[:0], have: prev.have[:0], order: prev.order, pos: prev.pos, costMax: prev.costMax}
	if !s.pl.on {
		return
	}
	job := s.job
	interactive := job.Users != "" && job.EffectiveLatency() == model.LatencyInteractive
	if job.Data == nil && !interactive {
		return
	}
	s.pl.ordered = true
	ns := len(s.st.sites)
	s.pl.jobPen = resize(s.pl.jobPen, ns)
	var lat []int64
	if interactive {
		lat = s.pens.latency(s.st, job.Users)
	}
	var routes []siteRoute
	if job.Data != nil {
		routes = s.pens.routes(s.st, job.Data.Site)
	}
	for si := range ns {
		var p int64 // jobTerms' transfer and latency penalties
		if d := job.Data; d != nil && d.Site != s.st.sites[si].s.ID {
			p = routes[si].penalty(d.SizeGB, job.RuntimeSec)
		}
		if lat != nil {
			p += lat[si]
		}
		s.pl.jobPen[si] = p
	}
	nm := len(s.st.models)
	s.pl.have = resize(s.pl.have, nm)
	s.pl.order, s.pl.pos, s.pl.costMax = grow(s.pl.order, nm*ns), grow(s.pl.pos, nm*ns), grow(s.pl.costMax, nm*ns)
}

// penCache keeps what initPlace sums per site for a job with users or
// data, looked up once (the network does not change): per place of users
// the latency penalty at each site (nil: UsersAt knows no such place), per
// data site the route to each site. The places come from jobs: each map
// keeps at most maxPenCache.
type penCache struct {
	lat   map[string][]int64
	route map[model.SiteID][]siteRoute
}

const maxPenCache = 1024

type siteRoute struct {
	rtt, gbps float64
	ok        bool
}

// latency returns the latency penalty of users at each site; nil when the
// place is unknown (no penalty).
func (pc *penCache) latency(st *static, users string) []int64 {
	if v, ok := pc.lat[users]; ok {
		return v
	}
	var out []int64
	if lat, lon, ok := st.net.UsersAt(users); ok {
		out = make([]int64, len(st.sites))
		for si := range out {
			out[si] = latencyPenalty(network.DistanceRTTms(lat, lon, st.place.lat[si], st.place.lon[si]))
		}
	}
	if pc.lat == nil {
		pc.lat = map[string][]int64{}
	}
	if len(pc.lat) < maxPenCache {
		pc.lat[users] = out
	}
	return out
}

// routes returns the backbone route from a data site to each site.
func (pc *penCache) routes(st *static, from model.SiteID) []siteRoute {
	if v, ok := pc.route[from]; ok {
		return v
	}
	out := make([]siteRoute, len(st.sites))
	for si := range out {
		out[si] = routeTo(st.place, from, st.sites[si].s.ID)
	}
	if pc.route == nil {
		pc.route = map[model.SiteID][]siteRoute{}
	}
	if len(pc.route) < maxPenCache {
		pc.route[from] = out
	}
	return out
}

// routeTo is the backbone route between two sites.
func routeTo(ps *placeStatic, from, to model.SiteID) siteRoute {
	var r siteRoute
	r.rtt, r.gbps, r.ok = ps.paths.Route(from, to)
	return r
}

// sec is the time to move sizeGB over the route, in seconds.
func (r siteRoute) sec(sizeGB int64) float64 { return float64(sizeGB)*8/r.gbps + r.rtt/1000 }

// penalty is the transfer penalty of moving sizeGB over the route (which
// must exist unless the penalty is the whole component), against the
// job's runtime or transferRefSec.
func (r siteRoute) penalty(sizeGB, runtimeSec int64) int64 {
	if !r.ok {
		return placeComponents
	}
	ref := transferRefSec
	if runtimeSec > 0 {
		ref = float64(runtimeSec)
	}
	return min(placeComponents, int64(math.Round(placeComponents*r.sec(sizeGB)/ref)))
}

// latencyPenalty is the latency penalty of users rttMs away.
func latencyPenalty(rttMs float64) int64 {
	return min(placeComponents, int64(math.Round(placeComponents*rttMs/latencyFullMs)))
}

// grow returns s with length n, reusing its array when large enough (the
// contents are overwritten before use).
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// boardPerGFLOPS is each model's board power per FP16 GFLOPS (W): from the
// catalog, or, for a model without a power or FP16 figure, the median of
// the network's models that have both (1 when none has), so that the
// site's power price and PUE still rank its sites.
func boardPerGFLOPS(st *static) (out []float64, estimated []bool) {
	out, estimated = make([]float64, len(st.models)), make([]bool, len(st.models))
	var known []float64
	for m := range st.models {
		mi := &st.models[m]
		out[m] = -1
		if mi.m == nil || mi.gflops <= 0 {
			continue
		}
		if w, _, ok := mi.m.PowerW(); ok && w > 0 {
			out[m] = float64(w) / float64(mi.gflops)
			known = append(known, out[m])
		}
	}
	median := 1.0
	if len(known) > 0 {
		slices.Sort(known)
		median = known[len(known)/2]
	}
	for m := range out {
		if out[m] < 0 {
			out[m], estimated[m] = median, true
		}
	}
	return out, estimated
}

// jobTerms computes the transfer and latency terms of placing the job at
// a site.
func (s *search) jobTerms(si int32) PlaceTerms {
	var t PlaceTerms
	ps, job := s.st.place, s.job
	site := s.st.sites[si].s
	if d := job.Data; d != nil && d.Site != site.ID {
		r := routeTo(ps, d.Site, site.ID)
		if !r.ok {
			t.TransferPenalty, t.NoRoute = placeComponents, true
		} else {
			t.TransferMs = int64(math.Round(r.sec(d.SizeGB) * 1000))
			t.TransferPenalty = r.penalty(d.SizeGB, job.RuntimeSec)
		}
	}
	if job.Users != "" && job.EffectiveLatency() == model.LatencyInteractive {
		if lat, lon, ok := s.st.net.UsersAt(job.Users); ok {
			rtt := network.DistanceRTTms(lat, lon, ps.lat[si], ps.lon[si])
			t.UsersRTTMicros = int64(math.Round(rtt * 1000))
			t.LatencyPenalty = latencyPenalty(rtt)
		}
	}
	return t
}

// energyPen is the energy penalty of model m at site si; a mixed
// candidate (m < 0) takes the site's cheapest model's.
func (s *search) energyPen(si, m int32) int64 {
	ps := s.st.place
	if m < 0 {
		return ps.minPen[si]
	}
	return ps.pen[int(si)*ps.nm+int(m)]
}

// placeScore is the place component of a placement of model m at site si
// (0 when the place weight is unset).
func (s *search) placeScore(si, m int32) int64 {
	if !s.pl.on {
		return 0
	}
	p := s.energyPen(si, m)
	if s.pl.ordered {
		p += s.pl.jobPen[si]
	}
	return max(0, placeComponents-p)
}

// siteOrder is the order in which a job with users or data visits the
// sites with cards of model m: best place component first, then
// preference order.
func (s *search) siteOrder(m int32) []int32 {
	ns := len(s.st.sites)
	off := int(m) * ns
	sms := s.st.models[m].sms
	order := s.pl.order[off : off+len(sms)]
	if s.pl.have[m] {
		return order
	}
	// Only the sites with cards of the model: scans visit no other.
	for i, sm := range sms {
		order[i] = s.st.sm[sm].site
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Or(int(s.placeScore(b, m)-s.placeScore(a, m)), int(a-b))
	})
	best := int64(0)
	for i := len(order) - 1; i >= 0; i-- {
		s.pl.pos[off+int(order[i])] = int32(i)
		best = max(best, s.st.sites[order[i]].costScore)
		s.pl.costMax[off+i] = best
	}
	s.pl.have[m] = true
	return order
}

// laterBound is the most node n, or any node a bucket scan of model m
// visits after it, can score for cost and place.
func (s *search) laterBound(m, n int32) (cost, place int64) {
	site := s.st.nodes[n].site
	switch {
	case s.pl.ordered:
		s.siteOrder(m)
		off := int(m) * len(s.st.sites)
		return s.pl.costMax[off+int(s.pl.pos[off+int(site)])], s.placeScore(site, m) // sites come best place first
	case s.pl.on:
		return s.costScore(site), s.st.place.laterMax[int(site)*s.st.place.nm+int(m)]
	}
	return s.costScore(site), 0
}

// scanOrdered is scanBucket for a job with users or data: the sites in
// the job's order, each site's nodes in network order.
func (s *search) scanOrdered(set bitset, m int32, visit func(n int32) bool) {
	taken := 0
	for _, si := range s.siteOrder(m) {
		if !s.siteOK(si) {
			continue
		}
		lo, hi := s.st.sites[si].lo, s.st.sites[si].hi
		for n := set.next(lo, hi); n >= 0; n = set.next(n+1, hi) {
			if taken >= s.cfg.Candidates {
				return
			}
			ni := &s.st.nodes[n]
			if !s.classOK(ni.class) {
				if d := &s.st.domains[ni.domain]; d.uniform {
					n = d.hi - 1
				}
				continue
			}
			if !visit(n) {
				return
			}
			taken++
		}
	}
}

// PlaceTerms names the terms of a placement's place component with their
// values: energy cost per unit of work, data transfer, latency to users.
type PlaceTerms struct {
	Site string `json:"site"`
	// EnergyMilliFen is the facility energy cost of one FP16 PFLOP-hour on
	// the model at the site, in thousandths of a fen (100,000 = 1 CNY);
	// EnergyEstimated: the model has no power figure, so its power per
	// FLOPS is taken as the network's median model's; -1 for a mixed
	// placement (several models; the penalty is its site's cheapest).
	EnergyMilliFen  int64 `json:"energy_milli_fen_per_pflop_hour"`
	EnergyEstimated bool  `json:"energy_estimated,omitempty"`
	EnergyPenalty   int64 `json:"energy_penalty"`
	// TransferMs is the time to move the job's data to the site.
	TransferMs      int64 `json:"transfer_ms,omitempty"`
	NoRoute         bool  `json:"no_route,omitempty"`
	TransferPenalty int64 `json:"transfer_penalty,omitempty"`
	// UsersRTTMicros is the round trip from the job's users to the site.
	UsersRTTMicros int64 `json:"users_rtt_us,omitempty"`
	LatencyPenalty int64 `json:"latency_penalty,omitempty"`
}

// terms explains a candidate's place component in t and returns t (nil
// when off).
func (s *search) terms(cd *cand, t *PlaceTerms) *PlaceTerms {
	if !s.pl.on {
		return nil
	}
	var si int32
	switch cd.scope {
	case ScopeCard, ScopeNode:
		si = s.st.nodes[cd.where].site
	case ScopeDomain:
		si = s.st.domains[cd.where].site
	default:
		if cd.model < 0 {
			si = cd.where
		} else {
			si = s.st.sm[cd.where].site
		}
	}
	*t = PlaceTerms{EnergyMilliFen: -1}
	if s.pl.ordered {
		*t = s.jobTerms(si)
		t.EnergyMilliFen = -1
	}
	t.Site = string(s.st.sites[si].s.ID)
	t.EnergyPenalty = s.energyPen(si, cd.model)
	if cd.model >= 0 {
		t.EnergyMilliFen = s.st.place.milliFen[int(si)*s.st.place.nm+int(cd.model)]
		t.EnergyEstimated = s.st.place.estimated[cd.model]
	}
	return t
}
