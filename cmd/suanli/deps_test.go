package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// layers is DESIGN.md §2 (docs/architecture.md): a package may import project packages of its own
// layer or below, never above.
var layers = []struct {
	prefix string
	layer  int
}{
	{"internal/catalog", 0}, {"internal/model", 0}, {"internal/pkitest", 0},
	{"internal/network", 1}, {"internal/ledger", 1}, {"internal/policy", 1}, {"internal/sched", 1},
	{"internal/core", 2}, {"internal/plan", 2},
	{"internal/store", 3}, {"api/v1", 3}, {"internal/device", 3}, {"internal/trace", 3}, {"internal/audit", 3},
	{"internal/server", 4}, {"internal/httpapi", 4}, {"internal/agent", 4}, {"internal/sim", 4}, {"internal/kube", 4},
	{"internal/demo", 5},
	{"cmd/", 6}, {"web", 6}, {"internal/chaos", 6},
}

// commandOnly are packages of the shell that only the commands may import:
// no library package, nor the dashboard, depends on them.
var commandOnly = []string{"internal/demo"}

const module = "github.com/suanli/suanli/"

func layerOf(pkg string) (int, bool) {
	rel := strings.TrimPrefix(pkg, module)
	best, layer := -1, 0
	for _, l := range layers {
		if (rel == l.prefix || strings.HasPrefix(rel, l.prefix+"/") || strings.HasPrefix(rel, l.prefix) && strings.HasSuffix(l.prefix, "/")) && len(l.prefix) > best {
			best, layer = len(l.prefix), l.layer
		}
	}
	return layer, best >= 0
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", "github.com/suanli/suanli/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from, ok := layerOf(p.ImportPath)
		if !ok {
			t.Errorf("%s is in no layer of DESIGN.md §2; add it to the table", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(p.ImportPath, module+"api/v1") && strings.Contains(imp, ".") {
				t.Errorf("api/v1 imports %s: it may import only the standard library", imp)
			}
			if !strings.HasPrefix(imp, module) {
				continue
			}
			checked++
			for _, c := range commandOnly {
				if rel := strings.TrimPrefix(imp, module); (rel == c || strings.HasPrefix(rel, c+"/")) && !strings.HasPrefix(p.ImportPath, module+"cmd/") &&
					!strings.HasPrefix(p.ImportPath, module+c) {
					t.Errorf("%s imports %s: only the commands (cmd/) may", p.ImportPath, imp)
				}
			}
			if to, _ := layerOf(imp); to > from {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", p.ImportPath, from, imp, to)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no project imports checked")
	}
}
