package schedbench

import (
	"encoding/json"
	"testing"
)

func TestRunSmall(t *testing.T) {
	res, err := Run(Config{Nodes: 500, Sites: 4, Decisions: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.NetworkCards != 4000 || len(res.Scenarios) != 3 {
		t.Fatalf("%+v", res)
	}
	for _, s := range res.Scenarios {
		if s.Decisions != 500 || s.Placed == 0 || s.DecisionsPerSec <= 0 || s.P99LatencyUS < s.P50LatencyUS {
			t.Errorf("%+v", s)
		}
	}
	if _, err := Run(Config{Nodes: 100, Scenarios: []string{"nope"}}); err == nil {
		t.Error("unknown scenario accepted")
	}
	b, _ := json.Marshal(res)
	t.Logf("%s", b)
}

func TestRunFull(t *testing.T) {
	if testing.Short() || !testing.Verbose() {
		t.Skip("the full 100k-card run is for -v only")
	}
	res, err := Run(Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)
}
