package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	gavelJobs = "testdata/gavel/jobs.jsonl"
	gavelTP   = "testdata/gavel/throughputs.csv"
)

func TestReplayGavelFixture(t *testing.T) {
	out, err := run(t, "replay", "--gavel", gavelJobs, "--throughputs", gavelTP, "--cluster", "v100:1,k80:1")
	if err != nil {
		t.Fatal(err)
	}
	// The fast job waits on the K80 for the V100, then moves (120 s restore):
	// 3600 + 120 + 3241 − 10 s; agnostic it runs 36,000 s on the K80.
	rows := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"suanli aware 6951", "suanli agnostic 36000", "gavel fifo_perf 7000", "no-wait limit", "restore"} {
		if !strings.Contains(rows, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "max_min_fairness") {
		t.Errorf("shows a run at another rate:\n%s", out)
	}
	out, err = run(t, "replay", "--gavel", gavelJobs, "--throughputs", gavelTP, "--cluster", "v100:1,k80:1", "--mode", "aware", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var reps []struct {
		Mode       string  `json:"mode"`
		JCT        float64 `json:"window_avg_jct_s"`
		Migrations int     `json:"migrations"`
	}
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(reps) != 1 || reps[0].Mode != "aware" || reps[0].JCT != 6951 || reps[0].Migrations != 1 {
		t.Errorf("json: %+v", reps)
	}
}

func TestReplayGavelBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gavel", gavelJobs}, "--throughputs is missing"},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelTP, "--cluster", "v100"}, "--cluster"},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelTP, "--mode", "best"}, `--mode "best"`},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelTP, "--jobs-per-hour", "-1"}, "--jobs-per-hour -1"},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelTP, "--synthetic", "day"}, "--synthetic does not apply"},
		{[]string{"--gavel", gavelJobs, "--gavel-seed", "3", "--throughputs", gavelTP}, "give one stream"},
		{[]string{"--throughputs", gavelTP}, "--throughputs needs --gavel"},
		{[]string{"--gavel", "testdata/gavel/absent.jsonl", "--throughputs", gavelTP, "--cluster", "v100:1,k80:1"}, "absent.jsonl"},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelTP}, "no rate for fast on p100"},
		{[]string{"--gavel", gavelJobs, "--throughputs", gavelJobs}, "--throughputs"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := run(t, append([]string{"replay"}, tc.args...)...)
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
