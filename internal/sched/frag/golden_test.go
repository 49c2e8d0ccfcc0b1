package frag

// goldenTiny is protocol A's mean unallocated GPUs at 130% on TestGoldenTiny's
// cluster and pod list, seeds 1..3. Change it only with a reviewed reason.
var goldenTiny = map[string]float64{
	"bestfit": 4.007, "dotprod": 4.007, "fgd": 4.007, "gpuclustering": 4.007,
	"gpupacking": 4.34, "random": 6.673, "suanli": 4.007,
}
