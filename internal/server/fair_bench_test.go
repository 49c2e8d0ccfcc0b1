package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store/bolt"
)

// floodClients is how many clients of one tenant flood the API.
const floodClients = 24

// BenchmarkFlood: one tenant floods the API with submits from 24 clients
// that ignore 429s, while a node agent heartbeats every 10 ms and another
// tenant submits at 75% of its rate limit. b.N is the other tenant's
// submits in each of the two phases, with no flood (idle) and with it,
// which alternate in four rounds. Reported: heartbeat and submit p50/p99 in both phases, the
// flood's ratio of p99s to the idle ones, and what the flooder sent and got
// through. The embedded (bolt) store, the real server over loopback HTTP.
//
// flood=sustained sends at the most acknowledged submits a second this
// server sustains (measured first, with an admin token, which no tenant
// limit applies to); flood=unbounded sends as fast as the 24 clients can,
// which on a small machine is mostly the load generator and the server
// taking the CPU from each other: admission control refuses the requests,
// it cannot make them free.
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
	agent, victim, flooder := client(v1.RoleAgent), client("tenant2"), client(v1.RoleTenant)
	lease, err := agent.RegisterNode(ctx, v1.NodeRegistration{Node: node, Agent: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	pace := time.Second / 10
	if fair.Tenant.Rate > 0 {
		pace = time.Duration(float64(time.Second) / (0.75 * fair.Tenant.Rate))
	}
	spec := v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1}

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
	// for a second.
	var every time.Duration
	var sustained int64
	if !unbounded {
		admin := client(v1.RoleAdmin)
		if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "capacity", Class: "private"}); err != nil {
			b.Fatal(err)
		}
		aspec := spec
		aspec.Tenant = "capacity"
		var n atomic.Int64
		deadline := time.Now().Add(time.Second)
		var wg sync.WaitGroup
		for range floodClients {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if _, err := admin.Submit(ctx, aspec); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		sustained = n.Load()
		every = time.Duration(floodClients * int64(time.Second) / max(sustained, 1))
	}

	// flood starts the flooding clients; the function it returns stops
	// them and says how many requests they sent and how many were refused.
	flood := func() func() (sent, refused int64) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent, refused atomic.Int64
		for range floodClients {
			wg.Go(func() {
				var tick <-chan time.Time
				if every > 0 {
					t := time.NewTicker(every)
					defer t.Stop()
					tick = t.C
				}
				for {
					select {
					case <-stop:
						return
					case <-tick:
					default:
						if tick != nil {
							select {
							case <-stop:
								return
							case <-tick:
							}
						}
					}
					_, err := flooder.Submit(ctx, spec)
					sent.Add(1)
					var apiErr *v1.Error
					if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
						refused.Add(1)
					} else if err != nil {
						b.Error("flood:", err)
						return
					}
				}
			})
		}
		time.Sleep(200 * time.Millisecond) // the flood is under way
		s0, r0 := sent.Load(), refused.Load()
		return func() (int64, int64) {
			s, r := sent.Load()-s0, refused.Load()-r0
			close(stop)
			wg.Wait()
			return s, r
		}
	}

	// Idle and flood phases alternate in rounds, so that whatever else the
	// machine runs weighs on both alike.
	const rounds = 4
	var idleBeats, idleSubmits, floodBeats, floodSubmits []time.Duration
	var sentN, refusedN int64
	var secs float64
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		if n == 0 {
			continue
		}
		bs, ss := phase(n)
		idleBeats, idleSubmits = append(idleBeats, bs...), append(idleSubmits, ss...)
		stop := flood()
		t0 := time.Now()
		bs, ss = phase(n)
		secs += time.Since(t0).Seconds()
		s, f := stop()
		sentN, refusedN = sentN+s, refusedN+f
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
