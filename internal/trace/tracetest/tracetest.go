// Package tracetest finds the shared Alibaba openb traces for the tests that
// replay them.
package tracetest

import (
	"os"
	"path/filepath"
	"testing"
)

// OpenbEnv names a folder holding the openb node and pod lists; it
// overrides the search of OpenbDir.
const OpenbEnv = "SUANLI_OPENB_DIR"

// openbRel is where the traces lie relative to a folder above the
// repository (the repository's parent, or the parent of a worktree's).
var openbRel = filepath.Join("shared", "data", "alibaba-gpu-v2023")

// OpenbDir is the folder of the openb traces: $SUANLI_OPENB_DIR, or
// shared/data/alibaba-gpu-v2023 in the first folder above the repository
// that has it. Without it the test fails when CI is set (a claim that
// needs the data must not pass silently) and skips elsewhere.
func OpenbDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(OpenbEnv); dir != "" {
		return checked(t, dir)
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
		data := filepath.Join(dir, openbRel)
		if _, err := os.Stat(filepath.Join(data, "openb_node_list_gpu_node.csv")); err == nil {
			return data
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	missing(t, "the openb traces are in no "+openbRel+" above "+root+" (set "+OpenbEnv+")")
	return ""
}

func checked(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "openb_node_list_gpu_node.csv")); err != nil {
		missing(t, OpenbEnv+"="+dir+": "+err.Error())
	}
	return dir
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI is set, so the tests that need the shared traces fail", why)
	}
	t.Skip(why)
}
