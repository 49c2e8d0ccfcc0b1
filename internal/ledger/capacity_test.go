package ledger

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// The default network must reproduce China Mobile's reported 29.2 EFLOPS
// FP16 of self-built capacity (leased excluded) within the 0.05 EFLOPS the
// one-decimal figure allows.
func TestDefaultReproducesChinaMobileSelfBuilt(t *testing.T) {
	n, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	cm := Filter(n, func(s *model.Site) bool { return s.Operator == "China Mobile" && s.Ownership == model.SelfBuilt })
	r := Capacity(cm, nil)
	const want, tol = 29_200_000_000, 50_000_000
	if d := r.Total.GFLOPS - want; d > tol || d < -tol {
		t.Fatalf("China Mobile self-built = %s EFLOPS, want 29.2 ± 0.05", EF(r.Total.GFLOPS))
	}
	hohhot, _ := r.Find("site", "cm-hohhot")
	if hohhot.Cards != 20000 || EF(hohhot.GFLOPS)[:3] != "6.6" {
		t.Errorf("Hohhot: %d cards %s EF, want 20,000 cards and about 6.7 EF", hohhot.Cards, EF(hohhot.GFLOPS))
	}
	all := Capacity(n, nil)
	leased, _ := all.Find("ownership", "leased")
	if leased.GFLOPS == 0 {
		t.Error("the default network has no leased capacity")
	}
	if all.Total.GFLOPS <= r.Total.GFLOPS {
		t.Error("the whole network must exceed China Mobile's self-built part")
	}
	// The whole network's report shows the same sum by operator and
	// ownership, beside the figure China Mobile reported.
	own, ok := all.Find("operator-ownership", "China Mobile, self-built")
	if !ok || own.GFLOPS != r.Total.GFLOPS {
		t.Errorf("operator-ownership China Mobile, self-built = %+v, want %d GFLOPS", own, r.Total.GFLOPS)
	}
	if len(all.Reported) != 1 || all.Reported[0] != (ReportedFigure{Key: "China Mobile, self-built", ReportedGFLOPS: want, SumGFLOPS: r.Total.GFLOPS, Source: all.Reported[0].Source}) {
		t.Errorf("reported figures %+v", all.Reported)
	}
	var b strings.Builder
	if err := WriteTable(&b, &all); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "reported: China Mobile, self-built 29.200 EFLOPS") || !strings.Contains(b.String(), "sum to "+EF(r.Total.GFLOPS)+" EFLOPS") {
		t.Errorf("table lacks the reported figure beside the sum:\n%s", b.String())
	}
}

func TestCapacityExactSums(t *testing.T) {
	spec := `
name: t
catalog:
- {id: huawei-ascend-910b3, fp16_tflops: {v: 313, conf: press}}
sites:
- id: a
  region: R
  operator: Op1
  ownership: self-built
  general: {cpu_cores: 1000, gflops_per_core: 40}
  pools:
  - {model: cambricon-mlu370-x8, nodes: 3, cpu_cores: 64}
  - {model: huawei-ascend-910b3, nodes: 1, cpu_cores: 64}
- id: b
  region: R
  operator: Op2
  ownership: leased
  pools:
  - {model: nvidia-h20, nodes: 1, cpu_cores: 64}
`
	n, err := network.Parse([]byte(spec), "t", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(id model.NodeID) int64 {
		if id == "a-p0-n0" {
			return 2500 // 2.5 cards
		}
		return 0
	}
	r := Capacity(n, alloc)
	// 24 × 96 + 8 × 313 + 8 × 148 TFLOPS
	if r.Total.Cards != 40 || r.Total.GFLOPS != 24*96_000+8*313_000+8*148_000 {
		t.Errorf("total %d cards %d GFLOPS", r.Total.Cards, r.Total.GFLOPS)
	}
	if got := r.Total.EstimatedGFLOPS(); got != 8*313_000+8*148_000 {
		t.Errorf("estimated = %d, want the press figures of 910B3 and H20", got)
	}
	if r.Total.ByConfidence[catalog.VendorSpec] != 24*96_000 {
		t.Errorf("vendor-spec = %d", r.Total.ByConfidence[catalog.VendorSpec])
	}
	if r.Total.AllocatedGFLOPS != 2500*96_000/1000 {
		t.Errorf("allocated = %d", r.Total.AllocatedGFLOPS)
	}
	for dim, want := range map[string][]string{
		"operator": {"Op1", "Op2"}, "origin": {"domestic", "foreign"}, "ownership": {"self-built", "leased"},
		"vendor": {"Huawei", "Cambricon", "NVIDIA"},
	} {
		var got []string
		for _, b := range r.Breakdowns[dim] {
			got = append(got, b.Key)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s = %v, want %v (largest first)", dim, got, want)
		}
	}
	// General: 1000 site cores at 40 + 320 node cores at 40 (site a) + 64 at 0 (site b has no rate).
	if r.General.CPUCores != 1000+5*64 || r.General.GFLOPS != (1000+4*64)*40 {
		t.Errorf("general = %+v", r.General)
	}
}

func TestParseFLOPS(t *testing.T) {
	for in, want := range map[string]int64{
		"100EF": 100e9, "29.2 EFLOPS": 29_200_000_000, "500PF": 500e6, "313TF": 313_000, "7GF": 7, "0.5e": 500_000_000,
	} {
		got, err := ParseFLOPS(in)
		if err != nil || got != want {
			t.Errorf("ParseFLOPS(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "100", "EF", "-3EF", "1.0000000001GF", "lots"} {
		if _, err := ParseFLOPS(bad); err == nil {
			t.Errorf("ParseFLOPS(%q) accepted", bad)
		}
	}
}

func TestFormatting(t *testing.T) {
	for g, want := range map[int64]string{29_183_720_000: "29.184", 0: "0.000", 499: "0.000", 500_000: "0.001", -1_500_000: "-0.002"} {
		if got := EF(g); got != want {
			t.Errorf("EF(%d) = %s, want %s", g, got, want)
		}
	}
	p := NewProgress(29_200_000_000, 100_000_000_000, 2024, 2028)
	if p.PercentMilli != 29200 || p.GrowthPermille != 1360 {
		t.Errorf("progress = %+v (want 29.2%% and +36.0%% a year)", p)
	}
}
