package core

import (
	"cmp"
	"slices"
)

// planOrder keeps the placed jobs in the order plan releases them: by
// expected end (declared runtimes first, math.MaxInt64 for the others),
// then queue position. Sorting every placed job on every plan cost more
// than the plans' decisions; the order changes little between plans, so it
// is kept: a placement appends a key, an unplacement makes its key stale,
// and plan merges what was appended into the sorted keys, dropping the
// stale ones (sorted).
//
// A placed job holds a slot; a key is live while its slot's generation is
// the key's (gens: dense, so checking a key reads no entry).
type planOrder struct {
	sorted []planKey // by (end, pos); stale keys among them until a merge
	added  []planKey // since the last merge, in no order
	spare  []planKey // the merge's other buffer
	stale  int       // stale keys in sorted and added
	gen    uint64    // the last generation given
	gens   []uint64  // per slot: the live key's generation (0: free)
	free   []int32   // free slots
	rel    []*entry  // plan's scratch: the jobs it released
	on     []bool    // planStart's scratch: per cluster node, in the plan
}

// planKey is a placed job with its expected end, for sorting, and the
// first word of its model set (narrow: the job can use only models of
// that word), so that plan skips jobs of other models without reading
// their entries.
type planKey struct {
	end    int64
	pos    uint64
	gen    uint64
	slot   int32
	narrow bool
	models uint64
	e      *entry
}

func (o *planOrder) live(k *planKey) bool { return o.gens[k.slot] == k.gen }

func cmpKey(a, b planKey) int { return cmp.Or(cmp.Compare(a.end, b.end), cmpUint(a.pos, b.pos)) }

// add records that e was placed (or placed again: its earlier key goes
// stale), at its current placedAt.
func (o *planOrder) add(e *entry) {
	if e.ordSlot != 0 {
		o.stale++
	} else if n := len(o.free); n > 0 {
		e.ordSlot, o.free = o.free[n-1]+1, o.free[:n-1]
	} else {
		o.gens = append(o.gens, 0)
		e.ordSlot = int32(len(o.gens))
	}
	o.gen++
	k := planKey{end: end(e), pos: e.st.Position, gen: o.gen, slot: e.ordSlot - 1, e: e}
	if !e.anyModel && len(e.models) <= 1 {
		k.narrow = true
		if len(e.models) == 1 {
			k.models = e.models[0]
		}
	}
	o.gens[k.slot] = k.gen
	o.added = append(o.added, k)
	if n := len(o.sorted) + len(o.added); o.stale > n/2 && n > 1024 {
		o.merge() // bound what stale keys hold
	}
}

// remove records that e is no longer placed.
func (o *planOrder) remove(e *entry) {
	if e.ordSlot != 0 {
		o.gens[e.ordSlot-1] = 0
		o.free = append(o.free, e.ordSlot-1)
		e.ordSlot = 0
		o.stale++
	}
}

// merge sorts the added keys into the sorted ones and drops the stale
// ones: then sorted holds every placed job once, in plan's order.
func (o *planOrder) merge() {
	if len(o.added) == 0 && o.stale == 0 {
		return
	}
	add := slices.DeleteFunc(o.added, func(k planKey) bool { return !o.live(&k) })
	slices.SortFunc(add, cmpKey)
	out := o.spare[:0]
	i, j := 0, 0
	for i < len(o.sorted) || j < len(add) {
		if i < len(o.sorted) && !o.live(&o.sorted[i]) {
			i++
			continue
		}
		if j == len(add) || i < len(o.sorted) && cmpKey(o.sorted[i], add[j]) < 0 {
			out = append(out, o.sorted[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	clear(o.sorted)
	clear(o.added)
	o.sorted, o.spare, o.added, o.stale = out, o.sorted[:0], o.added[:0], 0
}

// overlapsKey is overlaps(k.e, e), reading k.e only when its key cannot
// tell.
func overlapsKey(k *planKey, e *entry) bool {
	if k.narrow && !e.anyModel && len(e.models) <= 1 {
		return len(e.models) == 1 && k.models&e.models[0] != 0
	}
	return overlaps(k.e, e)
}
