package device

import (
	"slices"
	"testing"
)

func TestShareEnv(t *testing.T) {
	got := ShareEnv("nvidia", 3, 250, 20480)
	for _, want := range []string{"SUANLI_SHARE_MILLI=250", "SUANLI_MEM_LIMIT_MIB=20480",
		"CUDA_DEVICE_MEMORY_LIMIT=20480m", "CUDA_DEVICE_SM_LIMIT=25",
		"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=20480M", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25"} {
		if !slices.Contains(got, want) {
			t.Errorf("nvidia quarter share: %v lacks %s", got, want)
		}
	}
	if got := ShareEnv("huawei", 5, 500, 32768); !slices.Contains(got, "ASCEND_VISIBLE_DEVICES=5") || !slices.Contains(got, "SUANLI_SHARE_MILLI=500") {
		t.Errorf("ascend half share: %v", got)
	}
	if got := ShareEnv("cambricon", 0, 500, 8192); !slices.Equal(got, []string{"SUANLI_SHARE_MILLI=500", "SUANLI_MEM_LIMIT_MIB=8192"}) {
		t.Errorf("cambricon half share: %v, want only Suanli's own (bookkeeping)", got)
	}
	if got := ShareEnv("nvidia", 0, 5, 100); !slices.Contains(got, "CUDA_DEVICE_SM_LIMIT=1") {
		t.Errorf("a tiny share must not become SM limit 0 (no limit): %v", got)
	}
	for _, share := range []int{0, 1000} {
		if got := ShareEnv("nvidia", 0, share, 80000); got != nil {
			t.Errorf("share %d: %v, want none for a whole card", share, got)
		}
	}
	for _, l := range ShareLimits("nvidia", 0, 500, 1) {
		if l.Enforced == "" {
			t.Errorf("%s %s says bookkeeping; the documented mechanisms enforce", l.Vendor, l.Mechanism)
		}
	}
	if l := ShareLimits("huawei", 0, 500, 1); len(l) != 1 || l[0].Enforced != "" {
		t.Errorf("ascend limits %+v: the share is bookkeeping for a bare process", l)
	}
}
