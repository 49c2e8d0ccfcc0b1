package sched

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// TestCheckNames: models, sites, regions and stacks the network lacks are
// refused with the field and, where one is close, a suggestion; names it
// has (in any spelling the scheduler accepts) pass.
func TestCheckNames(t *testing.T) {
	net, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		job  model.Job
		want []string // substrings of the error, in order; none: no error
	}{
		{"known everything", model.Job{Models: []string{"Ascend 910B3", "huawei-ascend-910c", "mlu590"}, Sites: []model.SiteID{"cm-hohhot"}, Regions: []string{"North"}, Stacks: []string{"CANN", "NeuWare"}}, nil},
		{"unknown model", model.Job{Models: []string{"Ascend 910X"}}, []string{`models[0]: unknown model "Ascend 910X"; did you mean "huawei-ascend-910`}},
		{"model typo", model.Job{Models: []string{"nvidia-h801"}}, []string{`did you mean "nvidia-h800"`}},
		{"model not in the network", model.Job{Models: []string{"nvidia-h100-sxm"}}, []string{`models: no card of this network is "nvidia-h100-sxm"; it has`}},
		{"one known model is enough", model.Job{Models: []string{"nvidia-h100-sxm", "nvidia-h800"}}, nil},
		{"path as site", model.Job{Sites: []model.SiteID{"../../etc"}}, []string{`sites[0]: "../../etc" is not a site id`}},
		{"site typo", model.Job{Sites: []model.SiteID{"cm-hohot"}}, []string{`sites[0]: unknown site "cm-hohot"; did you mean "cm-hohhot"?`}},
		{"region case", model.Job{Regions: []string{"south"}}, []string{`regions[0]: unknown region "south"; did you mean "South"?`}},
		{"stack typo", model.Job{Stacks: []string{"CUDAA"}}, []string{`stacks[0]: no model of this network runs the stack "CUDAA"; did you mean "CUDA"`}},
		{"users and data known", model.Job{Users: "Guangdong", Data: &model.DataLocation{Site: "cm-beijing", SizeGB: 10}}, nil},
		{"users at a site", model.Job{Users: "cu-xining"}, nil},
		{"users province typo", model.Job{Users: "Guangdon"}, []string{`users: "Guangdon" is neither a site of this network nor a province; did you mean "Guangdong"?`}},
		{"users province case", model.Job{Users: "guangdong"}, []string{`did you mean "Guangdong"?`}},
		{"data site typo", model.Job{Data: &model.DataLocation{Site: "cm-bejing"}}, []string{`data.site: unknown site "cm-bejing"; did you mean "cm-beijing"?`}},
		{"every problem", model.Job{Users: "Atlantis", Data: &model.DataLocation{Site: "nowhere"}, Models: []string{"zzz"}, Sites: []model.SiteID{"nowhere"}, Regions: []string{"Mars"}}, []string{"models[0]", "sites[0]", "users:", "data.site:", "regions[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNames(net, &tt.job)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckNames: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q", msg, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

// CheckNames is NewNames(net).Check(j).
func CheckNames(net *network.Network, j *model.Job) error { return NewNames(net).Check(j) }
