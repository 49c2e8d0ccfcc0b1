package sched

import (
	"math/rand/v2"
	"testing"
)

func TestBitsetNextMatchesLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 63, 64, 65, 4095, 4096, 4097, 12500} {
		words := (n + 63) / 64
		b := newBitset(words)
		ref := make([]bool, n)
		for range n / 3 {
			i := int32(rng.IntN(n))
			on := rng.IntN(3) > 0
			b.set(i, on)
			ref[i] = on
		}
		for range 200 {
			lo, hi := int32(rng.IntN(n)), int32(rng.IntN(n+1))
			want := int32(-1)
			for i := lo; i < hi; i++ {
				if ref[i] {
					want = i
					break
				}
			}
			if got := b.next(lo, hi); got != want {
				t.Fatalf("n=%d next(%d,%d) = %d, want %d", n, lo, hi, got, want)
			}
		}
		for i := range n {
			if b.has(int32(i)) != ref[i] {
				t.Fatalf("n=%d has(%d) wrong", n, i)
			}
		}
	}
}
