package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

func envOf(w Want) map[string]string {
	m := map[string]string{}
	for _, kv := range w.Task.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestWantsGangAcrossNodes(t *testing.T) {
	placed := time.Unix(1700000000, 5)
	jobs := []v1.AssignedJob{{
		Job: v1.Job{ID: "g1", State: v1.StateRunning, PlacedAt: &placed, Spec: v1.JobSpec{Kind: "gang", Workers: 3, RuntimeSec: 60},
			Placement: &v1.Placement{Assignments: []v1.Assignment{
				{Worker: 0, Node: "n0", Model: "metax-c500", Cards: []int{0, 1}},
				{Worker: 1, Node: "n1", Model: "metax-c500", Cards: []int{6, 4}},
				{Worker: 2, Node: "n1", Model: "metax-c500", Cards: []int{7}},
			}}},
		Workload:   &v1.Workload{Command: []string{"python", "train.py"}, Env: map[string]string{"LR": "0.1"}},
		Checkpoint: 40,
	}, {
		Job: v1.Job{ID: "done", State: v1.StateCompleted, Placement: &v1.Placement{Assignments: []v1.Assignment{{Node: "n1"}}}},
	}, {
		Job: v1.Job{ID: "inf", State: v1.StatePlaced, Spec: v1.JobSpec{Kind: "inference", Workers: 2},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 1, Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{0}}}}},
	}}
	ws := Wants("n1", "10.0.0.1", "/var/ck", jobs, func(m string) string { v, _, _ := strings.Cut(m, "-"); return v })
	if len(ws) != 3 {
		t.Fatalf("%d wants, want 3 (two gang workers and one replica; the completed job none)", len(ws))
	}
	w := ws[0]
	if w.Key != "g1/1@"+strconv.FormatInt(placed.UnixNano(), 10) || w.Simulated || !slices.Equal(w.Task.Command, []string{"python", "train.py"}) {
		t.Fatalf("want %+v", w)
	}
	e := envOf(w)
	want := map[string]string{"MACA_VISIBLE_DEVICES": "4,6", "WORLD_SIZE": "3", "RANK": "1", "MASTER_ADDR": "n0",
		"MASTER_PORT": strconv.Itoa(workload.MasterPort("g1")), "SUANLI_CHECKPOINT_DIR": "/var/ck/g1/1", "SUANLI_RESUME_STEP": "40", "LR": "0.1"}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s=%q, want %q", k, e[k], v)
		}
	}
	if w.Task.ResumeStep != 40 || w.Task.CheckpointDir != "/var/ck/g1/1" {
		t.Errorf("task %+v", w.Task)
	}
	if envOf(ws[1])["RANK"] != "2" {
		t.Errorf("second worker env %v", envOf(ws[1]))
	}
	inf := envOf(ws[2])
	if !ws[2].Simulated || inf["ASCEND_RT_VISIBLE_DEVICES"] != "0" || inf["RANK"] != "" || inf["SUANLI_WORKER"] != "1" {
		t.Errorf("replica %+v env %v", ws[2], inf)
	}
	// Rank 0 on this node: MASTER_ADDR is this node's address.
	ws = Wants("n0", "10.0.0.9", "", jobs[:1], func(string) string { return "metax" })
	if len(ws) != 1 || envOf(ws[0])["MASTER_ADDR"] != "10.0.0.9" || envOf(ws[0])["SUANLI_CHECKPOINT_DIR"] != "" {
		t.Errorf("rank 0 wants %+v", ws)
	}
}

// TestWantsWorkShare: a mixed-model gang's worker gets the work share the
// scheduler sized for it in its environment; a homogeneous gang's does not.
func TestWantsWorkShare(t *testing.T) {
	placed := time.Unix(1700000000, 0)
	jobs := []v1.AssignedJob{{Job: v1.Job{ID: "m1", State: v1.StatePlaced, PlacedAt: &placed, Spec: v1.JobSpec{Kind: "gang", Workers: 2, Mixed: true},
		Placement: &v1.Placement{Assignments: []v1.Assignment{
			{Worker: 0, Node: "n0", Model: "huawei-ascend-910b3", Cards: []int{0}, WorkShareMilli: 653},
			{Worker: 1, Node: "n1", Model: "metax-c500", Cards: []int{0}, WorkShareMilli: 347},
		}}}}}
	vendor := func(m string) string { v, _, _ := strings.Cut(m, "-"); return v }
	for node, want := range map[string][2]string{"n0": {"0.653", "653"}, "n1": {"0.347", "347"}} {
		ws := Wants(node, "10.0.0.1", "", jobs, vendor)
		if len(ws) != 1 {
			t.Fatalf("%s: %d wants", node, len(ws))
		}
		e := envOf(ws[0])
		if e[workload.EnvWorkShare] != want[0] || e[workload.EnvWorkShareMilli] != want[1] {
			t.Errorf("%s: SUANLI_WORK_SHARE=%q _MILLI=%q, want %v", node, e[workload.EnvWorkShare], e[workload.EnvWorkShareMilli], want)
		}
	}
	jobs[0].Placement.Assignments[0].WorkShareMilli = 0
	if e := envOf(Wants("n0", "10.0.0.1", "", jobs, vendor)[0]); e[workload.EnvWorkShare] != "" || e[workload.EnvWorkShareMilli] != "" {
		t.Errorf("an equal share set %v", e)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"j-1": "j-1", "../x": ".._x", "..": "_..", "": "_", "a/b": "a_b"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// waitFor polls cond (real time, for tests with real processes).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentRunsRealProcesses(t *testing.T) {
	srv := agenttest.New(v1.Lease{Period: 20 * time.Millisecond, Missed: 3})
	c := v1.NewClient("http://suanli.test", "")
	c.HTTP = &http.Client{Transport: srv.Transport()}
	rep, _ := device.ParseSimulate("Ascend910B3x8")
	a, err := New(Config{Client: c, Node: "n1", Discoverer: device.Simulated{Report: rep}, Executor: workload.Proc{},
		Lease: srv.Lease, Rediscover: -1, CheckpointRoot: t.TempDir(), Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	script := `echo "devices=$ASCEND_RT_VISIBLE_DEVICES resume=$SUANLI_RESUME_STEP"; echo SUANLI_CHECKPOINT 7; echo 9 > "$SUANLI_CHECKPOINT_DIR/step"; exit 3`
	srv.Place(v1.Job{ID: "p1", Spec: v1.JobSpec{Kind: "batch", Workers: 1},
		Placement: &v1.Placement{Assignments: []v1.Assignment{{Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{5, 1}}}}},
		&v1.Workload{Command: []string{"/bin/sh", "-c", script}}, 2)
	waitFor(t, "the job to fail", func() bool { j, _, _ := srv.Job("p1"); return j.State == v1.StateFailed })
	reps := srv.Reports()
	var steps []int64
	for _, r := range reps {
		if r.Checkpoint != nil {
			steps = append(steps, r.Checkpoint.Step)
		}
	}
	last := reps[len(reps)-1]
	if last.State != v1.StateFailed || last.ExitCode == nil || *last.ExitCode != 3 || last.OutputTail != "devices=1,5 resume=2\nSUANLI_CHECKPOINT 7\n" {
		t.Fatalf("last report %+v", last)
	}
	if !slices.Equal(steps, []int64{7, 9}) {
		t.Fatalf("checkpoints %v, want [7 9] (stdout line, then the step file)", steps)
	}
}

// coarseServer is a server without per-worker reports: it answers them with
// the route-not-found error of the real API and records job reports.
type coarseServer struct {
	*agenttest.Server
	mu   sync.Mutex
	jobs []v1.StatusReport
}

func (c *coarseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/workers/") {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(v1.Error{Message: "no such endpoint " + r.Method + " " + r.URL.Path})
		return
	}
	if strings.HasSuffix(r.URL.Path, "/status") {
		var rep v1.StatusReport
		_ = json.NewDecoder(r.Body).Decode(&rep)
		c.mu.Lock()
		c.jobs = append(c.jobs, rep)
		c.mu.Unlock()
		_ = json.NewEncoder(w).Encode(v1.Job{})
		return
	}
	c.Server.ServeHTTP(w, r)
}

func TestFallsBackToJobReports(t *testing.T) {
	cs := &coarseServer{Server: agenttest.New(v1.Lease{Period: 20 * time.Millisecond, Missed: 3})}
	hs := httptest.NewServer(cs)
	defer hs.Close()
	rep, _ := device.ParseSimulate("Ascend910B3x1")
	a, err := New(Config{Client: v1.NewClient(hs.URL, ""), Node: "n1", Discoverer: device.Simulated{Report: rep},
		Simulator: workload.Sim{Seed: 1, Second: time.Millisecond, CheckpointEvery: 5}, Lease: cs.Lease, Rediscover: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	cs.Place(v1.Job{ID: "c1", Spec: v1.JobSpec{Kind: "batch", Workers: 1, RuntimeSec: 20},
		Placement: &v1.Placement{Assignments: []v1.Assignment{{Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{0}}}}}, nil, 0)
	waitFor(t, "a completed job report", func() bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return len(cs.jobs) > 0 && cs.jobs[len(cs.jobs)-1].State == v1.StateCompleted
	})
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.jobs) != 2 || cs.jobs[0].State != v1.StateRunning {
		t.Fatalf("job reports %+v, want running then completed (checkpoints are not sent)", cs.jobs)
	}
}

func TestWantsFractionalLimits(t *testing.T) {
	jobs := []v1.AssignedJob{{
		Job: v1.Job{ID: "inf", State: v1.StatePlaced, Spec: v1.JobSpec{Kind: "inference", Workers: 1},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "nvidia-h20", Cards: []int{3}, ShareMilli: 500, MemMiB: 48000}}}},
		Workload: &v1.Workload{Command: []string{"serve"}, Env: map[string]string{"CUDA_DEVICE_MEMORY_LIMIT": "999g"}},
	}, {
		Job: v1.Job{ID: "whole", State: v1.StatePlaced, Spec: v1.JobSpec{Kind: "batch", Workers: 1},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "nvidia-h20", Cards: []int{4}}}}},
		Workload: &v1.Workload{Command: []string{"train"}},
	}}
	ws := Wants("n1", "", "", jobs, func(string) string { return "nvidia" })
	e := envOf(ws[0])
	if e["CUDA_DEVICE_MEMORY_LIMIT"] != "48000m" || e["CUDA_DEVICE_SM_LIMIT"] != "50" || e["SUANLI_SHARE_MILLI"] != "500" ||
		e["CUDA_VISIBLE_DEVICES"] != "3" || ws[0].ShareMilli != 500 || ws[0].MemMiB != 48000 {
		t.Errorf("fractional worker env %v (the workload's own limit must not win)", e)
	}
	if w := envOf(ws[1]); w["SUANLI_SHARE_MILLI"] != "" || w["CUDA_DEVICE_MEMORY_LIMIT"] != "" {
		t.Errorf("whole-card worker got share limits: %v", w)
	}
}
