package core

import (
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestShapeKeyIsTheFormattedFields checks the shape key against the
// fmt.Sprintf form it is appended to match, on jobs with empty, single and
// several-element lists and strings that need quoting.
func TestShapeKeyIsTheFormattedFields(t *testing.T) {
	jobs := []model.Job{
		{},
		{Tenant: "gov", Kind: model.Gang, Priority: -3, Workers: 64, CardsPerWorker: 8, Models: []string{"huawei-ascend-910b4"},
			Topology: model.TopoDomain, TopologyRequired: true, CrossSite: true, Mixed: true, Classification: "secret"},
		{Tenant: "t|x", Kind: model.Inference, Workers: 3, ShareMilli: 250, MemMiB: 8192, Models: []string{"a", "b \"c\""},
			ComputeGFLOPS: 1 << 40, EfficiencyMilli: 800, Stacks: []string{"CANN"}, PyTorch: []string{"torch_npu", "é\n"},
			MinMemMiB: 65536, Regions: []string{"North"}, Sites: []model.SiteID{"s1", "s2"}},
	}
	for i := range jobs {
		j := &jobs[i]
		want := fmt.Sprintf("%s|%s|%d|%d|%d|%d|%d|%q|%d|%d|%q|%q|%d|%q|%q|%s|%t|%t|%t|%s",
			j.Tenant, j.Kind, j.Priority, j.Workers, j.CardsPerWorker, j.ShareMilli, j.MemMiB, j.Models,
			j.ComputeGFLOPS, j.EfficiencyMilli, j.Stacks, j.PyTorch, j.MinMemMiB, j.Regions, j.Sites,
			j.Topology, j.TopologyRequired, j.CrossSite, j.Mixed, j.Classification)
		if got := (&entry{job: *j}).shape(); got != want {
			t.Errorf("job %d: shape\n%s\nwant\n%s", i, got, want)
		}
	}
}
