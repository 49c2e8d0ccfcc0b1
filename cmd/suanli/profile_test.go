package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestReplayProfiles: --cpuprofile and --memprofile write Go profiles
// (gzip-compressed protocol buffers, what go tool pprof reads) of the run,
// and the report is the same as without them.
func TestReplayProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	args := []string{"replay", "--protocol", "time", "--trace", fixturePods, "--nodes", fixtureNodes, "--json"}
	plain, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	profiled, err := run(t, append(args, "--cpuprofile", cpu, "--memprofile", mem)...)
	if err != nil {
		t.Fatal(err)
	}
	if plain != profiled {
		t.Error("the report differs with profiling on")
	}
	for _, p := range []string{cpu, mem} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: not a gzip-compressed profile: %v", filepath.Base(p), err)
		}
		if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
			t.Fatalf("%s: empty or broken profile (%d bytes, %v)", filepath.Base(p), len(raw), err)
		}
	}
	if _, err := run(t, append(args, "--cpuprofile", filepath.Join(dir, "no", "such", "dir", "cpu.prof"))...); err == nil {
		t.Error("a CPU profile that cannot be written is not an error")
	}
}
