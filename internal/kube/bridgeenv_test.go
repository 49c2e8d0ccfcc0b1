package kube

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/kube/kubetest"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

func newBridgeEnv(t *testing.T, volcano bool) *bridgeEnv {
	cfg := kubetest.Start(t, podGroupCRD())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &bridgeEnv{t: t, ctx: ctx, volcano: volcano}

	host := strings.TrimSuffix(strings.TrimPrefix(cfg.Host, "https://"), "/")
	e.px = &proxy{addr: "127.0.0.1:0", target: host}
	e.px.start(t)
	t.Cleanup(e.px.cut)
	siteCfg := rest.CopyConfig(cfg)
	siteCfg.Host = "https://" + e.px.addr
	siteCfg.Timeout, siteCfg.QPS, siteCfg.Burst = 2*time.Second, 200, 400
	e.site = mustCore(t, siteCfg)
	e.dyn = dynamic.NewForConfigOrDie(siteCfg)
	e.kube = kubetest.NewClient(t, cfg)
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jobs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []corev1.Node{
		node("ascend-0", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("ascend-1", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("ascend-2", true, nil, map[string]int64{"huawei.com/Ascend910B3": 8}),
		node("metax-0", true, nil, map[string]int64{"metax-tech.com/gpu": 8}),
	} {
		status := n.Status
		created, err := e.kube.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = status
		if _, err := e.kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	e.nw, e.admin, e.agent = startSuanli(t, ctx, 300*time.Millisecond)
	e.startBridge()
	return e
}

// startSuanli runs the real server on the bridge spec's network (mem
// store, HTTP) with heartbeats every period, and returns the network, an
// admin client and an agent client. Tenant acme exists.
func startSuanli(t *testing.T, ctx context.Context, period time.Duration) (*network.Network, *v1.Client, *v1.Client) {
	return startSuanliSpec(t, ctx, period, bridgeSpec)
}

// startSuanliSpec is startSuanli on another network spec; the agent token
// is bound to all of its sites.
func startSuanliSpec(t *testing.T, ctx context.Context, period time.Duration, spec string) (*network.Network, *v1.Client, *v1.Client) {
	nw, err := network.Parse([]byte(spec), "bridge-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw,
		Heartbeat: period, MissedBeats: 3, LostAfter: period, TickEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { defer close(sdone); _ = srv.Run(sctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	t.Cleanup(func() { hs.Close(); scancel(); <-sdone })
	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, path); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	admin := v1.NewClient(hs.URL, strings.TrimSpace(string(secret)))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	var sites []string
	for _, s := range nw.Sites {
		sites = append(sites, string(s.ID))
	}
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "kube bridge", Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	return nw, admin, v1.NewClient(hs.URL, tok.Secret)
}

func (e *bridgeEnv) startBridge() {
	t := e.t
	var nodes []model.Node
	for _, n := range e.nw.Nodes {
		if n.Site == "k8s" {
			nodes = append(nodes, n)
		}
	}
	b, err := NewBridge(BridgeConfig{Site: "k8s", Nodes: nodes, Kube: e.site, Dynamic: e.dyn, Volcano: e.volcano, Catalog: e.nw.Catalog, Server: e.agent,
		Namespace: "jobs", Image: "registry.local/train:1", GraceSeconds: 5, ProbeEvery: 200 * time.Millisecond,
		Version: "test", Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once bool
	e.bridge = b
	e.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	}
	t.Cleanup(e.stop)
}

// until polls cond (an external system: the API server, the Suanli
// server) until it holds, for at most 30 s.
func (e *bridgeEnv) until(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; last: %s", what, state)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (e *bridgeEnv) submit(workers int, env map[string]string) string {
	e.t.Helper()
	j, err := e.admin.Submit(e.ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: workers, CardsPerWorker: 8,
		Models: []string{"huawei-ascend-910b3"}, Workload: &v1.Workload{Command: []string{"python", "train.py"}, Env: env}})
	if err != nil {
		e.t.Fatal(err)
	}
	return j.ID
}

func (e *bridgeEnv) pods(job string) []corev1.Pod {
	e.t.Helper()
	list, err := e.kube.CoreV1().Pods("jobs").List(e.ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + labelValue(job)})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// livePods waits until the job has exactly n pods not being deleted, and
// returns them.
func (e *bridgeEnv) livePods(job string, n int) []corev1.Pod {
	e.t.Helper()
	var live []corev1.Pod
	e.until(strconv.Itoa(n)+" live pods of "+job, func() (bool, string) {
		ps := e.pods(job)
		live = alive(ps)
		return len(live) == n, podSummary(ps)
	})
	return live
}

// replaced waits until the job runs in one live pod other than old, with
// old deleted or being deleted; two live pods at any time fail the test.
func (e *bridgeEnv) replaced(job string, old corev1.Pod) corev1.Pod {
	e.t.Helper()
	var now corev1.Pod
	e.until("pod "+old.Name+" of "+job+" replaced", func() (bool, string) {
		ps := e.pods(job)
		live := alive(ps)
		if len(live) > 1 {
			e.t.Fatalf("job %s has %d live pods: %s", job, len(live), podSummary(ps))
		}
		if len(live) != 1 || live[0].Name == old.Name {
			return false, podSummary(ps)
		}
		now = live[0]
		return true, ""
	})
	return now
}

func alive(ps []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range ps {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// setPhase plays the kubelet.
func (e *bridgeEnv) setPhase(pods []corev1.Pod, phase corev1.PodPhase) {
	e.t.Helper()
	for _, p := range pods {
		cur, err := e.kube.CoreV1().Pods("jobs").Get(e.ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		cur.Status.Phase = phase
		if _, err := e.kube.CoreV1().Pods("jobs").UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *bridgeEnv) setReady(name string, ready bool) {
	e.t.Helper()
	n, err := e.kube.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n.Status.Conditions[0].Status = map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready]
	if _, err := e.kube.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *bridgeEnv) jobState(id, state string) {
	e.t.Helper()
	e.until("job "+id+" "+state, func() (bool, string) {
		j, err := e.admin.Job(e.ctx, id)
		if err != nil {
			return false, err.Error()
		}
		if j.State == v1.StateFailed || j.State == v1.StateCancelled {
			e.t.Fatalf("job %s is %s: %s", id, j.State, j.Reason)
		}
		return j.State == state, j.State + " " + j.Reason
	})
}

func env(c corev1.Container, name string) string {
	for _, v := range c.Env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

func nodeStates(ns []v1.Node) string {
	var b strings.Builder
	for _, n := range ns {
		b.WriteString(n.ID + "=" + n.State + " ")
	}
	return b.String()
}

func podSummary(ps []corev1.Pod) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Name + "@" + p.Spec.NodeName + ":" + string(p.Status.Phase))
		if p.DeletionTimestamp != nil {
			b.WriteString("(deleting)")
		}
		b.WriteString(" ")
	}
	return b.String()
}
