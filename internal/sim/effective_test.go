package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/network"
)

// TestEffectiveRates: on a network of two models where the cheaper peak
// FLOPS hide the faster chip for the class, aware scheduling puts the
// work on the chip that does more of it: more work delivered in the same
// day, and jobs finish sooner; the same seed gives the same report.
func TestEffectiveRates(t *testing.T) {
	tp, net := fastCheapNetwork(t)
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
	for _, r := range []*EffectiveReport{peak, aware} {
		if !(r.Utilisation > 0 && r.Utilisation <= 1) {
			t.Errorf("%s: utilisation %v", r.Mode, r.Utilisation)
		}
	}
}

// TestEffectiveMigrationWorkBounded: an aware replay of three days with
// migration moves jobs to the faster chip, and the core's migration work
// stays bounded per Tick (counted, not timed): at most MaxPerPass searches
// and core.MaxMoveProbes probes that find no room, plus the moves made.
func TestEffectiveMigrationWorkBounded(t *testing.T) {
	tp, net := fastCheapNetwork(t)
	span := 3 * SyntheticSpans["day"]
	cfg := EffectiveConfig{Synth: SynthConfig{Seed: 5, SpanS: span}, Throughput: tp, Aware: true, Migrate: true}
	r, err := RunEffective(context.Background(), net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *r)
	if r.Mode != "aware+migrate" || r.Migrations == 0 || r.Completed == 0 {
		t.Fatalf("mode %s, %d migrations, %d completed: migration not exercised", r.Mode, r.Migrations, r.Completed)
	}
	ticks := span/300 + 1 // the replay ticks the core every 300 s of virtual time
	per := int64(core.DefaultMigration.MaxPerPass)
	if r.MoveSearches > ticks*per {
		t.Errorf("%d searches over %d ticks", r.MoveSearches, ticks)
	}
	if r.MoveProbes > ticks*core.MaxMoveProbes+int64(r.Migrations) {
		t.Errorf("%d probes over %d ticks and %d moves", r.MoveProbes, ticks, r.Migrations)
	}
	if again, _ := RunEffective(context.Background(), net, cfg); *again != *r {
		t.Errorf("not deterministic: %+v then %+v", *r, *again)
	}
}

// fastCheapNetwork is 32 Ascend 910C and 32 910B4 cards with an overlay
// on the default matrix where, for every class, a 910B4 card does three
// times the work of a 910C, though the 910C has the higher peak FP16.
func fastCheapNetwork(t *testing.T) (*catalog.Throughput, *network.Network) {
	t.Helper()
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
	return tp, net
}
