package ledger

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// TestCardsMatchPlacementIntervals meters random placements on the
// default network — whole cards and shares, on known nodes with their own
// model, another model, an unknown model or an unknown node — through the
// cache of cards and through PlacementIntervals, and wants the same
// intervals, the same pairs asked many times.
func TestCardsMatchPlacementIntervals(t *testing.T) {
	n, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 5))
	cs := NewCards(n)
	var buf []Interval
	for i := range 3000 {
		p := &model.Placement{Job: model.JobID("j" + string(rune('a'+i%26)))}
		for w := range 1 + rng.IntN(4) {
			node := &n.Nodes[rng.IntN(min(len(n.Nodes), 40))]
			a := model.Assignment{Worker: w, Node: node.ID, Model: node.Model, Cards: []int{0, 1}[:1+rng.IntN(2)]}
			switch rng.IntN(8) {
			case 0:
				a.Model = n.Nodes[rng.IntN(len(n.Nodes))].Model
			case 1:
				a.Model = "no-such-model"
			case 2:
				a.Node = "no-such-node"
			case 3, 4:
				a.Cards, a.ShareMilli = []int{0}, 100*(1+rng.IntN(9))
			}
			p.Assignments = append(p.Assignments, a)
		}
		start := int64(rng.IntN(1000))
		want := PlacementIntervals(n, "t", p, start, start+int64(rng.IntN(5000)))
		buf = cs.Intervals(buf[:0], "t", p, want[0].Start, want[0].End)
		if !reflect.DeepEqual(buf, want) {
			t.Fatalf("placement %d: the cache gives\n%+v\nPlacementIntervals\n%+v", i, buf, want)
		}
	}
}

// PlacementIntervals is the uncached reference for Cards.Intervals: it
// splits a placement held over [start, end) into metering intervals, one per assignment, with each card's facility power,
// its site's grid factor and power price (end zero: still held).
func PlacementIntervals(n *network.Network, tenant model.TenantID, p *model.Placement, start, end int64) []Interval {
	out := make([]Interval, 0, len(p.Assignments))
	for i := range p.Assignments {
		a := &p.Assignments[i]
		b := cardOn(n, a.Node, a.Model)
		out = append(out, b.interval(tenant, p.Job, a, start, end))
	}
	return out
}
