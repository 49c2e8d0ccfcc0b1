package device

import (
	"errors"
	"strings"
	"testing"
)

// checkParsed is what every parser promises on any input: either devices
// or a *ParseError naming the tool, never a panic, and sane numbers.
func checkParsed(t *testing.T, tool string, devs []Device, err error) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Tool != tool || !strings.HasPrefix(err.Error(), tool+" output") {
			t.Fatalf("error %q is not a %s ParseError", err, tool)
		}
		return
	}
	for _, d := range devs {
		if d.Tool != tool || d.Vendor == "" || d.Index < -1 {
			t.Fatalf("bad device %+v", d)
		}
		if d.MemTotalMiB < 0 || d.MemUsedMiB < 0 {
			t.Fatalf("negative memory in %+v", d)
		}
		if d.ModelID != "" && vendorOf(d.ModelID) != d.Vendor {
			t.Fatalf("model %s for a %s device", d.ModelID, d.Vendor)
		}
	}
}

func fuzzParser(f *testing.F, tool string, parse func([]byte) ([]Device, error), files ...string) {
	for _, name := range files {
		f.Add(sample(f, name))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		devs, err := parse(in)
		checkParsed(t, tool, devs, err)
	})
}

func FuzzNPUSMI(f *testing.F) {
	fuzzParser(f, "npu-smi", ParseNPUSMI, "npu-smi-info.txt", "bad/npu-smi-critical.txt", "bad/npu-smi-truncated.txt")
}
func FuzzCNMON(f *testing.F) {
	fuzzParser(f, "cnmon", ParseCNMON, "cnmon.txt", "bad/cnmon-truncated.txt")
}
func FuzzMthreadsGMI(f *testing.F) {
	fuzzParser(f, "mthreads-gmi", ParseMthreadsGMI, "mthreads-gmi.txt")
}
func FuzzIXSMI(f *testing.F) { fuzzParser(f, "ixsmi", ParseIXSMI, "ixsmi.txt") }
func FuzzMXSMI(f *testing.F) {
	fuzzParser(f, "mx-smi", ParseMXSMI, "mx-smi.txt", "bad/mx-smi-state.txt")
}
func FuzzXPUSMI(f *testing.F) { fuzzParser(f, "xpu_smi", ParseXPUSMI, "xpu-smi.txt") }
func FuzzROCmSMI(f *testing.F) {
	fuzzParser(f, "rocm-smi", ParseROCmSMI, "rocm-smi-amd.txt", "rocm-smi-hygon-dcu.txt")
}
func FuzzHYSMI(f *testing.F) { fuzzParser(f, "hy-smi", ParseHYSMI, "rocm-smi-hygon-dcu.txt") }
func FuzzNvidiaCSV(f *testing.F) {
	fuzzParser(f, "nvidia-smi", ParseNvidiaCSV, "nvidia-smi-query.csv", "bad/nvidia-smi-lost.csv")
}

func fuzzTopo(f *testing.F, tool string, parse func([]byte) (Topology, error), files ...string) {
	for _, name := range files {
		f.Add(sample(f, name))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		top, err := parse(in)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Tool != tool {
				t.Fatalf("error %q is not a %s ParseError", err, tool)
			}
			return
		}
		seen := map[int]bool{}
		for _, d := range top.Domains {
			if len(d.Indices) == 0 || (len(d.Indices) > 1) != (d.Fabric != "") {
				t.Fatalf("bad domain %+v", d)
			}
			for _, i := range d.Indices {
				if seen[i] {
					t.Fatalf("device %d in two domains: %+v", i, top)
				}
				seen[i] = true
			}
		}
	})
}

func FuzzNPUTopo(f *testing.F) {
	fuzzTopo(f, "npu-smi", ParseNPUTopo, "npu-smi-info-topo.txt")
}
func FuzzMXSMITopo(f *testing.F) {
	fuzzTopo(f, "mx-smi", ParseMXSMITopo, "mx-smi-topo.txt", "bad/mx-smi-topo-truncated.txt")
}
func FuzzNvidiaTopo(f *testing.F) {
	fuzzTopo(f, "nvidia-smi", ParseNvidiaTopo, "nvidia-smi-topo.txt")
}

func FuzzParseSimulate(f *testing.F) {
	for _, s := range []string{"Ascend910B3x8", "metax-c500x8", "MLU370-X8x4", "x", "910B3*1024"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		rep, err := ParseSimulate(spec)
		if err != nil {
			return
		}
		if len(rep.Devices) < 1 || len(rep.Devices) > MaxSimulated {
			t.Fatalf("%q: %d devices", spec, len(rep.Devices))
		}
	})
}
