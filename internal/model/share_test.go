package model

import "testing"

func TestPerMille(t *testing.T) {
	for _, c := range []struct{ part, whole, want int64 }{
		{0, 10, 0}, {1, 3, 333}, {2, 3, 667}, {1, 2000, 1} /* a half rounds up */, {1, 2001, 0},
		{9499, 10000, 950} /* 94.99% is 95.0%, not 94.9% */, {10, 10, 1000}, {5, 0, 0}, {5, -1, 0},
		{43_167_000_000_000, 45_443_000_000_000, 950},
	} {
		if got := PerMille(c.part, c.whole); got != c.want {
			t.Errorf("PerMille(%d, %d) = %d, want %d", c.part, c.whole, got, c.want)
		}
	}
}
