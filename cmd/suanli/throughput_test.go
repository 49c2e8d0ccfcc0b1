package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestThroughputCmd(t *testing.T) {
	out, err := run(t, "throughput", "--class", "vision-train")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nvidia-v100-16g", "281.3", "observed", "gavel-isolated", "huawei-ascend-910b4", "derived", "(CANN)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dense-llm-pretrain") {
		t.Errorf("--class shows other classes:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "mine.yaml")
	os.WriteFile(file, []byte("entries:\n  - {class: dense-llm-pretrain, model: huawei-ascend-910b4, v: 1800, conf: observed, src: [lab]}\nsources:\n  - {id: lab, ref: our lab}\n"), 0o644)
	out, err = run(t, "throughput", "Ascend 910B4", "--throughput", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rates []struct {
			Class string  `json:"class"`
			V     float64 `json:"v"`
			Conf  string  `json:"conf"`
		} `json:"rates"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got.Rates {
		if r.Class == "dense-llm-pretrain" {
			found = r.V == 1800 && r.Conf == "observed"
		}
	}
	if !found || len(got.Rates) < 7 {
		t.Errorf("overlay not applied: %+v", got.Rates)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"throughput", "--class", "nope"}, `--class "nope"`},
		{[]string{"throughput", "no-such-chip"}, "no model"},
		{[]string{"throughput", "--throughput", "absent.yaml"}, "absent.yaml"},
	} {
		_, err := run(t, tc.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want exit 2 saying %q", tc.args, err, tc.want)
		}
	}
}
