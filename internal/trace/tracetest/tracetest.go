// Package tracetest finds the shared data sets the tests replay: the
// Alibaba openb traces and Gavel's benchmark data.
package tracetest

import (
	"os"
	"path/filepath"
	"testing"
)

// OpenbEnv names a folder holding the openb node and pod lists; it
// overrides the search of OpenbDir.
const OpenbEnv = "SUANLI_OPENB_DIR"

// GavelEnv names a folder holding Gavel's benchmark data (its job traces
// and measured throughputs); it overrides the search of GavelDir.
const GavelEnv = "SUANLI_GAVEL_DATA"

// A data set: where it lies relative to a folder above the repository
// (the repository's parent, or the parent of a worktree's), and a file it
// must hold.
type dataSet struct {
	env, rel, marker string
}

var (
	openb = dataSet{OpenbEnv, filepath.Join("shared", "data", "alibaba-gpu-v2023"), "openb_node_list_gpu_node.csv"}
	gavel = dataSet{GavelEnv, filepath.Join("shared", "data", "gavel"), "throughputs_isolated.csv"}
)

// OpenbDir is the folder of the openb traces: $SUANLI_OPENB_DIR, or
// shared/data/alibaba-gpu-v2023 in the first folder above the repository
// that has it. Without it the test fails when CI is set (a claim that
// needs the data must not pass silently) and skips elsewhere.
func OpenbDir(t testing.TB) string {
	t.Helper()
	return find(t, openb)
}

// GavelDir is the folder of Gavel's benchmark data: $SUANLI_GAVEL_DATA,
// or shared/data/gavel in the first folder above the repository that has
// it; missing, as OpenbDir.
func GavelDir(t testing.TB) string {
	t.Helper()
	return find(t, gavel)
}

func find(t testing.TB, ds dataSet) string {
	t.Helper()
	if dir := os.Getenv(ds.env); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, ds.marker)); err != nil {
			missing(t, ds.env+"="+dir+": "+err.Error())
		}
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			missing(t, "no go.mod above "+wd)
		}
		root = parent
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		data := filepath.Join(dir, ds.rel)
		if _, err := os.Stat(filepath.Join(data, ds.marker)); err == nil {
			return data
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	missing(t, "no "+ds.rel+" above "+root+" holds "+ds.marker+" (set "+ds.env+")")
	return ""
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI is set, so the tests that need the shared data fail", why)
	}
	t.Skip(why)
}
