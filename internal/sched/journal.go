package sched

// Mark and Restore let a caller change the cluster for a what-if question
// and put it back without undoing each change: between them, every node
// is saved the first time one of its cards or its host changes (Apply,
// Release, their At forms, ChangeAll, and the replicas a decision holds
// while deciding), and Restore copies the saved nodes back, indexes them
// again and keeps their fragmentation caches, which were valid for the
// saved state. The core's reservation plans release the jobs a gang waits
// for this way: putting back a node costs one copy, not one apply per
// placement that was released from it.

// journal is the saved state of the nodes changed since Mark.
type journal struct {
	on      bool
	gen     uint32
	mark    []uint32 // per node: gen when saved
	nodes   []savedNode
	used    []int16 // the saved nodes' cards, in order
	usedMiB []int64
	frag    *fragMeasure // the measure whose caches were saved
	total   int64        // usedCardsMilli at Mark
	version uint64
}

type savedNode struct {
	n        int32
	free     int16
	partial  [shareBuckets]uint8
	cpu, mem int64
	// The node's fragmentation caches (fragMeasure), when valid.
	fragOK bool
	fc     fragCounts
	cur    float64
	whole  wholeScores
	share  shareScores
}

// Mark starts saving the nodes that change, for Restore. Marks do not
// nest; a Mark before Restore starts afresh, dropping what was saved.
func (c *Cluster) Mark() {
	j := &c.jnl
	if len(j.mark) != len(c.st.nodes) {
		j.mark, j.gen = make([]uint32, len(c.st.nodes)), 0
	}
	j.gen++
	if j.gen == 0 { // wrapped: old marks could match
		clear(j.mark)
		j.gen = 1
	}
	j.on = true
	j.nodes, j.used, j.usedMiB = j.nodes[:0], j.used[:0], j.usedMiB[:0]
	j.frag, j.total, j.version = c.frag, c.usedCardsMilli, c.version
}

// save records node n's state before its first change since Mark.
func (c *Cluster) save(n int32) {
	j := &c.jnl
	if j.mark[n] == j.gen {
		return
	}
	j.mark[n] = j.gen
	ni := &c.st.nodes[n]
	sn := savedNode{n: n, free: c.free[n], cpu: c.cpuFree[n], mem: c.memFree[n]}
	copy(sn.partial[:], c.partial[int(n)*shareBuckets:int(n+1)*shareBuckets])
	if fm := c.frag; fm != nil && fm == j.frag && fm.ok[n] {
		sn.fragOK, sn.fc, sn.cur, sn.whole, sn.share = true, fm.fc[n], fm.cur[n], fm.whole[n], fm.share[n]
	}
	j.nodes = append(j.nodes, sn)
	j.used = append(j.used, c.usedMilli[ni.cardOff:ni.cardOff+ni.cards]...)
	j.usedMiB = append(j.usedMiB, c.usedMiB[ni.cardOff:ni.cardOff+ni.cards]...)
}

// Restore puts back every node changed since Mark as it was then, and
// stops saving. Without a Mark it does nothing.
func (c *Cluster) Restore() {
	j := &c.jnl
	if !j.on {
		return
	}
	j.on = false
	fm := c.frag
	off := int32(0)
	for i := range j.nodes {
		sn := &j.nodes[i]
		n, ni := sn.n, &c.st.nodes[sn.n]
		f0, p0 := c.counts(n)
		copy(c.usedMilli[ni.cardOff:ni.cardOff+ni.cards], j.used[off:off+ni.cards])
		copy(c.usedMiB[ni.cardOff:ni.cardOff+ni.cards], j.usedMiB[off:off+ni.cards])
		off += ni.cards
		c.free[n], c.cpuFree[n], c.memFree[n] = sn.free, sn.cpu, sn.mem
		copy(c.partial[int(n)*shareBuckets:int(n+1)*shareBuckets], sn.partial[:])
		c.reindex(n, f0, &p0)
		if fm == nil {
			continue
		}
		if sn.fragOK && fm == j.frag {
			fm.ok[n], fm.fc[n], fm.cur[n], fm.whole[n], fm.share[n] = true, sn.fc, sn.cur, sn.whole, sn.share
		} else {
			fm.ok[n] = false
		}
	}
	c.usedCardsMilli, c.version = j.total, j.version
}
