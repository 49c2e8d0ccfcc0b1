package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/sched"
)

// TestTuneEndToEnd: the search on the fixture's pods and a tiny synthetic
// workload, on a budget of five evaluations, as a table and as JSON.
func TestTuneEndToEnd(t *testing.T) {
	args := []string{"tune", "--lists", fixturePods, "--holdout-lists", fixturePods, "--nodes", fixtureNodes,
		"--budget", "5", "--seeds", "1", "--holdout", "1", "--scale", "2048", "--synthetic", "day"}
	out, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	w := sched.DefaultConfig().Weights
	base := fmt.Sprintf("baseline %d/%d/%d/%d", w.Frag, w.Topology, w.Heterogeneity, w.Cost)
	for _, want := range []string{"Objective: J = ", "training seeds [42], held-out seeds [43]; 5 evaluations", base, "held-out"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Search struct {
			Evals []struct {
				Weights []int64 `json:"weights"`
				Phase   string  `json:"phase"`
			} `json:"evaluations"`
		} `json:"search"`
		Baseline struct {
			Objective float64 `json:"objective"`
			Measures  struct {
				Unallocated float64 `json:"unallocated_gpus"`
				Util        float64 `json:"mean_util"`
			} `json:"measures"`
		} `json:"holdout_baseline"`
		Recommended map[string]int64 `json:"recommended"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(r.Search.Evals) != 5 || r.Search.Evals[0].Phase != "start" || r.Baseline.Objective != 1 ||
		r.Baseline.Measures.Util <= 0 || r.Recommended["frag"] <= 0 {
		t.Fatalf("report %+v", r)
	}
	for _, e := range r.Search.Evals {
		var sum int64
		for _, w := range e.Weights {
			sum += w
		}
		if len(e.Weights) != 4 || sum != 1000 {
			t.Errorf("weights %v: want four summing to 1000", e.Weights)
		}
	}
}

func TestTuneBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", "--budget", "0"}, "--budget 0"},
		{[]string{"tune", "--seeds", "0", "--holdout", "0"}, "--holdout 0"},
		{[]string{"tune", "--synthetic", "year"}, `--synthetic "year"`},
		{[]string{"tune", "--baseline", "400,300,200"}, "--baseline [400 300 200]"},
		{[]string{"tune", "--baseline", "1100,-100,0,0"}, "non-negative weights summing to 1000"},
		{[]string{"tune", "--lists", "", "--synthetic", "none"}, "nothing to measure"},
		{[]string{"tune", "--lists", "testdata/absent.csv", "--nodes", fixtureNodes}, "absent.csv"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			_, err := run(t, tc.args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v: want exit status 2 saying %q", err, tc.want)
			}
		})
	}
}
