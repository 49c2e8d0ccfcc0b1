package device

import (
	"strconv"
	"strings"
)

// Variables every fractional worker gets, whatever its vendor: its share of
// the card in thousandths and its device memory in MiB, for a framework to
// apply itself (for example torch.cuda.set_per_process_memory_fraction).
const (
	EnvShareMilli  = "SUANLI_SHARE_MILLI"
	EnvMemLimitMiB = "SUANLI_MEM_LIMIT_MIB"
)

// Limit is one vendor mechanism that caps a fractional worker, as the
// variables the worker gets, and whether the cap holds by itself.
type Limit struct {
	Vendor    string
	Mechanism string
	Env       []string // KEY=VALUE
	// Enforced says what makes the cap hold; "" means it is bookkeeping:
	// only the scheduler's arithmetic and the agent's overuse report stand
	// behind the share.
	Enforced string
}

// ShareLimits returns the variables that cap a fractional worker (share of
// one card in thousandths, device memory in MiB) on a vendor's stack, and
// what enforces each mechanism. Whole cards (share 0 or 1000) get none.
// The mechanisms, per the vendors' documentation:
//
//   - Nvidia, HAMi-core (libvgpu.so, LD_PRELOAD): CUDA_DEVICE_MEMORY_LIMIT
//     ("16384m") and CUDA_DEVICE_SM_LIMIT (percent of the SMs), read by
//     the hook library between the CUDA runtime and driver.
//   - Nvidia, MPS (docs.nvidia.com/deploy/mps): CUDA_MPS_PINNED_DEVICE_MEM_LIMIT
//     ("0=16384M", the device as the client enumerates it) and
//     CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, obeyed by clients of a running
//     MPS control daemon.
//   - Huawei Ascend: no variable caps a bare process. vNPUs are partitions
//     made with npu-smi or by Ascend Docker Runtime (ASCEND_VISIBLE_DEVICES
//     with ASCEND_VNPU_SPECS, hiascend.com cpaug_0016) from fixed
//     templates per chip; the agent passes ASCEND_VISIBLE_DEVICES (the
//     physical card) so that a worker command launching a container can
//     forward it, and the share stays bookkeeping.
//   - Others (Cambricon, Hygon, MetaX, Iluvatar, Moore Threads, Enflame,
//     Biren, Kunlunxin, T-Head, AMD): no documented per-process variable
//     for memory or compute; bookkeeping.
func ShareLimits(vendor string, card int, shareMilli int, memMiB int64) []Limit {
	if shareMilli <= 0 || shareMilli >= 1000 {
		return nil
	}
	pct := max(shareMilli/10, 1)
	mem := strconv.FormatInt(memMiB, 10)
	switch strings.ToLower(vendor) {
	case Nvidia:
		hami := Limit{Vendor: Nvidia, Mechanism: "HAMi-core", Enforced: "when libvgpu.so is preloaded (agent --share-preload)",
			Env: []string{"CUDA_DEVICE_SM_LIMIT=" + strconv.Itoa(pct)}}
		mps := Limit{Vendor: Nvidia, Mechanism: "MPS", Enforced: "when the node runs nvidia-cuda-mps-control -d",
			Env: []string{"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=" + strconv.Itoa(pct)}}
		if memMiB > 0 {
			hami.Env = append(hami.Env, "CUDA_DEVICE_MEMORY_LIMIT="+mem+"m")
			mps.Env = append(mps.Env, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0="+mem+"M")
		}
		return []Limit{hami, mps}
	case Huawei:
		return []Limit{{Vendor: Huawei, Mechanism: "Ascend Docker Runtime device", Env: []string{"ASCEND_VISIBLE_DEVICES=" + strconv.Itoa(card)}}}
	}
	return nil
}

// ShareEnv is every variable of ShareLimits plus Suanli's own two, for one
// fractional worker; nil for whole cards.
func ShareEnv(vendor string, card int, shareMilli int, memMiB int64) []string {
	if shareMilli <= 0 || shareMilli >= 1000 {
		return nil
	}
	env := []string{EnvShareMilli + "=" + strconv.Itoa(shareMilli)}
	if memMiB > 0 {
		env = append(env, EnvMemLimitMiB+"="+strconv.FormatInt(memMiB, 10))
	}
	for _, l := range ShareLimits(vendor, card, shareMilli, memMiB) {
		env = append(env, l.Env...)
	}
	return env
}
