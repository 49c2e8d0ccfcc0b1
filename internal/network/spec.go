package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Spec is the YAML form of a network.
type Spec struct {
	Name         string `json:"name"`
	Illustrative bool   `json:"illustrative"`
	Note         string `json:"note"`
	// Catalog holds overrides and additions to the accelerator catalog for
	// this network, in the catalog file's schema (a list of entries).
	Catalog json.RawMessage `json:"catalog"`
	Sites   []SiteSpec      `json:"sites"`
	// Links are the backbone links between sites; Prices what tenants pay
	// (usage and bills are priced from them).
	Links  []LinkSpec  `json:"links,omitempty"`
	Prices []PriceSpec `json:"prices,omitempty"`
	// Reported are figures an operator published for its capacity, shown
	// beside the sum of the sites so that a reader can compare them.
	Reported []Reported `json:"reported"`
}

// Reported is a capacity figure an operator published: its FP16 PFLOPS,
// of its self-built or leased sites, or (Ownership empty) of all of them.
type Reported struct {
	Operator  string          `json:"operator"`
	Ownership model.Ownership `json:"ownership,omitempty"`
	PFLOPS    int64           `json:"pflops"`
	Source    string          `json:"source"`
}

// SiteSpec is one site in a spec.
type SiteSpec struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Region     string  `json:"region"`
	Operator   string  `json:"operator"`
	Province   string  `json:"province"`
	City       string  `json:"city"`
	Lat        float64 `json:"lat"`
	Lon        float64 `json:"lon"`
	Ownership  string  `json:"ownership"`
	Kind       string  `json:"kind"`
	Kubeconfig string  `json:"kubeconfig"`
	// GangEndpoint (kubernetes sites) is where other sites reach the
	// rank-0 worker of a gang placed here: {host: 203.0.113.10, ports:
	// 30000-32767}, a node or load balancer address and the NodePort range
	// it forwards (default the Kubernetes default, 30000-32767).
	GangEndpoint *GangEndpointSpec `json:"gang_endpoint"`
	// PUE as a decimal (1.15); power price in CNY per kWh (0.35).
	PUE        float64      `json:"pue"`
	PowerPrice float64      `json:"power_price"`
	General    *GeneralSpec `json:"general"`
	Pools      []PoolSpec   `json:"pools"`
	Note       string       `json:"note"`
	// LostAfter is how long the site's nodes may stay disconnected (their
	// heartbeats missed) before their work is requeued elsewhere, as a Go
	// duration ("10m"); default: the server's --lost-after.
	LostAfter string `json:"lost_after"`
	// Energy and build-out facts: the facility power envelope available now
	// (MW) and planned by year ("2027": 150), the grid carbon factor
	// (kgCO2/kWh; default: the province's published factor), the host's
	// power as a fraction of card power (default DefaultHostShare), rack
	// slots, and for a leased site what the operator pays per card-hour.
	PowerMW      *Fact              `json:"power_mw,omitempty"`
	PowerByYear  map[string]float64 `json:"power_mw_by_year,omitempty"`
	CarbonFactor *Fact              `json:"carbon_factor,omitempty"`
	HostShare    float64            `json:"host_share,omitempty"`
	Racks        int                `json:"racks,omitempty"`
	LeasePrice   float64            `json:"lease_price,omitempty"`
}

// GangEndpointSpec is a site's cross-site rendezvous address.
type GangEndpointSpec struct {
	Host  string `json:"host"`
	Ports string `json:"ports"`
}

// GeneralSpec is a site's general-purpose (CPU) compute.
type GeneralSpec struct {
	CPUCores      int64 `json:"cpu_cores"`
	GFLOPSPerCore int64 `json:"gflops_per_core"`
}

// PoolSpec is a set of identical nodes.
type PoolSpec struct {
	Model          string            `json:"model"`
	Nodes          int               `json:"nodes"`
	CardsPerNode   int               `json:"cards_per_node"`   // default: the model's cards per server
	NodesPerDomain int               `json:"nodes_per_domain"` // default: the model's domain size ÷ cards per node
	DomainKind     string            `json:"domain_kind"`      // server, rack or supernode
	CPUCores       int64             `json:"cpu_cores"`        // per node, default 192
	MemGiB         int64             `json:"mem_gib"`          // per node, default 1536
	Labels         map[string]string `json:"labels"`
	// Names gives the nodes' own names (one per node), e.g. a Kubernetes
	// site's node names; node ids become <site>-<name>. Default: generated.
	Names []string `json:"names"`
}

// Limits that keep a spec (or a fuzzer) from asking for absurd sizes.
const (
	maxNodesPerPool = 1_000_000
	maxCardsPerNode = 1024
	maxNodes        = 2_000_000
)

var (
	idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	nodeName  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// LoadFile reads and expands a network spec file against a catalog
// (catalog.Default() when cat is nil).
func LoadFile(path string, cat *catalog.Catalog) (*Network, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read network spec: %w", err)
	}
	return Parse(b, path, cat)
}

// Parse decodes, validates and expands a spec. It reports every problem it
// finds, each with its path, and never panics.
func Parse(data []byte, name string, cat *catalog.Catalog) (*Network, error) {
	if cat == nil {
		cat = catalog.Default()
	}
	var s Spec
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n, err := s.Expand(cat)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// Expand validates the spec and builds the network (against
// catalog.Default() when cat is nil).
func (s *Spec) Expand(cat *catalog.Catalog) (*Network, error) {
	if cat == nil {
		cat = catalog.Default()
	}
	if len(s.Catalog) > 0 && string(s.Catalog) != "null" {
		overlay, _ := json.Marshal(map[string]json.RawMessage{"accelerators": s.Catalog})
		c, err := cat.Overlay(overlay, "catalog")
		if err != nil {
			return nil, err
		}
		cat = c
	}
	x := &expansion{n: &Network{Name: s.Name, Note: s.Note, Illustrative: s.Illustrative, Catalog: cat}, seen: map[string]int{}}
	if strings.TrimSpace(s.Name) == "" {
		x.bad("name", "missing")
	}
	if len(s.Sites) == 0 {
		x.bad("sites", "a network needs at least one site")
	}
	if !x.sites(s.Sites) {
		return nil, errors.Join(x.errs...)
	}
	n := x.n
	links, lerrs := checkLinks(s.Links, x.seen)
	x.errs = append(x.errs, lerrs...)
	prices, perrs := checkPrices(s.Prices, x.seen, cat)
	x.errs = append(x.errs, perrs...)
	n.Links, n.Prices = links, prices
	x.reported(s.Reported)
	n.Reported = s.Reported
	if len(x.errs) == 0 {
		x.uniqueNodes()
	}
	if len(x.errs) > 0 {
		return nil, errors.Join(x.errs...)
	}
	n.index()
	return n, nil
}

// expansion is a spec being expanded into a network: the network so far,
// the site ids seen (to their index) and the problems found.
type expansion struct {
	n    *Network
	seen map[string]int
	errs []error
}

func (x *expansion) bad(path, format string, a ...any) {
	x.errs = append(x.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
}

// sites expands the sites and their pools of nodes; false when the
// network exceeds maxNodes, where expansion stops.
func (x *expansion) sites(specs []SiteSpec) bool {
	dups := 0 // sites repeating an earlier id; the first namedDups are named
	const namedDups = 10
	totalNodes := 0
	grid := DefaultGridFactors()
	for i := range specs {
		ss := &specs[i]
		path := fmt.Sprintf("sites[%d]", i)
		if !idPattern.MatchString(ss.ID) {
			x.bad(path+".id", "%q must be lower-case letters, digits and dashes (1-64)", ss.ID)
		} else if j, dup := x.seen[ss.ID]; dup {
			if dups++; dups <= namedDups {
				x.bad(path+".id", "%q duplicates sites[%d]", ss.ID, j)
			}
		} else {
			x.seen[ss.ID] = i
		}
		site, siteErrs := ss.site(path)
		x.errs = append(x.errs, siteErrs...)
		en, enErrs := ss.energy(path, grid, site.Ownership)
		x.errs = append(x.errs, enErrs...)
		x.n.Energy = append(x.n.Energy, en)
		if len(ss.Pools) == 0 {
			x.bad(path+".pools", "a site needs at least one pool of accelerator nodes")
		}
		for k := range ss.Pools {
			p := &ss.Pools[k]
			ppath := fmt.Sprintf("%s.pools[%d]", path, k)
			m, perrs := p.check(ppath, x.n.Catalog)
			x.errs = append(x.errs, perrs...)
			if len(perrs) > 0 {
				continue
			}
			totalNodes += p.Nodes
			if totalNodes > maxNodes {
				x.bad(ppath+".nodes", "the network exceeds %d nodes", maxNodes)
				return false
			}
			if len(x.errs) == 0 {
				x.n.addPool(site.ID, k, p, m)
			}
		}
		x.n.Sites = append(x.n.Sites, site)
	}
	if dups > namedDups {
		x.bad("sites", "%d more sites repeat an id given earlier", dups-namedDups)
	}
	return true
}

// reported checks the operators' published figures against the sites.
func (x *expansion) reported(rs []Reported) {
	for i, r := range rs {
		path := fmt.Sprintf("reported[%d]", i)
		found := false
		for _, site := range x.n.Sites {
			found = found || site.Operator == r.Operator
		}
		if !found {
			x.bad(path+".operator", "%q runs none of the network's sites", r.Operator)
		}
		if r.Ownership != "" && r.Ownership != model.SelfBuilt && r.Ownership != model.Leased {
			x.bad(path+".ownership", "%q is not one of self-built, leased (or empty: both)", r.Ownership)
		}
		if r.PFLOPS <= 0 || r.PFLOPS > 1_000_000_000 {
			x.bad(path+".pflops", "%d must be between 1 and 1000000000", r.PFLOPS)
		}
	}
}

// uniqueNodes reports node ids that two pools both gave.
func (x *expansion) uniqueNodes() {
	ids := make(map[model.NodeID]bool, len(x.n.Nodes))
	for _, node := range x.n.Nodes {
		if ids[node.ID] {
			x.bad("sites", "node id %q appears twice (names given in two pools of site %s?)", node.ID, node.Site)
		}
		ids[node.ID] = true
	}
}

// MaxLostAfter bounds a site's lost_after: work on a silent node is held
// for at most a week.
const MaxLostAfter = 7 * 24 * time.Hour

func (ss *SiteSpec) site(path string) (model.Site, []error) {
	var errs []error
	var bad badFunc = func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	s := model.Site{
		ID: model.SiteID(ss.ID), Name: ss.Name, Region: ss.Region, Operator: ss.Operator,
		Province: ss.Province, City: ss.City, Lat: ss.Lat, Lon: ss.Lon,
		Ownership: model.Ownership(ss.Ownership), Kind: model.SiteKind(ss.Kind), Kubeconfig: ss.Kubeconfig,
	}
	if s.Name == "" {
		s.Name = ss.ID
	}
	if ss.Operator == "" {
		bad("operator", "missing")
	}
	if ss.Region == "" {
		bad("region", "missing")
	}
	if !s.Ownership.Valid() {
		bad("ownership", "%q is not one of self-built, leased", ss.Ownership)
	}
	switch s.Kind {
	case "":
		s.Kind = model.SiteAgents
	case model.SiteAgents:
	case model.SiteKubernetes:
		if ss.Kubeconfig == "" {
			bad("kubeconfig", "a kubernetes site needs the path of its kubeconfig")
		}
	default:
		bad("kind", "%q is not one of agents, kubernetes", ss.Kind)
	}
	if ss.GangEndpoint != nil {
		s.GangEndpoint = ss.gangEndpoint(s.Kind, bad)
	}
	if ss.LostAfter != "" {
		d, err := time.ParseDuration(ss.LostAfter)
		switch {
		case err != nil:
			bad("lost_after", "%q is not a duration such as 10m or 1h", ss.LostAfter)
		case d < time.Second || d > MaxLostAfter || d%time.Second != 0:
			bad("lost_after", "%s must be whole seconds between 1s and %s", d, MaxLostAfter)
		default:
			s.LostAfterSec = int64(d / time.Second)
		}
	}
	ss.facility(&s, bad)
	return s, errs
}

// badFunc reports a problem with a field.
type badFunc func(field, format string, a ...any)

// gangEndpoint is the site's address for other sites' gang workers
// (a site of the given kind).
func (ss *SiteSpec) gangEndpoint(kind model.SiteKind, bad badFunc) *model.GangEndpoint {
	g := ss.GangEndpoint
	ep := model.GangEndpoint{Host: g.Host, PortMin: 30000, PortMax: 32767}
	if kind != model.SiteKubernetes {
		bad("gang_endpoint", "only a kubernetes site has one; an agent-run site's nodes give theirs with suanli agent --address")
	}
	if g.Host == "" || len(g.Host) > 253 || strings.ContainsAny(g.Host, " /:") {
		bad("gang_endpoint.host", "%q is not a host name or IPv4 address other sites can reach", g.Host)
	}
	if g.Ports != "" {
		lo, hi, ok := strings.Cut(g.Ports, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			bad("gang_endpoint.ports", "%q is not a port range such as 30000-32767", g.Ports)
		} else {
			ep.PortMin, ep.PortMax = a, b
		}
	}
	return &ep
}

// facility sets the site's location, power (PUE and price) and general
// computing from the spec.
func (ss *SiteSpec) facility(s *model.Site, bad badFunc) {
	if ss.Lat < -90 || ss.Lat > 90 || math.IsNaN(ss.Lat) {
		bad("lat", "%v is not a latitude", ss.Lat)
	}
	if ss.Lon < -180 || ss.Lon > 180 || math.IsNaN(ss.Lon) {
		bad("lon", "%v is not a longitude", ss.Lon)
	}
	switch {
	case ss.PUE == 0:
		s.PUEMilli = 1300 // a typical Chinese data-centre PUE when the spec is silent
	case ss.PUE < 1 || ss.PUE > 3 || math.IsNaN(ss.PUE):
		bad("pue", "%v must be between 1.0 and 3.0", ss.PUE)
	default:
		s.PUEMilli = int64(math.Round(ss.PUE * 1000))
	}
	if ss.PowerPrice < 0 || ss.PowerPrice > 10 || math.IsNaN(ss.PowerPrice) {
		bad("power_price", "%v CNY/kWh must be between 0 and 10", ss.PowerPrice)
	} else {
		s.PowerFenPerKWh = int64(math.Round(ss.PowerPrice * 100))
	}
	if g := ss.General; g != nil {
		if g.CPUCores < 0 || g.CPUCores > 1e9 {
			bad("general.cpu_cores", "%d must be between 0 and 1e9", g.CPUCores)
		}
		if g.GFLOPSPerCore < 0 || g.GFLOPSPerCore > 1e5 {
			bad("general.gflops_per_core", "%d must be between 0 and 100000", g.GFLOPSPerCore)
		}
		s.GeneralCPUCores, s.GFLOPSPerCPUCore = g.CPUCores, g.GFLOPSPerCore
	}
}

func (p *PoolSpec) check(path string, cat *catalog.Catalog) (*catalog.Model, []error) {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	m, ok := cat.Lookup(p.Model)
	if !ok {
		bad("model", "unknown model %q (see `suanli catalog`, or add it with --catalog)", p.Model)
	} else if _, _, known := m.FP16GFLOPS(); !known {
		hint := ""
		if m.FP16.High > 0 {
			hint = fmt.Sprintf(" (sources give %s)", m.FP16)
		}
		bad("model", "%s has no FP16 figure in the catalog%s; give one under `catalog:` in the spec or with --catalog", m.ID, hint)
	}
	if p.Nodes <= 0 || p.Nodes > maxNodesPerPool {
		bad("nodes", "%d must be between 1 and %d", p.Nodes, maxNodesPerPool)
	}
	if len(p.Names) > 0 {
		if len(p.Names) != p.Nodes {
			bad("names", "%d names for %d nodes: give one per node or none", len(p.Names), p.Nodes)
		}
		seen := map[string]bool{}
		for i, n := range p.Names {
			if !nodeName.MatchString(n) {
				bad(fmt.Sprintf("names[%d]", i), "%q must be lower-case letters, digits, dots and dashes", n)
			} else if seen[n] {
				bad(fmt.Sprintf("names[%d]", i), "%q given twice", n)
			}
			seen[n] = true
		}
	}
	if p.CardsPerNode == 0 && m != nil {
		p.CardsPerNode = m.CardsPerServer
	}
	if p.CardsPerNode <= 0 || p.CardsPerNode > maxCardsPerNode {
		bad("cards_per_node", "%d must be between 1 and %d", p.CardsPerNode, maxCardsPerNode)
	}
	if p.NodesPerDomain == 0 && m != nil && p.CardsPerNode > 0 {
		p.NodesPerDomain = max(1, m.DomainCards/p.CardsPerNode)
	}
	if p.NodesPerDomain <= 0 || p.NodesPerDomain > maxNodesPerPool {
		bad("nodes_per_domain", "%d must be positive", p.NodesPerDomain)
	}
	switch p.DomainKind {
	case "":
		p.DomainKind = string(model.DomainServer)
		if p.NodesPerDomain > 1 {
			p.DomainKind = string(model.DomainSupernode)
		}
	case string(model.DomainServer), string(model.DomainRack), string(model.DomainSupernode):
	default:
		bad("domain_kind", "%q is not one of server, rack, supernode", p.DomainKind)
	}
	if p.CPUCores == 0 {
		p.CPUCores = 192
	}
	if p.MemGiB == 0 {
		p.MemGiB = 1536
	}
	if p.CPUCores < 0 || p.CPUCores > 1<<20 {
		bad("cpu_cores", "%d must be positive", p.CPUCores)
	}
	if p.MemGiB < 0 || p.MemGiB > 1<<30 {
		bad("mem_gib", "%d must be positive", p.MemGiB)
	}
	return m, errs
}

// addPool expands a checked pool into domains and nodes.
func (n *Network) addPool(site model.SiteID, pool int, p *PoolSpec, m *catalog.Model) {
	var dom *model.Domain
	for i := 0; i < p.Nodes; i++ {
		if i%p.NodesPerDomain == 0 {
			n.Domains = append(n.Domains, model.Domain{
				ID:    model.DomainID(fmt.Sprintf("%s-p%d-d%d", site, pool, i/p.NodesPerDomain)),
				Site:  site,
				Kind:  model.DomainKind(p.DomainKind),
				Model: m.ID,
			})
			dom = &n.Domains[len(n.Domains)-1]
		}
		id := model.NodeID(fmt.Sprintf("%s-p%d-n%d", site, pool, i))
		if len(p.Names) > 0 {
			id = model.NodeID(fmt.Sprintf("%s-%s", site, p.Names[i]))
		}
		dom.Nodes = append(dom.Nodes, id)
		n.Nodes = append(n.Nodes, model.Node{
			ID: id, Site: site, Domain: dom.ID, Model: m.ID, Cards: p.CardsPerNode,
			CPUCores: p.CPUCores, MemGiB: p.MemGiB, Labels: p.Labels,
		})
	}
}
