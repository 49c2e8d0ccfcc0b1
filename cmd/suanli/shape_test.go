package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFileLines is the most lines a .go file of the module may have, tests
// included: a longer one is split along its seams.
const maxFileLines = 600

// TestShapeFileLength fails for every .go file of the module longer than
// maxFileLines, naming it and its length.
func TestShapeFileLength(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root %s has no go.mod: %v", root, err)
	}
	long, checked := longGoFiles(t, root, maxFileLines)
	for _, f := range long {
		t.Errorf("%s has %d lines, more than %d: split it along its seams", f.path, f.lines, maxFileLines)
	}
	if checked < 100 {
		t.Fatalf("checked %d .go files under %s: want the whole module", checked, root)
	}
}

type fileLength struct {
	path  string
	lines int
}

// longGoFiles walks the module at root as the go tool sees it (no
// directories named testdata or starting with . or _, no nested modules)
// and returns its .go files over max lines and how many it read.
func longGoFiles(t *testing.T, root string, max int) (long []fileLength, checked int) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == root {
				return nil
			}
			if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		n := bytes.Count(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		if n > max {
			rel, _ := filepath.Rel(root, path)
			long = append(long, fileLength{path: filepath.ToSlash(rel), lines: n})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return long, checked
}

// TestShapeFileLengthCounts: the walk counts lines as wc -l does (a last
// line without a newline counts) and skips what the go tool skips.
func TestShapeFileLengthCounts(t *testing.T) {
	root := t.TempDir()
	write := func(rel string, lines int, newline bool) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		s := strings.Repeat("//\n", lines)
		if !newline {
			s = strings.TrimSuffix(s, "\n")
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", 1, true)
	write("a/ok.go", 10, true)
	write("a/long_test.go", 11, true)
	write("b/edge.go", 11, false)
	write("b/notgo.txt", 50, true)
	write("a/testdata/skip.go", 50, true)
	write(".hidden/skip.go", 50, true)
	write("nested/go.mod", 1, true)
	write("nested/skip.go", 50, true)
	long, checked := longGoFiles(t, root, 10)
	want := map[string]int{"a/long_test.go": 11, "b/edge.go": 11}
	if checked != 3 || len(long) != len(want) {
		t.Fatalf("checked %d files, long %v; want 3 checked, long %v", checked, long, want)
	}
	for _, f := range long {
		if want[f.path] != f.lines {
			t.Errorf("%s: %d lines, want %d", f.path, f.lines, want[f.path])
		}
	}
}
