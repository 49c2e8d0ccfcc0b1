package frag

// FillHorizon is how many arrivals the look-ahead (FillTable) lets a GPU's
// free capacity wait for tasks that fit it.
const FillHorizon = 256

// FillWeight weighs the look-ahead in Measure: GPU milli of fragmentation
// per milli a GPU is expected to leave unused.
const FillWeight = 6

// compete lowers each share's rate to what one GPU can expect of it when
// more free capacity waits for it than it can fill. A share s is the best
// fit of the free capacities from s up to the next larger share; the
// typical tasks leave such capacity on a fresh GPU at the rate of the
// shares x with 1000 − x in that range. When that rate (the demand) exceeds
// s's own, the arriving s spread over the waiting GPUs and each sees s at
// rate weight × weight/demand; and since they then accumulate, the waiting
// grows too: the table counts weight × (weight/demand)², which measured
// better than the first power (see the README). On the openb default list
// the 810s leave a 190 on one arrival in seven, and the 160s, the only
// share to fill it, come on one in 140: the look-ahead stops counting on a
// 160 for a 190 hole.
func compete(share []int32, weight []float64) {
	eff := make([]float64, len(weight))
	for i, s := range share {
		next := int32(MilliPerGPU + 1)
		for _, x := range share {
			if x > s && x < next {
				next = x
			}
		}
		var demand float64
		for j, x := range share {
			if h := MilliPerGPU - x; x < MilliPerGPU && h >= s && h < next {
				demand += weight[j]
			}
		}
		eff[i] = weight[i]
		if demand > weight[i] {
			r := weight[i] / demand
			eff[i] = weight[i] * r * r
		}
	}
	copy(weight, eff)
}

// FillTable is the measure's look-ahead: for each free capacity of one GPU
// (0..1000 milli), the milli expected to stay unused on it after
// FillHorizon arrivals drawn from the typical tasks, each taking its per-GPU
// share from the GPU when the share fits (a whole or multi-GPU task fits a
// wholly free GPU only; a task that needs no GPU fits none).
//
// FGD's measure asks only whether the next typical task fits what is left;
// the look-ahead asks what the tasks that fit will leave in turn. Free
// capacity that a frequent share fills exactly (350 milli beside a 650 share,
// for a 320) is worth keeping; capacity that only rare tasks can use, or that
// the frequent ones leave a sliver of, is not. On the openb default list it
// keeps 320-milli shares for the 350 left beside 650s instead of spending them
// on 530-milli holes (leaving 210), and 230s for each other.
type FillTable struct {
	left [MilliPerGPU + 1]int64
	// drop[s] is the most left can fall when s milli are taken from one
	// GPU; with onDemand it is not tabled, and Drop works out the entries
	// it reads.
	drop     [MilliPerGPU + 1]int64
	onDemand bool
}

// newFillTable is the look-ahead over horizon arrivals, its values scaled;
// with onDemand, without the drop table (Drop computes its entries).
func newFillTable(d *Distribution, horizon int, scale float64, onDemand bool) *FillTable {
	var share []int32 // distinct per-GPU shares of the GPU tasks, in task order
	var weight []float64
	for _, t := range d.Tasks {
		if t.NumGPU == 0 || t.GPUMilli <= 0 || t.GPUMilli > MilliPerGPU {
			continue
		}
		i := 0
		for i < len(share) && share[i] != t.GPUMilli {
			i++
		}
		if i == len(share) {
			share, weight = append(share, t.GPUMilli), append(weight, 0)
		}
		weight[i] += t.Weight
	}
	compete(share, weight)
	cur := fillArrivals(share, weight, horizon)
	ft := &FillTable{}
	for f := range cur {
		ft.left[f] = int64(scale*cur[f] + 0.5)
	}
	ft.onDemand = onDemand
	if !onDemand {
		for s := 1; s <= MilliPerGPU; s++ {
			ft.drop[s] = maxDrop(&ft.left, s)
		}
	}
	return ft
}

// maxDrop is drop[s]: max(0, max over f ≥ s of left[f] − left[f−s]), over
// the two windows (no bounds checks, no store per step).
func maxDrop(left *[MilliPerGPU + 1]int64, s int) int64 {
	var d int64
	hi, lo := left[s:], left[:len(left)-s]
	lo = lo[:len(hi)]
	for f, x := range hi {
		d = max(d, x-lo[f])
	}
	return d
}

// dropAt is drop[s], tabled or worked out (onDemand).
func (ft *FillTable) dropAt(s int64) int64 {
	if !ft.onDemand || s == 0 {
		return ft.drop[s]
	}
	return maxDrop(&ft.left, int(s))
}

// fillArrivals is, for each free capacity f of one GPU, the milli expected
// to stay free after horizon arrivals of the shares at their weights:
// cur'[f] = Σ_{s ≤ f} w_s·cur[f−s] + (1 − Σ_{s ≤ f} w_s)·cur[f], from cur[f]
// = f. Each step sums the shares in their order for every f, share by
// share over all f (the same additions in the same order as share-wise
// per f, so the same bits, but without a branch in the inner loop).
func fillArrivals(share []int32, weight []float64, horizon int) *[MilliPerGPU + 1]float64 {
	var cur, next, keep [MilliPerGPU + 1]float64
	for f := range cur {
		cur[f] = float64(f)
		var fits float64
		for i, s := range share {
			if int(s) <= f {
				fits += weight[i]
			}
		}
		keep[f] = 1 - fits
	}
	for range horizon {
		next = [MilliPerGPU + 1]float64{}
		for i, s := range share {
			w, src := weight[i], cur[:MilliPerGPU+1-int(s)]
			dst := next[s:]
			for f, c := range src {
				dst[f] += w * c
			}
		}
		for f, c := range cur {
			next[f] += keep[f] * c
		}
		cur = next
	}
	return &cur
}

// Left is the milli a GPU with free milli free is expected to leave unused.
func (ft *FillTable) Left(free int32) int64 { return ft.left[min(max(free, 0), MilliPerGPU)] }

// NodeLeft sums Left over the node's GPUs.
func (ft *FillTable) NodeLeft(n *Node) int64 {
	var s int64
	for _, f := range n.Free[:n.GPUs] {
		s += ft.Left(f)
	}
	return s
}

// Drop is the most NodeLeft can fall when taken milli are taken from one
// node: whole GPUs for each full thousand, a share of one GPU for the rest.
func (ft *FillTable) Drop(taken int64) int64 {
	if taken <= 0 {
		return 0
	}
	return taken/MilliPerGPU*ft.dropAt(MilliPerGPU) + ft.dropAt(taken%MilliPerGPU)
}
