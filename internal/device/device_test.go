package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/catalog"
)

func TestErrorStates(t *testing.T) {
	devs, err := ParseNPUSMI(sample(t, "bad/npu-smi-critical.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Health{0: {HealthOK, "OK"}, 1: {HealthError, "Critical"}, 2: {HealthWarning, "Alarm"}}
	for i, h := range want {
		if devs[i].Health != h {
			t.Errorf("npu-smi NPU %d health = %+v, want %+v", i, devs[i].Health, h)
		}
	}

	devs, err = ParseMXSMI(sample(t, "bad/mx-smi-state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []HealthState{HealthError, HealthUnknown, HealthOK, HealthOK} {
		if devs[i].Health.State != s {
			t.Errorf("mx-smi GPU %d health = %+v, want %s", i, devs[i].Health, s)
		}
	}

	devs, err = ParseNvidiaCSV(sample(t, "bad/nvidia-smi-lost.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 5 {
		t.Fatalf("nvidia-smi: %d devices, want 5 (the lost one included)", len(devs))
	}
	lost := devs[0]
	if lost.Index != -1 || lost.BusID != "0000:3B:00.0" || lost.Health.State != HealthError {
		t.Errorf("lost GPU = %+v, want index -1, bus 0000:3B:00.0, Error", lost)
	}
	for _, c := range []struct {
		i     int
		state HealthState
		model string
	}{{1, HealthOK, "nvidia-h800"}, {2, HealthError, "nvidia-h800"}, {3, HealthError, ""}, {4, HealthOK, ""}} {
		if devs[c.i].Health.State != c.state || devs[c.i].ModelID != c.model {
			t.Errorf("nvidia-smi row %d = %+v, want health %s model %q", c.i, devs[c.i], c.state, c.model)
		}
	}
	if devs[4].MemTotalMiB != 81559 || devs[4].PowerW != 60 || devs[4].UtilPercent != 0 {
		t.Errorf("nvidia-smi with units = %+v, want 81559 MiB, 60 W", devs[4])
	}
}

func TestBrokenOutput(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    []byte
		parse func([]byte) ([]Device, error)
		want  []string // substrings of the error
	}{
		{"npu truncated", sample(t, "bad/npu-smi-truncated.txt"), ParseNPUSMI, []string{"npu-smi output", "truncated"}},
		{"npu garbled", sample(t, "bad/npu-smi-garbled.txt"), ParseNPUSMI, []string{"npu-smi output line 8", "HBM-Usage", "33#8"}},
		{"npu empty", nil, ParseNPUSMI, []string{"npu-smi output", "table header"}},
		{"npu not npu", sample(t, "cnmon.txt"), ParseNPUSMI, []string{"npu-smi output"}},
		{"cnmon truncated", sample(t, "bad/cnmon-truncated.txt"), ParseCNMON, []string{"cnmon output", "second row of the device begun on line 10"}},
		{"cnmon wrong tool", sample(t, "mx-smi.txt"), ParseCNMON, []string{"cnmon output"}},
		{"mx-smi wrong cells", []byte(strings.Replace(string(sample(t, "mx-smi.txt")), "| 35C          P0 |", "| 35C   P0  ", 1)), ParseMXSMI, []string{"mx-smi output line 13", "4 cells"}},
		{"mthreads cut", []byte(strings.Split(string(sample(t, "mthreads-gmi.txt")), "     Physical")[0]), ParseMthreadsGMI, []string{"mthreads-gmi output", "truncated"}},
		{"mthreads memory", []byte(strings.Replace(string(sample(t, "mthreads-gmi.txt")), "0MiB(81920MiB)", "0MiB81920MiB", 1)), ParseMthreadsGMI, []string{"mthreads-gmi output line 8", "0MiB(81920MiB)"}},
		{"ixsmi temp", []byte(strings.Replace(string(sample(t, "ixsmi.txt")), "33C", "hot", 1)), ParseIXSMI, []string{"ixsmi output line 8", "temperature"}},
		{"xpu memory", []byte(strings.Replace(string(sample(t, "xpu-smi.txt")), "0 / 32768 MB", "lots        ", 1)), ParseXPUSMI, []string{"xpu_smi output line 7", "Memory"}},
		{"rocm temp", []byte(strings.Replace(string(sample(t, "rocm-smi-hygon-dcu.txt")), "30.0c", "3x.0c", 1)), ParseROCmSMI, []string{"rocm-smi output line 4", "Temp"}},
		{"nvidia fields", []byte("0, NVIDIA H20, 97871 MiB, 28 MiB, 0 %\n"), ParseNvidiaCSV, []string{"nvidia-smi output line 1", "8 comma-separated fields"}},
		{"nvidia number", []byte("0, NVIDIA H20, GPU-1, lots, 28, 0, 31, 74\n"), ParseNvidiaCSV, []string{"nvidia-smi output line 1", "memory.total"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			devs, err := c.parse(c.in)
			if err == nil {
				t.Fatalf("no error; devices %+v", devs)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestTopologyBroken(t *testing.T) {
	_, err := ParseMXSMITopo(sample(t, "bad/mx-smi-topo-truncated.txt"))
	if err == nil || !strings.Contains(err.Error(), "8 matrix rows") {
		t.Errorf("truncated matrix: error %v, want one saying 8 rows were expected", err)
	}
	_, err = ParseNPUTopo([]byte("NPU0 NPU1\nNPU0 HCCS HCCS\nNPU1 HCCS X\n"))
	if err == nil || !strings.Contains(err.Error(), `"X" on the diagonal`) {
		t.Errorf("bad diagonal: error %v", err)
	}
	// A one-sided link is no link.
	top, err := ParseNPUTopo([]byte("NPU0 NPU1\nNPU0 X HCCS\nNPU1 PIX X\n"))
	if err != nil || len(top.Domains) != 2 {
		t.Errorf("one-sided link: %+v, %v; want two lone domains", top, err)
	}
}

// TestCliquesProperty checks on random link matrices that every domain is
// fully linked and every device is in exactly one domain.
func TestCliquesProperty(t *testing.T) {
	seed := uint64(1)
	next := func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed >> 33 }
	for trial := 0; trial < 500; trial++ {
		n := int(next()%10) + 1
		link := make([][]bool, n)
		for i := range link {
			link[i] = make([]bool, n)
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				l := next()%3 != 0
				link[i][j], link[j][i] = l, l
			}
		}
		ids := make([]int, n)
		for i := range ids {
			ids[i] = n - 1 - i // matrix order need not be index order
		}
		pos := map[int]int{}
		for p, id := range ids {
			pos[id] = p
		}
		ds := cliques(npuTopo, ids, func(a, b int) bool { return link[a][b] })
		seen := map[int]int{}
		for _, d := range ds {
			for _, a := range d.Indices {
				seen[a]++
				for _, b := range d.Indices {
					if a != b && !link[pos[a]][pos[b]] {
						t.Fatalf("trial %d: domain %v holds unlinked %d and %d", trial, d, a, b)
					}
				}
			}
			if (len(d.Indices) > 1) != (d.Fabric != "") {
				t.Fatalf("trial %d: domain %v fabric does not match its size", trial, d)
			}
		}
		for i := 0; i < n; i++ {
			if seen[i] != 1 {
				t.Fatalf("trial %d: device %d in %d domains", trial, i, seen[i])
			}
		}
	}
}

func TestModelID(t *testing.T) {
	for _, c := range []struct{ vendor, name, want string }{
		{Huawei, "910B3", "huawei-ascend-910b3"},
		{Huawei, "Ascend910B2C", "huawei-ascend-910b2"},
		{Huawei, "910B4-1", "huawei-ascend-910b4"},
		{Huawei, "Ascend910", "huawei-ascend-910c"},
		{Huawei, "310P3", "huawei-ascend-310p"},
		{Huawei, "910ProB", ""},
		{Cambricon, "MLU370-X8", "cambricon-mlu370-x8"},
		{Cambricon, "MLU590-M9DG", "cambricon-mlu590"},
		{Cambricon, "MLU370-S4", ""},
		{MooreThread, "MTT S5000", "mthreads-mtt-s5000"},
		{Iluvatar, "Iluvatar BI-V150S", "iluvatar-bi-v150"},
		{Iluvatar, "MR-V50", "iluvatar-mr-v100"},
		{MetaX, "MetaX C500", "metax-c500"},
		{MetaX, "MXC500", "metax-c500"},
		{Kunlunxin, "R300", "kunlunxin-r200"},
		{Kunlunxin, "P800", "kunlunxin-p800"},
		{Hygon, "K100_AI", "hygon-dcu-k100"},
		{Hygon, "BW200", "hygon-dcu-bw1000"},
		{Nvidia, "NVIDIA H20", "nvidia-h20"},
		{Nvidia, "NVIDIA H100 80GB HBM3", "nvidia-h100-sxm"},
		{Nvidia, "NVIDIA H100 PCIe", ""},
		{Nvidia, "NVIDIA A800-SXM4-80GB", "nvidia-a800"},
		{Nvidia, "NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm"},
		{Nvidia, "NVIDIA A100-PCIE-40GB", ""},
		{Nvidia, "NVIDIA L20", "nvidia-l20"},
		{AMD, "0x74a2", "amd-mi300x"},
		{Nvidia, "910B3", ""}, // names only match within their vendor
		{Huawei, "", ""},
	} {
		if got := ModelID(c.vendor, c.name); got != c.want {
			t.Errorf("ModelID(%s, %q) = %q, want %q", c.vendor, c.name, got, c.want)
		}
	}
}

// The catalog ids the device package maps to.
var catalogModelIDs = strings.Fields(`huawei-ascend-910b1 huawei-ascend-910b2 huawei-ascend-910b3
huawei-ascend-910b4 huawei-ascend-910c huawei-ascend-310p cambricon-mlu370-x8 cambricon-mlu370-x4
cambricon-mlu590 biren-br100 biren-br104 biren-br166 mthreads-mtt-s4000 mthreads-mtt-s3000
mthreads-mtt-s5000 mthreads-mtt-x300 iluvatar-bi-v100 iluvatar-bi-v150 iluvatar-mr-v100 metax-c500
metax-c550 metax-n260 enflame-t20 enflame-s60 enflame-i20 thead-ppu thead-hanguang-800
kunlunxin-r200 kunlunxin-p800 hygon-dcu-z100 hygon-dcu-k100 hygon-dcu-bw1000 nvidia-h20
nvidia-h800 nvidia-a800 nvidia-h100-sxm nvidia-h200-sxm nvidia-a100-sxm nvidia-l20 amd-mi300x`)

func TestNameTableCoversCatalog(t *testing.T) {
	cat := catalog.Default()
	mapped := map[string]bool{}
	for _, r := range nameTable {
		m, ok := cat.Lookup(r.modelID)
		if !ok || m.ID != r.modelID {
			t.Errorf("name table maps to %q, which is not a catalog id", r.modelID)
		}
		if vendorOf(r.modelID) != r.vendor {
			t.Errorf("name table rule for %s has vendor %s", r.modelID, r.vendor)
		}
		mapped[r.modelID] = true
	}
	for _, id := range catalogModelIDs {
		if !mapped[id] {
			t.Errorf("catalog model %s has no tool name in the name table", id)
		}
		if _, ok := cat.Lookup(id); !ok {
			t.Errorf("catalog lacks %s", id)
		}
	}
}

func TestParseSimulate(t *testing.T) {
	for _, c := range []struct {
		spec    string
		model   string
		n       int
		domains int
	}{
		{"Ascend910B3x8", "huawei-ascend-910b3", 8, 1},
		{"metax-c500x8", "metax-c500", 8, 1},
		{"MLU370-X8x4", "cambricon-mlu370-x8", 4, 1},
		{"nvidia-l20x4", "nvidia-l20", 4, 4},
		{"910B3*16", "huawei-ascend-910b3", 16, 2},
		{"MetaX C500 x2", "metax-c500", 2, 1},
	} {
		rep, err := ParseSimulate(c.spec)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		if len(rep.Devices) != c.n || len(rep.Topology.Domains) != c.domains {
			t.Errorf("%s: %d devices in %d domains %v, want %d in %d", c.spec, len(rep.Devices), len(rep.Topology.Domains), rep.Topology.Domains, c.n, c.domains)
		}
		for i, d := range rep.Devices {
			if d.ModelID != c.model || d.Index != i || d.Health.State != HealthOK || d.MemTotalMiB <= 0 && c.model != "huawei-ascend-910c" {
				t.Errorf("%s: device %d = %+v", c.spec, i, d)
			}
		}
	}
	for _, spec := range []string{"", "Ascend910B3", "Ascend910B3x0", "Ascend910B3x99999", "Ascend999x8", "x8"} {
		_, err := ParseSimulate(spec)
		if err == nil || !strings.Contains(err.Error(), "MODELxCOUNT") || !strings.Contains(err.Error(), "metax-c500") {
			t.Errorf("ParseSimulate(%q) error %v, want one listing the accepted forms", spec, err)
		}
	}
}

func TestVisibleDevicesEnv(t *testing.T) {
	for _, c := range []struct {
		vendor      string
		idx         []int
		name, value string
	}{
		{Huawei, []int{3, 1, 2}, "ASCEND_RT_VISIBLE_DEVICES", "1,2,3"},
		{Cambricon, []int{0}, "MLU_VISIBLE_DEVICES", "0"},
		{MooreThread, []int{0, 1}, "MUSA_VISIBLE_DEVICES", "0,1"},
		{Iluvatar, []int{2}, "CUDA_VISIBLE_DEVICES", "2"},
		{MetaX, []int{4, 5, 6, 7}, "MACA_VISIBLE_DEVICES", "4,5,6,7"},
		{Kunlunxin, []int{1, 1, 0}, "XPU_VISIBLE_DEVICES", "0,1"},
		{Hygon, []int{0}, "HIP_VISIBLE_DEVICES", "0"},
		{AMD, []int{7}, "HIP_VISIBLE_DEVICES", "7"},
		{Nvidia, []int{0, 1}, "CUDA_VISIBLE_DEVICES", "0,1"},
		{Enflame, []int{0}, "TOPS_VISIBLE_DEVICES", "0"},
		{Biren, []int{0}, "BIREN_VISIBLE_DEVICES", "0"},
		{THead, []int{0}, "CUDA_VISIBLE_DEVICES", "0"},
		{"NVIDIA", []int{-1, 0}, "CUDA_VISIBLE_DEVICES", "0"},
		{"vastai", nil, "CUDA_VISIBLE_DEVICES", ""},
	} {
		n, v := VisibleDevicesEnv(c.vendor, c.idx)
		if n != c.name || v != c.value {
			t.Errorf("VisibleDevicesEnv(%s, %v) = %s=%q, want %s=%q", c.vendor, c.idx, n, v, c.name, c.value)
		}
	}
}

// fakeRunner answers commands from a table keyed by "name args…".
type fakeRunner map[string]string

func (f fakeRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	key := strings.TrimSpace(name + " " + strings.Join(args, " "))
	out, ok := f[key]
	if !ok {
		return nil, fmt.Errorf("run %s: exit status 1", key)
	}
	return []byte(out), nil
}

func fakePath(names ...string) func(string) (string, error) {
	return func(n string) (string, error) {
		for _, x := range names {
			if x == n {
				return n, nil
			}
		}
		return "", errors.New("not found")
	}
}

func TestDiscover(t *testing.T) {
	run := fakeRunner{
		"npu-smi info":         string(sample(t, "npu-smi-info.txt")),
		"npu-smi info -t topo": string(sample(t, "npu-smi-info-topo.txt")),
		"mx-smi":               string(sample(t, "mx-smi.txt")),
		"mx-smi topo -m":       string(sample(t, "mx-smi-topo.txt")),
		"hy-smi":               string(sample(t, "rocm-smi-hygon-dcu.txt")),
		"rocm-smi":             "must not run: hy-smi is present",
		"xpu-smi":              string(sample(t, "xpu-smi.txt")),
		"cnmon":                "garbage",
	}
	d := ToolDiscoverer{Runner: run, LookPath: fakePath("npu-smi", "mx-smi", "hy-smi", "rocm-smi", "xpu-smi", "cnmon")}
	rep, err := d.Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cnmon output") {
		t.Errorf("error %v, want the cnmon parse failure", err)
	}
	if got, want := len(rep.Devices), 8+8+4+2; got != want {
		t.Fatalf("%d devices, want %d", got, want)
	}
	if len(rep.Unknown) != 4 || rep.Unknown[0].Vendor != Hygon {
		t.Errorf("unknown = %+v, want the 4 unnamed Hygon DCUs", rep.Unknown)
	}
	var doms []string
	for _, d := range rep.Topology.Domains {
		doms = append(doms, d.String())
	}
	want := "huawei:HCCS[0 1 2 3 4 5 6 7] hygon:alone[0] hygon:alone[1] hygon:alone[2] hygon:alone[3] " +
		"kunlunxin:alone[0] kunlunxin:alone[1] metax:MetaXLink[0 1 2 3] metax:MetaXLink[4 5 6 7]"
	if got := strings.Join(doms, " "); got != want {
		t.Errorf("domains\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "hy-smi device 0") {
		t.Errorf("warnings %q do not name the unknown hy-smi devices", rep.Warnings)
	}

	// A failing topology leaves lone domains and a warning.
	delete(run, "npu-smi info -t topo")
	rep, err = ToolDiscoverer{Runner: run, LookPath: fakePath("npu-smi")}.Discover(context.Background())
	if err != nil || len(rep.Topology.Domains) != 8 || !strings.Contains(strings.Join(rep.Warnings, ""), "npu-smi topology unavailable") {
		t.Errorf("without topology: %v, %v, warnings %q", rep.Topology.Domains, err, rep.Warnings)
	}
}

func TestExecRunner(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	out, err := ExecRunner{}.Run(context.Background(), "/bin/sh", "-c", "echo hello")
	if err != nil || string(out) != "hello\n" {
		t.Errorf("echo: %q, %v", out, err)
	}
	_, err = ExecRunner{}.Run(context.Background(), "/bin/sh", "-c", "echo broken >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("failing command: %v, want its stderr in the error", err)
	}
	start := time.Now()
	_, err = ExecRunner{Timeout: 50 * time.Millisecond}.Run(context.Background(), "/bin/sh", "-c", "exec sleep 10")
	if err == nil || !strings.Contains(err.Error(), "no answer within") || time.Since(start) > 5*time.Second {
		t.Errorf("hung command: %v after %s", err, time.Since(start))
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		in          string
		used, total int64
		ok          bool
	}{
		{"826/65536 MiB", 826, 65536, true},
		{"0 MiB/ 23374 MiB", 0, 23374, true},
		{"3318 / 65536", 3318, 65536, true},
		{"0MiB(81920MiB)", 0, 81920, true},
		{"1GiB/2GiB", 1024, 2048, true},
		{"1048576/2097152 B", 1, 2, true},
		{"0 / 32768 MB", 0, 32768, true},
		{"lots", 0, 0, false},
		{"1/2 parsecs", 0, 0, false},
	} {
		u, tot, ok := usedTotal(c.in, "MiB")
		if u != c.used || tot != c.total || ok != c.ok {
			t.Errorf("usedTotal(%q) = %d, %d, %v; want %d, %d, %v", c.in, u, tot, ok, c.used, c.total, c.ok)
		}
	}
}
