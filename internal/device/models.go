package device

import (
	"strings"
	"unicode"
)

// nameRule maps the names a vendor tool prints for one model to its catalog
// id. Names are compared normalised: lower case, letters and digits only,
// with the vendor's own prefix ("Ascend", "NVIDIA", "MetaX", …) removed, so
// "MetaX C500", "MXC500" and "C500" are one name.
type nameRule struct {
	vendor  string
	modelID string
	names   []string // exact normalised names
	prefix  []string // normalised prefixes (MLU590-M9DG → "mlu590")
}

// nameTable is the catalog mapping of tool names. Sources for the names
// are the samples in testdata/ and the notes of the catalog entries.
var nameTable = []nameRule{
	{Huawei, "huawei-ascend-910b1", []string{"910b1"}, nil},
	{Huawei, "huawei-ascend-910b2", []string{"910b2", "910b2c"}, nil},
	{Huawei, "huawei-ascend-910b3", []string{"910b3"}, nil},
	{Huawei, "huawei-ascend-910b4", []string{"910b4", "910b41"}, nil},
	// On Atlas A3 (910C) hosts npu-smi names each die "Ascend910" (the HAMi
	// device config uses that chip name for 910C).
	{Huawei, "huawei-ascend-910c", []string{"910c", "910"}, nil},
	{Huawei, "huawei-ascend-310p", []string{"310p", "310p1", "310p3"}, nil},

	{Cambricon, "cambricon-mlu370-x8", []string{"mlu370x8"}, nil},
	{Cambricon, "cambricon-mlu370-x4", []string{"mlu370x4"}, nil},
	{Cambricon, "cambricon-mlu590", nil, []string{"mlu590"}},

	{Biren, "biren-br100", []string{"br100"}, nil},
	{Biren, "biren-br104", []string{"br104", "br104p"}, nil},
	{Biren, "biren-br166", []string{"br166", "br166m", "166m"}, nil},

	{MooreThread, "mthreads-mtt-s4000", []string{"mtts4000", "s4000"}, nil},
	{MooreThread, "mthreads-mtt-s3000", []string{"mtts3000", "s3000"}, nil},
	{MooreThread, "mthreads-mtt-s5000", []string{"mtts5000", "s5000"}, nil},
	{MooreThread, "mthreads-mtt-x300", []string{"mttx300", "x300"}, nil},

	{Iluvatar, "iluvatar-bi-v100", []string{"biv100"}, nil},
	{Iluvatar, "iluvatar-bi-v150", []string{"biv150", "biv150s"}, nil},
	{Iluvatar, "iluvatar-mr-v100", []string{"mrv100", "mrv50"}, nil},

	{MetaX, "metax-c500", []string{"c500"}, nil},
	{MetaX, "metax-c550", []string{"c550"}, nil},
	{MetaX, "metax-n260", []string{"n260"}, nil},

	{Enflame, "enflame-t20", []string{"t20", "t21"}, nil},
	{Enflame, "enflame-s60", []string{"s60"}, nil},
	{Enflame, "enflame-i20", []string{"i20"}, nil},

	{THead, "thead-ppu", []string{"ppu"}, []string{"ppuzw"}},
	{THead, "thead-hanguang-800", []string{"hanguang800", "hg800"}, nil},

	// The R200 catalog entry covers its board variants, R300 included.
	{Kunlunxin, "kunlunxin-r200", []string{"r200", "r2008f", "r2008fs", "rg800", "r300"}, nil},
	{Kunlunxin, "kunlunxin-p800", []string{"p800"}, nil},

	{Hygon, "hygon-dcu-z100", []string{"z100", "z100l"}, nil},
	{Hygon, "hygon-dcu-k100", []string{"k100", "k100ai"}, nil},
	{Hygon, "hygon-dcu-bw1000", []string{"bw1000", "bw200"}, nil},

	{Nvidia, "nvidia-h20", []string{"h20", "h2096gb", "h20hbm3"}, nil},
	{Nvidia, "nvidia-h800", []string{"h800", "h80080gbhbm3"}, nil},
	{Nvidia, "nvidia-a800", []string{"a800sxm480gb"}, nil},
	{Nvidia, "nvidia-h100-sxm", []string{"h10080gbhbm3", "h100sxm580gb"}, nil},
	{Nvidia, "nvidia-h200-sxm", []string{"h200", "h200141gbhbm3e"}, nil},
	{Nvidia, "nvidia-a100-sxm", []string{"a100sxm480gb"}, nil},
	{Nvidia, "nvidia-l20", []string{"l20"}, nil},

	// rocm-smi's concise table names a card only by its PCI device id:
	// 0x74a1 is MI300X, 0x74a2 the China-market MI308X, which the catalog
	// records under the MI300X entry.
	{AMD, "amd-mi300x", []string{"mi300x", "mi308x", "0x74a1", "0x74a2"}, nil},
}

// vendorPrefixes are stripped from normalised names before matching.
var vendorPrefixes = map[string][]string{
	Huawei:      {"huaweiascend", "ascend"},
	Cambricon:   {"cambricon"},
	Biren:       {"biren"},
	MooreThread: {"moorethreads"},
	Iluvatar:    {"iluvatar"},
	MetaX:       {"metax", "mx"},
	Enflame:     {"enflame"},
	THead:       {"thead", "alibaba"},
	Kunlunxin:   {"kunlunxin", "kunlun"},
	Hygon:       {"hygondcu", "hygon", "dcu"},
	Nvidia:      {"nvidia"},
	AMD:         {"amdinstinct", "amd", "instinct"},
}

// normName lower-cases a name and keeps only its letters and digits.
func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ModelID maps a tool's device name to a catalog model id, "" when no rule
// matches.
func ModelID(vendor, name string) string {
	n := normName(name)
	if n == "" {
		return ""
	}
	for _, p := range vendorPrefixes[vendor] {
		if strings.HasPrefix(n, p) && len(n) > len(p) {
			n = n[len(p):]
			break
		}
	}
	for _, r := range nameTable {
		if r.vendor != vendor {
			continue
		}
		for _, x := range r.names {
			if n == x {
				return r.modelID
			}
		}
		for _, x := range r.prefix {
			if strings.HasPrefix(n, x) {
				return r.modelID
			}
		}
	}
	return ""
}

// vendorOf returns the vendor key of a catalog id ("metax-c500" → MetaX).
func vendorOf(modelID string) string {
	v, _, _ := strings.Cut(modelID, "-")
	return v
}
