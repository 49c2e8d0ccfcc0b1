package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayThroughputCmd(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "net.yaml")
	os.WriteFile(spec, []byte("name: t\nsites:\n- id: a\n  region: South\n  operator: x\n  province: Guizhou\n  ownership: self-built\n  pools:\n  - {model: huawei-ascend-910c, nodes: 2, cards_per_node: 8}\n  - {model: huawei-ascend-910b4, nodes: 2, cards_per_node: 8}\n"), 0o644)
	out, err := run(t, "replay-throughput", "--network", spec, "--span", "week")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "WORK (huawei-ascend-910b4 card-h)") || !strings.HasPrefix(lines[1], "peak") || !strings.HasPrefix(lines[2], "aware") {
		t.Fatalf("table:\n%s", out)
	}
	out, err = run(t, "replay-throughput", "--network", spec, "--span", "day", "--mode", "aware", "--migrate", "--scale", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 2 || !strings.Contains(lines[0], "MOVES") || !strings.HasPrefix(lines[1], "aware+migrate") {
		t.Fatalf("--migrate --scale 2: %v\n%s", err, out)
	}
	for _, bad := range [][]string{{"--span", "year"}, {"--mode", "fast"}, {"--reference-model", "nope"}, {"--throughput", "/nonexistent.yaml"}, {"--scale", "0"}} {
		_, err := run(t, append([]string{"replay-throughput", "--network", spec, "--span", "day"}, bad...)...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}
