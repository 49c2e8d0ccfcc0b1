package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fixtureNodes = "../../internal/sim/testdata/nodes.csv"
	fixturePods  = "../../internal/sim/testdata/pods.csv"
)

func TestReplayBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--protocol", "nope"}, `--protocol "nope": use fgd, mix or time`},
		{[]string{"replay", "--protocol", "mix", "--policies", "fgd", "--trace", fixturePods}, "--protocol mix runs the server's scheduler"},
		{[]string{"replay", "--protocol", "time", "--mix", "median"}, `--mix "median": use fixed or learned`},
		{[]string{"replay", "--mix", "learned", "--trace", fixturePods}, "--mix applies to time-based replays"},
		{[]string{"replay", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"replay", "--seeds", "0", "--trace", fixturePods}, "--seeds 0"},
		{[]string{"replay", "--policies", "fgd,nope", "--trace", fixturePods}, `unknown policy "nope"`},
		{[]string{"replay", "--synthetic", "year"}, `--synthetic "year": use day, week or month`},
		{[]string{"replay", "--synthetic", "day", "--trace", fixturePods}, "drop --trace"},
		{[]string{"replay", "--network", "default"}, "--network needs --synthetic or --jobs"},
		{[]string{"replay", "--protocol", "time", "--seeds", "3"}, "--seeds applies to --protocol fgd and mix only"},
		{[]string{"replay", "--synthetic", "day", "--policies", "suanli,dotprod"}, `unknown policy "dotprod" for a time-based replay`},
		{[]string{"replay", "--synthetic", "day", "--policies", "fgd,fgd"}, `policy "fgd" is listed twice`},
		{[]string{"replay", "--scale", "4", "--trace", fixturePods}, "--scale applies to --synthetic and --jobs"},
		{[]string{"replay", "--synthetic", "day", "--scale", "0"}, "--scale 0"},
		{[]string{"replay", "--synthetic", "day", "--policies", "fgd,random", "--plot", "x.svg"}, "--plot draws one replay"},
		{[]string{"replay", "--plot", "out.png", "--trace", fixturePods}, "name the file .svg"},
		{[]string{"replay", "--write-jobs", "x.jsonl"}, "--write-jobs needs --synthetic"},
		{[]string{"replay", "--trace", "testdata/absent.csv"}, "absent.csv"},
		{[]string{"replay", "--trace", fixturePods, "--nodes", "../../internal/sim/testdata/bad-pods.csv"}, "header lacks column"},
		{[]string{"replay", "--trace", "../../internal/sim/testdata/bad-pods.csv", "--nodes", fixtureNodes}, "bad-pods.csv:3"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			_, err := run(t, tc.args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("error %v: want exit status 2", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestReplayFGDFixture(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "fgd.svg")
	out, err := run(t, "replay", "--trace", fixturePods, "--nodes", fixtureNodes, "--seeds", "3", "--plot", svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Protocol A (FGD) on pods.csv", "bestfit", "suanli leaves", "plot written to"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkSVG(t, svg, "Protocol A on pods.csv")
}

func TestReplayJSONDeterministic(t *testing.T) {
	args := []string{"replay", "--trace", fixturePods, "--nodes", fixtureNodes, "--seeds", "3", "--policies", "random,fgd,suanli", "--json"}
	a, err := run(t, append(args, "--workers", "1")...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(t, append(args, "--workers", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("the same seeds gave different JSON")
	}
	var r struct {
		Policies []struct {
			Policy string
			Points []struct {
				ArrivedPct      int `json:"arrived_pct"`
				AllocRatio      struct{ Mean, Std float64 }
				UnallocatedGPUs struct{ Mean float64 } `json:"unallocated_gpus"`
			}
		}
	}
	if err := json.Unmarshal([]byte(a), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Policies) != 3 || len(r.Policies[0].Points) != 13 || r.Policies[0].Points[0].ArrivedPct != 70 {
		t.Fatalf("unexpected report shape: %+v", r)
	}
}

func TestReplayTimedFixture(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "time.svg")
	out, err := run(t, "replay", "--protocol", "time", "--trace", fixturePods, "--nodes", fixtureNodes, "--plot", svg, "--json", "--timing")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Report struct {
			Protocol string
			Jobs     int
			Series   []struct{ Util float64 }
		}
		Timing struct {
			WallS      float64 `json:"wall_s"`
			PeakRSSMiB int64   `json:"peak_rss_mib"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Report.Protocol != "time" || r.Report.Jobs == 0 || len(r.Report.Series) == 0 || r.Timing.PeakRSSMiB <= 0 {
		t.Fatalf("unexpected report: %+v", r)
	}
	checkSVG(t, svg, "Replay through the core")
}

func TestReplaySyntheticJobsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	jobs := filepath.Join(dir, "day.jsonl")
	// A day on the default network is big; the job file round trip is
	// what is checked here, on a small network.
	out, err := run(t, "replay", "--network", "../../internal/sim/testdata/small-network.yaml", "--synthetic", "day", "--write-jobs", jobs, "--json")
	if err != nil {
		t.Fatal(err)
	}
	again, err := run(t, "replay", "--network", "../../internal/sim/testdata/small-network.yaml", "--jobs", jobs, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(again), &b); err != nil {
		t.Fatal(err)
	}
	delete(b, "trace")
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Fatal("replaying the written jobs gave a different report from the synthetic run")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkSVG parses the file as XML with an <svg> root and looks for a title.
func checkSVG(t *testing.T, path, title string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s is not valid XML: %v", path, err)
	}
	if root.XMLName.Local != "svg" {
		t.Fatalf("%s: root element %q, want svg", path, root.XMLName.Local)
	}
	if !strings.Contains(string(b), title) {
		t.Errorf("%s lacks the title %q", path, title)
	}
}

// TestReplayMixFixture: protocol A through the scheduler reports the three
// task mixes, the same whatever the parallelism.
func TestReplayMixFixture(t *testing.T) {
	args := []string{"replay", "--protocol", "mix", "--trace", fixturePods, "--nodes", fixtureNodes, "--seeds", "3", "--json"}
	a, err := run(t, append(args, "--workers", "1")...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(t, append(args, "--workers", "2")...)
	if err != nil || a != b {
		t.Fatalf("the same seeds gave different JSON (%v)", err)
	}
	var r struct {
		Unallocated map[string]struct{ Mean float64 } `json:"unallocated_gpus"`
	}
	if err := json.Unmarshal([]byte(a), &r); err != nil {
		t.Fatal(err)
	}
	for _, mix := range []string{"oracle", "learned", "fixed"} {
		if u, ok := r.Unallocated[mix]; !ok || u.Mean < 0 {
			t.Fatalf("mix %s: %+v in %s", mix, u, a)
		}
	}
	out, err := run(t, "replay", "--protocol", "mix", "--trace", fixturePods, "--nodes", fixtureNodes, "--seeds", "2")
	if err != nil || !strings.Contains(out, "through the server's scheduler") || !strings.Contains(out, "learned") {
		t.Fatalf("table: %v\n%s", err, out)
	}
}

// TestReplayTimePolicies: protocol B on the fixture once per
// fragmentation scorer, side by side, as a table and as JSON.
func TestReplayTimePolicies(t *testing.T) {
	args := []string{"replay", "--protocol", "time", "--trace", fixturePods, "--nodes", fixtureNodes, "--policies", "suanli,fgd,bestfit,random"}
	out, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"per fragmentation policy", "P95 WAIT", "IDLE CARDS WHILE WAITING", "FRAG GPUS", "bestfit", "random"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Protocol string `json:"protocol"`
		Jobs     int    `json:"jobs"`
		Policies []struct {
			Policy     string  `json:"policy"`
			MeanUtil   float64 `json:"mean_util"`
			QueueDelay struct {
				P95 *int64 `json:"p95_s"`
			} `json:"queue_delay"`
			Unallocated *float64 `json:"unallocated_cards_waiting"`
			Placed      int      `json:"placed"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if r.Protocol != "time" || len(r.Policies) != 4 || r.Policies[3].Policy != "random" {
		t.Fatalf("report %+v", r)
	}
	for _, p := range r.Policies {
		if p.Placed != r.Jobs || p.MeanUtil <= 0 || p.QueueDelay.P95 == nil || p.Unallocated == nil {
			t.Errorf("policy %s: %+v (%d jobs)", p.Policy, p, r.Jobs)
		}
	}
}

// TestReplaySyntheticScaled: --scale shrinks the network and the
// synthetic workload with it.
func TestReplaySyntheticScaled(t *testing.T) {
	out, err := run(t, "replay", "--synthetic", "day", "--scale", "256", "--policies", "suanli,random", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Network  string `json:"network"`
		Cards    int    `json:"cards"`
		Jobs     int    `json:"jobs"`
		Policies []struct {
			Policy string `json:"policy"`
			Placed int    `json:"placed"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !strings.HasSuffix(r.Network, ", 1/256") || r.Cards <= 0 || r.Cards > 1000 || r.Jobs <= 0 || r.Jobs > 1000 || len(r.Policies) != 2 {
		t.Fatalf("report %+v", r)
	}
}
