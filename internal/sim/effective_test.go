package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
)

// TestEffectiveRates: on a network of two models where the cheaper peak
// FLOPS hide the faster chip for the class, aware scheduling puts the
// work on the chip that does more of it: more work delivered in the same
// day, and jobs finish sooner; the same seed gives the same report.
func TestEffectiveRates(t *testing.T) {
	// The 910C has the higher peak FP16; the overlay says that for every
	// class a 910B4 card does three times the work of a 910C.
	overlay := "sources:\n  - {id: lab, ref: a test lab}\nentries:\n"
	for _, c := range catalog.DefaultThroughput().Classes() {
		overlay += fmt.Sprintf("  - {class: %s, model: huawei-ascend-910b4, v: 3000, conf: observed, src: [lab]}\n", c.ID)
		overlay += fmt.Sprintf("  - {class: %s, model: huawei-ascend-910c, v: 1000, conf: observed, src: [lab]}\n", c.ID)
	}
	tp, err := catalog.DefaultThroughput().Overlay([]byte(overlay), "test")
	if err != nil {
		t.Fatal(err)
	}
	net, err := network.Parse([]byte(`name: two
sites:
- id: a
  region: South
  operator: x
  province: Guizhou
  ownership: self-built
  pools:
  - {model: huawei-ascend-910c, nodes: 4, cards_per_node: 8}
  - {model: huawei-ascend-910b4, nodes: 4, cards_per_node: 8}
`), "two", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	run := func(aware bool) *EffectiveReport {
		r, err := RunEffective(context.Background(), net, EffectiveConfig{Synth: SynthConfig{Seed: 3, SpanS: SyntheticSpans["week"]}, Throughput: tp, Aware: aware})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	peak, aware := run(false), run(true)
	t.Logf("peak %+v", *peak)
	t.Logf("aware %+v", *aware)
	if aware.Completed < peak.Completed || aware.AvgJCTS >= peak.AvgJCTS {
		t.Errorf("aware: %d completed, JCT %.0f s; peak: %d, %.0f s", aware.Completed, aware.AvgJCTS, peak.Completed, peak.AvgJCTS)
	}
	if again := run(true); *again != *aware {
		t.Errorf("not deterministic: %+v then %+v", *aware, *again)
	}
}
