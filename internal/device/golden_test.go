package device

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/golden")

// sample reads a tool output from testdata, without the provenance line
// ("# source: …") the sample files start with.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte("# source:")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}

// golden compares v, as indented JSON, with testdata/golden/<name>.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *rewrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -rewrite to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file %s (run with -rewrite and review the diff):\n%s", name, path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n  want " + a + "\n  got  " + b
		}
	}
	return ""
}

type parserCase struct {
	tool  string
	file  string
	parse func([]byte) ([]Device, error)
}

var parserCases = []parserCase{
	{"npu-smi", "npu-smi-info.txt", ParseNPUSMI},
	{"cnmon", "cnmon.txt", ParseCNMON},
	{"mthreads-gmi", "mthreads-gmi.txt", ParseMthreadsGMI},
	{"ixsmi", "ixsmi.txt", ParseIXSMI},
	{"mx-smi", "mx-smi.txt", ParseMXSMI},
	{"xpu_smi", "xpu-smi.txt", ParseXPUSMI},
	{"rocm-smi-hygon", "rocm-smi-hygon-dcu.txt", ParseROCmSMI},
	{"rocm-smi-amd", "rocm-smi-amd.txt", ParseROCmSMI},
	{"nvidia-smi", "nvidia-smi-query.csv", ParseNvidiaCSV},
}

func TestParsersGolden(t *testing.T) {
	for _, c := range parserCases {
		t.Run(c.tool, func(t *testing.T) {
			devs, err := c.parse(sample(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(c.file, filepath.Ext(c.file)), devs)
		})
	}
}

func TestTopologyGolden(t *testing.T) {
	for _, c := range []struct {
		file  string
		parse func([]byte) (Topology, error)
	}{
		{"npu-smi-info-topo.txt", ParseNPUTopo},
		{"mx-smi-topo.txt", ParseMXSMITopo},
		{"nvidia-smi-topo.txt", ParseNvidiaTopo},
	} {
		t.Run(c.file, func(t *testing.T) {
			top, err := c.parse(sample(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(c.file, filepath.Ext(c.file)), top)
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range parserCases {
		in := sample(b, c.file)
		b.Run(c.tool, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
