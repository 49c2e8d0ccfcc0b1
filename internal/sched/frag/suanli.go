package frag

// newSuanli is our policy: FGD's rounded fragmentation score, with ties going
// to nodes with fewer GPUs (then by rank), which keeps large nodes whole for
// multi-GPU tasks.
func newSuanli(d *Distribution, nodes int) Policy {
	f := newFGD(Suanli, d, nodes, true)
	f.smallFirst = true
	return f
}
