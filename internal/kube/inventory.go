// Package kube adapts a site that runs its accelerators under Kubernetes:
// its nodes and their vendor device-plugin resources become Suanli nodes and
// cards, placements become Pods (or a Volcano Job's PodGroup), and pod and
// node status become job and node events.
package kube

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Labels Suanli reads on nodes and writes on pods.
const (
	// LabelModel names a node's catalog model where the resource name is
	// generic (nvidia.com/gpu, cambricon.com/mlu).
	LabelModel = "suanli.io/model"
	// LabelDomain groups nodes into one high-bandwidth domain.
	LabelDomain = "suanli.io/domain"
	// NvidiaProduct is GPU feature discovery's product label.
	NvidiaProduct = "nvidia.com/gpu.product"

	LabelJob       = "suanli.io/job"
	LabelWorker    = "suanli.io/worker"
	LabelPlacement = "suanli.io/placement"
)

// Inventory is what a Kubernetes site holds, in Suanli's terms.
type Inventory struct {
	Nodes []model.Node
	// Resource is the extended resource name each node's cards are counted
	// under, for dispatch.
	Resource map[model.NodeID]string
	// NotReady lists nodes whose Ready condition is not True.
	NotReady []model.NodeID
	// Unknown lists resources the catalog cannot name: reported, not
	// dropped.
	Unknown []UnknownResource
	// Present lists the names of every Kubernetes node seen, accelerators
	// or not, in order.
	Present []string
}

// UnknownResource is an extended resource no catalog model claims, or one
// several models claim with no label to choose.
type UnknownResource struct {
	Node     string `json:"node"`
	Resource string `json:"resource"`
	Count    int64  `json:"count"`
	Reason   string `json:"reason"`
}

// builtin resource names that are never accelerators.
func builtin(name corev1.ResourceName) bool {
	s := string(name)
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage, corev1.ResourceStorage:
		return true
	}
	return strings.HasPrefix(s, "hugepages-") || strings.HasPrefix(s, "kubernetes.io/") || !strings.Contains(s, "/")
}

// share suffixes mark resources that slice a card rather than count cards.
var shareSuffixes = []string{"-memory", "-core", "mem", "memory", "cores", "core", "-percentage", "priority", "vmemory", "vcore"}

func countsCards(name string) bool {
	_, res, _ := strings.Cut(name, "/")
	for _, s := range shareSuffixes {
		if strings.HasSuffix(strings.ToLower(res), s) {
			return false
		}
	}
	return true
}

// NodeID is the Suanli id of a Kubernetes node at a site.
func NodeID(site model.SiteID, k8sName string) model.NodeID {
	return model.NodeID(fmt.Sprintf("%s-%s", site, k8sName))
}

// BuildInventory turns Kubernetes Node objects into Suanli nodes. Pure.
func BuildInventory(site model.SiteID, cat *catalog.Catalog, nodes []corev1.Node) Inventory {
	inv := Inventory{Resource: map[model.NodeID]string{}}
	sorted := append([]corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, n := range sorted {
		id := NodeID(site, n.Name)
		inv.Present = append(inv.Present, n.Name)
		if !ready(&n) {
			inv.NotReady = append(inv.NotReady, id)
		}
		names := make([]string, 0, len(n.Status.Allocatable))
		for r := range n.Status.Allocatable {
			names = append(names, string(r))
		}
		sort.Strings(names)
		for _, r := range names {
			q := n.Status.Allocatable[corev1.ResourceName(r)]
			if builtin(corev1.ResourceName(r)) || !countsCards(r) || q.Value() <= 0 {
				continue
			}
			m, reason := modelOf(cat, r, n.Labels)
			if m == nil {
				inv.Unknown = append(inv.Unknown, UnknownResource{Node: n.Name, Resource: r, Count: q.Value(), Reason: reason})
				continue
			}
			if _, dup := inv.Resource[id]; dup {
				inv.Unknown = append(inv.Unknown, UnknownResource{Node: n.Name, Resource: r, Count: q.Value(),
					Reason: "node already counted under " + inv.Resource[id] + "; one accelerator model per node"})
				continue
			}
			inv.Resource[id] = r
			dom := n.Labels[LabelDomain]
			if dom == "" {
				dom = n.Name
			}
			inv.Nodes = append(inv.Nodes, model.Node{
				ID: id, Site: site, Domain: model.DomainID(fmt.Sprintf("%s-%s", site, dom)), Model: m.ID,
				Cards: int(q.Value()), CPUCores: n.Status.Allocatable.Cpu().Value(),
				MemGiB: n.Status.Allocatable.Memory().Value() >> 30, Labels: n.Labels,
			})
		}
	}
	return inv
}

func modelOf(cat *catalog.Catalog, resource string, labels map[string]string) (*catalog.Model, string) {
	if want := labels[LabelModel]; want != "" {
		m, ok := cat.Lookup(want)
		if !ok {
			return nil, fmt.Sprintf("label %s=%q names no catalog model", LabelModel, want)
		}
		return m, ""
	}
	if p := labels[NvidiaProduct]; p != "" && strings.HasPrefix(resource, "nvidia.com/") {
		if m, ok := cat.Lookup(strings.TrimPrefix(strings.ReplaceAll(p, "-", " "), "NVIDIA ")); ok {
			return m, ""
		}
	}
	ms := cat.ModelsByResource(resource)
	switch len(ms) {
	case 0:
		return nil, "no catalog model uses this resource name; add it with --catalog"
	case 1:
		return ms[0], ""
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return nil, fmt.Sprintf("the name is shared by %s; label the node %s=<model>", strings.Join(ids, ", "), LabelModel)
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
