package frag

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func tinyCluster(t testing.TB) (*Cluster, []NodeSpec) {
	specs := []NodeSpec{
		{Name: "a", CPUMilli: 32000, MemMiB: 131072, GPUs: 8, Model: "G2"},
		{Name: "b", CPUMilli: 16000, MemMiB: 65536, GPUs: 2, Model: "T4"},
		{Name: "c", CPUMilli: 8000, MemMiB: 32768, GPUs: 1, Model: "P100"},
		{Name: "d", CPUMilli: 64000, MemMiB: 262144},
	}
	c, err := NewCluster(specs)
	if err != nil {
		t.Fatal(err)
	}
	return c, specs
}

func mustTask(t testing.TB, c *Cluster, s TaskSpec) Task {
	tk, err := c.Task(s)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestNodeFragByHand(t *testing.T) {
	c, _ := tinyCluster(t)
	share := mustTask(t, c, TaskSpec{CPUMilli: 1000, NumGPU: 1, GPUMilli: 500})
	whole2 := mustTask(t, c, TaskSpec{CPUMilli: 1000, NumGPU: 2, GPUMilli: 1000})
	cpu := mustTask(t, c, TaskSpec{CPUMilli: 1000})
	d := newDistribution([]TypicalTask{{share, 0.5, 0}, {whole2, 0.25, 0}, {cpu, 0.25, 0}}, false)
	n := &c.Nodes[1] // T4, two GPUs
	n.Free[0], n.Free[1] = 300, 1000
	// idle 1300. share: fits (GPU1), GPU0 (300 < 500) is fragment: 0.5·300.
	// whole2: only one whole GPU: all idle: 0.25·1300. cpu-only: all idle: 0.25·1300.
	want := 0.5*300 + 0.25*1300 + 0.25*1300
	if got := d.NodeFrag(n); math.Abs(got-want) > 1e-9 {
		t.Fatalf("frag %v, want %v", got, want)
	}
	n.CPUFree = 500 // too little CPU for every typical task: everything is fragment
	if got := d.NodeFrag(n); math.Abs(got-1300) > 1e-9 {
		t.Fatalf("frag with no CPU %v, want 1300", got)
	}
	onlyP100 := mustTask(t, c, TaskSpec{CPUMilli: 1, NumGPU: 1, GPUMilli: 100, Models: []string{"P100"}})
	d2 := newDistribution([]TypicalTask{{onlyP100, 1, 0}}, false)
	n.CPUFree = n.CPUCap
	if got := d2.NodeFrag(n); got != 1300 {
		t.Fatalf("model mismatch frag %v, want 1300", got)
	}
}

func TestTypicalTasks(t *testing.T) {
	c, _ := tinyCluster(t)
	a := mustTask(t, c, TaskSpec{CPUMilli: 1000, NumGPU: 1, GPUMilli: 500})
	b := mustTask(t, c, TaskSpec{CPUMilli: 2000, NumGPU: 1, GPUMilli: 1000})
	x := mustTask(t, c, TaskSpec{CPUMilli: 3000})
	var tasks []Task
	for range 90 {
		tasks = append(tasks, a)
	}
	for range 8 {
		tasks = append(tasks, b)
	}
	tasks = append(tasks, x, x)
	d := NewDistribution(tasks, 0.95, false)
	if len(d.Tasks) != 2 || d.Tasks[0].Task != a || math.Abs(d.Tasks[0].Weight-90.0/98) > 1e-12 {
		t.Fatalf("typical tasks %+v", d.Tasks)
	}
}

// randomWorkload makes a random cluster and pod list for property tests.
func randomWorkload(r *rand.Rand) ([]NodeSpec, []TaskSpec) {
	models := []string{"A", "B", "C"}
	var nodes []NodeSpec
	for i := range 3 + r.IntN(20) {
		g := []int{0, 1, 2, 4, 8}[r.IntN(5)]
		m := ""
		if g > 0 {
			m = models[r.IntN(3)]
		}
		nodes = append(nodes, NodeSpec{Name: string(rune('a' + i%26)), CPUMilli: int64(8000 * (1 + r.IntN(12))), MemMiB: int64(32768 * (1 + r.IntN(8))), GPUs: g, Model: m})
	}
	nodes[0].GPUs, nodes[0].Model = 2, "A"
	var pods []TaskSpec
	for range 20 + r.IntN(80) {
		p := TaskSpec{CPUMilli: int64(1000 * (1 + r.IntN(16))), MemMiB: int64(1024 * (1 + r.IntN(64)))}
		switch r.IntN(4) {
		case 0:
		case 1:
			p.NumGPU, p.GPUMilli = 1, 100*(1+r.IntN(9))
		default:
			p.NumGPU, p.GPUMilli = []int{1, 1, 2, 4, 8}[r.IntN(5)], 1000
		}
		if p.NumGPU > 0 && r.IntN(4) == 0 {
			p.Models = []string{models[r.IntN(3)]}
		}
		pods = append(pods, p)
	}
	return nodes, pods
}

// TestPlacementProperties places random workloads with every policy and
// checks that no GPU, CPU or memory is over-committed and that every
// placement matches its task.
func TestPlacementProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 40 {
		nodes, pods := randomWorkload(r)
		for _, name := range Names() {
			c, tasks, err := Setup(nodes, pods)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := New(name, NewDistribution(tasks, DefaultCoverage, false), len(c.Nodes))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(iter), 7))
			var alloc int64
			for _, tk := range Workload(tasks, c.CapacityMilli, 1.3, rng) {
				p, ok, err := Place(c, pol, &tk, rng)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !ok {
					for i := range c.Nodes {
						if c.Nodes[i].Fits(&tk) {
							t.Fatalf("%s: task %+v failed but fits node %d", name, tk, i)
						}
					}
					continue
				}
				if popcount(p.GPUs) != int(tk.NumGPU) {
					t.Fatalf("%s: placement %+v for task %+v", name, p, tk)
				}
				alloc += tk.GPUMilliTotal()
			}
			if alloc != c.AllocatedMilli {
				t.Fatalf("%s: allocated %d, tasks sum %d", name, c.AllocatedMilli, alloc)
			}
			var sum int64
			for i, n := range c.Nodes {
				if n.CPUFree < 0 || n.MemFree < 0 || n.CPUFree > n.CPUCap || n.MemFree > n.MemCap {
					t.Fatalf("%s: node %d CPU/memory out of bounds: %+v", name, i, n)
				}
				for g := range n.GPUs {
					if n.Free[g] < 0 || n.Free[g] > MilliPerGPU {
						t.Fatalf("%s: node %d GPU %d free %d", name, i, g, n.Free[g])
					}
					sum += int64(MilliPerGPU - n.Free[g])
				}
			}
			if sum != c.AllocatedMilli {
				t.Fatalf("%s: GPU use %d != allocated %d", name, sum, c.AllocatedMilli)
			}
		}
	}
}

func popcount(m uint32) int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nodes, pods := randomWorkload(r)
	for _, name := range Names() {
		a, err := RunProtocolA(nodes, pods, name, 9, Config{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := RunProtocolA(nodes, pods, name, 9, Config{})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: same seed, different curves", name)
		}
	}
}

// TestGoldenTiny pins protocol A's summary on a small hand-made cluster and
// pod list shaped like openb rows.
func TestGoldenTiny(t *testing.T) {
	nodes := []NodeSpec{
		{Name: "n0", CPUMilli: 96000, MemMiB: 393216, GPUs: 8, Model: "G2"},
		{Name: "n1", CPUMilli: 96000, MemMiB: 393216, GPUs: 8, Model: "G2"},
		{Name: "n2", CPUMilli: 104000, MemMiB: 524288, GPUs: 2, Model: "T4"},
		{Name: "n3", CPUMilli: 104000, MemMiB: 524288, GPUs: 2, Model: "T4"},
		{Name: "n4", CPUMilli: 16000, MemMiB: 122880, GPUs: 2, Model: "P100"},
	}
	pods := []TaskSpec{
		{CPUMilli: 12000, MemMiB: 16384, NumGPU: 1, GPUMilli: 1000},
		{CPUMilli: 6000, MemMiB: 12288, NumGPU: 1, GPUMilli: 460},
		{CPUMilli: 4000, MemMiB: 15258, NumGPU: 1, GPUMilli: 220},
		{CPUMilli: 8000, MemMiB: 30517},
		{CPUMilli: 88000, MemMiB: 327680, NumGPU: 8, GPUMilli: 1000},
		{CPUMilli: 16000, MemMiB: 32768, NumGPU: 1, GPUMilli: 1000, Models: []string{"T4"}},
		{CPUMilli: 32000, MemMiB: 65536, NumGPU: 2, GPUMilli: 1000},
		{CPUMilli: 6000, MemMiB: 12288, NumGPU: 1, GPUMilli: 500},
	}
	got := map[string]float64{}
	sum, err := Compare(nodes, pods, Names(), []uint64{1, 2, 3}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum {
		got[s.Policy] = math.Round(s.Points[len(s.Points)-1].UnallocatedGPUs.Mean*1000) / 1000
	}
	if !reflect.DeepEqual(got, goldenTiny) {
		t.Fatalf("unallocated GPUs at 130%% per policy:\n got %#v\nwant %#v", got, goldenTiny)
	}
}

func TestStranded(t *testing.T) {
	n := Node{CPUCap: 96000, CPUFree: 24000, GPUs: 8}
	for g := range 8 {
		n.Free[g] = 1000
	}
	n.Free[0] = 500
	// idle 7500 milli; 24 cores feed 24000/rho GPU milli.
	for _, tc := range []struct {
		rho, want float64
	}{
		{12, 5500}, // 12 milli-cores per milli: 2000 fed, 5500 stranded
		{3, 0},     // 8000 fed ≥ idle
		{3.2, 0},   // exactly 7500 fed
		{0, 0},     // no CPU need: nothing stranded
		{-1, 0},    // nonsense rate: nothing stranded
		{24, 6500}, // 1000 fed
		{96, 7250}, // 250 fed
	} {
		if got := Stranded(&n, tc.rho); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("Stranded(rho %v) = %v, want %v", tc.rho, got, tc.want)
		}
	}
	n.CPUFree = 0 // no CPU left: every idle GPU milli is stranded, never more
	if got := Stranded(&n, 12); got != 7500 {
		t.Errorf("Stranded with no CPU = %v, want 7500", got)
	}
}

func TestCPUPerGPUMilli(t *testing.T) {
	c, _ := tinyCluster(t)
	share := mustTask(t, c, TaskSpec{CPUMilli: 4000, NumGPU: 1, GPUMilli: 500})
	whole2 := mustTask(t, c, TaskSpec{CPUMilli: 16000, NumGPU: 2, GPUMilli: 1000})
	cpu := mustTask(t, c, TaskSpec{CPUMilli: 64000})
	for _, tc := range []struct {
		name  string
		tasks []TypicalTask
		want  float64
	}{
		{"mix", []TypicalTask{{share, 0.5, 0}, {whole2, 0.25, 0}, {cpu, 0.25, 0}}, (0.5*4000 + 0.25*16000) / (0.5*500 + 0.25*2000)},
		{"cpu-only tasks are ignored", []TypicalTask{{share, 0.5, 0}, {cpu, 0.5, 0}}, 8},
		{"no GPU task", []TypicalTask{{cpu, 1, 0}}, 0},
		{"empty", nil, 0},
	} {
		if got := newDistribution(tc.tasks, false).CPUPerGPUMilli(); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: CPUPerGPUMilli = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSuanliAvoidsStranding: a CPU-only task goes to the node where it strands
// no GPU, although FGD's own score ties both nodes.
func TestSuanliAvoidsStranding(t *testing.T) {
	specs := []NodeSpec{
		{Name: "lean", CPUMilli: 32000, MemMiB: 1 << 20, GPUs: 4, Model: "G2"},
		{Name: "rich", CPUMilli: 128000, MemMiB: 1 << 20, GPUs: 2, Model: "T4"},
	}
	c, err := NewCluster(specs)
	if err != nil {
		t.Fatal(err)
	}
	gpu := mustTask(t, c, TaskSpec{CPUMilli: 8000, NumGPU: 1, GPUMilli: 1000})
	cpu := mustTask(t, c, TaskSpec{CPUMilli: 16000})
	d := newDistribution([]TypicalTask{{gpu, 0.9, 0}, {cpu, 0.1, 0}}, false)
	c.Rank[0], c.Rank[1] = 0, 1 // FGD's tie goes to "lean"
	for _, tc := range []struct {
		policy string
		want   int
	}{{FGD, 0}, {Suanli, 1}} {
		p, err := New(tc.policy, d, len(c.Nodes))
		if err != nil {
			t.Fatal(err)
		}
		pl, ok := p.Choose(c, &cpu, nil)
		if !ok || pl.Node != tc.want {
			t.Errorf("%s placed the CPU-only task on node %d (ok %v), want %s", tc.policy, pl.Node, ok, specs[tc.want].Name)
		}
	}
}

// TestFragOfCountsMatchesNodeFrag checks that the counts form of the measure
// returns bit for bit what NodeFrag returns on random nodes, for
// distributions with and without CPU-only, CPU-bound, model-bound, memory-bound
// and multi-GPU tasks, with and without stranding and the look-ahead.
func TestFragOfCountsMatchesNodeFrag(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 200 {
		var list []Task
		for range 1 + rng.IntN(40) {
			tk := Task{NumGPU: 1, GPUMilli: int32(1 + rng.IntN(999))}
			switch rng.IntN(5) {
			case 0:
				tk = Task{NumGPU: int32(1 + rng.IntN(8)), GPUMilli: 1000}
			case 1:
				tk = Task{CPUMilli: 1000} // no GPU
			case 2:
				tk.CPUMilli = 500 // more CPU than some nodes have free
			case 3:
				tk.Models = ModelSet(1 << rng.IntN(2))
				tk.MemMiB = int64(rng.IntN(2)) << 19
			}
			list = append(list, tk)
		}
		d := NewDistribution(list, 1, rng.IntN(2) == 0)
		fill := NewFillTable(d)
		for range 20 {
			var n Node
			n.GPUs = 1 + rng.IntN(MaxGPUs)
			for k := range n.GPUs {
				switch rng.IntN(3) {
				case 0:
					n.Free[k] = 1000
				case 1:
					n.Free[k] = 0
				default:
					n.Free[k] = int32(rng.IntN(1001))
				}
			}
			sh := d.Shares()
			fit, below := make([]int64, len(sh)), make([]int64, len(sh))
			for i, m := range sh {
				for _, f := range n.Free[:n.GPUs] {
					if f >= m {
						fit[i]++
					} else {
						below[i] += int64(f)
					}
				}
			}
			switch rng.IntN(3) { // a host that fits some, all or none of the CPU needs
			case 0:
				n.CPUFree = 600
			case 1:
				n.CPUFree = 1 << 20
			}
			n.MemFree = int64(rng.IntN(2)) << 20
			n.Model = ModelSet(1 << rng.IntN(2))
			want := d.NodeFrag(&n)
			m := Measure{Dist: d, StrandRho: float64(rng.IntN(3))}
			if rng.IntN(2) == 0 {
				m.Fill = fill
			}
			var left int64
			for _, f := range n.Free[:n.GPUs] {
				left += m.CardLeft(f)
			}
			if got := d.FragOfCounts(&n, n.IdleMilli(), fit, below); got != want {
				t.Fatalf("trial %d: node %v: FragOfCounts %v, NodeFrag %v", trial, n.Free[:n.GPUs], got, want)
			}
			if got, want := m.FragOfCounts(&n, n.IdleMilli(), fit, below, left), m.Frag(&n); got != want {
				t.Fatalf("trial %d: node %v: Measure.FragOfCounts %v, Frag %v", trial, n.Free[:n.GPUs], got, want)
			}
		}
	}
}
