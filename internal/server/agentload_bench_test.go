package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store/bolt"
)

// The agent load benchmark: many in-process simulated agents heartbeat
// against one real server (this package, the embedded bolt store, the
// default national network) that runs in a child process, so that the
// server's CPU and memory are read apart from the agents'.

const (
	// agentLoadServerEnv makes TestAgentLoadServerProcess the benchmark's
	// server; its value is the heartbeat period.
	agentLoadServerEnv = "SUANLI_AGENTLOAD_SERVER"
	// agentLoadFullEnv adds the full size (12,500 agents, 10 s period) to
	// BenchmarkAgentHeartbeats.
	agentLoadFullEnv = "SUANLI_AGENTLOAD_FULL"
)

// TestAgentLoadServerProcess is the server of BenchmarkAgentHeartbeats. It
// prints its address and an agent token, answers "stats" on standard
// input with its Go heap, and stops when standard input closes. It does
// nothing in a normal test run.
func TestAgentLoadServerProcess(t *testing.T) {
	spec := os.Getenv(agentLoadServerEnv)
	if spec == "" {
		t.Skip("the server process of BenchmarkAgentHeartbeats")
	}
	period, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := bolt.Open(bolt.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Config{Store: st, Network: defaultNetwork(t), Heartbeat: period})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	path := filepath.Join(dir, "admin.token")
	if _, err := srv.Bootstrap(ctx, path); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	tok, err := v1.NewClient(url, strings.TrimSpace(string(secret))).CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "load", Sites: allSites(srv.net)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("SERVER %s %s\n", url, tok.Secret)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Printf("STATS %d\n", m.HeapInuse)
		}
	}
}

// loadServer is the child process running the real server.
type loadServer struct {
	url, token string
	pid        int
	in         interface{ Write([]byte) (int, error) }
	lines      chan string
	stop       func()
}

func startLoadServer(b *testing.B, period time.Duration) *loadServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentLoadServerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), agentLoadServerEnv+"="+period.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ls := &loadServer{pid: cmd.Process.Pid, in: in, lines: make(chan string, 16),
		stop: func() { in.Close(); _ = cmd.Wait() }}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "SERVER" {
			ls.url, ls.token = f[1], f[2]
			go func() {
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "STATS ") {
						ls.lines <- sc.Text()
					}
				}
			}()
			return ls
		}
	}
	ls.stop()
	b.Fatal("the server process printed no address")
	return nil
}

// heapBytes asks the server process for its Go heap in use.
func (ls *loadServer) heapBytes(b *testing.B) float64 {
	if _, err := ls.in.Write([]byte("stats\n")); err != nil {
		b.Fatal(err)
	}
	select {
	case l := <-ls.lines:
		v, _ := strconv.ParseFloat(strings.TrimPrefix(l, "STATS "), 64)
		return v
	case <-time.After(10 * time.Second):
		b.Fatal("the server process did not answer stats")
		return 0
	}
}

// selfCPU is this process's CPU time (the agents' side).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAgentHeartbeats runs N in-process simulated agents, one per node
// of the default network (devices as the spec says), against the real
// server on the embedded store in a child process over loopback. After
// every agent has registered and one more period has passed, it measures
// two heartbeat periods and reports the server's CPU per heartbeat and in
// cores, its resident memory and Go heap, the agents' CPU (this process),
// heartbeats/s and the p50/p99 latency the agents saw. One iteration is
// the whole run. The full size (12,500 agents, 10 s period, about a
// minute) runs with SUANLI_AGENTLOAD_FULL=1.
func BenchmarkAgentHeartbeats(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	sizes := []struct {
		agents int
		period time.Duration
	}{{1000, 2 * time.Second}}
	if os.Getenv(agentLoadFullEnv) != "" {
		sizes = append(sizes, struct {
			agents int
			period time.Duration
		}{12500, 10 * time.Second})
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("agents=%d/period=%s", sz.agents, sz.period), func(b *testing.B) {
			for range b.N {
				agentLoad(b, sz.agents, sz.period)
			}
		})
	}
}

func agentLoad(b *testing.B, n int, period time.Duration) {
	nw := defaultNetwork(b)
	if n > len(nw.Nodes) {
		b.Fatalf("%d agents, but the default network has %d nodes", n, len(nw.Nodes))
	}
	ls := startLoadServer(b, period)
	defer ls.stop()
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	bt := &agenttest.BeatTimer{Next: tr}
	hc := &http.Client{Transport: bt}
	reports := map[string]device.Report{}
	lease := v1.Lease{Period: period, Missed: v1.DefaultMissedBeats}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	agents := make([]*agent.Agent, n)
	for i := range n {
		node := &nw.Nodes[i]
		spec := fmt.Sprintf("%sx%d", node.Model, node.Cards)
		rep, ok := reports[spec]
		if !ok {
			var err error
			if rep, err = device.ParseSimulate(spec); err != nil {
				b.Fatal(err)
			}
			reports[spec] = rep
		}
		a, err := agent.NewInProcess(hc, ls.url, ls.token, string(node.ID), string(node.Site), string(node.Domain), rep,
			workload.Sim{Seed: 1}, lease, 1)
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = a
		wg.Go(func() { _ = a.Run(ctx) })
	}
	// Registrations are spread over the first period; wait for all of
	// them (bounded), then one more period so that beats settle.
	deadline := time.Now().Add(10 * period)
	for {
		registered := 0
		for _, a := range agents {
			if a.Status().Registered {
				registered++
			}
		}
		if registered == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d agents registered after %s", registered, n, 10*period)
		}
		time.Sleep(period / 10)
	}
	time.Sleep(period)
	b.ResetTimer()
	bt.Measure(true)
	cpu0, _ := agenttest.ProcUsage(ls.pid)
	self0 := selfCPU()
	t0 := time.Now()
	time.Sleep(2 * period)
	cpu1, rss := agenttest.ProcUsage(ls.pid)
	self1 := selfCPU()
	wall := time.Since(t0)
	lat, failed := bt.Measure(false)
	b.StopTimer()
	heap := ls.heapBytes(b)
	lost := int64(0)
	for _, a := range agents {
		lost += a.Status().LeasesLost
	}
	if len(lat) == 0 || failed > 0 || lost > 0 {
		b.Fatalf("%d heartbeats acknowledged, %d failed, %d leases lost", len(lat), failed, lost)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	srvCPU := (cpu1 - cpu0).Seconds()
	b.ReportMetric(float64(len(lat))/wall.Seconds(), "heartbeats/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(srvCPU/float64(len(lat))*1e6, "server-CPU-us/beat")
	b.ReportMetric(srvCPU/wall.Seconds(), "server-cores")
	b.ReportMetric((self1-self0).Seconds()/wall.Seconds(), "agents-cores")
	b.ReportMetric(float64(rss)/1024, "server-RSS-MiB")
	b.ReportMetric(heap/(1<<20), "server-heap-MiB")
}
