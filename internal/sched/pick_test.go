package sched

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// pickDomainsByHand is the plain statement of pickDomains: sort by
// capacity (largest first, then domain), take the smallest domain that
// holds the rest, else the largest, and repeat.
func pickDomainsByHand(caps []domCapacity, workers int) []domCapacity {
	caps = slices.Clone(caps)
	slices.SortFunc(caps, func(a, b domCapacity) int { return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(a.d, b.d)) })
	var out []domCapacity
	for len(caps) > 0 && workers > 0 && caps[0].w > 0 {
		fit := -1
		for i := range caps {
			if caps[i].w >= workers {
				fit = i
			}
		}
		if fit >= 0 {
			return append(out, domCapacity{d: caps[fit].d, w: workers})
		}
		out = append(out, caps[0])
		workers -= caps[0].w
		caps = caps[1:]
	}
	return out
}

func TestPickDomainsMatchesPlainStatement(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &search{}
	for trial := range 3000 {
		n := rng.IntN(60)
		var caps []domCapacity
		d := int32(0)
		for range n {
			d += 1 + rng.Int32N(3)
			caps = append(caps, domCapacity{d: d, w: rng.IntN(1 + rng.IntN(20))})
		}
		if trial%5 == 0 { // not in domain order: the sorting fallback
			rng.Shuffle(len(caps), func(i, j int) { caps[i], caps[j] = caps[j], caps[i] })
		}
		workers := 1 + rng.IntN(120)
		want := pickDomainsByHand(caps, workers)
		s.caps = slices.Clone(caps)
		if got := s.pickDomains(workers); !slices.Equal(got, want) {
			t.Fatalf("trial %d: caps %v, %d workers: got %v, want %v", trial, caps, workers, got, want)
		}
	}
}
