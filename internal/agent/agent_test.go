package agent

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

const period = 5 * time.Second

var lease = v1.Lease{Period: period, Missed: 3}

// mutableDiscoverer returns a report that a test may change.
type mutableDiscoverer struct {
	mu  sync.Mutex
	rep device.Report
}

func (m *mutableDiscoverer) Discover(ctx context.Context) (device.Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rep
	r.Devices = append([]device.Device(nil), m.rep.Devices...)
	return r, ctx.Err()
}

func (m *mutableDiscoverer) set(i int, h device.HealthState) {
	m.mu.Lock()
	m.rep.Devices[i].Health = device.Health{State: h, Raw: string(h)}
	m.mu.Unlock()
}

type env struct {
	srv   *agenttest.Server
	agent *Agent
	disc  *mutableDiscoverer
	stop  func()
}

// start runs an agent for node n1 (8 simulated Ascend 910B3) against an
// in-memory server; call it inside a synctest bubble.
func start(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	rep, err := device.ParseSimulate("Ascend910B3x8")
	if err != nil {
		t.Fatal(err)
	}
	srv := agenttest.New(lease)
	srv.Record = true
	srv.Token = "agent-secret"
	c := v1.NewClient("http://suanli.test", "agent-secret")
	c.HTTP = &http.Client{Transport: srv.Transport()}
	disc := &mutableDiscoverer{rep: rep}
	cfg := Config{Client: c, Node: "n1", Site: "s1", Domain: "d1", Labels: map[string]string{"rack": "r7"},
		Discoverer: disc, Simulator: workload.Sim{Seed: 1, CheckpointEvery: 10}, Lease: lease, Rediscover: -1}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	e := &env{srv: srv, agent: a, disc: disc, stop: func() { cancel(); <-done }}
	t.Cleanup(e.stop)
	synctest.Wait()
	return e
}

// place puts a one-worker batch job on n1.
func (e *env) place(id string, runtime int64, wl *v1.Workload, ckpt int64) {
	e.srv.Place(v1.Job{ID: id, Spec: v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 2, RuntimeSec: runtime},
		Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{2, 3}}}}}, wl, ckpt)
}

func TestRegistersWithDevicesAndLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		n, ok := e.srv.Node("n1")
		if !ok || n.Registered != 1 {
			t.Fatalf("node not registered once: %+v", n)
		}
		r := n.Reg
		if r.Site != "s1" || r.Domain != "d1" || r.Labels["rack"] != "r7" || r.Address != "n1" || len(r.Devices) != 8 {
			t.Fatalf("registration %+v", r)
		}
		for _, d := range r.Devices {
			if d.Model != "huawei-ascend-910b3" || d.Vendor != "huawei" || d.Health != "OK" {
				t.Fatalf("device %+v", d)
			}
		}
		if len(r.Domains) == 0 {
			t.Fatal("no topology domains registered")
		}
	})
}

func TestUnknownDevicesAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, func(c *Config) {
			c.Discoverer = device.Simulated{Report: device.Report{Devices: []device.Device{
				{Index: 0, Vendor: "hygon", Tool: "hy-smi", Name: "DCU-Z100"},
				{Index: 1, Vendor: "metax", Tool: "mx-smi", Name: "MetaX C500", ModelID: "metax-c500", Health: device.Health{State: device.HealthOK}},
			}}}
		})
		n, _ := e.srv.Node("n1")
		if len(n.Reg.Devices) != 2 || n.Reg.Devices[0].Model != "" || n.Reg.Devices[0].Name != "DCU-Z100" {
			t.Fatalf("devices %+v: the unknown one must be reported", n.Reg.Devices)
		}
		if st := e.agent.Status(); st.Unknown != 1 || st.Devices != 2 {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestHeartbeatsArriveAtThePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		t0 := time.Now()
		time.Sleep(10*period + period/2)
		synctest.Wait()
		n, _ := e.srv.Node("n1")
		if len(n.Beats) != 10 {
			t.Fatalf("%d heartbeats in 10.5 periods, want 10", len(n.Beats))
		}
		for i, b := range n.Beats {
			if want := t0.Add(time.Duration(i+1) * period); !b.Equal(want) {
				t.Fatalf("heartbeat %d at %s, want %s", i, b.Sub(t0), want.Sub(t0))
			}
		}
		if st := e.agent.Status(); st.Heartbeats != 10 || !st.Registered {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestServerLosesNodeAfterThreeMissedHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		time.Sleep(2*period + time.Second)
		e.srv.SetDown(true) // the beats at 3P, 4P, 5P are missed
		last := time.Now().Add(-time.Second)
		for _, at := range []time.Duration{period, 2 * period, 3 * period} {
			time.Sleep(time.Until(last.Add(at)))
			synctest.Wait()
			if lost := e.srv.Sweep(time.Now()); len(lost) != 0 {
				t.Fatalf("node lost %s after its last heartbeat, before three were missed", at)
			}
		}
		time.Sleep(time.Nanosecond)
		if lost := e.srv.Sweep(time.Now()); len(lost) != 1 || lost[0] != "n1" {
			t.Fatalf("after three missed heartbeats Sweep lost %v, want [n1]", lost)
		}
	})
}

func TestWorkersRunOnWhileTheServerIsUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		e.place("j1", 100000, nil, 0)
		// j2 ends while the server cannot be reached (a simulated worker
		// runs between half and all of its runtime).
		e.srv.Place(v1.Job{ID: "j2", Spec: v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, RuntimeSec: 30},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{7}}}}}, nil, 0)
		time.Sleep(period) // next heartbeat: the assignments are listed and started
		synctest.Wait()
		if st := e.agent.Status(); st.Running != 2 {
			t.Fatalf("workers not started: %+v", st)
		}
		e.srv.SetDown(true)
		time.Sleep(10 * period) // far more than three heartbeats
		synctest.Wait()
		st := e.agent.Status()
		if st.Running != 1 || st.Started != 2 || st.LeasesLost != 1 || !st.Registered {
			t.Fatalf("after 10 periods without the server: %+v; want j1 running on, j2 ended", st)
		}
		if j, _, _ := e.srv.Job("j2"); j.State == v1.StateCompleted {
			t.Fatal("j2's end reached a server that was down")
		}
		e.srv.SetDown(false)
		time.Sleep(period)
		synctest.Wait()
		if j, _, _ := e.srv.Job("j2"); j.State != v1.StateCompleted {
			t.Fatalf("j2 is %s on the server after it came back; the agent must report what ended meanwhile", j.State)
		}
		if n, _ := e.srv.Node("n1"); n.Registered != 1 {
			t.Fatalf("registered %d times: a server that kept the lease needs no new registration", n.Registered)
		}
		if st := e.agent.Status(); st.Running != 1 || st.Started != 2 {
			t.Fatalf("after the server came back: %+v", st)
		}

		// A longer partition: the server gives up on the node and places
		// j1 elsewhere. On return the agent registers again and stops its
		// copy; one copy survives.
		e.srv.SetDown(true)
		time.Sleep(10 * period)
		if lost := e.srv.Sweep(time.Now()); len(lost) != 1 {
			t.Fatalf("Sweep lost %v", lost)
		}
		e.srv.Place(v1.Job{ID: "j1", Spec: v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 2, RuntimeSec: 100000},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n2", Model: "huawei-ascend-910b3", Cards: []int{0, 1}}}}}, nil, 0)
		if st := e.agent.Status(); st.Running != 1 {
			t.Fatalf("j1 stopped before the agent heard from the server: %+v", st)
		}
		e.srv.SetDown(false)
		time.Sleep(2 * period)
		synctest.Wait()
		n, _ := e.srv.Node("n1")
		st = e.agent.Status()
		if n.Registered != 2 || n.Lost || st.Lease != n.Lease || st.Running != 0 || st.Started != 2 {
			t.Fatalf("after the server came back: node %+v, agent %+v; want registered again and j1's copy here stopped", n, st)
		}
	})
}

func TestRegistersAgainWhenTheServerForgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		e.place("j1", 100000, nil, 0)
		time.Sleep(period)
		synctest.Wait()
		old := e.agent.Status().Lease
		e.srv.Forget("n1")
		time.Sleep(period)
		synctest.Wait()
		n, ok := e.srv.Node("n1")
		st := e.agent.Status()
		if !ok || n.Lease == old || st.Lease != n.Lease || !st.Registered {
			t.Fatalf("not registered again: node %+v, agent %+v", n, st)
		}
		if st.Running != 1 || st.Started != 1 {
			t.Fatalf("the worker still assigned was restarted or stopped: %+v", st)
		}
		time.Sleep(3 * period)
		synctest.Wait()
		if n, _ := e.srv.Node("n1"); n.BeatCount < 3 {
			t.Fatalf("%d heartbeats after registering again", n.BeatCount)
		}
	})
}

func TestRunsAssignmentAndReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		e.place("j1", 100, nil, 20)
		time.Sleep(200 * time.Second)
		synctest.Wait()
		j, ckpt, _ := e.srv.Job("j1")
		if j.State != v1.StateCompleted {
			t.Fatalf("job %s, want completed", j.State)
		}
		reps := e.srv.Reports()
		if len(reps) < 3 || reps[0].State != v1.StateRunning || reps[0].Checkpoint != nil {
			t.Fatalf("reports %+v", reps)
		}
		last := reps[len(reps)-1]
		if last.State != v1.StateCompleted || last.ExitCode == nil || *last.ExitCode != 0 || last.OutputTail == "" || last.Node != "n1" {
			t.Fatalf("last report %+v", last)
		}
		steps := []int64{}
		for _, r := range reps[1 : len(reps)-1] {
			if r.Checkpoint == nil || r.State != v1.StateRunning {
				t.Fatalf("middle report %+v", r)
			}
			steps = append(steps, r.Checkpoint.Step)
		}
		if len(steps) == 0 || steps[0] != 30 || ckpt != steps[len(steps)-1] {
			t.Fatalf("checkpoint steps %v (resumed from 20), server holds %d", steps, ckpt)
		}
		if st := e.agent.Status(); st.Running != 0 {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestCancelStopsTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		e.place("j1", 100000, nil, 0)
		time.Sleep(period)
		synctest.Wait()
		e.srv.Cancel("j1")
		time.Sleep(period)
		synctest.Wait()
		if st := e.agent.Status(); st.Running != 0 {
			t.Fatalf("cancelled worker still runs: %+v", st)
		}
		reps := e.srv.Reports()
		last := reps[len(reps)-1]
		if last.State != v1.WorkerStopped || last.Signal != "SIGTERM" {
			t.Fatalf("last report %+v", last)
		}
	})
}

func TestDeviceErrorsAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, func(c *Config) { c.Rediscover = time.Minute })
		e.disc.set(5, device.HealthError)
		time.Sleep(time.Minute)
		synctest.Wait()
		n, _ := e.srv.Node("n1")
		if n.Devices[5].Health != "Error" || n.Devices[4].Health != "OK" {
			t.Fatalf("devices on the server: %+v", n.Devices)
		}
		if st := e.agent.Status(); st.Unhealthy != 1 {
			t.Fatalf("status %+v", st)
		}
		// A report that fails waits for the server.
		e.srv.SetDown(true)
		e.disc.set(5, device.HealthOK)
		time.Sleep(time.Minute)
		e.srv.SetDown(false)
		time.Sleep(2 * lease.TTL())
		synctest.Wait()
		if n, _ := e.srv.Node("n1"); n.Devices[5].Health != "OK" {
			t.Fatalf("recovered device not reported: %+v", n.Devices[5])
		}
	})
}

func TestShutdownStopsWorkersWithoutLeaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, nil)
		for _, id := range []string{"a", "b", "c"} {
			e.place(id, 100000, nil, 0)
		}
		time.Sleep(period)
		synctest.Wait()
		if st := e.agent.Status(); st.Running != 3 {
			t.Fatalf("status %+v", st)
		}
		e.stop()
		if st := e.agent.Status(); st.Running != 0 || st.Registered {
			t.Fatalf("after shutdown: %+v", st)
		}
		// synctest.Test fails if any goroutine of the bubble is left.
	})
}

func TestNewReportsEveryMissingField(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"client", "node", "discoverer", "executor"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestFractionalOveruseIsReported: a fractional worker whose card reads
// more device memory than its share is reported to the server once, as a
// running report with the reading; a reading back within the share and a
// whole-card worker are not reported.
func TestFractionalOveruseIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, func(c *Config) { c.Rediscover = time.Minute })
		e.srv.Place(v1.Job{ID: "half", Spec: v1.JobSpec{Kind: "inference", Workers: 1, RuntimeSec: 100000},
			Placement: &v1.Placement{Assignments: []v1.Assignment{{Worker: 0, Node: "n1", Model: "huawei-ascend-910b3", Cards: []int{1}, ShareMilli: 500, MemMiB: 32768}}}}, nil, 0)
		e.place("whole", 100000, nil, 0) // cards 2 and 3
		time.Sleep(period)
		synctest.Wait()
		setUsed := func(card int, mib int64) {
			e.disc.mu.Lock()
			e.disc.rep.Devices[card].MemUsedMiB = mib
			e.disc.mu.Unlock()
		}
		overuse := func() []string {
			var out []string
			for _, r := range e.srv.Reports() {
				if r.Overuse != "" {
					out = append(out, r.Job+": "+r.Overuse)
				}
			}
			return out
		}
		setUsed(1, 30000) // within the share
		setUsed(2, 65000) // a whole card: its own
		time.Sleep(time.Minute)
		synctest.Wait()
		if o := overuse(); len(o) != 0 {
			t.Fatalf("overuse reported within the share: %v", o)
		}
		setUsed(1, 40000)
		time.Sleep(3 * time.Minute) // three discoveries: reported once
		synctest.Wait()
		o := overuse()
		if len(o) != 1 || !strings.HasPrefix(o[0], "half: card 1 uses 40000 MiB") || !strings.Contains(o[0], "given 32768 MiB") {
			t.Fatalf("overuse reports %v, want one for half on card 1", o)
		}
		if st := e.agent.Status(); st.Overuse != 1 {
			t.Errorf("status overuse %d, want 1", st.Overuse)
		}
	})
}
