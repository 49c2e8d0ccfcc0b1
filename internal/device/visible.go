package device

import (
	"slices"
	"strconv"
	"strings"
)

// visibleEnv is the variable each vendor's runtime reads to limit a process
// to some devices. Where the name was checked, the comment says against
// what; "observed" means seen in public launch scripts and framework
// platform code, not in a vendor manual.
var visibleEnv = map[string]string{
	// CANN environment variable reference (hiascend.com, envref_07_0028):
	// logical device ids, ascending.
	Huawei: "ASCEND_RT_VISIBLE_DEVICES",
	// Observed: Cambricon launch scripts and torch_mlu ports.
	Cambricon: "MLU_VISIBLE_DEVICES",
	// Observed: Biren deployment scripts set BIREN_VISIBLE_DEVICES (some
	// copy it to SUPA_VISIBLE_DEVICES); BR_VISIBLE_DEVICES appears only in
	// secondary write-ups. Unverified against a Biren manual.
	Biren: "BIREN_VISIBLE_DEVICES",
	// Observed: torch_musa users and the MUSA runtime code that reads it.
	MooreThread: "MUSA_VISIBLE_DEVICES",
	// CoreX is CUDA-compatible and honours CUDA_VISIBLE_DEVICES (observed in
	// multi-vendor launchers).
	Iluvatar: "CUDA_VISIBLE_DEVICES",
	// Observed: MetaX's vLLM plugin copies CUDA_VISIBLE_DEVICES into
	// MACA_VISIBLE_DEVICES because the MACA runtime reads the latter.
	MetaX: "MACA_VISIBLE_DEVICES",
	// Observed: Enflame's vLLM platform sets device_control_env_var to
	// TOPS_VISIBLE_DEVICES. Unverified against an Enflame manual.
	Enflame: "TOPS_VISIBLE_DEVICES",
	// Observed: multi-vendor training docs run T-Head PPU with
	// CUDA_VISIBLE_DEVICES. Unverified against a T-Head manual.
	THead: "CUDA_VISIBLE_DEVICES",
	// Observed: PaddlePaddle/FastDeploy Kunlunxin launch scripts.
	Kunlunxin: "XPU_VISIBLE_DEVICES",
	// DTK is HIP-based; HIP_VISIBLE_DEVICES as for ROCm (observed in
	// multi-vendor launchers for hy-smi hosts).
	Hygon: "HIP_VISIBLE_DEVICES",
	// CUDA documentation.
	Nvidia: "CUDA_VISIBLE_DEVICES",
	// ROCm documentation (HIP_VISIBLE_DEVICES; ROCR_VISIBLE_DEVICES also
	// exists at the lower ROCr layer).
	AMD: "HIP_VISIBLE_DEVICES",
}

// VisibleDevicesEnv returns the environment variable that limits a workload
// to the given device indices on a vendor's runtime, and its value
// ("0,1,2"), indices in ascending order without duplicates (the Ascend
// runtime requires ascending ids). An unknown vendor gets
// CUDA_VISIBLE_DEVICES, the most widely honoured name. With no indices the
// value is empty, which hides every device.
func VisibleDevicesEnv(vendor string, indices []int) (name, value string) {
	name, ok := visibleEnv[strings.ToLower(vendor)]
	if !ok {
		name = "CUDA_VISIBLE_DEVICES"
	}
	sorted := append([]int(nil), indices...)
	slices.Sort(sorted)
	parts := make([]string, 0, len(sorted))
	for i, x := range sorted {
		if x < 0 || (i > 0 && x == sorted[i-1]) {
			continue
		}
		parts = append(parts, strconv.Itoa(x))
	}
	return name, strings.Join(parts, ",")
}
