package sim_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/sim"
)

func fixtureTimed(t *testing.T) *sim.TimedReport {
	t.Helper()
	r, err := sim.RunTimed(context.Background(), sim.TimedConfig{NodesPath: "testdata/nodes.csv", PodsPath: "testdata/pods.csv", Samples: 20})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTimedFixture(t *testing.T) {
	r := fixtureTimed(t)
	b, _ := json.MarshalIndent(r, "", " ")
	t.Logf("%s", b)
}

func TestTimedRealDefault(t *testing.T) {
	dir := openbDir(t)
	start := time.Now()
	r, err := sim.RunTimed(context.Background(), sim.TimedConfig{
		NodesPath: filepath.Join(dir, "openb_node_list_gpu_node.csv"),
		PodsPath:  filepath.Join(dir, "openb_pod_list_default.csv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Series = nil
	b, _ := json.MarshalIndent(r, "", " ")
	t.Logf("%v %s", time.Since(start), b)
}
