package sched

import (
	"cmp"
	"slices"
	"strings"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// static is the immutable part of a Cluster, shared by its clones. Nodes,
// domains and sites are held in preference order: the cheapest site first,
// then its domains in network order, then each domain's nodes. Every site
// and every domain is therefore a contiguous range of node indices, and
// "the first free node" is the one to fill first.
type static struct {
	net     *network.Network
	models  []modelInfo // by catalog id
	sites   []siteInfo  // cheapest first
	domains []domainInfo
	nodes   []nodeInfo
	classes []classInfo
	// sm holds the (site, model) groups: the domains of one model in one site.
	sm []smInfo
	// runs cover the domains in order with stretches that an explanation
	// attributes at once.
	runs []domainRun

	modelIdx map[string]int32
	nodeIdx  map[model.NodeID]int32
	siteIdx  map[model.SiteID]int32
	domIdx   map[model.DomainID][]int32

	cards    int   // cards in the network
	maxCards int   // most cards on one node
	words    int   // uint64 words of a node bitset
	maxCost  int64 // the dearest site's cost key
	minCost  int64 // the cheapest
	place    *placeStatic
}

type modelInfo struct {
	id       string
	m        *catalog.Model
	gflops   int64 // per card; 0 when unknown
	known    bool
	memMiB   int64 // per card; 0 when unknown
	vendor   string
	maxCards int // most cards on one node of the model
	cards    int // cards of the model in the network
	// maxCPU and maxMem are the most host CPU (thousandths of a core) and
	// memory (MiB) of one node of the model.
	maxCPU, maxMem int64
	sms            []int32
}

type siteInfo struct {
	s         *model.Site
	cost      int64 // power price × PUE, plus a surcharge for leased sites
	costScore int64 // search.costScore
	lo, hi    int32 // node range
}

type domainInfo struct {
	id     model.DomainID
	site   int32
	model  int32
	sm     int32
	lo, hi int32 // node range
	cards  int
	// uniform is true when every node of the domain is of one class, so
	// that a policy verdict on one node holds for the whole domain.
	uniform bool
}

type nodeInfo struct {
	n       *model.Node
	id      model.NodeID // n.ID, here to be compared without reading n
	site    int32
	domain  int32
	model   int32
	class   int32
	cards   int32
	cardOff int32 // index of the node's first card
	// Host capacity: CPU in thousandths of a core, memory in MiB.
	cpuMilli, memMiB int64
}

// classInfo is a class of identical nodes for the policy hook.
type classInfo struct {
	site  int32
	model int32
	node  int32 // a representative
}

type smInfo struct {
	site, model int32
	domains     []int32
	cards       int
	nodes       int
	maxDomain   int // cards in its largest domain
	// perNode is the cards on each of its nodes when all its domains are
	// uniform, of one class and all its nodes alike; 0 otherwise. Its
	// free-count histogram then explains it whole.
	perNode int
}

// domainRun is a stretch of consecutive domains [lo, hi) of one model,
// site and (site, model) group whose nodes are all of class `class`
// (-1: a single domain of several classes).
type domainRun struct {
	lo, hi       int32
	model, site  int32
	sm, class    int32
	nodes, cards int
}

// leasedSurcharge makes leased capacity come after owned capacity at any
// power price: it exceeds the cost key of any realistic owned site
// (10 CNY/kWh × PUE 3).
const leasedSurcharge = 1_000 * 3_000

func siteCost(s *model.Site) int64 {
	pue := s.PUEMilli
	if pue <= 0 {
		pue = 1300
	}
	c := s.PowerFenPerKWh * pue
	if s.Ownership == model.Leased {
		c += leasedSurcharge
	}
	return c
}

func newStatic(net *network.Network) *static {
	st := &static{
		net:      net,
		modelIdx: map[string]int32{},
		nodeIdx:  make(map[model.NodeID]int32, len(net.Nodes)),
		siteIdx:  map[model.SiteID]int32{},
		domIdx:   map[model.DomainID][]int32{},
	}
	// Models, in id order.
	var ids []string
	seenModel := map[string]bool{}
	for i := range net.Nodes {
		if id := net.Nodes[i].Model; !seenModel[id] {
			seenModel[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		mi := modelInfo{id: id, vendor: "unknown"}
		if net.Catalog != nil {
			if m, ok := net.Catalog.Lookup(id); ok {
				mi.m = m
				mi.gflops, _, mi.known = m.FP16GFLOPS()
				mi.memMiB = m.MemMiB()
				mi.vendor = m.Vendor
			}
		}
		st.modelIdx[id] = int32(len(st.models))
		st.models = append(st.models, mi)
	}
	// Sites, cheapest first; sites that nodes name but the network lacks
	// get a placeholder so that no node is lost.
	sites := make([]*model.Site, 0, len(net.Sites))
	for i := range net.Sites {
		sites = append(sites, &net.Sites[i])
	}
	known := map[model.SiteID]bool{}
	for _, s := range sites {
		known[s.ID] = true
	}
	for i := range net.Nodes {
		if id := net.Nodes[i].Site; !known[id] {
			known[id] = true
			sites = append(sites, &model.Site{ID: id, Name: string(id), Ownership: model.Leased})
		}
	}
	slices.SortStableFunc(sites, func(a, b *model.Site) int {
		return cmp.Or(cmp.Compare(siteCost(a), siteCost(b)), strings.Compare(string(a.ID), string(b.ID)))
	})
	for _, s := range sites {
		if _, dup := st.siteIdx[s.ID]; dup {
			continue
		}
		st.siteIdx[s.ID] = int32(len(st.sites))
		st.sites = append(st.sites, siteInfo{s: s, cost: siteCost(s)})
		st.maxCost = max(st.maxCost, siteCost(s))
		if len(st.sites) == 1 || siteCost(s) < st.minCost {
			st.minCost = siteCost(s)
		}
	}
	for i := range st.sites {
		st.sites[i].costScore = st.costScore(int32(i))
	}
	st.buildNodes(net)
	st.place = newPlaceStatic(st)
	return st
}

// buildNodes orders nodes by site, then domain (network order), then node
// (network order), and builds the domain and (site, model) tables.
func (st *static) buildNodes(net *network.Network) {
	order := st.nodeOrder(net)
	t := nodeTables{domOf: map[domKey]int32{}, smOf: map[smKey]int32{}, classOf: map[classKey]int32{}}
	st.nodes = make([]nodeInfo, 0, len(order))
	for _, oi := range order {
		n := &net.Nodes[oi]
		site, mod := st.siteIdx[n.Site], st.modelIdx[n.Model]
		d := st.domainOf(&t, n, site, mod)
		c := st.classOf(&t, n, site, mod)
		st.addNode(n, site, mod, d, c)
	}
	st.markUniform()
	st.siteRanges()
	st.words = (len(st.nodes) + 63) / 64
	st.buildRuns()
}

// nodeOrder is the order of the network's nodes: by site, then domain
// (network order; unknown domains last, by id), then model.
func (st *static) nodeOrder(net *network.Network) []int {
	domOrder := map[model.DomainID]int{}
	for i := range net.Domains {
		if _, ok := domOrder[net.Domains[i].ID]; !ok {
			domOrder[net.Domains[i].ID] = i
		}
	}
	order := make([]int, len(net.Nodes))
	for i := range order {
		order[i] = i
	}
	dkey := func(n *model.Node) int {
		if k, ok := domOrder[n.Domain]; ok {
			return k
		}
		return len(net.Domains) // unknown domains last, by id
	}
	slices.SortStableFunc(order, func(a, b int) int {
		na, nb := &net.Nodes[a], &net.Nodes[b]
		return cmp.Or(
			cmp.Compare(st.siteIdx[na.Site], st.siteIdx[nb.Site]),
			cmp.Compare(dkey(na), dkey(nb)),
			strings.Compare(string(na.Domain), string(nb.Domain)),
			cmp.Compare(st.modelIdx[na.Model], st.modelIdx[nb.Model]),
		)
	})
	return order
}

type domKey struct {
	site  int32
	id    model.DomainID
	model int32
}

type smKey struct{ site, model int32 }

type classKey struct {
	site, model int32
	labels      string
}

// nodeTables find the domain, (site, model) and class entries already
// made while the node table is built.
type nodeTables struct {
	domOf   map[domKey]int32
	smOf    map[smKey]int32
	classOf map[classKey]int32
}

// domainOf is the index of n's domain (of its site and model), made
// (with its (site, model) entry when new) at the next node's index.
func (st *static) domainOf(t *nodeTables, n *model.Node, site, mod int32) int32 {
	dk := domKey{site, n.Domain, mod}
	d, ok := t.domOf[dk]
	if !ok {
		sk := smKey{site, mod}
		sm, ok := t.smOf[sk]
		if !ok {
			sm = int32(len(st.sm))
			t.smOf[sk] = sm
			st.sm = append(st.sm, smInfo{site: site, model: mod})
			st.models[mod].sms = append(st.models[mod].sms, sm)
		}
		d = int32(len(st.domains))
		t.domOf[dk] = d
		idx := int32(len(st.nodes))
		st.domains = append(st.domains, domainInfo{id: n.Domain, site: site, model: mod, sm: sm, lo: idx, hi: idx})
		st.sm[sm].domains = append(st.sm[sm].domains, d)
		st.domIdx[n.Domain] = append(st.domIdx[n.Domain], d)
	}
	return d
}

// classOf is the index of n's class (site, model, labels), made at the
// next node's index when new.
func (st *static) classOf(t *nodeTables, n *model.Node, site, mod int32) int32 {
	ck := classKey{site, mod, labelKey(n.Labels)}
	c, ok := t.classOf[ck]
	if !ok {
		c = int32(len(st.classes))
		t.classOf[ck] = c
		st.classes = append(st.classes, classInfo{site: site, model: mod, node: int32(len(st.nodes))})
	}
	return c
}

// addNode appends n to the node table in domain d and class c and counts
// its cards in its domain, (site, model), model and in all.
func (st *static) addNode(n *model.Node, site, mod, d, c int32) {
	cards := max(n.Cards, 0)
	idx := int32(len(st.nodes))
	st.nodeIdx[n.ID] = idx
	cpu, mem := hostCapacity(n)
	st.nodes = append(st.nodes, nodeInfo{n: n, id: n.ID, site: site, domain: d, model: mod, class: c, cards: int32(cards), cardOff: int32(st.cards), cpuMilli: cpu, memMiB: mem})
	st.domains[d].hi = idx + 1
	st.domains[d].cards += cards
	sm := st.domains[d].sm
	st.sm[sm].cards += cards
	st.sm[sm].nodes++
	st.sm[sm].maxDomain = max(st.sm[sm].maxDomain, st.domains[d].cards)
	st.models[mod].cards += cards
	st.models[mod].maxCards = max(st.models[mod].maxCards, cards)
	st.models[mod].maxCPU = max(st.models[mod].maxCPU, cpu)
	st.models[mod].maxMem = max(st.models[mod].maxMem, mem)
	st.maxCards = max(st.maxCards, cards)
	st.cards += cards
}

// markUniform marks the domains whose nodes are all of one class.
func (st *static) markUniform() {
	for d := range st.domains {
		dom := &st.domains[d]
		dom.uniform = true
		for n := dom.lo; n < dom.hi; n++ {
			if st.nodes[n].class != st.nodes[dom.lo].class {
				dom.uniform = false
			}
		}
	}
}

// siteRanges sets each site's range of nodes (sites are contiguous by
// construction; a site without nodes has the empty range 0, 0).
func (st *static) siteRanges() {
	for i := range st.sites {
		st.sites[i].lo, st.sites[i].hi = -1, -1
	}
	for i := range st.nodes {
		s := &st.sites[st.nodes[i].site]
		if s.lo < 0 {
			s.lo = int32(i)
		}
		s.hi = int32(i + 1)
	}
	for i := range st.sites {
		if st.sites[i].lo < 0 {
			st.sites[i].lo, st.sites[i].hi = 0, 0
		}
	}
}

// buildRuns groups consecutive domains into runs and marks the (site,
// model) groups whose histogram describes every node.
func (st *static) buildRuns() {
	for i := range st.sm {
		st.sm[i].perNode = -1 // not seen yet
	}
	for d := range st.domains {
		dom := &st.domains[d]
		class := int32(-1)
		if dom.uniform && dom.hi > dom.lo {
			class = st.nodes[dom.lo].class
		}
		sm := &st.sm[dom.sm]
		for n := dom.lo; n < dom.hi; n++ {
			ni := &st.nodes[n]
			switch {
			case !dom.uniform || ni.class != st.nodes[st.domains[sm.domains[0]].lo].class:
				sm.perNode = 0
			case sm.perNode == -1:
				sm.perNode = int(ni.cards)
			case sm.perNode != int(ni.cards):
				sm.perNode = 0
			}
		}
		nodes := int(dom.hi - dom.lo)
		if k := len(st.runs) - 1; k >= 0 && class >= 0 {
			if r := &st.runs[k]; r.class == class && r.sm == dom.sm && r.hi == int32(d) {
				r.hi++
				r.nodes += nodes
				r.cards += dom.cards
				continue
			}
		}
		st.runs = append(st.runs, domainRun{lo: int32(d), hi: int32(d) + 1, model: dom.model, site: dom.site,
			sm: dom.sm, class: class, nodes: nodes, cards: dom.cards})
	}
	for i := range st.sm {
		st.sm[i].perNode = max(st.sm[i].perNode, 0)
	}
}

func labelKey(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// hostUnknown is the host capacity of a node that reports none: far more
// than any job asks, so that it limits nothing.
const hostUnknown = 1 << 50

// hostCapacity is a node's host CPU (thousandths of a core) and memory
// (MiB); a node without figures (zero) is not limited by them.
func hostCapacity(n *model.Node) (cpuMilli, memMiB int64) {
	cpuMilli, memMiB = hostUnknown, hostUnknown
	if n.CPUCores > 0 && n.CPUCores < hostUnknown/1000 {
		cpuMilli = n.CPUCores * 1000
	}
	if n.MemGiB > 0 && n.MemGiB < hostUnknown/1024 {
		memMiB = n.MemGiB * 1024
	}
	return cpuMilli, memMiB
}
