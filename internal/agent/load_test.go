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

// procUsage reads a process's CPU time and resident memory from /proc.
func procUsage(pid int) (cpu time.Duration, rssKiB int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b)[i+1:])
			if len(f) > 13 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
			}
		}
	}
	s, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return cpu, rssKiB
}

// timing records the latency of heartbeat requests.
type timing struct {
	next http.RoundTripper
	mu   sync.Mutex // guards on, lat
	on   bool
	lat  []time.Duration
}

func (t *timing) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/heartbeat") {
		return t.next.RoundTrip(r)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	d := time.Since(start)
	t.mu.Lock()
	if t.on {
		t.lat = append(t.lat, d)
	}
	t.mu.Unlock()
	return resp, err
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
	tm := &timing{next: tr}
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
	tm.mu.Lock()
	tm.on = true
	tm.mu.Unlock()
	cpu0, _ := procUsage(pid)
	t0 := time.Now()
	time.Sleep(2 * period)
	cpu1, rss := procUsage(pid)
	wall := time.Since(t0)
	tm.mu.Lock()
	lat := slices.Clone(tm.lat)
	tm.on = false
	tm.mu.Unlock()
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
