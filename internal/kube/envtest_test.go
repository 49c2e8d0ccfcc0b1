package kube

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/kube/kubetest"
	"github.com/suanli/suanli/internal/model"
)

// podGroupCRD is Volcano's PodGroup resource, its schema left open.
func podGroupCRD() map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "podgroups.scheduling.volcano.sh"},
		"spec": map[string]any{
			"group": "scheduling.volcano.sh",
			"names": map[string]any{"plural": "podgroups", "singular": "podgroup", "kind": "PodGroup", "listKind": "PodGroupList"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1beta1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}
}

// proxy forwards TCP to the API server and can be cut and restored, to play
// an unreachable site.
type proxy struct {
	addr, target string
	mu           sync.Mutex // guards ln and conns
	ln           net.Listener
	conns        []net.Conn
}

func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func waitFor(t *testing.T, events <-chan Event, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Inventory != nil {
				t.Logf("event %s: %d nodes, unknown %+v", e.Kind, len(e.Inventory.Nodes), e.Inventory.Unknown)
			} else {
				t.Logf("event %s %s %+v %s", e.Kind, e.Node, e.Status, e.Err)
			}
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	cfg := kubetest.Start(t, podGroupCRD())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The site is reached through a proxy that the test can cut.
	host := strings.TrimSuffix(strings.TrimPrefix(cfg.Host, "https://"), "/")
	t.Logf("api server at %s", cfg.Host)
	px := &proxy{addr: "127.0.0.1:0", target: host}
	px.start(t)
	siteCfg := rest.CopyConfig(cfg)
	siteCfg.Host = "https://" + px.addr
	siteCfg.Timeout = 2 * time.Second
	cs := mustCore(t, siteCfg)
	admin := kubetest.NewClient(t, cfg)

	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jobs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Play the kubelets: nodes with allocatable vendor resources.
	for _, n := range []corev1.Node{
		node("ascend-0", true, map[string]string{LabelDomain: "mesh-0"}, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("ascend-1", true, map[string]string{LabelDomain: "mesh-1"}, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("metax-0", true, nil, map[string]int64{"metax-tech.com/gpu": 8}),
	} {
		status := n.Status
		created, err := admin.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = status
		if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	site := &Site{ID: "k8s", Client: cs, Catalog: catalog.Default(), Namespace: "jobs", ProbeEvery: 200 * time.Millisecond}
	events := make(chan Event, 1024)
	go site.Run(ctx, events)
	inv := waitFor(t, events, "the inventory of 2 Ascend nodes", func(e Event) bool {
		return e.Kind == InventoryChanged && len(e.Inventory.Nodes) == 2
	}).Inventory
	// metax-tech.com/gpu names several MetaX models: reported, not dropped.
	if len(inv.Unknown) != 1 || inv.Unknown[0].Node != "metax-0" {
		t.Errorf("unknown = %+v", inv.Unknown)
	}

	d := &Dispatcher{Site: "k8s", Client: cs, Dynamic: dynamic.NewForConfigOrDie(siteCfg), Catalog: catalog.Default(),
		Namespace: "jobs", Volcano: false, GraceSeconds: 5,
		Resource: func(id model.NodeID) (string, bool) { r, ok := site.Inventory().Resource[id]; return r, ok }}
	job, p := placement()
	site.Track(job.ID, 2)
	if err := d.Dispatch(ctx, job, p, Workload{Image: "registry.local/train:1", Command: []string{"python", "train.py"}}); err != nil {
		t.Fatal(err)
	}
	pods, err := admin.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods: %d, %v", len(pods.Items), err)
	}
	for _, pod := range pods.Items {
		q := pod.Spec.Containers[0].Resources.Requests["huawei.com/Ascend910B3"]
		if q.Value() != 8 || pod.Spec.NodeName == "" {
			t.Errorf("pod %s on %q requests %v", pod.Name, pod.Spec.NodeName, q)
		}
	}
	// Play the kubelet: running, then succeeded.
	setPhase := func(phase corev1.PodPhase, reason string) {
		t.Helper()
		list, _ := admin.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
		for _, pod := range list.Items {
			pod.Status.Phase, pod.Status.Reason = phase, reason
			if _, err := admin.CoreV1().Pods("jobs").UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	setPhase(corev1.PodRunning, "")
	waitFor(t, events, "job running", func(e Event) bool { return e.Kind == JobChanged && e.Status.State == model.Running })
	setPhase(corev1.PodSucceeded, "")
	waitFor(t, events, "job completed", func(e Event) bool { return e.Kind == JobChanged && e.Status.State == model.Completed })

	// A node going NotReady is a lost node.
	n1, _ := admin.CoreV1().Nodes().Get(ctx, "ascend-1", metav1.GetOptions{})
	n1.Status.Conditions[0].Status = corev1.ConditionUnknown
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, "node lost", func(e Event) bool { return e.Kind == NodeLost && e.Node == "k8s-ascend-1" })

	// The site becomes unreachable: its capacity is unknown; when it returns,
	// a retried dispatch creates nothing twice.
	job2 := &model.Job{ID: "serve-2", Tenant: "t", Kind: model.Inference, Workers: 1, CardsPerWorker: 2}
	p2 := model.Placement{Job: job2.ID, Assignments: []model.Assignment{{Node: "k8s-ascend-0", Model: "huawei-ascend-910b3", Cards: []int{0, 1}}}}
	if err := d.Dispatch(ctx, job2, p2, Workload{Image: "x"}); err != nil {
		t.Fatal(err)
	}
	px.cut()
	waitFor(t, events, "unreachable", func(e Event) bool { return e.Kind == Unreachable })
	if site.Reachable() {
		t.Error("site reported reachable while cut")
	}
	if err := d.Dispatch(ctx, job2, p2, Workload{Image: "x"}); err == nil {
		t.Error("dispatch to an unreachable site succeeded")
	}
	px.start(t) // same address
	waitFor(t, events, "reachable", func(e Event) bool { return e.Kind == Reachable })
	if err := d.Dispatch(ctx, job2, p2, Workload{Image: "x"}); err != nil {
		t.Fatal(err)
	}
	list, _ := admin.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=serve-2"})
	if len(list.Items) != 1 {
		t.Errorf("%d pods for serve-2 after the retry, want 1", len(list.Items))
	}
	// A cross-site gang's rank 0 here: its rendezvous Service takes a
	// NodePort. A retry after a later step failed (the API server allocates
	// the port before it looks at the name, so the create reads "port
	// already allocated") finds the Service it made and goes on.
	d.Endpoints = map[model.SiteID]model.GangEndpoint{"k8s": {Host: "192.0.2.10", PortMin: 31000, PortMax: 31099}}
	gj := &model.Job{ID: "gang-x", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 1}
	gp := model.Placement{Job: gj.ID, Assignments: []model.Assignment{{Worker: 0, Node: "k8s-ascend-0", Model: "huawei-ascend-910b3", Cards: []int{2}}}}
	gw := Workload{Image: "x", Gang: &Gang{Workers: 2, Master: "k8s-ascend-0", MasterSite: "k8s"}}
	for try := 1; try <= 2; try++ {
		if err := d.Dispatch(ctx, gj, gp, gw); err != nil {
			t.Fatalf("cross-site gang's dispatch, try %d: %v", try, err)
		}
	}
	if svcs, err := admin.CoreV1().Services("jobs").List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=gang-x"}); err != nil || len(svcs.Items) != 1 {
		t.Errorf("rendezvous Services for gang-x: %v, %v; want one", svcs, err)
	}
	// Cancel deletes with the grace period.
	if err := d.Cancel(ctx, job2.ID); err != nil {
		t.Fatal(err)
	}

	// A Volcano site keeps gang semantics through a PodGroup (straight to
	// the API server: a new CRD's first request can outlast the proxy
	// client's short timeout).
	d.Volcano, d.Client, d.Dynamic = true, mustCore(t, cfg), dynamic.NewForConfigOrDie(cfg)
	job3, p3 := placement()
	job3.ID = "gang-3"
	p3.Job = job3.ID
	if err := d.Dispatch(ctx, job3, p3, Workload{Image: "x"}); err != nil {
		t.Fatal(err)
	}
	pg, err := d.Dynamic.Resource(PodGroupGVR).Namespace("jobs").Get(ctx, GroupName(job3.ID, p3), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mm, _, _ := unstructuredInt(pg.Object, "spec", "minMember"); mm != 2 {
		t.Errorf("PodGroup minMember = %d", mm)
	}
}
