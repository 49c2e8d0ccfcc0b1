package sched

import (
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched/frag"
)

// The remembered drops (fragMeasure.fillDrop, from a look-ahead that works
// them out on demand) are the tabled measure's, asked in any order and
// again, for the default mix and random ones.
func TestFillDropRemembered(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	net := randomNet(t, rng, 4, 8)
	c := NewCluster(net)
	mixes := [][]TaskShape{DefaultTypicalTasks}
	for range 5 {
		var tasks []TaskShape
		for range 1 + rng.IntN(6) {
			ts := TaskShape{PopularityMilli: 1 + rng.IntN(500)}
			if rng.IntN(2) == 0 {
				ts.ShareMilli = 50 * (1 + rng.IntN(19))
			} else {
				ts.Cards = 1 + rng.IntN(8)
			}
			tasks = append(tasks, ts)
		}
		mixes = append(mixes, tasks)
	}
	for i, tasks := range mixes {
		fm := c.measure(tasks, 0, true)
		var list []frag.TypicalTask
		var total int64
		for _, ts := range tasks {
			total += int64(ts.PopularityMilli)
		}
		for _, ts := range tasks {
			list = append(list, frag.TypicalTask{Task: c.fragTask(ts), Weight: float64(ts.PopularityMilli) / float64(total), Count: ts.PopularityMilli})
		}
		want := frag.NewMeasure(frag.NewDistributionOf(list, true), true)
		for range 400 {
			taken := int64(rng.IntN(4 * model.MilliCard))
			if got, w := fm.fillDrop(taken), want.FillDrop(taken); got != w {
				t.Fatalf("mix %d: fillDrop(%d) = %v, the tabled measure's %v", i, taken, got, w)
			}
		}
	}
}
