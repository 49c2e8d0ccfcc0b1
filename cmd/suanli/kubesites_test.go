package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/kube/kubetest"
)

// TestServeBadKubeconfig: a kubernetes site whose kubeconfig does not
// load stops serve before it starts, saying what to fix.
func TestServeBadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	spec, err := os.ReadFile("../../examples/network-kube.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "net.yaml")
	if err := os.WriteFile(path, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "serve", "--network", path, "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "suzhou-k8s: kubeconfig "+filepath.Join(dir, "suzhou.kubeconfig")) ||
		!strings.Contains(err.Error(), "--no-kube-bridges") {
		t.Fatalf("err = %v", err)
	}
}

// TestServeKubeSite: `suanli serve` on examples/network-kube.yaml, with its
// kubeconfig pointing at a real kube-apiserver, registers the site's nodes
// through its bridge (replacing a stale agent token), and a job submitted to it becomes a Pod bound to the
// placed node that, once it succeeds, completes the job.
func TestServeKubeSite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	cfg := kubetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kc := kubetest.NewClient(t, cfg)
	for _, name := range []string{"ascend-0", "ascend-1"} {
		n, err := kc.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		alloc := corev1.ResourceList{"huawei.com/Ascend910B4": *resource.NewQuantity(8, resource.DecimalSI),
			corev1.ResourceCPU: resource.MustParse("192"), corev1.ResourceMemory: resource.MustParse("1536Gi")}
		n.Status = corev1.NodeStatus{Allocatable: alloc, Capacity: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
		if _, err := kc.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The example spec, with its kubeconfig beside it.
	dir := t.TempDir()
	spec, err := os.ReadFile("../../examples/network-kube.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "network-kube.yaml")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	kcfg := clientcmdapi.NewConfig()
	kcfg.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kcfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kcfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kcfg.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kcfg, filepath.Join(dir, "suzhou.kubeconfig")); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	// A stale agent token (from another server) is replaced, not used.
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "kube-bridge.token"), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := serveConfig{Listen: addr, DataDir: data, net: netFlags{network: specPath},
		kube: kubeFlags{Namespace: "default", Image: "registry.local/train:1", Grace: 5 * time.Second}}
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, sc, slog.New(slog.NewTextHandler(t.Output(), nil)))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	var admin *v1.Client
	until(t, "the admin token", func() bool {
		b, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err == nil {
			admin = v1.NewClient("http://"+addr, strings.TrimSpace(string(b)))
		}
		return err == nil
	})
	until(t, "the site's nodes registered by the bridge", func() bool {
		ns, err := admin.Nodes(ctx, "suzhou-k8s")
		ready := 0
		for _, n := range ns {
			if n.State == v1.NodeReady && strings.HasPrefix(n.Agent, "suanli-kube-bridge") {
				ready++
			}
		}
		return err == nil && ready == 2
	})
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8,
		Workload: &v1.Workload{Command: []string{"python", "train.py"}}})
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	until(t, "the job's pod", func() bool {
		list, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "suanli.io/job"})
		if err != nil || len(list.Items) != 1 {
			return false
		}
		pod = list.Items[0]
		return true
	})
	got, _ := admin.Job(ctx, j.ID)
	q := pod.Spec.Containers[0].Resources.Limits["huawei.com/Ascend910B4"]
	if got.Placement == nil || "suzhou-k8s-"+pod.Spec.NodeName != got.Placement.Assignments[0].Node || q.Value() != 8 {
		t.Fatalf("pod on %q asks for %v Ascend910B4; placement %+v", pod.Spec.NodeName, q.Value(), got.Placement)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if _, err := kc.CoreV1().Pods("default").UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, "the job completed", func() bool {
		got, err := admin.Job(ctx, j.ID)
		return err == nil && got.State == v1.StateCompleted
	})
}

// until polls an external system (the API server, the served API) until
// cond holds, for at most 30 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
