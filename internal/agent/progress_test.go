package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressRead: complete lines are summed, a line not yet ended waits
// for its newline, malformed and oversized lines are skipped and counted,
// and take starts a new sum.
func TestProgressRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &progress{path: path}
	appendTo := func(s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(`{"work": 100, "seconds": 2}` + "\n" + `{"work": 50, "seco`)
	if skipped, err := p.read(); err != nil || skipped != 0 || p.lines != 1 || p.work != 100 || p.seconds != 2 {
		t.Fatalf("after one line and a half: skipped %d, %+v, %v", skipped, p, err)
	}
	appendTo(`nds": 1}` + "\n" + "oops\n" + `{"work": -1, "seconds": 1}` + "\n" + `{"work": 1, "seconds": 1, "pad": "` + strings.Repeat("x", 5000) + `"}` + "\n\n")
	skipped, err := p.read()
	if err != nil || skipped != 3 || p.lines != 2 || p.work != 150 || p.seconds != 3 {
		t.Fatalf("after the rest: skipped %d (want 3), %+v, %v", skipped, p, err)
	}
	now := time.Now()
	got := p.take(now)
	if got == nil || got.Work != 150 || got.Seconds != 3 || got.Reports != 2 || !got.Until.Equal(now.UTC()) {
		t.Fatalf("take: %+v", got)
	}
	if p.take(now) != nil {
		t.Error("a second take without new lines reports something")
	}
	if _, err := p.read(); err != nil || p.lines != 0 {
		t.Errorf("nothing new: %+v, %v", p, err)
	}
	_ = os.Remove(path)
	if _, err := p.read(); err != nil {
		t.Errorf("a removed file: %v", err)
	}
}
