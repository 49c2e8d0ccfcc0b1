package kube

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/kube/kubetest"
	"github.com/suanli/suanli/internal/model"
)

func node(name string, ready bool, labels map[string]string, res map[string]int64) corev1.Node {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("192"),
		corev1.ResourceMemory: resource.MustParse("1536Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for r, n := range res {
		alloc[corev1.ResourceName(r)] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{
			Allocatable: alloc, Capacity: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
		},
	}
}

func testNodes() []corev1.Node {
	return []corev1.Node{
		node("ascend-0", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8, "huawei.com/Ascend910B3-memory": 65536}),
		node("ascend-1", false, map[string]string{LabelDomain: "rack-a"}, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("mlu-0", true, map[string]string{LabelModel: "cambricon-mlu370-x8"}, map[string]int64{"cambricon.com/mlu": 16}),
		node("gpu-0", true, map[string]string{NvidiaProduct: "NVIDIA-H20"}, map[string]int64{"nvidia.com/gpu": 8}),
		node("gpu-1", true, nil, map[string]int64{"nvidia.com/gpu": 8}),
		node("odd-0", true, nil, map[string]int64{"acme.com/npu": 4}),
	}
}

func TestBuildInventory(t *testing.T) {
	inv := BuildInventory("k8s", catalog.Default(), testNodes())
	got := map[model.NodeID]string{}
	for _, n := range inv.Nodes {
		got[n.ID] = n.Model
		if n.Cards <= 0 || n.CPUCores != 192 || n.MemGiB != 1536 {
			t.Errorf("%s: %+v", n.ID, n)
		}
	}
	want := map[model.NodeID]string{
		"k8s-ascend-0": "huawei-ascend-910b3", "k8s-ascend-1": "huawei-ascend-910b3",
		"k8s-mlu-0": "cambricon-mlu370-x8", "k8s-gpu-0": "nvidia-h20",
	}
	for id, m := range want {
		if got[id] != m {
			t.Errorf("%s → %q, want %q", id, got[id], m)
		}
	}
	if len(inv.Nodes) != len(want) {
		t.Errorf("nodes %v", got)
	}
	if inv.Resource["k8s-ascend-0"] != "huawei.com/Ascend910B3" {
		t.Errorf("resource %q: the -memory resource is a share, not a card count", inv.Resource["k8s-ascend-0"])
	}
	if len(inv.NotReady) != 1 || inv.NotReady[0] != "k8s-ascend-1" {
		t.Errorf("not ready = %v", inv.NotReady)
	}
	// Unknown and ambiguous names are reported, never dropped.
	var unknown []string
	for _, u := range inv.Unknown {
		unknown = append(unknown, u.Node+" "+u.Resource+": "+u.Reason)
	}
	text := strings.Join(unknown, "\n")
	if !strings.Contains(text, "gpu-1 nvidia.com/gpu: the name is shared by") || !strings.Contains(text, "odd-0 acme.com/npu: no catalog model") {
		t.Errorf("unknown resources:\n%s", text)
	}
}

func placement() (*model.Job, model.Placement) {
	job := &model.Job{ID: "Train/Job_1", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 8}
	return job, model.Placement{Job: job.ID, Assignments: []model.Assignment{
		{Worker: 0, Node: "k8s-ascend-0", Model: "huawei-ascend-910b3", Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{Worker: 1, Node: "k8s-ascend-1", Model: "huawei-ascend-910b3", Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}},
	}}
}

func dispatcher(objs ...runtime.Object) (*Dispatcher, *kubetest.Client) {
	cs := kubetest.NewFake(objs...)
	inv := BuildInventory("k8s", catalog.Default(), testNodes())
	return &Dispatcher{
		Site: "k8s", Client: clientsetCore{cs}, Catalog: catalog.Default(), Namespace: "jobs", GraceSeconds: 30,
		Resource: func(id model.NodeID) (string, bool) { r, ok := inv.Resource[id]; return r, ok },
	}, cs
}

func TestDispatchIsIdempotent(t *testing.T) {
	d, cs := dispatcher()
	job, p := placement()
	ctx := context.Background()
	for range 2 { // a retry after a lost connection
		if err := d.Dispatch(ctx, job, p, Workload{Image: "train:1"}); err != nil {
			t.Fatal(err)
		}
	}
	pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 2 {
		t.Fatalf("%d pods after two dispatches, want 2", len(pods.Items))
	}
	for i, pod := range pods.Items {
		if !strings.HasPrefix(pod.Name, "sl-train-job-1-") || len(pod.Name) > 63 {
			t.Errorf("pod name %q", pod.Name)
		}
		q := pod.Spec.Containers[0].Resources.Limits["huawei.com/Ascend910B3"]
		if q.Value() != 8 {
			t.Errorf("pod %s asks for %v Ascend910B3", pod.Name, q)
		}
		env := map[string]string{}
		for _, e := range pod.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if env["WORLD_SIZE"] != "2" || env["MASTER_PORT"] != "29500" || env["RANK"] != pod.Labels[LabelWorker] {
			t.Errorf("pod %d env %v", i, env)
		}
	}
	if pods.Items[0].Spec.NodeName != "ascend-0" || pods.Items[1].Spec.NodeName != "ascend-1" {
		t.Errorf("pods not pinned: %s %s", pods.Items[0].Spec.NodeName, pods.Items[1].Spec.NodeName)
	}
	// Another placement of the same job gets other names.
	p2 := p
	p2.Assignments = p.Assignments[:1]
	if PodName(job.ID, p, 0) == PodName(job.ID, p2, 0) {
		t.Error("different placements share pod names")
	}
	if err := d.Cancel(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	pods, _ = cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("%d pods left after cancel", len(pods.Items))
	}
}

func TestDispatchErrors(t *testing.T) {
	d, _ := dispatcher()
	job, p := placement()
	p.Assignments[1].Node = "elsewhere-n1"
	if _, err := d.Pods(job, p, Workload{}); err == nil || !strings.Contains(err.Error(), "not at site k8s") {
		t.Errorf("foreign node: %v", err)
	}
	job, p = placement()
	p.Assignments[0] = model.Assignment{Node: "k8s-mlu-0", Model: "biren-br100", Cards: []int{0}, ShareMilli: 250, MemMiB: 4096}
	_, err := d.Pods(job, p, Workload{})
	if err == nil || !strings.Contains(err.Error(), "sharing resources") {
		t.Errorf("fractional without sharing resources: %v", err)
	}
	p.Assignments[0] = model.Assignment{Node: "k8s-ascend-0", Model: "huawei-ascend-910b3", Cards: []int{0}, ShareMilli: 250, MemMiB: 4096}
	pods, err := d.Pods(job, model.Placement{Job: job.ID, Assignments: p.Assignments[:1]}, Workload{})
	if err != nil {
		t.Fatal(err)
	}
	lim := pods[0].Spec.Containers[0].Resources.Limits
	mem, core := lim["huawei.com/Ascend910B3-memory"], lim["huawei.com/Ascend910B3-core"]
	if mem.Value() != 4096 || core.Value() != 25 {
		t.Errorf("fractional limits %v", lim)
	}
}

func TestVolcanoPodGroup(t *testing.T) {
	d, cs := dispatcher()
	d.Volcano = true
	d.Dynamic = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schemaGVR]string{PodGroupGVR: "PodGroupList"})
	job, p := placement()
	ctx := context.Background()
	if err := d.Dispatch(ctx, job, p, Workload{Image: "x"}); err != nil {
		t.Fatal(err)
	}
	pg, err := d.Dynamic.Resource(PodGroupGVR).Namespace("jobs").Get(ctx, GroupName(job.ID, p), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mm, _, _ := unstructuredInt(pg.Object, "spec", "minMember"); mm != 2 {
		t.Errorf("minMember = %d", mm)
	}
	pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
	for _, pod := range pods.Items {
		if pod.Spec.SchedulerName != "volcano" || pod.Annotations["scheduling.k8s.io/group-name"] != GroupName(job.ID, p) || pod.Spec.NodeName != "" {
			t.Errorf("volcano pod %s: scheduler %q group %q node %q", pod.Name, pod.Spec.SchedulerName, pod.Annotations["scheduling.k8s.io/group-name"], pod.Spec.NodeName)
		}
	}
}

func pod(name string, phase corev1.PodPhase, reason string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase, Reason: reason}}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		pods    []corev1.Pod
		state   model.JobState
		requeue bool
	}{
		{[]corev1.Pod{pod("a", corev1.PodPending, ""), pod("b", corev1.PodRunning, "")}, model.Placed, false},
		{[]corev1.Pod{pod("a", corev1.PodRunning, ""), pod("b", corev1.PodRunning, "")}, model.Running, false},
		{[]corev1.Pod{pod("a", corev1.PodSucceeded, ""), pod("b", corev1.PodRunning, "")}, model.Running, false},
		{[]corev1.Pod{pod("a", corev1.PodSucceeded, ""), pod("b", corev1.PodSucceeded, "")}, model.Completed, false},
		{[]corev1.Pod{pod("a", corev1.PodFailed, ""), pod("b", corev1.PodRunning, "")}, model.Failed, false},
		{[]corev1.Pod{pod("a", corev1.PodFailed, "Evicted"), pod("b", corev1.PodRunning, "")}, model.Preempted, true},
		{[]corev1.Pod{pod("a", corev1.PodSucceeded, "")}, model.Placed, false}, // one of two pods seen yet
	}
	for i, tt := range tests {
		st := StatusOf("j", 2, tt.pods)
		if st.State != tt.state || st.Requeue != tt.requeue {
			t.Errorf("case %d: %+v, want %s requeue=%v", i, st, tt.state, tt.requeue)
		}
	}
	// A failure names the failed pod's worker.
	failed := pod("b", corev1.PodFailed, "")
	failed.Labels = map[string]string{LabelWorker: "1"}
	if st := StatusOf("j", 2, []corev1.Pod{pod("a", corev1.PodRunning, ""), failed}); st.State != model.Failed || st.Worker != 1 {
		t.Errorf("failed worker 1: %+v", st)
	}
}

// TestDispatchWorkShare: each pod of a mixed-model gang carries its
// worker's share of the step as SUANLI_WORK_SHARE(_MILLI); a homogeneous
// gang's pods carry neither.
func TestDispatchWorkShare(t *testing.T) {
	d, cs := dispatcher()
	ctx := context.Background()
	job := &model.Job{ID: "mixed", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 8, Mixed: true}
	p := model.Placement{Job: job.ID, Assignments: []model.Assignment{
		{Worker: 0, Node: "k8s-ascend-0", Model: "huawei-ascend-910b3", Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}, WorkShareMilli: 653},
		{Worker: 1, Node: "k8s-mlu-0", Model: "cambricon-mlu370-x8", Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}, WorkShareMilli: 347},
	}}
	if err := d.Dispatch(ctx, job, p, Workload{Image: "train:1"}); err != nil {
		t.Fatal(err)
	}
	pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
	want := map[string][2]string{"0": {"0.653", "653"}, "1": {"0.347", "347"}}
	if len(pods.Items) != 2 {
		t.Fatalf("%d pods", len(pods.Items))
	}
	for _, pod := range pods.Items {
		env := map[string]string{}
		for _, e := range pod.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		w := want[pod.Labels[LabelWorker]]
		if env["SUANLI_WORK_SHARE"] != w[0] || env["SUANLI_WORK_SHARE_MILLI"] != w[1] {
			t.Errorf("worker %s: SUANLI_WORK_SHARE=%q _MILLI=%q, want %v", pod.Labels[LabelWorker], env["SUANLI_WORK_SHARE"], env["SUANLI_WORK_SHARE_MILLI"], w)
		}
	}
	d2, cs2 := dispatcher()
	hj, hp := placement()
	if err := d2.Dispatch(ctx, hj, hp, Workload{Image: "train:1"}); err != nil {
		t.Fatal(err)
	}
	pods, _ = cs2.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{})
	for _, pod := range pods.Items {
		for _, e := range pod.Spec.Containers[0].Env {
			if strings.HasPrefix(e.Name, "SUANLI_WORK_SHARE") {
				t.Errorf("homogeneous gang pod has %s=%s", e.Name, e.Value)
			}
		}
	}
}
