package frag

import (
	"math"
	"math/rand/v2"
)

// fgd is Fragmentation Gradient Descent: place the task where the node's
// fragmentation (against the typical-task distribution) grows least. For a
// share it tries each GPU with room; whole GPUs are the first free ones.
//
// With quantize set it reproduces the paper's simulator exactly: the score is
// int(100·sigmoid(−Δfrag/1000)) (Score), so placements whose fragmentation
// growth differs by less than about 40 milli tie and are broken by node rank
// (Cluster.Rank), and the GPU for a share is the first with the best rounded
// score.
type fgd struct {
	name     string
	m        Measure // with stranding for suanli
	quantize bool
	cache    scoreCache
	best     bestTrees
}

// frag is the node's fragmentation as the policy measures it.
func (f *fgd) frag(n *Node) float64 { return f.m.Frag(n) }

func newFGD(name string, m Measure, nodes int, quantize bool) *fgd {
	return &fgd{name: name, m: m, quantize: quantize, cache: newScoreCache(nodes)}
}

func (f *fgd) Name() string { return f.name }

func (f *fgd) Choose(c *Cluster, t *Task, rng *rand.Rand) (Placement, bool) {
	f.cache.begin(t)
	return f.best.choose(c, t, f)
}

func (f *fgd) score(c *Cluster, i int, t *Task) (float64, uint32) {
	if e, ok := f.cache.get(c, i); ok {
		return e.score, e.gpus
	}
	n := &c.Nodes[i]
	before := f.cache.nodeFrag(c, i, f)
	var best float64
	var gpus uint32
	if t.Share() {
		best = math.Inf(-1)
		var tried [MaxGPUs]int32
		nt := 0
	gpu:
		for g := 0; g < n.GPUs; g++ {
			free := n.Free[g]
			if free < t.GPUMilli {
				continue
			}
			for _, x := range tried[:nt] { // GPUs with equal free space are interchangeable
				if x == free {
					continue gpu
				}
			}
			tried[nt] = free
			nt++
			a := after(n, t, 1<<g)
			if s := f.value(before, f.frag(&a)); s > best {
				best, gpus = s, 1<<g
			}
		}
	} else {
		gpus = firstFree(n, t.NumGPU)
		a := after(n, t, gpus)
		best = f.value(before, f.frag(&a))
	}
	f.cache.put(c, i, best, gpus)
	return best, gpus
}

// value scores a change of fragmentation from before to after.
func (f *fgd) value(before, after float64) float64 {
	if !f.quantize {
		return before - after
	}
	return float64(Score(before, after))
}

// scoreCache remembers, per node and task shape, the score and GPUs of the
// last evaluation, valid while the node is unchanged; and each node's own
// fragmentation. Only one node changes per placement, so most evaluations of
// a run are cache hits.
type scoreCache struct {
	shapes  map[Task]int32
	cur     int32
	entries [][]cacheEntry // per node, by shape
	frag    []fragEntry    // per node
}

type cacheEntry struct {
	ver   uint32 // node version + 1; 0 means empty
	gpus  uint32
	score float64
}

type fragEntry struct {
	ver  uint32
	frag float64
}

func newScoreCache(nodes int) scoreCache {
	return scoreCache{shapes: map[Task]int32{}, entries: make([][]cacheEntry, nodes), frag: make([]fragEntry, nodes)}
}

func (s *scoreCache) begin(t *Task) {
	id, ok := s.shapes[*t]
	if !ok {
		id = int32(len(s.shapes))
		s.shapes[*t] = id
	}
	s.cur = id
}

func (s *scoreCache) get(c *Cluster, i int) (cacheEntry, bool) {
	if row := s.entries[i]; int(s.cur) < len(row) && row[s.cur].ver == c.version[i]+1 {
		return row[s.cur], true
	}
	return cacheEntry{}, false
}

func (s *scoreCache) put(c *Cluster, i int, score float64, gpus uint32) {
	row := s.entries[i]
	if int(s.cur) >= len(row) {
		row = append(row, make([]cacheEntry, int(s.cur)+1-len(row)+8)...)
		s.entries[i] = row
	}
	row[s.cur] = cacheEntry{ver: c.version[i] + 1, gpus: gpus, score: score}
}

// fragmenter measures a node's fragmentation.
type fragmenter interface{ frag(n *Node) float64 }

func (s *scoreCache) nodeFrag(c *Cluster, i int, m fragmenter) float64 {
	e := &s.frag[i]
	if e.ver != c.version[i]+1 {
		e.ver, e.frag = c.version[i]+1, m.frag(&c.Nodes[i])
	}
	return e.frag
}
