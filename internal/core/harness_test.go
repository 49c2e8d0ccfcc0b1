package core

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// args is a command's key=value arguments; a bare word is a flag.
type args map[string]string

func parseArgs(fields []string) args {
	a := args{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			v = "true"
		}
		a[k] = v
	}
	return a
}

func (a args) int(key string, def int64) (int64, error) {
	s, ok := a[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not an integer", key, s)
	}
	return n, nil
}

func (a args) flag(key string) bool { return a[key] == "true" }

// specLines builds a network from lines of the form
//
//	site=a model=huawei-ascend-910c nodes=2 [cards=8] [per-domain=1] [leased] [power=0.3]
//
// one pool per line; lines of one site are pools of that site.
func specLines(lines []string) (*network.Network, error) {
	spec := network.Spec{Name: "scenario"}
	idx := map[string]int{}
	for i, l := range lines {
		a := parseArgs(strings.Fields(l))
		site := a["site"]
		if site == "" {
			return nil, fmt.Errorf("line %d: site= missing", i+1)
		}
		nodes, err1 := a.int("nodes", 1)
		cards, err2 := a.int("cards", 0)
		per, err3 := a.int("per-domain", 1)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		k, ok := idx[site]
		if !ok {
			own := "self-built"
			if a.flag("leased") {
				own = "leased"
			}
			price, _ := strconv.ParseFloat(cmpOr(a["power"], "0.4"), 64)
			spec.Sites = append(spec.Sites, network.SiteSpec{ID: site, Region: cmpOr(a["region"], "east"),
				Operator: "test", Ownership: own, PowerPrice: price})
			k = len(spec.Sites) - 1
			idx[site] = k
		}
		spec.Sites[k].Pools = append(spec.Sites[k].Pools, network.PoolSpec{
			Model: a["model"], Nodes: int(nodes), CardsPerNode: int(cards), NodesPerDomain: int(per),
		})
	}
	return spec.Expand(catalog.Default())
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parseJob reads one job line:
//
//	id=j1 tenant=a [kind=gang] [workers=1] [cards=1] [share=250 mem=8192]
//	[models=m1,m2] [gflops=N] [prio=0] [runtime=S] [topo=node] [required]
func parseJob(line string, now int64) (model.Job, error) {
	a := parseArgs(strings.Fields(line))
	j := model.Job{ID: model.JobID(a["id"]), Tenant: model.TenantID(a["tenant"]),
		Kind: model.JobKind(cmpOr(a["kind"], "batch")), SubmitTime: now,
		Topology: model.Topology(a["topo"]), TopologyRequired: a.flag("required"),
		CrossSite: a.flag("cross-site"), Mixed: a.flag("mixed")}
	var errs [8]error
	var w, c, s, m, p, r, g int64
	w, errs[0] = a.int("workers", 1)
	c, errs[1] = a.int("cards", 0)
	s, errs[2] = a.int("share", 0)
	m, errs[3] = a.int("mem", 0)
	p, errs[4] = a.int("prio", 0)
	r, errs[5] = a.int("runtime", 0)
	g, errs[6] = a.int("gflops", 0)
	if err := firstErr(errs[:]...); err != nil {
		return j, err
	}
	if c == 0 && s == 0 && g == 0 {
		c = 1
	}
	j.Workers, j.CardsPerWorker, j.ShareMilli, j.MemMiB = int(w), int(c), int(s), m
	j.Priority, j.RuntimeSec, j.ComputeGFLOPS = int(p), r, g
	if ms := a["models"]; ms != "" {
		j.Models = strings.Split(ms, ",")
	}
	return j, nil
}

func parseTenant(a args) (model.Tenant, error) {
	t := model.Tenant{ID: model.TenantID(a["id"]), Class: model.TenantClass(cmpOr(a["class"], "private"))}
	q, err1 := a.int("quota", 0)
	w, err2 := a.int("weight", 1)
	if err := firstErr(err1, err2); err != nil {
		return t, err
	}
	t.QuotaGFLOPS, t.Weight = q, int(w)
	if caps := a["caps"]; caps != "" {
		t.VendorCaps = map[string]int{}
		for _, kv := range strings.Split(caps, ",") {
			v, n, _ := strings.Cut(kv, ":")
			k, err := strconv.Atoi(n)
			if err != nil {
				return t, fmt.Errorf("caps %q: %v", kv, err)
			}
			t.VendorCaps[v] = k
		}
	}
	return t, nil
}

// placementString renders a placement compactly: node[cards] per worker,
// a share as node[card]@share‰.
func placementString(p *model.Placement) string {
	var b strings.Builder
	for i, a := range p.Assignments {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s[%s]", a.Node, cardRange(a.Cards))
		if a.ShareMilli > 0 {
			fmt.Fprintf(&b, "@%d", a.ShareMilli)
		}
	}
	fmt.Fprintf(&b, " %s %dTF", modelsOf(p), p.GFLOPS/1000)
	return b.String()
}

func modelsOf(p *model.Placement) string {
	var ms []string
	for _, a := range p.Assignments {
		ms = append(ms, a.Model)
	}
	slices.Sort(ms)
	return strings.Join(slices.Compact(ms), "+")
}

func cardRange(cards []int) string {
	cs := slices.Clone(cards)
	slices.Sort(cs)
	var parts []string
	for i := 0; i < len(cs); {
		j := i
		for j+1 < len(cs) && cs[j+1] == cs[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", cs[i], cs[j]))
		} else {
			parts = append(parts, strconv.Itoa(cs[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// readyString renders a Ready: stops, placements, then job records.
func readyString(rd *Ready) string {
	var b strings.Builder
	for _, s := range rd.Stops {
		fmt.Fprintf(&b, "stop %s %s", s.Job, s.Reason)
		if s.By != "" {
			fmt.Fprintf(&b, " by %s", s.By)
		}
		fmt.Fprintf(&b, ": %s\n", placementString(&s.Placement))
	}
	for i := range rd.Placements {
		fmt.Fprintf(&b, "place %s: %s\n", rd.Placements[i].Job, placementString(&rd.Placements[i]))
	}
	for i := range rd.Jobs {
		fmt.Fprintf(&b, "job %s\n", statusString(&rd.Jobs[i]))
	}
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

func statusString(st *JobStatus) string {
	s := fmt.Sprintf("%s #%d %s", st.Job, st.Position, st.State)
	if st.Reason != "" {
		s += " " + st.Reason
	}
	if st.ResumeFrom > 0 {
		s += fmt.Sprintf(" resume=%d", st.ResumeFrom)
	}
	if st.ReservedFrom != 0 {
		s += fmt.Sprintf(" reserved-from=%d", st.ReservedFrom)
	}
	if len(st.Waits) > 0 {
		s += " waits=" + strings.Join(st.Waits, ",")
	}
	return s
}

func explainString(st *JobStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", statusString(st))
	if st.Placement != nil {
		fmt.Fprintf(&b, "placement: %s\n", placementString(st.Placement))
	}
	d := st.Decision
	if d == nil {
		return b.String()
	}
	x := &d.Explanation
	fmt.Fprintf(&b, "summary: %s\n", x.Summary)
	for _, r := range x.Rejections {
		fmt.Fprintf(&b, "rejected %s: %d %s (%d cards)", r.Reason, r.Count, r.Unit, r.Cards)
		if r.Detail != "" {
			fmt.Fprintf(&b, " %s", r.Detail)
		}
		b.WriteByte('\n')
	}
	if p := x.Best; p != nil {
		fmt.Fprintf(&b, "best partial: %s %s %s free=%d need=%d\n", p.Scope, p.Where, p.Model, p.FreeCards, p.NeedCards)
	}
	for _, u := range x.Unblock {
		fmt.Fprintf(&b, "unblock: %s\n", u.Text)
	}
	for _, a := range d.Alternatives {
		fmt.Fprintf(&b, "alternative: %s %s %s cards=%d score=%d\n", a.Scope, a.Where, a.Model, a.Cards, a.Score.Total)
	}
	return b.String()
}
