package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files")

// run executes the CLI in-process and returns stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/suanli -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cmd/suanli -rewrite, then review the diff):\n%s", name, got)
	}
}

func TestCapacityGolden(t *testing.T) {
	t.Setenv("SUANLI_SERVER", "") // the spec's ledger, not a server's
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"capacity.txt", []string{"capacity"}},
		{"capacity.csv", []string{"capacity", "--csv"}},
		{"capacity-2028.txt", []string{"capacity", "--network", "../../examples/network-2028.yaml", "--target", "100EF", "--by", "2028", "--from", "2026"}},
	} {
		out, err := run(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		golden(t, tc.file, out)
	}
}

func TestCapacityJSONIsExact(t *testing.T) {
	out, err := run(t, "capacity", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"gflops": 45443`) || !strings.Contains(out, `"press":`) {
		t.Errorf("JSON lacks exact integer GFLOPS or confidences:\n%.400s", out)
	}
}

func TestMalformedSpecExitsTwoWithEveryError(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(spec, []byte(`
name: bad
sites:
- id: x
  region: R
  operator: O
  ownership: owned
  pools: [{model: Ascend 910X, nodes: 0}]
`), 0o644)
	_, err := run(t, "capacity", "--network", spec)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err = %v, want exit status 2", err)
	}
	for _, want := range []string{`sites[0].ownership: "owned"`, `sites[0].pools[0].model: unknown model "Ascend 910X"`, `sites[0].pools[0].nodes: 0`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCatalogCommand(t *testing.T) {
	out, err := run(t, "catalog", "MLU370-X8")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cambricon-mlu370-x8", "96 (vendor-spec)", "NeuWare", "torch_mlu", "cnmon"} {
		if !strings.Contains(out, want) {
			t.Errorf("catalog MLU370-X8 lacks %q", want)
		}
	}
	if _, err := run(t, "catalog", "Ascend 999"); err == nil {
		t.Error("unknown model accepted")
	}
	extra := filepath.Join(t.TempDir(), "extra.yaml")
	os.WriteFile(extra, []byte("accelerators:\n- id: acme-x1\n  vendor: Acme\n  model: X1\n  country: CN\n  fp16_tflops: 10\n"), 0o644)
	out, err = run(t, "catalog", "--catalog", extra)
	if err != nil || !strings.Contains(out, "acme-x1") {
		t.Errorf("--catalog did not add the model: %v", err)
	}
}

func TestNetworkCommand(t *testing.T) {
	out, err := run(t, "network")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "13 sites") || !strings.Contains(out, "cu-xining") || !strings.Contains(out, "illustrative") {
		t.Errorf("network output:\n%.600s", out)
	}
}
