package sim_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

// TestProtocolAMatchesServerScheduler feeds one openb sequence (the GPU
// pods of the default list, seed 42, protocol A's order) to protocol A's
// `suanli` policy and to the server's scheduler (sched.Schedule on the
// openb cluster as a network, scoring fragmentation only, every candidate
// examined) and asserts the same node and cards for every pod. Both score
// with frag.Measure; this checks that the scheduler's search, host
// accounting and tie order add nothing of their own. CPU-only pods are
// left out: the server's scheduler places accelerator work only.
func TestProtocolAMatchesServerScheduler(t *testing.T) {
	dir := tracetest.OpenbDir(t)
	nodes, pods, _, err := sim.LoadOpenb(filepath.Join(dir, "openb_node_list_gpu_node.csv"), filepath.Join(dir, "openb_pod_list_default.csv"), false)
	if err != nil {
		t.Fatal(err)
	}
	pods = slices.DeleteFunc(pods, func(p trace.Pod) bool { return p.NumGPU == 0 })
	ns, ps := sim.FragSpecs(nodes, pods)
	fc, tasks, err := frag.Setup(ns, ps)
	if err != nil {
		t.Fatal(err)
	}
	d := frag.NewDistribution(tasks, frag.DefaultCoverage, false)
	pol, err := frag.New(frag.Suanli, d, len(fc.Nodes))
	if err != nil {
		t.Fatal(err)
	}
	seq, rng := frag.Sequence(fc, tasks, 42, 1.3)

	// The network lists the nodes in protocol A's tie order.
	order := make([]int, len(nodes))
	for i, r := range fc.Rank {
		order[r] = i
	}
	oc, err := sim.OpenbNetworkInOrder(nodes, order, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := sched.NewCluster(oc.Net)
	var mix []sched.TaskShape
	for _, tt := range d.Tasks {
		shape := sched.TaskShape{CPUMilli: tt.CPUMilli, HostMemMiB: tt.MemMiB, PopularityMilli: tt.Count}
		if tt.Share() {
			shape.ShareMilli = int(tt.GPUMilli)
		} else {
			shape.Cards = int(tt.NumGPU)
		}
		for _, name := range fc.ModelNames(tt.Models) {
			id, _ := sim.OpenbModelID(name)
			shape.Models = append(shape.Models, id)
		}
		if tt.Models&frag.UnknownModel != 0 {
			shape.Models = append(shape.Models, "no-such-model")
		}
		mix = append(mix, shape)
	}
	cfg := sched.Config{Weights: sched.Weights{Frag: 1}, Candidates: 1 << 20, Alternatives: -1, TypicalTasks: mix}

	placed := 0
	for i := range seq {
		tk := &seq[i]
		want, ok, err := frag.Place(fc, pol, tk, rng)
		if err != nil {
			t.Fatal(err)
		}
		job := model.Job{ID: model.JobID(fmt.Sprint("pod-", i)), Tenant: "openb", Kind: model.Batch, Workers: 1,
			CPUMilli: tk.CPUMilli, HostMemMiB: tk.MemMiB}
		if tk.Share() {
			job.ShareMilli = int(tk.GPUMilli)
		} else {
			job.CardsPerWorker = int(tk.NumGPU)
		}
		for _, name := range fc.ModelNames(tk.Models) {
			id, _ := sim.OpenbModelID(name)
			job.Models = append(job.Models, id)
		}
		dec := sched.Schedule(sc, &job, sched.Input{}, cfg)
		if dec.Placed() != ok {
			t.Fatalf("pod %d of %d (%+v): protocol A placed %v, the scheduler %v (%s)", i, len(seq), *tk, ok, dec.Placed(), dec.Explanation.Summary)
		}
		if !ok {
			continue
		}
		a := dec.Placement.Assignments[0]
		var cards uint32
		for _, k := range a.Cards {
			cards |= 1 << k
		}
		if got := oc.NodeID[fc.Names[want.Node]]; a.Node != got || cards != want.GPUs {
			t.Fatalf("pod %d of %d (%+v): protocol A chose %s GPUs %b, the scheduler %s cards %v", i, len(seq), *tk,
				got, want.GPUs, a.Node, a.Cards)
		}
		if err := sc.Apply(*dec.Placement); err != nil {
			t.Fatal(err)
		}
		placed++
	}
	t.Logf("%d pods, %d placed alike, %d failed alike", len(seq), placed, len(seq)-placed)
	if placed == 0 || placed == len(seq) {
		t.Fatalf("%d of %d pods placed: the sequence should fill the cluster and fail some", placed, len(seq))
	}
}

// TestSchedulerProtocolAOracle: through the scheduler with the list's own
// mix, protocol A leaves exactly the GPUs unallocated that the `suanli`
// policy leaves; an unknown mix is an error.
func TestSchedulerProtocolAOracle(t *testing.T) {
	dir := tracetest.OpenbDir(t)
	nodes, pods, _, err := sim.LoadOpenb(filepath.Join(dir, "openb_node_list_gpu_node.csv"), filepath.Join(dir, "openb_pod_list_default.csv"), false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sim.SchedulerProtocolA(nodes, pods, 43, sim.MixOracle)
	if err != nil {
		t.Fatal(err)
	}
	gpu := slices.DeleteFunc(slices.Clone(pods), func(p trace.Pod) bool { return p.NumGPU == 0 })
	ns, ps := sim.FragSpecs(nodes, gpu)
	cv, err := frag.RunProtocolA(ns, ps, frag.Suanli, 43, frag.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if want := cv.Points[len(cv.Points)-1].UnallocatedGPUs; got != want {
		t.Fatalf("through the scheduler %.3f GPUs unallocated, protocol A's suanli %.3f", got, want)
	}
	if _, err := sim.SchedulerProtocolA(nodes, pods, 43, "median"); err == nil {
		t.Fatal("an unknown mix was accepted")
	}
}

// BenchmarkMixGap measures, on the default openb list's GPU pods, the GPUs
// the scheduler leaves unallocated at 130% with the list's own task mix,
// the fixed default mix and the mix learned from the arriving pods (one
// seed per iteration, from 42):
//
//	go test ./internal/sim -run XXX -bench MixGap -benchtime 3x
func BenchmarkMixGap(b *testing.B) {
	dir := tracetest.OpenbDir(b)
	nodes, pods, _, err := sim.LoadOpenb(filepath.Join(dir, "openb_node_list_gpu_node.csv"), filepath.Join(dir, "openb_pod_list_default.csv"), false)
	if err != nil {
		b.Fatal(err)
	}
	sum := map[string]float64{}
	n := 0
	for b.Loop() {
		for _, mix := range []string{sim.MixOracle, sim.MixFixed, sim.MixLearned} {
			u, err := sim.SchedulerProtocolA(nodes, pods, uint64(42+n), mix)
			if err != nil {
				b.Fatal(err)
			}
			sum[mix] += u
		}
		n++
	}
	for mix, u := range sum {
		b.ReportMetric(u/float64(n), "unalloc-gpus-"+mix)
	}
}
