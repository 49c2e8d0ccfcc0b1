package frag

// newSuanli is our policy, the production scorer's (Measure) as an argmax over
// every node: FGD's rounded score (ties by rank), with a node's fragmentation
// extended by the GPU capacity its CPU can no longer feed.
//
// GPU tasks bring CPU with them: ρ milli-cores per GPU milli on average over
// the typical tasks. A node with Idle free GPU milli and CPUFree free
// milli-cores can, in expectation, hand out only CPUFree/ρ of its idle GPU
// milli; the rest, max(0, Idle − CPUFree/ρ), is stranded and counts as
// fragmentation. The paper's measure sees CPU only when a typical task no
// longer fits at all; by then the node's GPUs are lost. Counting stranding
// early keeps CPU-heavy tasks and CPU-only tasks off CPU-poor nodes (8-GPU G2
// nodes have 12 cores per GPU, 2-GPU T4 nodes 52).
func newSuanli(d *Distribution, nodes int) Policy {
	return newFGD(Suanli, NewMeasure(d, true), nodes, true)
}

// Stranded is the idle GPU milli of n that its free CPU cannot feed when GPU
// work needs rho milli-cores per GPU milli: max(0, idle − CPUFree/rho).
// It is 0 for rho ≤ 0.
func Stranded(n *Node, rho float64) float64 {
	return stranded(n.IdleMilli(), n.CPUFree, rho)
}

func stranded(idle, cpuFree int64, rho float64) float64 {
	if rho <= 0 {
		return 0
	}
	return max(0, float64(idle)-float64(cpuFree)/rho)
}

// CPUPerGPUMilli is the mean CPU (milli-cores) that the typical GPU tasks ask
// per GPU milli, weighted by popularity; 0 if no typical task needs a GPU.
func (d *Distribution) CPUPerGPUMilli() float64 {
	var cpu, gpu float64
	for _, t := range d.Tasks {
		if t.NumGPU > 0 {
			cpu += t.Weight * float64(t.CPUMilli)
			gpu += t.Weight * float64(t.GPUMilliTotal())
		}
	}
	if gpu == 0 {
		return 0
	}
	return cpu / gpu
}
