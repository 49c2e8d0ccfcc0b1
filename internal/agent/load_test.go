package agent

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
)

var loadPeriod = flag.Duration("agent.period", 5*time.Second, "heartbeat period of the load benchmark")

const serverEnv = "SUANLI_AGENT_LOAD_SERVER"

// TestLoadServerProcess is the server side of BenchmarkHeartbeats, run in
// a child process so that its CPU and memory are measured apart from the
// agents'. It does nothing in a normal test run.
func TestLoadServerProcess(t *testing.T) {
	if os.Getenv(serverEnv) == "" {
		t.Skip("the benchmark's server process")
	}
	period, _ := time.ParseDuration(os.Getenv(serverEnv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: agenttest.New(v1.Lease{Period: period, Missed: 3})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("ADDR", ln.Addr().String())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	_ = srv.Close()
}

// serverProc starts the server process and returns its URL and pid.
func serverProc(b *testing.B, period time.Duration) (string, int, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadServerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), serverEnv+"="+period.String())
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
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return "http://" + addr, cmd.Process.Pid, func() { in.Close(); _ = cmd.Wait() }
		}
	}
	b.Fatal("the server process printed no address")
	return "", 0, nil
}

// BenchmarkHeartbeats runs N in-process simulated agents heartbeating
// against one agenttest server in another process over loopback, for two
// heartbeat periods after one period of warm-up, and reports the server's
// CPU (cores busy), resident memory and the heartbeat latency seen by the
// agents. One iteration is the whole run.
func BenchmarkHeartbeats(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	for _, n := range []int{1000, 12500} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				heartbeatLoad(b, n, *loadPeriod)
			}
		})
	}
}

func heartbeatLoad(b *testing.B, n int, period time.Duration) {
	url, pid, stop := serverProc(b, period)
	defer stop()
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	tm := &agenttest.BeatTimer{Next: tr}
	hc := &http.Client{Transport: tm}
	rep, err := device.ParseSimulate("Ascend910B3x8")
	if err != nil {
		b.Fatal(err)
	}
	lease := v1.Lease{Period: period, Missed: 3}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	agents := make([]*Agent, n)
	for i := range n {
		a, err := NewInProcess(hc, url, "", fmt.Sprintf("node-%05d", i), "site", "dom", rep, workload.Sim{Seed: 1}, lease, 1)
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = a
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(period + period/2) // registrations are spread over the first period
	tm.Measure(true)
	cpu0, _ := agenttest.ProcUsage(pid)
	t0 := time.Now()
	time.Sleep(2 * period)
	cpu1, rss := agenttest.ProcUsage(pid)
	wall := time.Since(t0)
	lat, _ := tm.Measure(false)
	registered := 0
	for _, a := range agents {
		if a.Status().Registered {
			registered++
		}
	}
	if registered != n || len(lat) == 0 {
		b.Fatalf("%d of %d agents registered, %d heartbeats measured", registered, n, len(lat))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/wall.Seconds(), "heartbeats/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric((cpu1-cpu0).Seconds()/wall.Seconds(), "server-cores")
	b.ReportMetric(float64(rss)/1024, "server-RSS-MiB")
}
