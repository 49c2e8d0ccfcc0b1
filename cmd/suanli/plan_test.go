package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/plan"
)

func TestPlanCommand(t *testing.T) {
	args := []string{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--min-domestic", "0.9"}
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Plan: 100EF FP16 by 2028", "huawei-ascend-910c", "Binding constraints", "target  2028", "gap"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var r plan.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Years) != 3 || r.Years[2].EF < 100 || r.Years[2].DomesticShare < 0.9 {
		t.Fatalf("plan %+v", r.Years)
	}
	// The planned network of 2027 is a spec the rest of Suanli loads, and
	// it carries the plan's EF for that year.
	path := filepath.Join(t.TempDir(), "planned-2027.yaml")
	if out, err := run(t, append(args, "--write-network", "2027", "--out", path)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n, err := network.LoadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := float64(ledger.Capacity(n, nil).Total.GFLOPS) / 1e9
	if d := got - r.Years[1].EF; d > 0.001 || d < -0.001 {
		t.Errorf("planned 2027 network has %.3f EF, the plan says %.3f", got, r.Years[1].EF)
	}
	if out, err := run(t, "capacity", "--network", path); err != nil || !strings.Contains(out, "as planned for end-2027") {
		t.Errorf("capacity on the planned network: %v\n%s", err, out)
	}
	// What-ifs side by side: the embedded scenarios, one without a plan.
	out, err = run(t, append(args, "--scenario", "default")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"base", "Xining power +100 MW", "EF 2028", "Ascend supply -70%: no plan"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario table lacks %q:\n%s", want, out)
		}
	}
	// Each planned network serves the same synthetic hour; a scenario
	// without a plan is not replayed.
	out, err = run(t, append(args, "--scenario", "default", "--replay", "1h")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Replay: the same synthetic workload", "QUEUE P99 s", "MEAN UTIL", "Ascend supply -70%: not replayed: no plan"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario replay lacks %q:\n%s", want, out)
		}
	}
	var both struct {
		Scenarios []plan.ScenarioResult `json:"scenarios"`
		Replays   []struct {
			Name   string `json:"name"`
			Jobs   int    `json:"jobs"`
			Placed int    `json:"placed"`
			Error  string `json:"error"`
		} `json:"replays"`
	}
	out, err = run(t, append(args, "--scenario", "default", "--replay", "1h", "--json")...)
	if err != nil || json.Unmarshal([]byte(out), &both) != nil || len(both.Replays) != len(both.Scenarios) {
		t.Fatalf("--json with --replay: %v\n%.2000s", err, out)
	}
	for i, r := range both.Replays {
		if (both.Scenarios[i].Result == nil) != (r.Error != "") || r.Error == "" && (r.Jobs == 0 || r.Placed == 0) {
			t.Errorf("replay %+v of scenario %s", r, both.Scenarios[i].Name)
		}
	}
	// Bad input: a usage error naming the flag.
	for _, bad := range [][]string{
		{"plan"},
		{"plan", "--target", "100EF", "--by", "2028", "--budget", "2027:5"},
		{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--write-network", "2031"},
		{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--objective", "speed"},
		{"plan", "--target", "1000000EF", "--by", "2028", "--from", "2025"},
		{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--scenario", "/nonexistent.yaml"},
		{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--replay", "1h"},
		{"plan", "--target", "100EF", "--by", "2028", "--from", "2025", "--scenario", "default", "--replay", "1s"},
	} {
		_, err := run(t, bad...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
}
