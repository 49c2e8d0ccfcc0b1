package catalog

import (
	"strings"
	"testing"
)

func TestDefaultCatalog(t *testing.T) {
	c := Default()
	if got := len(c.Models()); got != 40 {
		t.Fatalf("default catalog has %d models, want the 40 of the facts file", got)
	}
	tests := []struct {
		lookup   string
		id       string
		fp16     string // Figure.String()
		domestic bool
	}{
		{"cambricon-mlu370-x8", "cambricon-mlu370-x8", "96 (vendor-spec)", true},
		{"MLU370-X8", "cambricon-mlu370-x8", "96 (vendor-spec)", true},
		{"Ascend 910B3", "huawei-ascend-910b3", "? [256-320] (press)", true},
		{"huawei.com/Ascend910B3", "huawei-ascend-910b3", "? [256-320] (press)", true},
		{"H20", "nvidia-h20", "148 (press)", false},
		{"910b3", "huawei-ascend-910b3", "? [256-320] (press)", true},
		{"nvidia-l20", "nvidia-l20", "119.5 (unverified)", false},
		{"T-Head PPU", "thead-ppu", "119 (derived)", true},
		{"MetaX C500", "metax-c500", "240 (derived)", true},
	}
	for _, tt := range tests {
		m, ok := c.Lookup(tt.lookup)
		if !ok {
			t.Errorf("Lookup(%q): not found", tt.lookup)
			continue
		}
		if m.ID != tt.id {
			t.Errorf("Lookup(%q) = %s, want %s", tt.lookup, m.ID, tt.id)
		}
		if got := m.FP16.String(); got != tt.fp16 {
			t.Errorf("%s FP16 = %q, want %q", m.ID, got, tt.fp16)
		}
		if m.Domestic() != tt.domestic {
			t.Errorf("%s domestic = %v", m.ID, m.Domestic())
		}
	}
}

func TestFiguresAndDomains(t *testing.T) {
	c := Default()
	m, _ := c.Lookup("nvidia-l20")
	if g, conf, ok := m.FP16GFLOPS(); !ok || g != 119500 || conf != Unverified {
		t.Errorf("L20 FP16 = %d %s %v, want 119500 GFLOPS unverified", g, conf, ok)
	}
	b3, _ := c.Lookup("huawei-ascend-910b3")
	if _, _, ok := b3.FP16GFLOPS(); ok {
		t.Error("910B3 has no published FP16 figure; the catalog must not invent one")
	}
	if b3.MemMiB() != 65536 || b3.DomainCards != 8 || b3.CardsPerServer != 8 {
		t.Errorf("910B3 mem %d MiB domain %d server %d", b3.MemMiB(), b3.DomainCards, b3.CardsPerServer)
	}
	c910, _ := c.Lookup("huawei-ascend-910c")
	if c910.DomainCards != 384 {
		t.Errorf("910C domain = %d, want the 384-chip supernode", c910.DomainCards)
	}
	ppu, _ := c.Lookup("thead-ppu")
	if ppu.CardsPerServer != 16 {
		t.Errorf("PPU cards per server = %d, want 16", ppu.CardsPerServer)
	}
	if b3.Stack == "" || b3.PyTorch != "torch_npu" || b3.DeviceCLI != "npu-smi" {
		t.Errorf("910B3 stack %q pytorch %q cli %q", b3.Stack, b3.PyTorch, b3.DeviceCLI)
	}
	if m, ok := c.Lookup("910b"); ok {
		t.Errorf("ambiguous partial name matched %s", m.ID)
	}
	if r, ok := c.ByResource("huawei.com/Ascend910B3"); !ok || r.ID != "huawei-ascend-910b3" {
		t.Errorf("huawei.com/Ascend910B3 → %v %v", r, ok)
	}
	if _, ok := c.ByResource("nvidia.com/gpu"); ok {
		t.Error("nvidia.com/gpu names many models; ByResource must not guess")
	}
	if ms := c.ModelsByResource("cambricon.com/mlu"); len(ms) < 2 {
		t.Errorf("cambricon.com/mlu → %d models, want the MLU family", len(ms))
	}
}

func TestOverlay(t *testing.T) {
	extra := `
accelerators:
- id: huawei-ascend-910b3
  fp16_tflops: 313
- id: acme-x1
  vendor: Acme
  model: X1
  country: cn
  fp16_tflops: {v: 200, conf: vendor-spec, src: [acme-sheet]}
  memory_gb: {v: 48, conf: vendor-spec}
  k8s_resources: {native: acme.com/x1}
`
	c, err := Default().Overlay([]byte(extra), "extra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := c.Lookup("Ascend910B3")
	if g, conf, ok := b3.FP16GFLOPS(); !ok || g != 313000 || conf != Override {
		t.Errorf("overridden 910B3 = %d %s %v", g, conf, ok)
	}
	if b3.MemMiB() != 65536 {
		t.Error("overlay lost fields it did not mention")
	}
	x1, ok := c.Lookup("acme.com/x1")
	if !ok || !x1.Domestic() || x1.MemMiB() != 48*1024 {
		t.Errorf("new model: %+v %v", x1, ok)
	}
	if orig, _ := Default().Lookup("huawei-ascend-910b3"); orig.FP16.Known {
		t.Error("overlay changed the default catalog")
	}
}

func TestOverlayErrors(t *testing.T) {
	bad := `
accelerators:
- id: huawei-ascend-910b3
  fp16_tflops: {v: 300, conf: rumour}
- vendor: Nobody
- id: new-chip
  model: N1
  country: Atlantis
  memory_gb: {v: -4}
`
	_, err := Default().Overlay([]byte(bad), "bad.yaml")
	if err == nil {
		t.Fatal("bad overlay accepted")
	}
	for _, want := range []string{
		`bad.yaml: accelerators[0] (huawei-ascend-910b3): fp16_tflops: conf "rumour"`,
		`accelerators[1].id: missing`,
		`accelerators[2] (new-chip): memory_gb: value -4 out of range`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Default().Overlay([]byte("accelerators:\n- id: x\n  speed: 3\n"), "u.yaml"); err == nil || !strings.Contains(err.Error(), "speed") {
		t.Errorf("unknown field not reported: %v", err)
	}
}

func FuzzOverlay(f *testing.F) {
	f.Add([]byte("accelerators:\n- id: a\n  vendor: A\n  model: A1\n  country: CN\n  fp16_tflops: 1.5\n"))
	f.Add(embeddedExtra)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Default().Overlay(data, "fuzz.yaml")
		if err == nil && len(c.Models()) < 40 {
			t.Fatal("overlay dropped models")
		}
	})
}

func TestPowerAndPrice(t *testing.T) {
	c := Default()
	tests := []struct {
		id             string
		w              int64
		wConf          Confidence
		wOK            bool
		price          int64
		pConf          Confidence
		pOK            bool
		keepSourceFrom string // an id of the facts file the overlay must not drop
	}{
		{"nvidia-h20", 400, Press, true, 110000, Press, true, "willitrunai-h20"},
		// A press range only: the upper end, counted as derived.
		{"huawei-ascend-910b3", 400, Derived, true, 120000, Press, true, "jishuzhan-910b"},
		{"cambricon-mlu370-x8", 250, VendorSpec, true, 0, Unknown, false, ""},
		// No figure at all stays unknown.
		{"huawei-ascend-910c", 0, Unknown, false, 0, Unknown, false, ""},
	}
	for _, tt := range tests {
		m, ok := c.Lookup(tt.id)
		if !ok {
			t.Fatalf("%s missing", tt.id)
		}
		w, wc, wok := m.PowerW()
		if w != tt.w || wc != tt.wConf || wok != tt.wOK {
			t.Errorf("%s PowerW = %d %s %v, want %d %s %v", tt.id, w, wc, wok, tt.w, tt.wConf, tt.wOK)
		}
		p, pc, pok := m.PriceCNY()
		if p != tt.price || pc != tt.pConf || pok != tt.pOK {
			t.Errorf("%s PriceCNY = %d %s %v, want %d %s %v", tt.id, p, pc, pok, tt.price, tt.pConf, tt.pOK)
		}
		if tt.pOK && len(m.ListPriceCNY.Sources) == 0 {
			t.Errorf("%s: price without a source", tt.id)
		}
		for _, s := range m.ListPriceCNY.Sources {
			if m.Sources[s] == "" {
				t.Errorf("%s: price source %q is not in the model's sources", tt.id, s)
			}
		}
		if tt.keepSourceFrom != "" && m.Sources[tt.keepSourceFrom] == "" {
			t.Errorf("%s: the overlay dropped source %q of the facts file", tt.id, tt.keepSourceFrom)
		}
	}
	// A bad price is refused with its path.
	_, err := c.Overlay([]byte("accelerators:\n- id: nvidia-h20\n  list_price_cny: {v: -1, conf: press}\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "list_price_cny") {
		t.Errorf("negative price: err = %v", err)
	}
}
