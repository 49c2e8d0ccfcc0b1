package tracetest

import (
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

// TestMissingTracesFailUnderCI: a missing trace folder fails the test when
// CI is set and skips it otherwise.
func TestMissingTracesFailUnderCI(t *testing.T) {
	t.Setenv(OpenbEnv, t.TempDir())
	t.Setenv("CI", "true")
	if r := run(func(r *recorder) { OpenbDir(r) }); !r.failed || !strings.Contains(r.msg, "CI is set") {
		t.Fatalf("under CI: failed %v skipped %v", r.failed, r.skipped)
	}
	t.Setenv("CI", "")
	if r := run(func(r *recorder) { OpenbDir(r) }); !r.skipped || r.failed {
		t.Fatalf("outside CI: failed %v skipped %v", r.failed, r.skipped)
	}
}
