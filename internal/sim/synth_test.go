package sim_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sim"
)

func TestSyntheticSpeed(t *testing.T) {
	net, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	js, err := sim.Synthesize(net, sim.SynthConfig{Seed: 1, SpanS: 2 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d jobs in %v", len(js), time.Since(start))
	start = time.Now()
	r, err := sim.ReplayTrace(context.Background(), net, js, sim.SyntheticConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r.Series = nil
	b, _ := json.MarshalIndent(r, "", " ")
	t.Logf("replayed in %v: %s", time.Since(start), b)
}
