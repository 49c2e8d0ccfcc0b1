package httpapi

import (
	"errors"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
)

// TestJobFromSpecHost: host requests pass through, zero takes the kind's
// defaults, a negative one is a problem on its field.
func TestJobFromSpecHost(t *testing.T) {
	j, err := JobFromSpec(v1.JobSpec{Kind: "gang", Workers: 2, CardsPerWorker: 4, CPUMilli: 3000, HostMemMiB: 9000}, "t")
	if err != nil || j.CPUMilli != 3000 || j.HostMemMiB != 9000 {
		t.Fatalf("given host request: %+v, %v", j, err)
	}
	j, err = JobFromSpec(v1.JobSpec{Kind: "gang", Workers: 2, CardsPerWorker: 4}, "t")
	if err != nil || j.CPUMilli != 32000 || j.HostMemMiB != 256<<10 {
		t.Fatalf("defaults: %d milli-CPU %d MiB, %v; want 32000 and %d", j.CPUMilli, j.HostMemMiB, err, 256<<10)
	}
	_, err = JobFromSpec(v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, CPUMilli: -5}, "t")
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Field != "cpu_milli" {
		t.Fatalf("negative CPU: %v, want one problem on cpu_milli", err)
	}
}
