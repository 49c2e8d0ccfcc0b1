package kube

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/kube/kubetest"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// bridgeSpec declares one Kubernetes site: three Ascend 910B3 nodes and a
// MetaX node whose resource name the catalog cannot resolve.
const bridgeSpec = `
name: kube-bridge-test
catalog:
- id: huawei-ascend-910b3
  fp16_tflops: {v: 313, conf: override, note: "test assumption: the catalog has no sourced figure"}
sites:
- id: k8s
  region: East
  operator: Test Operator
  province: Jiangsu
  ownership: self-built
  kind: kubernetes
  kubeconfig: unused-by-the-test
  pools:
  - {model: huawei-ascend-910b3, nodes: 3, cards_per_node: 8, names: [ascend-0, ascend-1, ascend-2]}
  - {model: metax-c500, nodes: 1, cards_per_node: 8, names: [metax-0]}
`

// bridgeEnv is a real kube-apiserver reached through a cuttable proxy, an
// in-process Suanli server and a bridge between them.
type bridgeEnv struct {
	t      *testing.T
	ctx    context.Context
	kube   *kubetest.Client // straight to the API server: the test plays the kubelets
	site   Core             // through the proxy: the bridge's view
	px     *proxy
	nw     *network.Network
	admin  *v1.Client
	agent  *v1.Client
	bridge *Bridge
	stop   func() // stops the bridge and waits for it
	// volcano runs the bridge with Volcano PodGroups, through dyn.
	volcano bool
	dyn     dynamic.Interface
}

// TestBridgeRealAPIServer runs a Kubernetes site through the bridge
// against a real kube-apiserver and the real server: placements become
// pods with the vendor resource and node, pod status drives the jobs to
// completion, a NotReady node's job is requeued onto another node, an
// unreachable site's capacity goes unknown, and neither the site's return
// nor a restarted bridge creates a pod twice.
func TestBridgeRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	e := newBridgeEnv(t, false)

	// Registration: the Ascend nodes ready with their cards; the MetaX
	// node's resource reported, not dropped, and its cards not scheduled.
	e.until("the site's nodes registered", func() (bool, string) {
		ns, err := e.admin.Nodes(e.ctx, "k8s")
		if err != nil {
			return false, err.Error()
		}
		ok := len(ns) == 4
		for _, n := range ns {
			switch n.ID {
			case "k8s-metax-0":
				ok = ok && n.State == v1.NodeUnhealthy && n.Unknown == 8
			default:
				ok = ok && n.State == v1.NodeReady && len(n.Devices) == 8 && n.Devices[0].Name == "huawei.com/Ascend910B3"
			}
		}
		return ok, nodeStates(ns)
	})

	// A gang of two whole nodes becomes two pods pinned to the placed nodes.
	submitted := time.Now()
	j1 := e.submit(2, map[string]string{"EPOCHS": "3"})
	pods := e.livePods(j1, 2)
	toPods := time.Since(submitted)
	job, _ := e.admin.Job(e.ctx, j1)
	for _, p := range pods {
		c := p.Spec.Containers[0]
		rank, _ := strconv.Atoi(env(c, "RANK"))
		want := strings.TrimPrefix(job.Placement.Assignments[rank].Node, "k8s-")
		if q := c.Resources.Limits["huawei.com/Ascend910B3"]; q.Value() != 8 || p.Spec.NodeName != want {
			t.Errorf("pod %s on %q (want %q) asks for %v Ascend910B3", p.Name, p.Spec.NodeName, want, q.Value())
		}
		if c.Image != "registry.local/train:1" || env(c, "EPOCHS") != "3" || env(c, "WORLD_SIZE") != "2" {
			t.Errorf("pod %s: image %s, env %v", p.Name, c.Image, c.Env)
		}
	}
	// The gang's headless Service gives MASTER_ADDR its DNS name.
	group := pods[0].Spec.Subdomain
	svc, err := e.kube.CoreV1().Services("jobs").Get(e.ctx, group, metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Spec.Selector[LabelPlacement] != pods[0].Labels[LabelPlacement] ||
		!strings.HasSuffix(env(pods[0].Spec.Containers[0], "MASTER_ADDR"), "."+group) {
		t.Fatalf("gang Service %s: %+v, %v", group, svc, err)
	}
	e.setPhase(pods, corev1.PodRunning)
	e.jobState(j1, v1.StateRunning)
	succeeded := time.Now()
	e.setPhase(e.livePods(j1, 2), corev1.PodSucceeded)
	e.jobState(j1, v1.StateCompleted)
	t.Logf("figures: submit to pods %v, pods succeeded to job completed %v", toPods.Round(time.Millisecond), time.Since(succeeded).Round(time.Millisecond))
	e.livePods(j1, 0) // finished pods are deleted, and the Service
	e.until("the gang's Service deleted", func() (bool, string) {
		_, err := e.kube.CoreV1().Services("jobs").Get(e.ctx, group, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})

	// A node goes NotReady under a running job: its cards are reported in
	// error, the job is requeued onto another node, the old pod deleted.
	j2 := e.submit(1, nil)
	old := e.livePods(j2, 1)[0]
	e.setPhase([]corev1.Pod{old}, corev1.PodRunning)
	e.jobState(j2, v1.StateRunning)
	e.setReady(old.Spec.NodeName, false)
	moved := e.replaced(j2, old)
	if moved.Spec.NodeName == old.Spec.NodeName {
		t.Errorf("the job was placed again on its NotReady node %s", old.Spec.NodeName)
	}
	ns, _ := e.admin.Nodes(e.ctx, "k8s")
	for _, n := range ns {
		if n.ID == "k8s-"+old.Spec.NodeName && (n.State != v1.NodeUnhealthy || !strings.Contains(n.Reason, "not Ready")) {
			t.Errorf("NotReady node shows %s (%s)", n.State, n.Reason)
		}
	}
	e.setPhase([]corev1.Pod{moved}, corev1.PodRunning)
	e.jobState(j2, v1.StateRunning)

	// The API server becomes unreachable: heartbeats stop, the server loses
	// the nodes (capacity unknown) and requeues the job; the pods cannot be
	// touched meanwhile.
	e.px.cut()
	e.until("the bridge sees the site unreachable", func() (bool, string) {
		return !e.bridge.Status().Reachable, ""
	})
	e.until("the site's capacity unknown", func() (bool, string) {
		ns, err := e.admin.Nodes(e.ctx, "k8s")
		if err != nil {
			return false, err.Error()
		}
		lost := 0
		for _, n := range ns {
			if n.State == v1.NodeReady {
				return false, nodeStates(ns)
			}
			if n.State == v1.NodeLost {
				lost++
			}
		}
		return lost == 2, nodeStates(ns)
	})
	var capacity struct {
		AI      struct{ Cards int64 } `json:"ai"`
		Unknown *struct {
			Cards int64
			Sites []struct {
				Site  string
				Cards int64
			}
		} `json:"unknown"`
	}
	if err := e.admin.Get(e.ctx, "/v1/capacity", &capacity); err != nil {
		t.Fatal(err)
	}
	if u := capacity.Unknown; capacity.AI.Cards != 32 || u == nil || u.Cards != 16 || len(u.Sites) != 1 || u.Sites[0].Site != "k8s" {
		t.Errorf("capacity while the site is cut: %+v", capacity)
	}
	if j, _ := e.admin.Job(e.ctx, j2); j.State != v1.StatePending && j.State != v1.StateBlocked {
		t.Errorf("job on a lost site is %s, want it requeued", j.State)
	}
	// The site returns: the nodes register again, the pod of the placement
	// the server requeued is deleted before the new placement's pod is
	// created (the watch sees them in that order), and the job runs in
	// exactly one pod.
	w, err := e.kube.CoreV1().Pods("jobs").Watch(e.ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + labelValue(j2)})
	if err != nil {
		t.Fatal(err)
	}
	e.px.start(t)
	again := e.replaced(j2, moved)
	deletedFirst := false
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if p.Name == moved.Name && (ev.Type == "DELETED" || p.DeletionTimestamp != nil) {
			deletedFirst = true
		}
		if p.Name == again.Name {
			if !deletedFirst {
				t.Errorf("pod %s of the new placement was created before pod %s of the requeued one was deleted", again.Name, moved.Name)
			}
			break
		}
	}
	w.Stop()
	e.setPhase([]corev1.Pod{again}, corev1.PodRunning)
	e.jobState(j2, v1.StateRunning)

	// A restarted bridge dispatches every placement again: the pods exist,
	// so nothing is created twice.
	dispatched := e.bridge.Status().Dispatched
	e.stop()
	e.startBridge()
	e.until("the new bridge has dispatched the running job", func() (bool, string) {
		s := e.bridge.Status()
		return s.Dispatched >= 1 && s.Registered == 4, ""
	})
	if p := e.livePods(j2, 1)[0]; p.Name != again.Name || p.UID != again.UID {
		t.Errorf("after the restart the job runs in pod %s (%s), want %s (%s)", p.Name, p.UID, again.Name, again.UID)
	}
	t.Logf("first bridge dispatched %d placements", dispatched)
	e.setPhase([]corev1.Pod{again}, corev1.PodSucceeded)
	e.jobState(j2, v1.StateCompleted)

	// A cancelled job's pods are deleted with the grace period.
	e.setReady(old.Spec.NodeName, true)
	j3 := e.submit(1, nil)
	p3 := e.livePods(j3, 1)[0]
	if _, err := e.admin.Cancel(e.ctx, j3); err != nil {
		t.Fatal(err)
	}
	e.livePods(j3, 0)
	if got, err := e.kube.CoreV1().Pods("jobs").Get(e.ctx, p3.Name, metav1.GetOptions{}); err == nil &&
		(got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 5) {
		t.Errorf("cancelled pod deleted with grace %v, want 5 s", got.DeletionGracePeriodSeconds)
	}

	// A pod Kubernetes evicts from a Ready node is not the job's fault: the
	// bridge says "requeue me", and the job, which has no retries, is
	// placed again (a new pod) instead of failing.
	j5 := e.submit(1, nil)
	p5 := e.livePods(j5, 1)[0]
	e.setPhase([]corev1.Pod{p5}, corev1.PodRunning)
	e.jobState(j5, v1.StateRunning)
	ev, err := e.kube.CoreV1().Pods("jobs").Get(e.ctx, p5.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev.Status.Phase, ev.Status.Reason, ev.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
	if _, err := e.kube.CoreV1().Pods("jobs").UpdateStatus(e.ctx, ev, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p5again := e.replaced(j5, p5)
	e.setPhase([]corev1.Pod{p5again}, corev1.PodRunning)
	e.jobState(j5, v1.StateRunning)
	if j, _ := e.admin.Job(e.ctx, j5); len(j.Retries) != 0 {
		t.Errorf("an eviction used a retry: %+v", j.Retries)
	}
	if _, err := e.admin.Cancel(e.ctx, j5); err != nil {
		t.Fatal(err)
	}
	e.livePods(j5, 0)

	// A worker whose container fails fails the job. (The bridge reports the
	// exit code; the server keeps the core's reason for ended jobs, so the
	// API does not show it.)
	j4 := e.submit(1, nil)
	p4 := e.livePods(j4, 1)[0]
	p4.Status.Phase = corev1.PodFailed
	p4.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "worker", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}}}
	if _, err := e.kube.CoreV1().Pods("jobs").UpdateStatus(e.ctx, &p4, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("job "+j4+" failed", func() (bool, string) {
		j, err := e.admin.Job(e.ctx, j4)
		return err == nil && j.State == v1.StateFailed, j.State + " " + j.Reason
	})
}

// TestBridgeVolcano: at a Volcano site a gang's placement becomes a
// PodGroup of minMember = workers and pods left to Volcano's scheduler,
// pinned by node affinity; both go when the job ends.
func TestBridgeVolcano(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	e := newBridgeEnv(t, true)
	j := e.submit(2, nil)
	pods := e.livePods(j, 2)
	job, _ := e.admin.Job(e.ctx, j)
	group := pods[0].Annotations["scheduling.k8s.io/group-name"]
	pg, err := e.dyn.Resource(PodGroupGVR).Namespace("jobs").Get(e.ctx, group, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mm, _, _ := unstructuredInt(pg.Object, "spec", "minMember"); mm != 2 {
		t.Errorf("PodGroup minMember = %d, want 2", mm)
	}
	for _, p := range pods {
		rank, _ := strconv.Atoi(env(p.Spec.Containers[0], "RANK"))
		want := strings.TrimPrefix(job.Placement.Assignments[rank].Node, "k8s-")
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if p.Spec.SchedulerName != "volcano" || p.Spec.NodeName != "" || terms[0].MatchExpressions[0].Values[0] != want {
			t.Errorf("pod %s: scheduler %q, node %q, affinity %v; want volcano pinned to %s", p.Name, p.Spec.SchedulerName, p.Spec.NodeName, terms, want)
		}
	}
	e.setPhase(pods, corev1.PodSucceeded)
	e.jobState(j, v1.StateCompleted)
	e.until("the PodGroup deleted", func() (bool, string) {
		_, err := e.dyn.Resource(PodGroupGVR).Namespace("jobs").Get(e.ctx, group, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// TestBridgeUnreachableAtStart: a bridge whose API server never answers
// registers the site's nodes, once a lease has passed, with their cards in
// Error, so that the server places nothing on capacity it cannot see
// (unregistered nodes count as healthy).
func TestBridgeUnreachableAtStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nw, admin, agent := startSuanli(t, ctx, 100*time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	nodes := append([]model.Node(nil), nw.Nodes...)
	b, err := NewBridge(BridgeConfig{Site: "k8s", Nodes: nodes, Catalog: nw.Catalog, Server: agent, Image: "x",
		Kube:  mustCore(t, &rest.Config{Host: "https://" + closed, Timeout: 200 * time.Millisecond}),
		Lease: v1.Lease{Period: 100 * time.Millisecond, Missed: 3}, ProbeEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(bctx) }()
	defer func() {
		bcancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8,
		Models: []string{"huawei-ascend-910b3"}, Workload: &v1.Workload{Command: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ns, err := admin.Nodes(ctx, "k8s")
		if err != nil {
			t.Fatal(err)
		}
		blind := 0
		for _, n := range ns {
			if n.State == v1.NodeUnhealthy && strings.Contains(n.Reason, "capacity unknown") {
				blind++
			}
		}
		got, err := admin.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if blind == len(ns) && got.State == v1.StateBlocked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %s; job %s", nodeStates(ns), got.State)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if s := b.Status(); s.Registered != 4 || s.Heartbeats != 0 || s.Reachable {
		t.Errorf("status %+v: want 4 nodes registered, no heartbeat, unreachable", s)
	}
}
