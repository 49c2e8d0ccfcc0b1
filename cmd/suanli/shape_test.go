package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// longGoFiles returns the module's .go files (see moduleGoFiles) over max
// lines and how many it read.
func longGoFiles(t *testing.T, root string, max int) (long []fileLength, checked int) {
	t.Helper()
	for _, rel := range moduleGoFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		checked++
		n := bytes.Count(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		if n > max {
			long = append(long, fileLength{path: rel, lines: n})
		}
	}
	return long, checked
}

// moduleGoFiles walks the module at root as the go tool sees it (no
// directories named testdata or starting with . or _, no nested modules)
// and returns its .go files, slash-separated and relative to root.
func moduleGoFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
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
		if strings.HasSuffix(name, ".go") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return files
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

// maxFuncLines is the most lines a production function may span, from
// its func keyword to its closing brace, unless a line of its doc comment
// starts with "// long:" and gives the reason it is one piece.
const maxFuncLines = 80

// TestShapeFunctionLength fails for every function and method of the
// module's production files (not _test.go) longer than maxFuncLines
// without a "// long:" reason, naming its file, its name and its length.
func TestShapeFunctionLength(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	long, checked := longFuncs(t, root, maxFuncLines)
	pending := maps.Clone(toSplit)
	for _, f := range long {
		if key := f.path + " " + f.name; pending[key] {
			delete(pending, key)
			continue
		}
		t.Errorf("%s: %s has %d lines, more than %d: split it into named helpers, or give the reason it is one piece in a line of its doc comment starting \"// long:\"",
			f.path, f.name, f.lines, maxFuncLines)
	}
	for _, key := range slices.Sorted(maps.Keys(pending)) {
		t.Errorf("%s is no longer over %d lines: remove it from toSplit", key, maxFuncLines)
	}
	if checked < 1000 {
		t.Fatalf("checked %d functions under %s: want the whole module", checked, root)
	}
}

// toSplit are the functions over maxFuncLines still to be split. The list
// only shrinks: an entry no longer over the limit fails the test until it
// is removed, and no function joins it.
var toSplit = map[string]bool{}

type funcLength struct {
	path, name string
	lines      int
}

// longFuncs parses the production .go files of the module at root (those
// moduleGoFiles lists, less the tests) and returns their functions and
// methods over max lines whose doc comment has no "// long:" line, and
// how many functions it read.
func longFuncs(t *testing.T, root string, max int) (long []funcLength, checked int) {
	t.Helper()
	fset := token.NewFileSet()
	for _, rel := range moduleGoFiles(t, root) {
		if strings.HasSuffix(rel, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			checked++
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > max && !hasLongReason(fd.Doc) {
				long = append(long, funcLength{path: rel, name: funcName(fd), lines: n})
			}
		}
	}
	return long, checked
}

// hasLongReason reports whether a line of the doc comment starts with
// "// long:".
func hasLongReason(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, "// long:") {
			return true
		}
	}
	return false
}

// funcName is a function's name, or a method's as (*T).M or T.M.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	star := false
	if s, ok := typ.(*ast.StarExpr); ok {
		typ, star = s.X, true
	}
	switch x := typ.(type) {
	case *ast.IndexExpr: // a generic type's method
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	name := "?"
	if id, ok := typ.(*ast.Ident); ok {
		name = id.Name
	}
	if star {
		return "(*" + name + ")." + fd.Name.Name
	}
	return name + "." + fd.Name.Name
}

// TestShapeFunctionLengthCounts: a function is measured from its func
// keyword to its closing brace; only a "// long:" line in its doc comment
// excuses it; tests and files the go tool skips are not read.
func TestShapeFunctionLengthCounts(t *testing.T) {
	root := t.TempDir()
	// fn is a function of n lines (n ≥ 2) with the given doc comment.
	fn := func(doc, sig string, n int) string {
		return doc + "func " + sig + " {\n" + strings.Repeat("\t_ = 0\n", n-2) + "}\n\n"
	}
	files := map[string]string{
		"go.mod": "module example.com/m\n",
		"a/a.go": "package a\n\ntype T struct{}\n\ntype G[K any] struct{}\n\n" +
			fn("", "fits()", 5) +
			fn("// Over says nothing of its length.\n", "over()", 6) +
			fn("// Table is one piece.\n// long: a table, one row a line.\n", "table()", 9) +
			fn("// long: not its doc comment: a blank line follows.\n\n", "apart()", 6) +
			fn("", "(t *T) method()", 7) +
			fn("", "(g G[K]) generic()", 6) +
			"var x = func() {\n" + strings.Repeat("\t_ = 0\n", 8) + "}\n",
		"a/a_test.go":     "package a\n\n" + fn("", "longTest()", 9),
		"a/testdata/b.go": "package b\n\n" + fn("", "skipped()", 9),
		"nested/go.mod":   "module example.com/n\n",
		"nested/n.go":     "package n\n\n" + fn("", "skipped()", 9),
	}
	for rel, s := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long, checked := longFuncs(t, root, 5)
	want := []funcLength{{"a/a.go", "over", 6}, {"a/a.go", "apart", 6}, {"a/a.go", "(*T).method", 7}, {"a/a.go", "G.generic", 6}}
	if checked != 6 || !slices.Equal(long, want) {
		t.Fatalf("checked %d functions, long %v; want 6 checked, long %v", checked, long, want)
	}
}
