package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/demo"
)

// syncBuffer is a bytes.Buffer safe for the demo's writer and the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs the demo in-process on a small network with a short lease
// and checks through the API that several tenants' jobs were submitted,
// started and completed, and that the jobs of the agent it killed were
// requeued when the server lost the node and placed again on other nodes.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for several seconds")
	}
	cfg := demoConfig{Addr: "127.0.0.1:0", addrSet: true, tick: 50 * time.Millisecond,
		Config: demo.Config{Heartbeat: 200 * time.Millisecond, Rate: 600, Load: 0.5, KillEvery: 2 * time.Second, Duration: time.Minute, Seed: 3},
		log:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	cfg.net.network = "../../internal/sim/testdata/small-network.yaml"
	type ready struct{ url, token string }
	readyc := make(chan ready, 1)
	kills := make(chan demo.Killed, 16)
	cfg.Ready = func(url, token string) { readyc <- ready{url, token} }
	cfg.OnKill = func(k demo.Killed) {
		select {
		case kills <- k:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, cfg, &out) }()
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	}()

	var r ready
	select {
	case r = <-readyc:
	case err := <-done:
		t.Fatalf("the demo stopped before it ran: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not start in 20 s")
	}
	admin := v1.NewClient(r.url, r.token)

	// A kill: its jobs must be requeued and placed on other nodes (killed
	// agents are not revived in this test). The demo picks the jobs from
	// the event stream, which may be a moment behind: a job that ended
	// before the kill proves nothing, so kills are taken until one had a
	// job placed again.
	var k demo.Killed
	for recovered := 0; recovered == 0; {
		select {
		case k = <-kills:
		case err := <-done:
			t.Fatalf("the demo stopped before killing an agent: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("no agent killed in 20 s")
		}
		recovered = checkRequeued(t, admin, k)
	}
	ns, err := admin.Nodes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.ID == k.Node && n.State != v1.NodeLost {
			t.Errorf("killed node %s is %s, want %s", n.ID, n.State, v1.NodeLost)
		}
	}
	if !auditHas(t, admin, "node.lost", k.Node) {
		t.Errorf("no node.lost audit entry for %s", k.Node)
	}

	// Several tenants' jobs, some completed, some running or completed
	// after starting.
	tenants := map[string]bool{}
	states := map[string]int{}
	for after := ""; ; {
		l, err := admin.Jobs(ctx, v1.JobFilter{Limit: 1000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			tenants[j.Spec.Tenant] = true
			states[j.State]++
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(tenants) < 3 {
		t.Errorf("jobs of %d tenants (%v), want at least 3", len(tenants), tenants)
	}
	if states[v1.StateCompleted] == 0 || states[v1.StateCompleted]+states[v1.StateRunning] < 5 {
		t.Errorf("job states %v: want completed jobs and more started", states)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop in 20 s after the interrupt")
	}
	got := out.String()
	for _, want := range []string{r.url + "/ui/", r.token, "killed the agent of node " + k.Node, "placed again on", "stopping"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// checkRequeued waits until no job of the kill is left on the lost node
// and returns how many were placed again elsewhere.
func checkRequeued(t *testing.T, admin *v1.Client, k demo.Killed) (recovered int) {
	t.Helper()
	if len(k.Jobs) == 0 {
		t.Fatalf("killed node %s ran no jobs", k.Node)
	}
	pending := slices.Clone(k.Jobs)
	last := map[string]*v1.Job{}
	for deadline := time.Now().Add(15 * time.Second); len(pending) > 0; {
		var still []string
		for _, id := range pending {
			j, err := admin.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			last[id] = j
			switch {
			case j.State == v1.StateCompleted || j.State == v1.StateFailed || j.State == v1.StateCancelled:
				t.Logf("job %s of node %s ended %s at %v (killed at %v): %s", id, k.Node, j.State, j.EndedAt, k.At, j.Reason)
			case j.PlacedAt != nil && j.PlacedAt.After(k.At) && j.Placement != nil:
				recovered++
				for _, a := range j.Placement.Assignments {
					if a.Node == k.Node {
						t.Errorf("job %s was placed again on the lost node %s", id, k.Node)
					}
				}
			default:
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) > 0 && time.Now().After(deadline) {
			for _, id := range pending {
				j := last[id]
				t.Errorf("job %s is %s (%s), placed at %v on %+v; node killed at %v", id, j.State, j.Reason, j.PlacedAt, j.Placement, k.At)
			}
			t.Fatalf("jobs %v of killed node %s not placed again in 15 s", pending, k.Node)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return recovered
}

func auditHas(t *testing.T, c *v1.Client, action, target string) bool {
	t.Helper()
	for after := int64(0); ; {
		l, err := c.Audit(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l.Entries {
			if e.Action == action && e.Target == target {
				return true
			}
		}
		if l.Next == 0 || len(l.Entries) == 0 {
			return false
		}
		after = l.Next
	}
}

// TestDemoFlags: bad flags are reported together, as a usage error, before
// anything starts; a taken --addr says what to do.
func TestDemoFlags(t *testing.T) {
	_, err := run(t, "demo", "--rate", "0", "--load", "2", "--heartbeat", "1ms", "--kill-agent-every", "-1s")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err = %v, want a usage error", err)
	}
	for _, want := range []string{"--rate 0", "--load 2", "--heartbeat 1ms", "--kill-agent-every -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// --listen, as for serve, and its old name --addr: a taken address
	// given explicitly is an error naming the flag.
	for _, flag := range []string{"--listen", "--addr"} {
		_, err = run(t, "demo", "--network", "../../internal/sim/testdata/small-network.yaml", flag, ln.Addr().String(), "--duration", "1s")
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "give another --listen") {
			t.Fatalf("%s: err = %v, want a usage error naming --listen", flag, err)
		}
	}
	// serve and demo default to one address, the one the client commands
	// reach by default.
	for _, cmd := range []string{"serve", "demo"} {
		c, _, err := newRoot().Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Flags().Lookup("listen").DefValue; d != "127.0.0.1:7480" {
			t.Errorf("%s --listen defaults to %s", cmd, d)
		}
	}

}
