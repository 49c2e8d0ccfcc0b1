package frag_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/trace"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

// PodLists are the openb pod lists the shared data folder holds.
var podLists = []string{"default", "cpu050", "cpu100", "gpushare40", "gpushare60", "gpushare80", "gpushare100",
	"gpuspec10", "gpuspec33", "multigpu20", "multigpu40", "multigpu50"}

func loadOpenb(t testing.TB, list string) ([]frag.NodeSpec, []frag.TaskSpec) {
	dir := tracetest.OpenbDir(t)
	nodes, _, err := trace.LoadNodes(filepath.Join(dir, "openb_node_list_gpu_node.csv"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := trace.LoadPods(filepath.Join(dir, "openb_pod_list_"+list+".csv"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return toSpecs(nodes, pods)
}

func toSpecs(nodes []trace.Node, pods []trace.Pod) ([]frag.NodeSpec, []frag.TaskSpec) {
	ns := make([]frag.NodeSpec, len(nodes))
	for i, n := range nodes {
		ns[i] = frag.NodeSpec{Name: n.Name, CPUMilli: n.CPUMilli, MemMiB: n.MemMiB, GPUs: n.GPUs, Model: n.GPUModel}
	}
	ps := make([]frag.TaskSpec, len(pods))
	for i, p := range pods {
		ps[i] = frag.TaskSpec{CPUMilli: p.CPUMilli, MemMiB: p.MemMiB, NumGPU: p.NumGPU, GPUMilli: p.GPUMilli, Models: p.GPUSpec}
	}
	return ns, ps
}

func seeds(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(42 + i)
	}
	return s
}

// at130 is the summary's last point (130% arrived workload).
func at130(s frag.Summary) frag.PointStats { return s.Points[len(s.Points)-1] }

// TestSuanliBeatsFGDOnDefault is the bar: on the default openb trace our policy
// leaves fewer GPUs unallocated than FGD at 130% arrived workload, on the mean
// and on each of seeds 1, 2, 3 (seeds 1..5 all hold; 10 seeds: see README).
func TestSuanliBeatsFGDOnDefault(t *testing.T) {
	nodes, pods := loadOpenb(t, "default")
	sum, err := frag.Compare(nodes, pods, []string{frag.FGD, frag.Suanli}, []uint64{1, 2, 3}, frag.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f, s := at130(sum[0]).UnallocatedGPUs, at130(sum[1]).UnallocatedGPUs
	t.Logf("unallocated GPUs at 130%%: fgd %.1f ± %.1f, suanli %.1f ± %.1f", f.Mean, f.Std, s.Mean, s.Std)
	if s.Mean >= f.Mean {
		t.Fatalf("suanli leaves %.1f GPUs unallocated, FGD %.1f: suanli must leave fewer", s.Mean, f.Mean)
	}
	for i, c := range sum[1].Curves {
		last := len(c.Points) - 1
		if c.Points[last].UnallocatedGPUs >= sum[0].Curves[i].Points[last].UnallocatedGPUs {
			t.Errorf("seed %d: suanli %.1f vs fgd %.1f unallocated: suanli must leave fewer", c.Seed,
				c.Points[last].UnallocatedGPUs, sum[0].Curves[i].Points[last].UnallocatedGPUs)
		}
	}
}

// TestOpenbTable prints the README table: every policy on every pod list,
// unallocated GPUs at 130% (mean ± std over seeds). Run with
//
//	FRAG_TABLE=10 go test -run TestOpenbTable -timeout 60m ./internal/sched/frag/
//
// (the value is the number of seeds; FRAG_LISTS=default,cpu050 limits the lists).
func TestOpenbTable(t *testing.T) {
	nSeeds := 0
	fmt.Sscan(os.Getenv("FRAG_TABLE"), &nSeeds)
	if nSeeds <= 0 {
		t.Skip("set FRAG_TABLE=<seeds> to print the comparison table")
	}
	lists := podLists
	if l := os.Getenv("FRAG_LISTS"); l != "" {
		lists = strings.Split(l, ",")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| pod list |")
	for _, p := range frag.Names() {
		fmt.Fprintf(&b, " %s |", p)
	}
	fmt.Fprintf(&b, " suanli vs fgd | suanli vs bestfit |\n|---|")
	for range frag.Names() {
		fmt.Fprintf(&b, "---:|")
	}
	fmt.Fprintf(&b, "---:|---:|\n")
	rows := make([]string, len(lists))
	var g errgroup.Group
	g.SetLimit(2) // lists in parallel; each list's runs in one Compare
	for i, list := range lists {
		nodes, pods := loadOpenb(t, list)
		g.Go(func() error {
			sum, err := frag.Compare(nodes, pods, frag.Names(), seeds(nSeeds), frag.Config{})
			if err != nil {
				return fmt.Errorf("pod list %s: %w", list, err)
			}
			var r strings.Builder
			fmt.Fprintf(&r, "| %s |", list)
			by := map[string]frag.Stat{}
			for _, s := range sum {
				u := at130(s).UnallocatedGPUs
				by[s.Policy] = u
				fmt.Fprintf(&r, " %.1f ± %.1f |", u.Mean, u.Std)
			}
			pct := func(base string) float64 { return 100 * (by[frag.Suanli].Mean - by[base].Mean) / by[base].Mean }
			fmt.Fprintf(&r, " %+.1f%% | %+.1f%% |\n", pct(frag.FGD), pct(frag.BestFit))
			rows[i] = r.String()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		b.WriteString(r)
	}
	fmt.Print(b.String())
}

// TestBaselinesNearPaper checks the reproduction of the paper's table on the
// default trace with the authors' seeds 42..51 (about 12 s of CPU): each
// policy's mean unallocated GPUs at 130% within 3% of the published mean.
// Every policy lands within 2% (README), so a weakened baseline fails.
func TestBaselinesNearPaper(t *testing.T) {
	nodes, pods := loadOpenb(t, "default")
	paper := map[string]float64{frag.Random: 778, frag.DotProd: 568, frag.GpuClustering: 505,
		frag.GpuPacking: 497, frag.BestFit: 430, frag.FGD: 286}
	names := []string{frag.Random, frag.DotProd, frag.GpuClustering, frag.GpuPacking, frag.BestFit, frag.FGD}
	sum, err := frag.Compare(nodes, pods, names, seeds(10), frag.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum {
		u, want := at130(s).UnallocatedGPUs, paper[s.Policy]
		t.Logf("%-14s %6.1f ± %4.1f unallocated at 130%% (paper %4.0f, %+.1f%%)", s.Policy, u.Mean, u.Std, want, 100*(u.Mean-want)/want)
		if math.Abs(u.Mean-want) > 0.03*want {
			t.Errorf("%s: %.1f unallocated GPUs at 130%%, paper %.0f: more than 3%% off, the protocol or the policy is not reproduced", s.Policy, u.Mean, want)
		}
	}
}

// claimSeeds is the seeds the claims are checked on: the FGD authors'
// 42..51 with SUANLI_FRAG_SEEDS=10 (or any count), 42..44 by default to
// keep the suite's CPU time down (about 15 s of CPU for every list).
func claimSeeds(t *testing.T) []uint64 {
	n := 3
	if v := os.Getenv("SUANLI_FRAG_SEEDS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > 100 {
			t.Fatalf("SUANLI_FRAG_SEEDS=%q: want a seed count from 1 to 100", v)
		}
	}
	return seeds(n)
}

// TestSuanliBelowFGDOnEveryList is the claim: on every shared openb pod
// list our policy leaves fewer GPUs unallocated than FGD at 130% arrived
// workload, on the mean over the seeds (SUANLI_FRAG_SEEDS=10 for the
// authors' 42..51; the README's table is that run).
func TestSuanliBelowFGDOnEveryList(t *testing.T) {
	sd := claimSeeds(t)
	type result struct{ fgd, suanli frag.Stat }
	res := make([]result, len(podLists))
	var g errgroup.Group
	g.SetLimit(2)
	for i, list := range podLists {
		nodes, pods := loadOpenb(t, list)
		g.Go(func() error {
			sum, err := frag.Compare(nodes, pods, []string{frag.FGD, frag.Suanli}, sd, frag.Config{})
			if err != nil {
				return fmt.Errorf("pod list %s: %w", list, err)
			}
			res[i] = result{at130(sum[0]).UnallocatedGPUs, at130(sum[1]).UnallocatedGPUs}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, list := range podLists {
		r := res[i]
		t.Logf("%-12s fgd %6.1f ± %4.1f  suanli %6.1f ± %4.1f  (%d seeds)", list, r.fgd.Mean, r.fgd.Std, r.suanli.Mean, r.suanli.Std, len(sd))
		if r.suanli.Mean >= r.fgd.Mean {
			t.Errorf("%s: suanli leaves %.1f GPUs unallocated, FGD %.1f: suanli must leave fewer", list, r.suanli.Mean, r.fgd.Mean)
		}
	}
}
