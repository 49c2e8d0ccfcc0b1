package frag

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFillTable checks the look-ahead on mixes whose answer is known: what
// no task fits stays unused (weighted), capacity the only share fills
// exactly is not, and Drop bounds every fall of the table.
// NewFillTable computes the look-ahead for a distribution with its whole
// drop table (the scheduler's works out the drops it asks for). It is
// deterministic (same distribution, same table, to the last bit).
func NewFillTable(d *Distribution) *FillTable { return newFillTable(d, FillHorizon, FillWeight, false) }

func TestFillTable(t *testing.T) {
	halves := NewDistributionOf([]TypicalTask{{Task: Task{NumGPU: 1, GPUMilli: 500}, Weight: 1}}, false)
	ft := NewFillTable(halves)
	for _, c := range []struct {
		free int32
		want int64
	}{{0, 0}, {499, 499 * FillWeight}, {500, 0}, {1000, 0}, {700, 200 * FillWeight}, {-5, 0}, {2000, 0}} {
		if got := ft.Left(c.free); got != c.want {
			t.Errorf("halves only: Left(%d) = %d, want %d", c.free, got, c.want)
		}
	}
	// Tasks that need no GPU never fill one; whole GPUs fill only a free GPU.
	mixed := NewDistributionOf([]TypicalTask{
		{Task: Task{CPUMilli: 1000}, Weight: 0.5},
		{Task: Task{NumGPU: 2, GPUMilli: 1000}, Weight: 0.5},
	}, false)
	ft = NewFillTable(mixed)
	if got := ft.Left(999); got != 999*FillWeight {
		t.Errorf("whole GPUs only: Left(999) = %d, want %d", got, 999*FillWeight)
	}
	if got := ft.Left(1000); got != 0 {
		t.Errorf("whole GPUs only: Left(1000) = %d, want 0 (a whole-GPU task is all but certain within the horizon)", got)
	}

	rng := rand.New(rand.NewPCG(3, 5))
	for trial := range 50 {
		var list []TypicalTask
		for range 1 + rng.IntN(12) {
			list = append(list, TypicalTask{Task: Task{NumGPU: 1, GPUMilli: int32(1 + rng.IntN(1000))}, Weight: rng.Float64()})
		}
		var sum float64
		for _, tt := range list {
			sum += tt.Weight
		}
		for i := range list {
			list[i].Weight /= sum
		}
		ft := NewFillTable(NewDistributionOf(list, false))
		if *ft != *NewFillTable(NewDistributionOf(list, false)) {
			t.Fatalf("trial %d: two tables of one mix differ", trial)
		}
		lazy := newFillTable(NewDistributionOf(list, false), FillHorizon, FillWeight, true)
		for taken := int64(0); taken <= 3*MilliPerGPU; taken += 1 + int64(rng.IntN(7)) {
			if lazy.Drop(taken) != ft.Drop(taken) || lazy.Left(int32(taken)) != ft.Left(int32(taken)) {
				t.Fatalf("trial %d: on demand, Drop(%d) = %d, tabled %d", trial, taken, lazy.Drop(taken), ft.Drop(taken))
			}
		}
		for s := 1; s <= MilliPerGPU; s++ { // drop as first written: every (s, f) pair in turn
			var want int64
			for f := s; f <= MilliPerGPU; f++ {
				want = max(want, ft.left[f]-ft.left[f-s])
			}
			if ft.drop[s] != want {
				t.Fatalf("trial %d: drop[%d] = %d, want %d", trial, s, ft.drop[s], want)
			}
		}
		for f := int32(0); f <= MilliPerGPU; f++ {
			if l := ft.Left(f); l < 0 || l > int64(f)*FillWeight {
				t.Fatalf("trial %d: Left(%d) = %d, outside 0..%d", trial, f, l, int64(f)*FillWeight)
			}
		}
		for range 200 {
			var n Node
			n.GPUs = 1 + rng.IntN(MaxGPUs)
			for k := range n.GPUs {
				n.Free[k] = int32(rng.IntN(MilliPerGPU + 1))
			}
			before := ft.NodeLeft(&n)
			k := rng.IntN(n.GPUs)
			take := int32(rng.IntN(int(n.Free[k]) + 1))
			a := n
			a.Free[k] -= take
			if fall := before - ft.NodeLeft(&a); fall > ft.Drop(int64(take)) {
				t.Fatalf("trial %d: taking %d of %d milli drops the look-ahead by %d, more than Drop's %d", trial, take, n.Free[k], fall, ft.Drop(int64(take)))
			}
		}
	}
}

// TestFillKeepsTheHoleForItsShare: the mix is 600s and 400s and a few
// 200s. A 200 arrives at a node with 400 free beside a 600 and a free GPU.
// FGD's measure sees no difference and puts it in the hole, leaving 200 that
// only the rare 200s can use; Suanli's look-ahead keeps the hole for a 400
// and puts the 200 on the free GPU, whose 800 the 600s and 400s fill.
func TestFillKeepsTheHoleForItsShare(t *testing.T) {
	d := NewDistributionOf([]TypicalTask{
		{Task: Task{NumGPU: 1, GPUMilli: 600}, Weight: 0.5},
		{Task: Task{NumGPU: 1, GPUMilli: 400}, Weight: 0.49},
		{Task: Task{NumGPU: 1, GPUMilli: 200}, Weight: 0.01},
	}, false)
	c, err := NewCluster([]NodeSpec{{Name: "a", CPUMilli: 64000, MemMiB: 1 << 20, GPUs: 2, Model: "g"}})
	if err != nil {
		t.Fatal(err)
	}
	big := Task{NumGPU: 1, GPUMilli: 600}
	if err := c.Apply(Placement{Node: 0, GPUs: 1}, &big); err != nil {
		t.Fatal(err)
	}
	small := Task{NumGPU: 1, GPUMilli: 200}
	for _, tc := range []struct {
		policy string
		want   uint32
	}{{FGD, 1 << 0}, {Suanli, 1 << 1}} {
		pol, err := New(tc.policy, d, len(c.Nodes))
		if err != nil {
			t.Fatal(err)
		}
		pl, ok := pol.Choose(c, &small, rand.New(rand.NewPCG(1, 1)))
		if !ok || pl.GPUs != tc.want {
			t.Errorf("%s put the 200 on GPUs %b, want %b", tc.policy, pl.GPUs, tc.want)
		}
	}
}

// TestFillCompetes: 800s leave a 200 on half the arrivals and 150s, the
// only share to fill it, come on one in fifty. The many 200 holes share the
// few 150s, so the look-ahead must count a 200 as all but lost; by the mix
// alone a 150 would come to every hole within the horizon.
func TestFillCompetes(t *testing.T) {
	share := []int32{800, 150, 1000, 500}
	weight := []float64{0.5, 0.02, 0.38, 0.1}
	compete(share, weight)
	// 150: demand 0.5 from the 800s' holes (200 is below the next share,
	// 500); 500: its own holes only (1000 − 500), no more than it fills;
	// 800 and whole GPUs: no hole from 800 up is left by a share.
	want := []float64{0.5, 0.02 * 0.04 * 0.04, 0.38, 0.1}
	for i := range want {
		if math.Abs(weight[i]-want[i]) > 1e-15 {
			t.Errorf("share %d: rate %g, want %g", share[i], weight[i], want[i])
		}
	}
	d := NewDistributionOf([]TypicalTask{
		{Task: Task{NumGPU: 1, GPUMilli: 800}, Weight: 0.5},
		{Task: Task{NumGPU: 1, GPUMilli: 150}, Weight: 0.02},
		{Task: Task{NumGPU: 1, GPUMilli: 1000}, Weight: 0.48},
	}, false)
	ft := NewFillTable(d)
	if got, least := ft.Left(200), int64(0.95*200*FillWeight); got < least {
		t.Errorf("Left(200) = %d, want at least %d: the 150s cannot fill every 800's hole", got, least)
	}
}

// BenchmarkNewFillTable is the cost of building the look-ahead for a mix
// of 16 distinct shares (the server's cap), paid when the typical tasks
// change.
func BenchmarkNewFillTable(b *testing.B) {
	var list []TypicalTask
	for i := range 16 {
		list = append(list, TypicalTask{Task: Task{NumGPU: 1, GPUMilli: int32(50 + 60*i)}, Weight: 1.0 / 17})
	}
	list = append(list, TypicalTask{Task: Task{NumGPU: 1, GPUMilli: 1000}, Weight: 1.0 / 17})
	d := NewDistributionOf(list, false)
	for b.Loop() {
		NewFillTable(d)
	}
}

// TestFillArrivalsBitForBit: the look-ahead's recurrence, summed share by
// share over all free capacities, gives to the last bit what summing the
// shares per free capacity gives (the recurrence as written), so the
// scheduler's decisions do not depend on how it is computed.
func TestFillArrivalsBitForBit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 40 {
		var share []int32
		var weight []float64
		for range 1 + rng.IntN(fragTestShares) {
			share = append(share, int32(1+rng.IntN(MilliPerGPU)))
			weight = append(weight, rng.Float64()/fragTestShares)
		}
		horizon := 1 + rng.IntN(300)
		got, want := fillArrivals(share, weight, horizon), fillArrivalsPerCapacity(share, weight, horizon)
		for f := range want {
			if math.Float64bits(got[f]) != math.Float64bits(want[f]) {
				t.Fatalf("trial %d (shares %v, horizon %d): f=%d: %v, want %v", trial, share, horizon, f, got[f], want[f])
			}
		}
	}
}

const fragTestShares = 16

// fillArrivalsPerCapacity is fillArrivals as its recurrence reads.
func fillArrivalsPerCapacity(share []int32, weight []float64, horizon int) *[MilliPerGPU + 1]float64 {
	var cur, next [MilliPerGPU + 1]float64
	for f := range cur {
		cur[f] = float64(f)
	}
	for range horizon {
		for f := range next {
			var fits, v float64
			for i, s := range share {
				if int(s) <= f {
					fits += weight[i]
					v += weight[i] * cur[f-int(s)]
				}
			}
			next[f] = v + (1-fits)*cur[f]
		}
		cur = next
	}
	return &cur
}
