package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/kube/kubetest"
	"github.com/suanli/suanli/internal/model"
)

// crossSiteSpec declares two Kubernetes sites of one Ascend node each, so
// that a gang of two whole nodes must span them; both publish a gang
// endpoint. (The test runs both sites on one API server, in two
// namespaces: each bridge sees only its own site's nodes and pods.)
const crossSiteSpec = `
name: kube-cross-site-test
catalog:
- id: huawei-ascend-910b3
  fp16_tflops: {v: 313, conf: override, note: "test assumption: the catalog has no sourced figure"}
sites:
- id: ka
  region: East
  operator: Test Operator
  province: Jiangsu
  ownership: self-built
  kind: kubernetes
  kubeconfig: unused-by-the-test
  gang_endpoint: {host: 192.0.2.10, ports: 31000-31099}
  pools:
  - {model: huawei-ascend-910b3, nodes: 1, cards_per_node: 8, names: [ascend-a0]}
- id: kb
  region: East
  operator: Test Operator
  province: Zhejiang
  ownership: self-built
  kind: kubernetes
  kubeconfig: unused-by-the-test
  gang_endpoint: {host: kb-gw.example.net, ports: 32000-32099}
  pools:
  - {model: huawei-ascend-910b3, nodes: 1, cards_per_node: 8, names: [ascend-b0]}
`

// TestBridgeCrossSiteGang: a gang placed across two Kubernetes sites gets
// its pods at both, with the whole gang's WORLD_SIZE and ranks; rank 0's
// site exposes it on a NodePort of its gang endpoint and the other site's
// pod has that endpoint as MASTER_ADDR; the job's image and resources
// reach the pods; the job completes when the pods at both sites succeed,
// and every pod and Service goes.
func TestBridgeCrossSiteGang(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	cfg := kubetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kube := kubetest.NewClient(t, cfg)
	for _, ns := range []string{"ka", "kb"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []corev1.Node{
		node("ascend-a0", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("ascend-b0", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8}),
	} {
		status := n.Status
		created, err := kube.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = status
		if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nw, admin, agent := startSuanliSpec(t, ctx, 300*time.Millisecond, crossSiteSpec)
	endpoints := map[model.SiteID]model.GangEndpoint{}
	for _, s := range nw.Sites {
		endpoints[s.ID] = *s.GangEndpoint
	}
	for _, site := range []model.SiteID{"ka", "kb"} {
		var nodes []model.Node
		for _, n := range nw.Nodes {
			if n.Site == site {
				nodes = append(nodes, n)
			}
		}
		b, err := NewBridge(BridgeConfig{Site: site, Nodes: nodes, Kube: mustCore(t, cfg), Catalog: nw.Catalog, Server: agent,
			Namespace: string(site), Image: "registry.local/default:1", GraceSeconds: 5, Endpoints: endpoints,
			Version: "test", Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))})
		if err != nil {
			t.Fatal(err)
		}
		bctx, bcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(bctx) }()
		t.Cleanup(func() { bcancel(); <-done })
	}
	e := &bridgeEnv{t: t, ctx: ctx, kube: kube, admin: admin}
	e.until("both sites' nodes registered", func() (bool, string) {
		ns, err := admin.Nodes(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range ns {
			if n.State == v1.NodeReady {
				ready++
			}
		}
		return ready == 2, nodeStates(ns)
	})

	job, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8, CrossSite: true,
		Models: []string{"huawei-ascend-910b3"}, Workload: &v1.Workload{Command: []string{"torchrun", "train.py"},
			Image: "registry.local/llm:2", Resources: &v1.WorkloadResources{CPUMilli: 4000, MemoryMiB: 65536}}})
	if err != nil {
		t.Fatal(err)
	}
	podsAt := func(ns string) []corev1.Pod {
		list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + labelValue(job.ID)})
		if err != nil {
			t.Fatal(err)
		}
		return alive(list.Items)
	}
	var pods map[string]corev1.Pod
	e.until("a pod at each site", func() (bool, string) {
		a, b := podsAt("ka"), podsAt("kb")
		if len(a) != 1 || len(b) != 1 {
			return false, podSummary(append(a, b...))
		}
		pods = map[string]corev1.Pod{"ka": a[0], "kb": b[0]}
		return true, ""
	})
	placed, err := admin.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	masterSite := ""
	for _, a := range placed.Placement.Assignments {
		if a.Worker == 0 {
			masterSite = a.Site
		}
	}
	otherSite := map[string]string{"ka": "kb", "kb": "ka"}[masterSite]
	if masterSite == "" {
		t.Fatalf("placement %+v has no rank 0 site", placed.Placement)
	}
	ranks := map[string]bool{}
	for site, p := range pods {
		c := p.Spec.Containers[0]
		ranks[env(c, "RANK")] = true
		if env(c, "WORLD_SIZE") != "2" {
			t.Errorf("pod at %s: WORLD_SIZE %s, want the whole gang's 2", site, env(c, "WORLD_SIZE"))
		}
		if c.Image != "registry.local/llm:2" {
			t.Errorf("pod at %s runs image %s, want the job's registry.local/llm:2", site, c.Image)
		}
		cpu, mem := c.Resources.Limits[corev1.ResourceCPU], c.Resources.Limits[corev1.ResourceMemory]
		if cpu.Cmp(resource.MustParse("4")) != 0 || mem.Cmp(resource.MustParse("64Gi")) != 0 || c.Resources.Requests.Memory().Cmp(mem) != 0 {
			t.Errorf("pod at %s asks for cpu %s memory %s, want 4 and 64Gi", site, cpu.String(), mem.String())
		}
	}
	if !ranks["0"] || !ranks["1"] {
		t.Errorf("ranks %v, want 0 and 1", ranks)
	}
	// Rank 0's site exposes it on the gang endpoint's NodePort; the other
	// site's pod meets it there.
	ep := endpoints[model.SiteID(masterSite)]
	svcs, err := kube.CoreV1().Services(masterSite).List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + labelValue(job.ID)})
	if err != nil {
		t.Fatal(err)
	}
	var nodePort int32
	for _, s := range svcs.Items {
		if s.Spec.Type == corev1.ServiceTypeNodePort {
			nodePort = s.Spec.Ports[0].NodePort
			if s.Spec.Selector[LabelWorker] != "0" || s.Spec.Ports[0].TargetPort.IntValue() != 29500 {
				t.Errorf("rendezvous Service %s selects %v, targets %v", s.Name, s.Spec.Selector, s.Spec.Ports[0].TargetPort)
			}
		}
	}
	if nodePort < int32(ep.PortMin) || nodePort > int32(ep.PortMax) {
		t.Fatalf("rank 0's site %s exposes NodePort %d, want one in %d-%d; Services %v", masterSite, nodePort, ep.PortMin, ep.PortMax, svcs.Items)
	}
	remote := pods[otherSite].Spec.Containers[0]
	if env(remote, "MASTER_ADDR") != ep.Host || env(remote, "MASTER_PORT") != strconv.Itoa(int(nodePort)) {
		t.Errorf("pod at %s meets rank 0 at %s:%s, want %s:%d", otherSite, env(remote, "MASTER_ADDR"), env(remote, "MASTER_PORT"), ep.Host, nodePort)
	}
	local := pods[masterSite].Spec.Containers[0]
	if env(local, "RANK") != "0" || !strings.HasPrefix(env(local, "MASTER_ADDR"), pods[masterSite].Name+".") || env(local, "MASTER_PORT") != "29500" {
		t.Errorf("rank 0 pod: RANK %s MASTER_ADDR %s MASTER_PORT %s", env(local, "RANK"), env(local, "MASTER_ADDR"), env(local, "MASTER_PORT"))
	}

	// The pods at both sites run, then succeed: the job runs, then completes.
	for _, site := range []string{"ka", "kb"} {
		p := pods[site]
		p.Status.Phase = corev1.PodRunning
		if _, err := kube.CoreV1().Pods(site).UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.jobState(job.ID, v1.StateRunning)
	for _, site := range []string{"ka", "kb"} {
		p, err := kube.CoreV1().Pods(site).Get(ctx, pods[site].Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodSucceeded
		if _, err := kube.CoreV1().Pods(site).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.jobState(job.ID, v1.StateCompleted)
	e.until("pods and Services deleted at both sites", func() (bool, string) {
		left := ""
		for _, site := range []string{"ka", "kb"} {
			if ps := podsAt(site); len(ps) > 0 {
				left += podSummary(ps)
			}
			svcs, err := kube.CoreV1().Services(site).List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
			if err != nil {
				return false, err.Error()
			}
			for _, s := range svcs.Items {
				if _, err := kube.CoreV1().Services(site).Get(ctx, s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					left += "svc " + s.Name + " "
				}
			}
		}
		return left == "", left
	})
}

// TestGangWithoutEndpoint: a cross-site gang whose rank 0 runs at a site
// with no gang endpoint cannot be dispatched at the other site, with an
// error naming the site to fix; a gang port is stable and in range.
func TestGangWithoutEndpoint(t *testing.T) {
	d := &Dispatcher{Site: "kb", Namespace: "jobs", Resource: func(model.NodeID) (string, bool) { return "huawei.com/Ascend910B3", true }}
	p := model.Placement{Job: "j1@1", Assignments: []model.Assignment{{Worker: 1, Node: "kb-n0", Model: "huawei-ascend-910b3", Cards: []int{0}}}}
	_, err := d.Pods(&model.Job{ID: "j1"}, p, Workload{Image: "x", Gang: &Gang{Workers: 2, Master: "ka-n0", MasterSite: "ka"}})
	if !errors.Is(err, ErrNoEndpoint) || !strings.Contains(err.Error(), "site ka") {
		t.Fatalf("err = %v, want ErrNoEndpoint naming site ka", err)
	}
	ep := model.GangEndpoint{Host: "h", PortMin: 31000, PortMax: 31009}
	seen := map[int]bool{}
	for i := range 50 {
		port := GangPort(fmt.Sprintf("job-%d@1", i), ep)
		if port < 31000 || port > 31009 || port != GangPort(fmt.Sprintf("job-%d@1", i), ep) {
			t.Fatalf("GangPort = %d", port)
		}
		seen[port] = true
	}
	if len(seen) < 5 {
		t.Errorf("50 gangs use %d of 10 ports: the hash does not spread", len(seen))
	}
}
