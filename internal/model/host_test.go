package model

import (
	"strings"
	"testing"
)

func TestHostDefaults(t *testing.T) {
	for _, tc := range []struct {
		job      Job
		cpu, mem int64
	}{
		{Job{Kind: Gang, Workers: 4, CardsPerWorker: 8}, 64000, 512 << 10},
		{Job{Kind: Inference, Workers: 2, CardsPerWorker: 1}, 4000, 32 << 10},
		{Job{Kind: Inference, Workers: 2, ShareMilli: 250}, 1000, 8 << 10},
		{Job{Kind: Batch, Workers: 1, ComputeGFLOPS: 1000}, 4000, 16 << 10},
		{Job{Kind: Batch, Workers: 1, ShareMilli: 1}, 4, 16},
		{Job{Kind: Gang, Workers: 1, CardsPerWorker: 8, CPUMilli: 500, HostMemMiB: 7}, 500, 7}, // given: kept
		{Job{Kind: "bogus", Workers: 1, CardsPerWorker: 8}, 0, 0},                              // left to Validate
	} {
		j := tc.job
		j.HostDefaults()
		if j.CPUMilli != tc.cpu || j.HostMemMiB != tc.mem {
			t.Errorf("%+v: defaults %d milli-CPU %d MiB, want %d and %d", tc.job, j.CPUMilli, j.HostMemMiB, tc.cpu, tc.mem)
		}
	}
}

func TestHostRequestValidation(t *testing.T) {
	j := Job{ID: "j", Tenant: "t", Kind: Batch, Workers: 1, CardsPerWorker: 1, CPUMilli: -1, HostMemMiB: MaxHostMemMiB + 1}
	err := j.Validate()
	if err == nil || !strings.Contains(err.Error(), "cpu_milli") || !strings.Contains(err.Error(), "host_mem_mib") {
		t.Fatalf("Validate = %v, want problems with cpu_milli and host_mem_mib", err)
	}
}
