package frag

import "math"

// bestTrees answers argmax for the task shapes that recur in a run without
// visiting every node: per shape, a tournament tree over the nodes ordered
// as argmax orders them (fitting first, then the higher score, then the
// lower rank), brought up to date at each query with the nodes placed on
// since the shape's last one (Cluster.changed). Only one node changes per
// placement, so a shape asked for again soon costs a few updates of
// O(log n) instead of n evaluations. The answer is argmax's, exactly.
type bestTrees struct {
	c     *Cluster
	trees map[Task]*bestTree
	seen  map[Task]bool // shapes asked for once: a tree on the second ask
}

type bestTree struct {
	synced int       // len(Cluster.changed) when last brought up to date
	size   int       // leaves, a power of two
	win    []int32   // 2*size: the best node under each tree node; -1 none
	fits   []bool    // per node
	score  []float64 // per node
	gpus   []uint32  // per node
	// odd counts the fitting nodes scored -Inf or NaN, which argmax
	// treats its own way: while there are any, argmax answers.
	odd int
}

// maxTrees bounds the shapes given a tree in one run (memory: about
// 24 bytes a node each).
const maxTrees = 512

// choose is argmax(c, t, nil, s) for a scorer whose scores of a node stay
// valid while the node does not change (Cluster.Version).
func (b *bestTrees) choose(c *Cluster, t *Task, s scorer) (Placement, bool) {
	if b.c != c {
		*b = bestTrees{c: c, trees: map[Task]*bestTree{}, seen: map[Task]bool{}}
	}
	tr := b.trees[*t]
	if tr == nil {
		if !b.seen[*t] || len(b.trees) >= maxTrees {
			b.seen[*t] = true
			return argmax(c, t, nil, s)
		}
		tr = b.build(c, t, s)
		b.trees[*t] = tr
	} else if len(c.changed)-tr.synced > len(c.Nodes)/4 {
		*tr = *b.build(c, t, s) // cheaper to score every node again
	} else {
		for _, i := range c.changed[tr.synced:] {
			tr.set(c, t, s, int(i))
			tr.update(c, int(i))
		}
		tr.synced = len(c.changed)
	}
	if tr.odd > 0 {
		return argmax(c, t, nil, s)
	}
	w := tr.win[1]
	if w < 0 {
		return Placement{}, false
	}
	return Placement{Node: int(w), GPUs: tr.gpus[w]}, true
}

func (b *bestTrees) build(c *Cluster, t *Task, s scorer) *bestTree {
	n := len(c.Nodes)
	size := 1
	for size < n {
		size *= 2
	}
	tr := &bestTree{synced: len(c.changed), size: size, win: make([]int32, 2*size),
		fits: make([]bool, n), score: make([]float64, n), gpus: make([]uint32, n)}
	for i := range tr.win {
		tr.win[i] = -1
	}
	for i := range n {
		tr.set(c, t, s, i)
		tr.win[size+i] = int32(i)
	}
	for k := size - 1; k >= 1; k-- {
		tr.win[k] = tr.better(c, tr.win[2*k], tr.win[2*k+1])
	}
	return tr
}

// set scores node i for the shape.
func (tr *bestTree) set(c *Cluster, t *Task, s scorer, i int) {
	if tr.fits[i] && odd(tr.score[i]) {
		tr.odd--
	}
	tr.fits[i] = c.Nodes[i].Fits(t)
	if tr.fits[i] {
		tr.score[i], tr.gpus[i] = s.score(c, i, t)
		if odd(tr.score[i]) {
			tr.odd++
		}
	}
}

func odd(v float64) bool { return math.IsInf(v, -1) || math.IsNaN(v) }

// update recomputes the winners above node i's leaf.
func (tr *bestTree) update(c *Cluster, i int) {
	for k := (tr.size + i) / 2; k >= 1; k /= 2 {
		tr.win[k] = tr.better(c, tr.win[2*k], tr.win[2*k+1])
	}
}

// better is the node argmax prefers of two (-1: none).
func (tr *bestTree) better(c *Cluster, a, b int32) int32 {
	switch {
	case a < 0 || !tr.fits[a]:
		if b >= 0 && tr.fits[b] {
			return b
		}
		return -1
	case b < 0 || !tr.fits[b]:
		return a
	case tr.score[a] > tr.score[b]:
		return a
	case tr.score[b] > tr.score[a]:
		return b
	case c.Rank[b] < c.Rank[a]:
		return b
	}
	return a
}
