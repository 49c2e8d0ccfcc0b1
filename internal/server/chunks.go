package server

import (
	"cmp"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// chunkBytes bounds the records of one scheduler transaction: the writer
// may add other writes to it.
const chunkBytes = store.MaxTxnBytes / 2

// chunks splits a Ready's changes into transactions of at most
// jobsPerCommit jobs and chunkBytes bytes, so that whatever prefix of them
// the store holds never places two jobs on what one node can hold.
//
// A Ready is decided as a whole: a job placed on cards another job's end,
// stop or move frees is only right if that end is committed too. Changes
// that free resources of a node (cards, host CPU and memory) and those
// that take resources there therefore form one group, committed in one
// transaction; a group larger
// than a transaction is split with what it frees first and what it takes
// last. Groups keep the order of their first change.
func chunks(changes []change) [][]change {
	groups := nodeGroups(changes)
	var out [][]change
	var cur []change
	size := 0
	next := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur, size = nil, 0
		}
	}
	for _, g := range groups {
		gsize := 0
		for _, ch := range g {
			gsize += len(ch.enc)
		}
		if len(cur)+len(g) > jobsPerCommit || size+gsize > chunkBytes {
			next()
		}
		for _, ch := range g {
			if len(cur) > 0 && (len(cur) == jobsPerCommit || size+len(ch.enc) > chunkBytes) {
				next()
			}
			cur = append(cur, ch)
			size += len(ch.enc)
		}
	}
	next()
	return out
}

// nodeGroups partitions changes into groups, tying the changes that free
// resources on a node to those that take resources there; each group is
// ordered: changes that only free first, then moves, then the rest.
func nodeGroups(changes []change) [][]change {
	parent := make([]int, len(changes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	type touches struct{ frees, takes []int }
	nodes := map[model.NodeID]*touches{}
	touch := func(p *model.Placement, i int, frees bool) {
		if p == nil {
			return
		}
		for _, a := range p.Assignments {
			t := nodes[a.Node]
			if t == nil {
				t = &touches{}
				nodes[a.Node] = t
			}
			if frees {
				t.frees = append(t.frees, i)
			} else {
				t.takes = append(t.takes, i)
			}
		}
	}
	kind := make([]int, len(changes))
	for i, ch := range changes {
		frees, takes := moved(ch)
		switch {
		case frees != nil && takes == nil:
			kind[i] = 0
		case frees != nil:
			kind[i] = 1
		default:
			kind[i] = 2
		}
		touch(frees, i, true)
		touch(takes, i, false)
	}
	// Jobs placed on a node that nothing frees do not depend on each
	// other: only a node both freed and taken ties its changes.
	for _, t := range nodes {
		if len(t.frees) == 0 || len(t.takes) == 0 {
			continue
		}
		r := find(t.frees[0])
		for _, i := range append(t.frees[1:], t.takes...) {
			parent[find(i)] = r
			r = find(r)
		}
	}
	idx := map[int]int{} // root → index in out
	var out [][]change
	var kinds [][]int
	for i, ch := range changes {
		r := find(i)
		k, ok := idx[r]
		if !ok {
			k = len(out)
			idx[r] = k
			out = append(out, nil)
			kinds = append(kinds, nil)
		}
		out[k] = append(out[k], ch)
		kinds[k] = append(kinds[k], kind[i])
	}
	for k, g := range out {
		if len(g) < 2 {
			continue
		}
		order := make([]int, len(g))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(kinds[k][a], kinds[k][b]) })
		sorted := make([]change, len(g))
		for i, o := range order {
			sorted[i] = g[o]
		}
		out[k] = sorted
	}
	return out
}

// moved returns the placement a change frees (the stored one, when the
// change drops or replaces it) and the one it takes (a new placement), nil
// where none.
func moved(ch change) (frees, takes *model.Placement) {
	var old *model.Placement
	if ch.prev != nil {
		old = ch.prev.Placement
	}
	cur := ch.rec.Placement
	if old != nil && cur != nil && samePlacement(old, cur) {
		return nil, nil
	}
	return old, cur
}
