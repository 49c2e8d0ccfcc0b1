package device

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fixed is a Discoverer that returns a set report or error.
type fixed struct {
	rep Report
	err error
}

func (f fixed) Discover(context.Context) (Report, error) { return f.rep, f.err }

func nvidiaRunner(t *testing.T) fakeRunner {
	return fakeRunner{
		"nvidia-smi --query-gpu=" + NvidiaQuery + " --format=csv,noheader,nounits": string(sample(t, "nvidia-smi-query.csv")),
		"nvidia-smi topo -m": string(sample(t, "nvidia-smi-topo.txt")),
		"mx-smi":             string(sample(t, "mx-smi.txt")),
		"mx-smi topo -m":     string(sample(t, "mx-smi-topo.txt")),
	}
}

func TestWithNativeFallsBackWithoutLibrary(t *testing.T) {
	run := nvidiaRunner(t)
	w := WithNative{
		Native:   fixed{err: errors.Join(errors.New("nvml: init"), ErrNoLibrary)},
		Replaces: "nvidia-smi",
		Tools:    ToolDiscoverer{Runner: run, LookPath: fakePath("nvidia-smi", "mx-smi")},
	}
	rep, err := w.Discover(context.Background())
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	tools := map[string]int{}
	for _, d := range rep.Devices {
		tools[d.Tool]++
	}
	if tools["nvidia-smi"] == 0 || tools["mx-smi"] != 8 {
		t.Errorf("devices by tool %v, want nvidia-smi's and mx-smi's", tools)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "using nvidia-smi instead") {
		t.Errorf("warnings %q do not say the tool replaced the library", rep.Warnings)
	}
}

func TestWithNativeReplacesTool(t *testing.T) {
	run := nvidiaRunner(t)
	delete(run, "nvidia-smi --query-gpu="+NvidiaQuery+" --format=csv,noheader,nounits") // must not run
	nat := Report{Devices: []Device{
		{Index: 0, Vendor: Nvidia, Tool: "nvml", Name: "NVIDIA H20", ModelID: ModelID(Nvidia, "NVIDIA H20")},
		{Index: 1, Vendor: Nvidia, Tool: "nvml", Name: "NVIDIA H20", ModelID: ModelID(Nvidia, "NVIDIA H20")},
	}, Topology: Topology{Domains: []Domain{{Vendor: Nvidia, Fabric: "NVLink", Indices: []int{0, 1}}}}}
	w := WithNative{Native: fixed{rep: nat}, Replaces: "nvidia-smi",
		Tools: ToolDiscoverer{Runner: run, LookPath: fakePath("nvidia-smi", "mx-smi")}}
	rep, err := w.Discover(context.Background())
	if err != nil {
		t.Fatalf("discover: %v (nvidia-smi must not run when the library loads)", err)
	}
	tools := map[string]int{}
	for _, d := range rep.Devices {
		tools[d.Tool]++
	}
	if len(rep.Devices) != 10 || tools["mx-smi"] != 8 || tools["nvml"] != 2 {
		t.Fatalf("devices %+v, want 8 from mx-smi and 2 from nvml", rep.Devices)
	}
	var doms []string
	for _, d := range rep.Topology.Domains {
		doms = append(doms, d.String())
	}
	if got := strings.Join(doms, " "); !strings.Contains(got, "nvidia:NVLink[0 1]") || !strings.Contains(got, "metax:MetaXLink[0 1 2 3]") {
		t.Errorf("domains %s, want the NVLink pair and MetaX's", got)
	}

	// A library that loads but fails is an error, and the tools still report.
	w.Native = fixed{err: errors.New("nvml: device count: ERROR_UNKNOWN")}
	run["nvidia-smi --query-gpu="+NvidiaQuery+" --format=csv,noheader,nounits"] = string(sample(t, "nvidia-smi-query.csv"))
	rep, err = w.Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ERROR_UNKNOWN") || len(rep.Devices) <= 8 {
		t.Errorf("failing library: %v with %d devices, want the error and the tools' devices", err, len(rep.Devices))
	}
}
