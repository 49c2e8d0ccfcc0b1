package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/trace"
)

// openbModel is a catalog entry for a GPU type of the openb traces.
type openbModel struct {
	trace, id, vendor, family, name, country string
	fp16, memGB                              float64
	note                                     string
}

// openbModels are the GPU types of Alibaba's openb node lists. The catalog
// has none of them: they are added as an overlay with FP16 figures marked
// `override`, since they only scale capacity reports (placement in a
// replay depends on card counts, not FLOPS).
var openbModels = []openbModel{
	{"G2", "openb-g2", "undisclosed", "Alibaba internal code", "G2", "ZZ", 125, 32,
		"undisclosed GPU type of the openb trace; V100-class placeholder so that capacity can be counted"},
	{"G3", "openb-g3", "undisclosed", "Alibaba internal code", "G3", "ZZ", 125, 32,
		"undisclosed GPU type of the openb trace; V100-class placeholder so that capacity can be counted"},
	{"T4", "nvidia-t4", "NVIDIA", "Turing", "T4", "US", 65, 16, "NVIDIA datasheet: 65 TFLOPS mixed-precision (tensor cores)"},
	{"P100", "nvidia-p100", "NVIDIA", "Pascal", "P100 16GB", "US", 18.7, 16, "NVIDIA datasheet: 18.7 TFLOPS FP16 (PCIe); 21.2 for SXM2"},
	{"V100M16", "nvidia-v100-16g", "NVIDIA", "Volta", "V100 16GB", "US", 125, 16, "NVIDIA datasheet: 125 TFLOPS tensor (SXM2); 112 for PCIe"},
	{"V100M32", "nvidia-v100-32g", "NVIDIA", "Volta", "V100 32GB", "US", 125, 32, "NVIDIA datasheet: 125 TFLOPS tensor (SXM2); 112 for PCIe"},
	{"A10", "nvidia-a10", "NVIDIA", "Ampere", "A10", "US", 125, 24, "NVIDIA datasheet: 125 TFLOPS FP16 tensor, dense"},
}

// OpenbModelID maps an openb GPU type (G2, T4, V100M32 …) to the catalog id
// the replay uses for it.
func OpenbModelID(gpuType string) (string, bool) {
	for _, m := range openbModels {
		if m.trace == gpuType {
			return m.id, true
		}
	}
	return "", false
}

// OpenbCluster is the openb cluster as a network: one site, one pool per
// node shape, one server domain per node.
type OpenbCluster struct {
	Net *network.Network
	// NodeID maps an openb node name to its network node.
	NodeID map[string]model.NodeID
	// Index maps a network node to its position in the node list given.
	Index map[model.NodeID]int
}

// OpenbNetwork builds a network.Network from an openb node list: nodes with
// GPUs become network nodes (pools group nodes of one shape, in list order)
// of a single self-built site; CPU-only nodes are left out, as the core
// places accelerator work. The openb GPU types come from a catalog overlay
// on cat (catalog.Default() when nil).
func OpenbNetwork(nodes []trace.Node, cat *catalog.Catalog) (*OpenbCluster, error) {
	return openbNetwork(nodes, nil, cat)
}

// OpenbNetworkInOrder is OpenbNetwork with the GPU nodes in the given
// order (indices into nodes; every GPU node once): a pool per run of
// nodes of one shape, so that the network's node order, and with it the
// scheduler's tie order, is the order given.
func OpenbNetworkInOrder(nodes []trace.Node, order []int, cat *catalog.Catalog) (*OpenbCluster, error) {
	if order == nil {
		order = []int{}
	}
	return openbNetwork(nodes, order, cat)
}

// openbNetwork builds the network; a nil order groups nodes of one shape
// in one pool, in list order.
func openbNetwork(nodes []trace.Node, order []int, cat *catalog.Catalog) (*OpenbCluster, error) {
	if cat == nil {
		cat = catalog.Default()
	}
	shapes, pools, err := openbPools(nodes, order)
	if err != nil {
		return nil, err
	}
	overlay, err := openbCatalog()
	if err != nil {
		return nil, err
	}
	spec := network.Spec{
		Name:    "openb",
		Note:    "Alibaba cluster-trace-gpu-v2023 (openb) GPU nodes; FP16 figures are overrides",
		Catalog: overlay,
		Sites:   []network.SiteSpec{{ID: "openb", Name: "openb cluster", Region: "trace", Operator: "Alibaba (trace)", Ownership: string(model.SelfBuilt)}},
	}
	for k, s := range shapes {
		spec.Sites[0].Pools = append(spec.Sites[0].Pools, network.PoolSpec{
			Model: s.model, Nodes: len(pools[k]), CardsPerNode: s.gpus, NodesPerDomain: 1,
			DomainKind: string(model.DomainServer), CPUCores: s.cores, MemGiB: s.gibs,
		})
	}
	net, err := spec.Expand(cat)
	if err != nil {
		return nil, fmt.Errorf("openb network: %w", err)
	}
	oc := &OpenbCluster{Net: net, NodeID: map[string]model.NodeID{}, Index: map[model.NodeID]int{}}
	for k, idx := range pools {
		for j, i := range idx {
			id := model.NodeID(fmt.Sprintf("openb-p%d-n%d", k, j))
			if _, ok := net.Node(id); !ok {
				return nil, fmt.Errorf("openb network: node %s missing: the network's naming changed", id)
			}
			oc.NodeID[nodes[i].Name] = id
			oc.Index[id] = i
		}
	}
	return oc, nil
}

// openbShape is what the nodes of one pool share.
type openbShape struct {
	model       string
	gpus        int
	cores, gibs int64
}

// openbPools groups the GPU nodes (in order, or in list order when order
// is nil) into pools of one shape: the pools' shapes and node indices. A
// nil order puts all nodes of a shape in one pool; in order, a new pool
// starts whenever the shape changes.
func openbPools(nodes []trace.Node, order []int) (shapes []openbShape, pools [][]int, err error) {
	var (
		errs   []error
		poolOf = map[openbShape]int{}
	)
	seq := order
	if order == nil {
		seq = make([]int, len(nodes))
		for i := range seq {
			seq[i] = i
		}
	}
	for _, i := range seq {
		if i < 0 || i >= len(nodes) {
			return nil, nil, fmt.Errorf("node order names node %d of %d", i, len(nodes))
		}
		n := nodes[i]
		if n.GPUs == 0 {
			continue
		}
		id, ok := OpenbModelID(n.GPUModel)
		if !ok {
			errs = append(errs, fmt.Errorf("node %s: unknown GPU model %q: the openb lists use %s", n.Name, n.GPUModel, openbTypes()))
			continue
		}
		s := openbShape{id, n.GPUs, max(1, n.CPUMilli/1000), max(1, n.MemMiB/1024)}
		k, ok := poolOf[s]
		if order != nil && (len(shapes) == 0 || shapes[len(shapes)-1] != s) {
			ok = false // in order: a new pool whenever the shape changes
		}
		if !ok {
			k = len(shapes)
			poolOf[s] = k
			shapes = append(shapes, s)
			pools = append(pools, nil)
		}
		pools[k] = append(pools[k], i)
	}
	if len(shapes) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("the node list has no GPU nodes"))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return shapes, pools, nil
}

// openbCatalog is the catalog overlay of the trace's GPU models.
func openbCatalog() ([]byte, error) {
	var entries []map[string]any
	for _, m := range openbModels {
		entries = append(entries, map[string]any{
			"id": m.id, "vendor": m.vendor, "family": m.family, "model": m.name, "country": m.country,
			"role":           "training/inference",
			"fp16_tflops":    map[string]any{"v": m.fp16, "conf": string(catalog.Override), "note": m.note},
			"memory_gb":      map[string]any{"v": m.memGB, "conf": string(catalog.Override)},
			"software_stack": "CUDA",
		})
	}
	return json.Marshal(entries)
}

func openbTypes() string {
	var s []string
	for _, m := range openbModels {
		s = append(s, m.trace)
	}
	return strings.Join(s, ", ")
}

// PodJob converts an openb pod to a core job: a batch job of num_gpu whole
// GPUs on one node, or of a gpu_milli share of one GPU, with the pod's CPU
// and memory as its host request, restricted to the
// pod's gpu_spec models. It reports false for a CPU-only pod (the core
// places accelerator work only) and an error for a gpu_spec model the
// openb lists do not have. Every pod has the same priority: the trace's
// QoS classes are not a preemption order.
func PodJob(p trace.Pod) (model.Job, bool, error) {
	if p.NumGPU == 0 {
		return model.Job{}, false, nil
	}
	j := model.Job{
		ID: model.JobID(p.Name), Tenant: "openb", Kind: model.Batch, Workers: 1,
		SubmitTime: max(p.CreationTime, 0), CPUMilli: max(p.CPUMilli, 0), HostMemMiB: max(p.MemMiB, 0),
	}
	if p.GPUMilli < model.MilliCard {
		j.ShareMilli = p.GPUMilli
	} else {
		j.CardsPerWorker = p.NumGPU
	}
	for _, g := range p.GPUSpec {
		id, ok := OpenbModelID(g)
		if !ok {
			return model.Job{}, false, fmt.Errorf("pod %s: gpu_spec names unknown model %q: the openb lists use %s", p.Name, g, openbTypes())
		}
		j.Models = append(j.Models, id)
	}
	return j, true, nil
}
