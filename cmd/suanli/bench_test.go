package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBenchScheduleJSON(t *testing.T) {
	out, err := run(t, "bench", "schedule", "--nodes", "300", "--sites", "4", "--decisions", "300", "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	var rep struct {
		NetworkCards int   `json:"network_cards"`
		StateBytes   int64 `json:"state_bytes"`
		PeakRSS      int64 `json:"peak_rss_bytes"`
		Scenarios    []struct {
			Name            string  `json:"name"`
			Decisions       int     `json:"decisions"`
			Placed          int     `json:"placed"`
			DecisionsPerSec float64 `json:"decisions_per_sec"`
			P50             float64 `json:"p50_latency_us"`
			P99             float64 `json:"p99_latency_us"`
			Allocs          float64 `json:"allocs_per_decision"`
		} `json:"scenarios"`
		TargetsMet map[string]bool `json:"targets_met"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.NetworkCards != 2400 || rep.StateBytes <= 0 || rep.PeakRSS <= 0 || len(rep.Scenarios) != 3 {
		t.Fatalf("%+v", rep)
	}
	for _, s := range rep.Scenarios {
		if s.Decisions != 300 || s.Placed == 0 || s.DecisionsPerSec <= 0 || s.P99 < s.P50 || s.Allocs <= 0 {
			t.Errorf("%+v", s)
		}
	}
	if len(rep.TargetsMet) != 4 {
		t.Errorf("targets: %v", rep.TargetsMet)
	}
}

func TestBenchScheduleTable(t *testing.T) {
	out, err := run(t, "bench", "schedule", "--nodes", "100", "--sites", "2", "--decisions", "100", "--scenario", "single-node")
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{"800 cards on 100 nodes", "single-node", "decisions/s", "target single_node_decisions_per_sec"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "gang-256  ") {
		t.Errorf("ran a scenario not asked for:\n%s", out)
	}
}

func TestBenchScheduleBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "schedule", "--scenario", "nope"},
		{"bench", "schedule", "--procs", "0"},
		{"bench", "schedule", "--nodes", "-1"},
	} {
		_, err := run(t, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
}
