package sched

import (
	"errors"
	"fmt"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// shareBuckets split the free share of a partly used card into tenths.
const shareBuckets = 10

// Cluster is the mutable allocation state of a network: the share and
// memory used on every card, node health, and the indexes that keep a
// decision sub-linear in the network's size:
//
//   - healthy nodes bucketed by model and number of free whole cards (one
//     bitset per bucket, in preference order);
//   - healthy nodes holding a partly used card, by model and tenth of the
//     card's free share;
//   - per domain and per (site, model), how many healthy nodes have each
//     number of free whole cards.
//
// A Cluster is not safe for concurrent use. Schedule reads it and leaves it
// unchanged; Apply and Release change it.
type Cluster struct {
	st *static

	healthy   []bool
	free      []int16 // free whole cards per node
	usedMilli []int16 // per card
	usedMiB   []int64 // per card
	partial   []uint8 // per node × share bucket: partly used cards
	cpuFree   []int64 // per node: free host CPU, thousandths of a core
	memFree   []int64 // per node: free host memory, MiB

	// byFree[model][f] holds healthy nodes of the model with f free whole
	// cards (f ≥ 1); shareSet[model][b] healthy nodes with a partly used
	// card whose free share is in tenth b.
	byFree   [][]bitset
	shareSet [][]bitset

	domHist []int32 // domain × (maxCards+1): healthy nodes per free count
	smHist  []int32 // (site, model) × (maxCards+1)
	domFree []int32 // healthy free whole cards per domain
	smFree  []int32
	modFree []int32

	usedCardsMilli int64 // Σ used share over all cards
	version        uint64

	// Decision scratch, not copied by Clone.
	scratch *search
	frag    *fragMeasure
	cpuNorm int64             // maxKnownCPU, 0 until computed
	lookups map[string]string // model names in jobs → catalog ids (modelID)
	// During ChangeAll, the nodes whose indexes wait for its end (dirty,
	// each once: dirtyMark), their free counts and partly used cards
	// still those indexed.
	deferIdx  bool
	dirty     []int32
	dirtyMark []bool
	jnl       journal // Mark, Restore
}

// NewCluster builds an empty allocation state (every card free, every node
// healthy) for a network.
func NewCluster(net *network.Network) *Cluster {
	st := newStatic(net)
	c := &Cluster{
		st:        st,
		healthy:   make([]bool, len(st.nodes)),
		free:      make([]int16, len(st.nodes)),
		usedMilli: make([]int16, st.cards),
		usedMiB:   make([]int64, st.cards),
		partial:   make([]uint8, len(st.nodes)*shareBuckets),
		cpuFree:   make([]int64, len(st.nodes)),
		memFree:   make([]int64, len(st.nodes)),
		byFree:    make([][]bitset, len(st.models)),
		shareSet:  make([][]bitset, len(st.models)),
		domHist:   make([]int32, len(st.domains)*(st.maxCards+1)),
		smHist:    make([]int32, len(st.sm)*(st.maxCards+1)),
		domFree:   make([]int32, len(st.domains)),
		smFree:    make([]int32, len(st.sm)),
		modFree:   make([]int32, len(st.models)),
	}
	for m := range st.models {
		c.byFree[m] = make([]bitset, st.models[m].maxCards+1)
		for f := 1; f <= st.models[m].maxCards; f++ {
			c.byFree[m][f] = newBitset(st.words)
		}
		c.shareSet[m] = make([]bitset, shareBuckets)
		for b := range shareBuckets {
			c.shareSet[m][b] = newBitset(st.words)
		}
	}
	for i := range st.nodes {
		c.free[i] = int16(st.nodes[i].cards)
		c.cpuFree[i], c.memFree[i] = st.nodes[i].cpuMilli, st.nodes[i].memMiB
		c.healthy[i] = true
		c.index(int32(i), +1)
	}
	return c
}

// Clone returns an independent copy of the allocation state (the network
// and its indexes' static part are shared). It copies a few bytes per card
// and is meant for what-if questions such as preemption.
func (c *Cluster) Clone() *Cluster {
	d := &Cluster{
		st:             c.st,
		healthy:        clone(c.healthy),
		free:           clone(c.free),
		usedMilli:      clone(c.usedMilli),
		usedMiB:        clone(c.usedMiB),
		partial:        clone(c.partial),
		cpuFree:        clone(c.cpuFree),
		memFree:        clone(c.memFree),
		byFree:         make([][]bitset, len(c.byFree)),
		shareSet:       make([][]bitset, len(c.shareSet)),
		domHist:        clone(c.domHist),
		smHist:         clone(c.smHist),
		domFree:        clone(c.domFree),
		smFree:         clone(c.smFree),
		modFree:        clone(c.modFree),
		usedCardsMilli: c.usedCardsMilli,
		version:        c.version,
	}
	for m := range c.byFree {
		d.byFree[m] = make([]bitset, len(c.byFree[m]))
		for f, b := range c.byFree[m] {
			d.byFree[m][f] = clone(b)
		}
		d.shareSet[m] = make([]bitset, len(c.shareSet[m]))
		for b, s := range c.shareSet[m] {
			d.shareSet[m][b] = clone(s)
		}
	}
	return d
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// modelID is the catalog id a job's model name stands for (the name
// itself when the catalog does not know it), remembered per name: the
// network's catalog does not change.
func (c *Cluster) modelID(name string) string {
	if id, ok := c.lookups[name]; ok {
		return id
	}
	id := name
	if c.st.net.Catalog != nil {
		if m, ok := c.st.net.Catalog.Lookup(name); ok {
			id = m.ID
		}
	}
	if c.lookups == nil {
		c.lookups = map[string]string{}
	}
	if len(c.lookups) < 1024 { // names come from jobs: bound what is kept
		c.lookups[name] = id
	}
	return id
}

// index adds (sign +1) or removes (sign -1) a node from the indexes,
// according to its current free count and partly used cards.
func (c *Cluster) index(n int32, sign int32) {
	if !c.healthy[n] {
		return
	}
	ni := &c.st.nodes[n]
	f := int32(c.free[n])
	if f > 0 {
		c.byFree[ni.model][f].set(n, sign > 0)
	}
	for b := range shareBuckets {
		if c.partial[int(n)*shareBuckets+b] > 0 {
			c.shareSet[ni.model][b].set(n, sign > 0)
		}
	}
	stride := int32(c.st.maxCards + 1)
	d := ni.domain
	sm := c.st.domains[d].sm
	c.domHist[d*stride+f] += sign
	c.smHist[sm*stride+f] += sign
	c.domFree[d] += sign * f
	c.smFree[sm] += sign * f
	c.modFree[ni.model] += sign * f
}

// counts are node n's free whole cards and partly used cards per share
// bucket, as recount leaves them and index reads them.
func (c *Cluster) counts(n int32) (int32, [shareBuckets]uint8) {
	var p [shareBuckets]uint8
	copy(p[:], c.partial[int(n)*shareBuckets:int(n+1)*shareBuckets])
	return int32(c.free[n]), p
}

// reindex moves node n in the indexes from the counts it is indexed with,
// f0 and p0, to its current ones: what index(n, -1) before its counts
// changed and index(n, +1) after do, touching only what changed.
func (c *Cluster) reindex(n, f0 int32, p0 *[shareBuckets]uint8) {
	if !c.healthy[n] {
		return
	}
	ni := &c.st.nodes[n]
	if f := int32(c.free[n]); f != f0 {
		if f0 > 0 {
			c.byFree[ni.model][f0].set(n, false)
		}
		if f > 0 {
			c.byFree[ni.model][f].set(n, true)
		}
		stride, d := int32(c.st.maxCards+1), ni.domain
		sm := c.st.domains[d].sm
		c.domHist[d*stride+f0]--
		c.domHist[d*stride+f]++
		c.smHist[sm*stride+f0]--
		c.smHist[sm*stride+f]++
		c.domFree[d] += f - f0
		c.smFree[sm] += f - f0
		c.modFree[ni.model] += f - f0
	}
	p := c.partial[int(n)*shareBuckets : int(n+1)*shareBuckets]
	for b := range shareBuckets {
		if (p0[b] > 0) != (p[b] > 0) {
			c.shareSet[ni.model][b].set(n, p[b] > 0)
		}
	}
}

// recount recomputes a node's free whole cards and partly used cards from
// its cards; the caller removes the node from the indexes first.
func (c *Cluster) recount(n int32) {
	ni := &c.st.nodes[n]
	p := c.partial[int(n)*shareBuckets : int(n+1)*shareBuckets]
	clear(p)
	free := 0
	for k := ni.cardOff; k < ni.cardOff+ni.cards; k++ {
		u := c.usedMilli[k]
		switch {
		case u == 0 && c.usedMiB[k] == 0:
			free++
		case u < model.MilliCard:
			p[(model.MilliCard-int(u))/100%shareBuckets]++
		}
	}
	c.free[n] = int16(free)
	if c.frag != nil {
		c.frag.ok[n] = false
	}
}

// NodeIndex is a node's index in the cluster, for SetHealthyAt.
func (c *Cluster) NodeIndex(id model.NodeID) (int32, bool) {
	n, ok := c.st.nodeIdx[id]
	return n, ok
}

// SetHealthyAt is SetNodeHealthy by node index (NodeIndex); it reports
// whether the node's health changed.
func (c *Cluster) SetHealthyAt(n int32, healthy bool) bool {
	if c.healthy[n] == healthy {
		return false
	}
	c.index(n, -1)
	c.healthy[n] = healthy
	c.index(n, +1)
	c.version++
	return true
}

// FullAt reports whether node n has nothing free to place on: no whole
// card free and no card partly used (every card's shares taken).
func (c *Cluster) FullAt(n int32) bool {
	if c.free[n] != 0 {
		return false
	}
	for _, p := range c.partial[int(n)*shareBuckets : int(n+1)*shareBuckets] {
		if p != 0 {
			return false
		}
	}
	return true
}

// SetNodeHealthy marks a node healthy or not; an unhealthy node keeps its
// allocations but receives no new ones. It reports whether the node exists.
func (c *Cluster) SetNodeHealthy(id model.NodeID, healthy bool) bool {
	n, ok := c.st.nodeIdx[id]
	if !ok {
		return false
	}
	c.SetHealthyAt(n, healthy)
	return true
}

// Apply records a placement: whole cards become used, shares and memory are
// added to their card. It rejects, changing nothing, a placement that names
// an unknown node or card, the wrong model, a card already in use, or a
// share or memory beyond what the card has left.
func (c *Cluster) Apply(p model.Placement) error {
	for i := range p.Assignments {
		if err := c.assign(&p.Assignments[i], +1); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = c.assign(&p.Assignments[j], -1)
			}
			return fmt.Errorf("apply placement of job %s: assignment %d: %w", p.Job, i, err)
		}
	}
	c.version++
	return nil
}

// Release returns a placement's cards, shares and memory. It rejects,
// changing nothing, a placement that does not match what is allocated.
func (c *Cluster) Release(p model.Placement) error {
	for i := range p.Assignments {
		if err := c.assign(&p.Assignments[i], -1); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = c.assign(&p.Assignments[j], +1)
			}
			return fmt.Errorf("release placement of job %s: assignment %d: %w", p.Job, i, err)
		}
	}
	c.version++
	return nil
}

// ApplyAt is Apply given the cluster indexes of the placement's
// assignments' nodes (NodeIndex), in order: it saves their look-ups. An
// index that does not name its assignment's node is looked up as Apply
// does.
func (c *Cluster) ApplyAt(p *model.Placement, nodes []int32) error {
	return c.changeAt(p, nodes, +1)
}

// ReleaseAt is Release given the nodes' cluster indexes, as ApplyAt.
func (c *Cluster) ReleaseAt(p *model.Placement, nodes []int32) error {
	return c.changeAt(p, nodes, -1)
}

func (c *Cluster) changeAt(p *model.Placement, nodes []int32, sign int) error {
	as := p.Assignments
	for i := range as {
		if err := c.assignAt(&as[i], c.indexOf(&as[i], nodes, i), sign); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = c.assignAt(&as[j], c.indexOf(&as[j], nodes, j), -sign)
			}
			verb := "apply"
			if sign < 0 {
				verb = "release"
			}
			return fmt.Errorf("%s placement of job %s: assignment %d: %w", verb, p.Job, i, err)
		}
	}
	c.version++
	return nil
}

// ChangeAll applies (sign +1) or releases (sign -1) placements in turn,
// each as ApplyAt or ReleaseAt would (at(i) gives placement i and its
// nodes' indexes), but re-indexes each node they touch once, at the end:
// nodes shared by several placements are indexed once. It returns how
// many it rejected; a rejected placement changes nothing.
func (c *Cluster) ChangeAll(sign, n int, at func(i int) (*model.Placement, []int32)) int {
	if len(c.dirtyMark) != len(c.st.nodes) {
		c.dirtyMark = make([]bool, len(c.st.nodes))
	}
	c.deferIdx = true
	rejected := 0
	for i := range n {
		p, nodes := at(i)
		if c.changeAt(p, nodes, sign) != nil {
			rejected++
		}
	}
	c.deferIdx = false
	for _, d := range c.dirty {
		c.dirtyMark[d] = false
		f0, p0 := c.counts(d) // as indexed: the counts are the old ones
		c.recount(d)
		c.reindex(d, f0, &p0)
	}
	c.dirty = c.dirty[:0]
	return rejected
}

// indexOf is the cluster index of assignment i's node: nodes[i] when it
// names that node, else the look-up's (-1: unknown).
func (c *Cluster) indexOf(a *model.Assignment, nodes []int32, i int) int32 {
	if i < len(nodes) {
		if n := nodes[i]; n >= 0 && int(n) < len(c.st.nodes) && c.st.nodes[n].id == a.Node {
			return n
		}
	}
	if n, ok := c.st.nodeIdx[a.Node]; ok {
		return n
	}
	return -1
}

// ErrOvercommit is returned when a placement asks for more than a card has.
var ErrOvercommit = errors.New("card over-committed")

// assign adds (sign +1) or removes (sign -1) one assignment, checking it
// whole before changing anything.
func (c *Cluster) assign(a *model.Assignment, sign int) error {
	n, ok := c.st.nodeIdx[a.Node]
	if !ok {
		n = -1
	}
	return c.assignAt(a, n, sign)
}

// assignAt is assign given the node's index (-1: unknown).
func (c *Cluster) assignAt(a *model.Assignment, n int32, sign int) error {
	if n < 0 {
		return fmt.Errorf("unknown node %q", a.Node)
	}
	ni := &c.st.nodes[n]
	mi := &c.st.models[ni.model]
	if a.Model != "" && a.Model != mi.id {
		return fmt.Errorf("node %s has %s cards, not %s", a.Node, mi.id, a.Model)
	}
	if len(a.Cards) == 0 {
		return fmt.Errorf("node %s: no cards", a.Node)
	}
	frac := a.ShareMilli > 0
	if frac && (len(a.Cards) != 1 || a.ShareMilli >= model.MilliCard) {
		return fmt.Errorf("node %s: a share of %d‰ must name exactly one card and be below 1000", a.Node, a.ShareMilli)
	}
	if a.MemMiB < 0 {
		return fmt.Errorf("node %s: negative memory %d MiB", a.Node, a.MemMiB)
	}
	if err := c.checkHost(n, a, sign); err != nil {
		return err
	}
	if err := c.checkCards(ni, mi, a, sign); err != nil {
		return err
	}
	if c.jnl.on {
		c.save(n)
	}
	var f0 int32
	var p0 [shareBuckets]uint8
	if !c.deferIdx {
		f0, p0 = c.counts(n)
	} else if !c.dirtyMark[n] {
		c.dirtyMark[n] = true
		c.dirty = append(c.dirty, n)
	}
	for _, k := range a.Cards {
		g := ni.cardOff + int32(k)
		share, mem := model.MilliCard, mi.memMiB
		if frac {
			share, mem = a.ShareMilli, a.MemMiB
		}
		c.usedMilli[g] += int16(sign * share)
		c.usedMiB[g] += int64(sign) * mem
		c.usedCardsMilli += int64(sign * share)
	}
	c.cpuFree[n] -= int64(sign) * a.CPUMilli
	c.memFree[n] -= int64(sign) * a.HostMemMiB
	if !c.deferIdx {
		c.recount(n)
		c.reindex(n, f0, &p0)
	}
	return nil
}

// checkCards checks each card the assignment names: on the node, named
// once, and free enough to take it (sign +1) or holding it (sign -1).
func (c *Cluster) checkCards(ni *nodeInfo, mi *modelInfo, a *model.Assignment, sign int) error {
	frac := a.ShareMilli > 0
	var seen uint64 // cards are few per node; larger indices are checked below
	for _, k := range a.Cards {
		if k < 0 || k >= int(ni.cards) {
			return fmt.Errorf("node %s has no card %d (it has %d)", a.Node, k, ni.cards)
		}
		if k < 64 {
			if seen&(1<<k) != 0 {
				return fmt.Errorf("node %s: card %d named twice", a.Node, k)
			}
			seen |= 1 << k
		}
		g := ni.cardOff + int32(k)
		u, mem := int(c.usedMilli[g]), c.usedMiB[g]
		switch {
		case frac && sign > 0:
			if u+a.ShareMilli > model.MilliCard || (mi.memMiB > 0 && mem+a.MemMiB > mi.memMiB) {
				return fmt.Errorf("%w: card %s/%d has %d‰ and %d MiB free, asked %d‰ and %d MiB",
					ErrOvercommit, a.Node, k, model.MilliCard-u, mi.memMiB-mem, a.ShareMilli, a.MemMiB)
			}
		case frac:
			if u < a.ShareMilli || mem < a.MemMiB {
				return fmt.Errorf("card %s/%d holds %d‰ and %d MiB, less than the %d‰ and %d MiB released", a.Node, k, u, mem, a.ShareMilli, a.MemMiB)
			}
		case sign > 0:
			if u != 0 || mem != 0 {
				return fmt.Errorf("%w: card %s/%d is in use (%d‰, %d MiB)", ErrOvercommit, a.Node, k, u, mem)
			}
		default:
			if u != model.MilliCard || mem != mi.memMiB {
				return fmt.Errorf("card %s/%d is not held whole (%d‰, %d MiB)", a.Node, k, u, mem)
			}
		}
	}
	if len(a.Cards) > 64 {
		for i, k := range a.Cards {
			for _, k2 := range a.Cards[:i] {
				if k == k2 {
					return fmt.Errorf("node %s: card %d named twice", a.Node, k)
				}
			}
		}
	}
	return nil
}

// ErrHostExhausted is returned when a placement asks a node for more host
// CPU or memory than it has free.
var ErrHostExhausted = errors.New("host CPU or memory exhausted")

// checkHost checks an assignment's host CPU and memory against node n:
// taking them (sign +1) must leave none negative, giving them back must
// not exceed the node's capacity.
func (c *Cluster) checkHost(n int32, a *model.Assignment, sign int) error {
	ni := &c.st.nodes[n]
	if a.CPUMilli < 0 || a.HostMemMiB < 0 || a.CPUMilli > model.MaxHostCPUMilli || a.HostMemMiB > model.MaxHostMemMiB {
		return fmt.Errorf("node %s: host request of %d milli-CPU and %d MiB is out of range", a.Node, a.CPUMilli, a.HostMemMiB)
	}
	if sign > 0 {
		if c.cpuFree[n] < a.CPUMilli || c.memFree[n] < a.HostMemMiB {
			return fmt.Errorf("%w: node %s has %d milli-CPU and %d MiB free, asked %d and %d",
				ErrHostExhausted, a.Node, c.cpuFree[n], c.memFree[n], a.CPUMilli, a.HostMemMiB)
		}
		return nil
	}
	if c.cpuFree[n]+a.CPUMilli > ni.cpuMilli || c.memFree[n]+a.HostMemMiB > ni.memMiB {
		return fmt.Errorf("node %s holds less host CPU or memory than the %d milli-CPU and %d MiB released", a.Node, a.CPUMilli, a.HostMemMiB)
	}
	return nil
}
