package server

import (
	"context"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store/bolt"
)

// floodClients is how many clients of one tenant flood the API.
const floodClients = 24

// BenchmarkFlood: one tenant floods the API with submits from 24 clients
// that ignore 429s, while a node agent heartbeats every 10 ms and another
// tenant submits at 75% of its rate limit. The flooding clients run in a
// process of their own (this test binary re-executed, see floodMain), as
// remote clients would: they take CPU from the server only through the
// operating system's scheduler. b.N is the other tenant's submits in each
// of the two phases, with no flood (idle) and with it, which alternate in
// four rounds. Reported: heartbeat and submit p50/p99 in both phases, the
// flood's ratio of p99s to the idle ones, and what the flooder sent and got
// through. The embedded (bolt) store, the real server over loopback HTTP.
//
// flood=sustained sends at the most acknowledged submits a second this
// server sustains (measured first, from the flooding process with an admin
// token, which no tenant limit applies to); flood=unbounded sends as fast
// as the 24 clients can, which on a small machine is mostly the load
// generator and the server taking the CPU from each other: admission
// control refuses the requests, it cannot make them free.
func BenchmarkFlood(b *testing.B) {
	for _, tc := range []struct {
		name      string
		fair      httpapi.Fairness
		unbounded bool
	}{
		{"fairness=default/flood=sustained", httpapi.DefaultFairness(), false},
		{"fairness=default/flood=unbounded", httpapi.DefaultFairness(), true},
		{"fairness=off/flood=sustained", httpapi.Fairness{}, false},
	} {
		b.Run(tc.name, func(b *testing.B) { benchFlood(b, tc.fair, tc.unbounded) })
	}
}

func benchFlood(b *testing.B, fair httpapi.Fairness, unbounded bool) {
	st, err := bolt.Open(bolt.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := startFair(b, st, fair)
	ctx := context.Background()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * floodClients}}
	client := func(role string) *v1.Client {
		c := e.client(role)
		c.HTTP = hc
		return c
	}
	node := string(e.srv.net.Nodes[0].ID)
	tok, err := client(v1.RoleAdmin).CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Node: node})
	if err != nil {
		b.Fatal(err)
	}
	e.tokens[v1.RoleAgent] = tok.Secret
	agent, victim := client(v1.RoleAgent), client("tenant2")
	lease, err := agent.RegisterNode(ctx, v1.NodeRegistration{Node: node, Agent: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	pace := time.Second / 10
	if fair.Tenant.Rate > 0 {
		pace = time.Duration(float64(time.Second) / (0.75 * fair.Tenant.Rate))
	}
	spec := floodSpec

	// phase measures n paced submits by the other tenant and heartbeats
	// every 10 ms meanwhile.
	phase := func(n int) (beats, submits []time.Duration) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for seq := int64(1); ; seq++ {
				select {
				case <-done:
					return
				case <-t.C:
				}
				t0 := time.Now()
				if _, err := agent.Heartbeat(ctx, node, v1.Heartbeat{Lease: lease.Lease, Seq: seq}); err != nil {
					b.Error("heartbeat:", err)
					return
				}
				beats = append(beats, time.Since(t0))
			}
		})
		t := time.NewTicker(pace)
		for range n {
			<-t.C
			t0 := time.Now()
			if _, err := victim.Submit(ctx, spec); err != nil {
				b.Error("the other tenant's submit:", err)
				break
			}
			submits = append(submits, time.Since(t0))
		}
		t.Stop()
		close(done)
		wg.Wait()
		return beats, submits
	}

	// The most submits a second the server acknowledges, from 24 clients
	// in another process for a second.
	var every time.Duration
	var sustained int64
	if !unbounded {
		if _, err := client(v1.RoleAdmin).PutTenant(ctx, v1.Tenant{ID: "capacity", Class: "private"}); err != nil {
			b.Fatal(err)
		}
		sustained = floodCapacityProc(b, e.url, e.tokens[v1.RoleAdmin], "capacity", floodClients)
		every = time.Duration(floodClients * int64(time.Second) / max(sustained, 1))
	}
	flood := func() func() (sent, refused int64, cpu time.Duration) {
		return startFlood(b, e.url, e.tokens[v1.RoleTenant], floodClients, every)
	}

	// Idle and flood phases alternate in rounds, so that whatever else the
	// machine runs weighs on both alike.
	const rounds = 4
	var idleBeats, idleSubmits, floodBeats, floodSubmits []time.Duration
	var sentN, refusedN int64
	var idleSecs, secs float64
	var idleCPU, floodCPU, flooderCPU time.Duration // this process's (the server's) and the flooder's
	self := os.Getpid()
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		if n == 0 {
			continue
		}
		c0, _ := agenttest.ProcUsage(self)
		t0 := time.Now()
		bs, ss := phase(n)
		idleSecs += time.Since(t0).Seconds()
		c1, _ := agenttest.ProcUsage(self)
		idleCPU += c1 - c0
		idleBeats, idleSubmits = append(idleBeats, bs...), append(idleSubmits, ss...)
		stop := flood()
		c0, _ = agenttest.ProcUsage(self)
		t0 = time.Now()
		bs, ss = phase(n)
		secs += time.Since(t0).Seconds()
		c1, _ = agenttest.ProcUsage(self)
		floodCPU += c1 - c0
		s, f, fc := stop()
		sentN, refusedN, flooderCPU = sentN+s, refusedN+f, flooderCPU+fc
		floodBeats, floodSubmits = append(floodBeats, bs...), append(floodSubmits, ss...)
	}
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	idleBeatP99, floodBeatP99 := pct(idleBeats, 99), pct(floodBeats, 99)
	idleSubmitP99, floodSubmitP99 := pct(idleSubmits, 99), pct(floodSubmits, 99)
	b.ReportMetric(ms(pct(idleBeats, 50)), "idle-beat-p50-ms")
	b.ReportMetric(ms(idleBeatP99), "idle-beat-p99-ms")
	b.ReportMetric(ms(pct(floodBeats, 50)), "flood-beat-p50-ms")
	b.ReportMetric(ms(floodBeatP99), "flood-beat-p99-ms")
	b.ReportMetric(ms(pct(idleSubmits, 50)), "idle-submit-p50-ms")
	b.ReportMetric(ms(idleSubmitP99), "idle-submit-p99-ms")
	b.ReportMetric(ms(pct(floodSubmits, 50)), "flood-submit-p50-ms")
	b.ReportMetric(ms(floodSubmitP99), "flood-submit-p99-ms")
	b.ReportMetric(float64(floodBeatP99)/float64(max(idleBeatP99, 1)), "beat-p99-x")
	b.ReportMetric(float64(floodSubmitP99)/float64(max(idleSubmitP99, 1)), "submit-p99-x")
	b.ReportMetric(float64(sentN)/secs, "flood-req/s")
	b.ReportMetric(float64(sentN-refusedN)/secs, "flood-admitted/s")
	// Cores used: the server's process (with the measuring clients) in
	// each phase, and the flooding process while it flooded.
	b.ReportMetric(idleCPU.Seconds()/idleSecs, "idle-server-cores")
	b.ReportMetric(floodCPU.Seconds()/secs, "flood-server-cores")
	b.ReportMetric(flooderCPU.Seconds()/secs, "flooder-cores")
	if sustained > 0 {
		b.ReportMetric(float64(sustained), "sustained-submits/s")
	}
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
