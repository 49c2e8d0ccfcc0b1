package sim

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/suanli/suanli/internal/trace"
)

// byArrival is a stable sort by arrival, on streams with many equal
// arrivals.
func TestByArrivalIsStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		jobs := make([]trace.Job, n)
		for i := range jobs {
			jobs[i].ID = strconv.Itoa(i)
			jobs[i].ArrivalS = int64(rng.IntN(1 + n/4))
		}
		want := slices.Clone(jobs)
		slices.SortStableFunc(want, func(a, b trace.Job) int { return int(a.ArrivalS - b.ArrivalS) })
		got := byArrival(jobs)
		for i := range want {
			if got[i].ID != want[i].ID || got[i].ArrivalS != want[i].ArrivalS {
				t.Fatalf("n %d: job %d is %s@%d, a stable sort's %s@%d", n, i, got[i].ID, got[i].ArrivalS, want[i].ID, want[i].ArrivalS)
			}
		}
	}
}
