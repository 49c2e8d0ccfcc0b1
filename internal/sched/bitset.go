package sched

import "math/bits"

// bitset is a set of node indices with a summary level: the first
// sumWords(n) words hold one bit per data word that is not zero, so that
// finding the next member skips empty stretches 64 words at a time.
type bitset []uint64

func sumWords(words int) int { return (words + 63) / 64 }

func newBitset(words int) bitset { return make(bitset, sumWords(words)+words) }

// split returns the summary and data words.
func (b bitset) split() (sum, data []uint64) {
	k := (len(b) + 64) / 65 // len(b) = W + ⌈W/64⌉, so ⌈len(b)/65⌉ = ⌈W/64⌉
	return b[:k], b[k:]
}

func (b bitset) set(i int32, on bool) {
	sum, data := b.split()
	w := i >> 6
	if on {
		data[w] |= 1 << (uint(i) & 63)
		sum[w>>6] |= 1 << (uint(w) & 63)
	} else {
		data[w] &^= 1 << (uint(i) & 63)
		if data[w] == 0 {
			sum[w>>6] &^= 1 << (uint(w) & 63)
		}
	}
}

// next returns the first member ≥ i and < hi, or -1.
func (b bitset) next(i, hi int32) int32 {
	if i >= hi || i < 0 {
		return -1
	}
	sum, data := b.split()
	w := int(i >> 6)
	if word := data[w] &^ (1<<(uint(i)&63) - 1); word != 0 {
		return below(int32(w<<6+bits.TrailingZeros64(word)), hi)
	}
	// The next non-empty data word, through the summary, up to the one
	// holding hi (a summary word covers 64 data words, 4096 members).
	w++
	for sw := w >> 6; sw < len(sum) && int32(sw)<<12 < hi; sw++ {
		word := sum[sw]
		if sw == w>>6 {
			word &^= 1<<(uint(w)&63) - 1
		}
		if word != 0 {
			dw := sw<<6 + bits.TrailingZeros64(word)
			return below(int32(dw<<6+bits.TrailingZeros64(data[dw])), hi)
		}
	}
	return -1
}

func below(r, hi int32) int32 {
	if r >= hi {
		return -1
	}
	return r
}
