package network

import (
	"math"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// ProvinceCapitals are the coordinates (degrees, rounded to 0.01) of the
// capital of each province-level division of the mainland, where a job's
// users in that province are taken to be.
var ProvinceCapitals = map[string][2]float64{
	"Beijing": {39.90, 116.40}, "Tianjin": {39.13, 117.20}, "Hebei": {38.04, 114.51},
	"Shanxi": {37.87, 112.55}, "Shandong": {36.65, 117.12}, "Inner Mongolia": {40.84, 111.75},
	"Liaoning": {41.81, 123.43}, "Jilin": {43.82, 125.32}, "Heilongjiang": {45.80, 126.53},
	"Shanghai": {31.23, 121.47}, "Jiangsu": {32.06, 118.80}, "Zhejiang": {30.27, 120.16},
	"Anhui": {31.82, 117.23}, "Fujian": {26.07, 119.30}, "Henan": {34.75, 113.63},
	"Hubei": {30.59, 114.31}, "Hunan": {28.23, 112.94}, "Jiangxi": {28.68, 115.86},
	"Shaanxi": {34.34, 108.94}, "Gansu": {36.06, 103.83}, "Qinghai": {36.62, 101.78},
	"Ningxia": {38.49, 106.23}, "Xinjiang": {43.83, 87.62}, "Guangdong": {23.13, 113.26},
	"Guangxi": {22.82, 108.37}, "Yunnan": {25.04, 102.71}, "Guizhou": {26.65, 106.63},
	"Hainan": {20.04, 110.20}, "Sichuan": {30.57, 104.07}, "Chongqing": {29.56, 106.55},
	"Tibet": {29.65, 91.17},
}

// Route factor and fibre speed behind DistanceRTTms: the default network's
// link RTTs are derived the same way.
const (
	routeFactor  = 1.5
	fibreKmPerMs = 200.0
)

// DistanceRTTms is the round trip between two points over fibre, derived
// from the great-circle distance × 1.5 (routes are not straight) at
// 200 km/ms, there and back. It is an estimate, not a measurement.
func DistanceRTTms(lat1, lon1, lat2, lon2 float64) float64 {
	const earthKm = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	km := 2 * earthKm * math.Asin(math.Min(1, math.Sqrt(a)))
	return 2 * km * routeFactor / fibreKmPerMs
}

// UsersAt locates a job's users: a site id of the network (the site's
// coordinates) or a province (its capital's). ok is false for a name that
// is neither.
func (n *Network) UsersAt(place string) (lat, lon float64, ok bool) {
	if s, found := n.Site(model.SiteID(place)); found {
		return s.Lat, s.Lon, true
	}
	if c, found := ProvinceCapitals[place]; found {
		return c[0], c[1], true
	}
	return 0, 0, false
}

// UserPlaces lists the names UsersAt knows: the network's site ids and the
// provinces, sorted.
func (n *Network) UserPlaces() []string {
	var out []string
	for i := range n.Sites {
		out = append(out, string(n.Sites[i].ID))
	}
	for p := range ProvinceCapitals {
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Paths are the backbone routes between every two sites: the route of
// least round trip over the links, with the capacity of its narrowest
// link. Sites are indexed as in Network.Sites.
type Paths struct {
	n    int
	idx  map[model.SiteID]int
	rtt  []float64 // ms; +Inf: no route
	gbps []float64 // the narrowest link's; 0 on the diagonal (no transfer)
}

// Paths computes the routes (Floyd–Warshall on round-trip time; sites are
// few).
func (n *Network) Paths() *Paths {
	k := len(n.Sites)
	p := &Paths{n: k, idx: make(map[model.SiteID]int, k), rtt: make([]float64, k*k), gbps: make([]float64, k*k)}
	for i := range n.Sites {
		p.idx[n.Sites[i].ID] = i
	}
	for i := range p.rtt {
		p.rtt[i] = math.Inf(1)
	}
	for i := range k {
		p.rtt[i*k+i], p.gbps[i*k+i] = 0, math.Inf(1)
	}
	for _, l := range n.Links {
		a, okA := p.idx[l.A]
		b, okB := p.idx[l.B]
		if !okA || !okB || a == b {
			continue
		}
		for _, e := range [2]int{a*k + b, b*k + a} {
			if l.RTTms < p.rtt[e] || l.RTTms == p.rtt[e] && l.Gbps > p.gbps[e] {
				p.rtt[e], p.gbps[e] = l.RTTms, l.Gbps
			}
		}
	}
	for m := range k {
		for i := range k {
			for j := range k {
				via := p.rtt[i*k+m] + p.rtt[m*k+j]
				if via < p.rtt[i*k+j] {
					p.rtt[i*k+j] = via
					p.gbps[i*k+j] = math.Min(p.gbps[i*k+m], p.gbps[m*k+j])
				}
			}
		}
	}
	return p
}

// Route returns the round trip (ms) and the narrowest capacity (Gbps) of
// the route from a to b; ok is false when the backbone joins them by no
// route (or either is not a site). From a site to itself: 0 ms, +Inf Gbps.
func (p *Paths) Route(a, b model.SiteID) (rttMs, gbps float64, ok bool) {
	i, okA := p.idx[a]
	j, okB := p.idx[b]
	if !okA || !okB || math.IsInf(p.rtt[i*p.n+j], 1) {
		return 0, 0, false
	}
	return p.rtt[i*p.n+j], p.gbps[i*p.n+j], true
}
