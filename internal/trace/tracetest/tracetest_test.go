package tracetest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended instead of
// ending the test.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failed, r.msg = true, f
	runtime.Goexit()
}
func (r *recorder) Skip(a ...any) {
	r.skipped = true
	runtime.Goexit()
}

func run(f func(r *recorder)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// TestMissingTracesFailUnderCI: a missing data folder fails the test when
// CI is set and skips it otherwise, for each data set.
func TestMissingTracesFailUnderCI(t *testing.T) {
	for _, ds := range []struct {
		env  string
		find func(testing.TB) string
	}{{OpenbEnv, OpenbDir}, {GavelEnv, GavelDir}} {
		t.Setenv(ds.env, t.TempDir())
		t.Setenv("CI", "true")
		if r := run(func(r *recorder) { ds.find(r) }); !r.failed || !strings.Contains(r.msg, "CI is set") {
			t.Fatalf("%s, under CI: failed %v skipped %v", ds.env, r.failed, r.skipped)
		}
		t.Setenv("CI", "")
		if r := run(func(r *recorder) { ds.find(r) }); !r.skipped || r.failed {
			t.Fatalf("%s, outside CI: failed %v skipped %v", ds.env, r.failed, r.skipped)
		}
	}
}

// TestFindsTheSharedData: the search finds the data sets above the
// repository (this machine has them), and the variable overrides it.
func TestFindsTheSharedData(t *testing.T) {
	for _, ds := range []struct {
		env, marker string
		find        func(testing.TB) string
	}{{OpenbEnv, "openb_node_list_gpu_node.csv", OpenbDir}, {GavelEnv, "throughputs_isolated.csv", GavelDir}} {
		t.Setenv(ds.env, "")
		dir := ds.find(t)
		if _, err := os.Stat(filepath.Join(dir, ds.marker)); err != nil {
			t.Fatalf("%s: found %s without %s: %v", ds.env, dir, ds.marker, err)
		}
		t.Setenv(ds.env, dir)
		if got := ds.find(t); got != dir {
			t.Fatalf("%s=%s: found %s", ds.env, dir, got)
		}
	}
}
