package core

import (
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
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

// TestReservedDecisionText checks the appended texts of a decision behind a
// reservation against their fmt forms, in all three cases.
func TestReservedDecisionText(t *testing.T) {
	g := &entry{job: model.Job{ID: "gang-7"}}
	r := reservation{job: g, nodes: map[model.NodeID]bool{"a-n1": true, "a-n2": true}, first: "a-n1"}
	head := fmt.Sprintf("gang %s holds the %d nodes it is planned to start on (first %s), which this job would need: nothing else fits now", g.job.ID, 2, "a-n1")
	cases := []struct {
		start, runtime int64
		want           string
	}{
		{-1, 50, head + "; the gang's start is unknown (jobs on those nodes declared no runtime), so nothing backfills there"},
		{1000, 0, head + fmt.Sprintf("; the gang starts at t=%d: declare a runtime that ends by then to backfill", 1000)},
		{1000, 2000, head + fmt.Sprintf("; the gang starts at t=%d: this job's runtime of %d s would end after it", 1000, 2000)},
	}
	for _, tc := range cases {
		e := &entry{job: model.Job{ID: "j", RuntimeSec: tc.runtime}}
		r.start = tc.start
		d := reservedDecision(e, &r)
		x := d.Explanation
		if d.Job != "j" || x.Summary != "behind a reservation: "+tc.want || len(x.Unblock) != 1 ||
			x.Unblock[0] != (sched.Unblock{Reason: ReasonReserved, Text: tc.want}) || x.Placed || len(x.Rejections) != 0 {
			t.Errorf("start %d runtime %d: %+v, want text %q", tc.start, tc.runtime, d, tc.want)
		}
	}
}
