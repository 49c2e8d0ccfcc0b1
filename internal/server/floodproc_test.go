package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent/agenttest"
)

// The flood benchmark's flooding clients run in a process of their own
// (this test binary, re-executed with floodEnv set), so that they share
// the machine with the server the way remote clients share its network:
// through the operating system's scheduler, not the server's Go scheduler,
// heap and garbage collector.

// floodEnv, when set in the environment, makes the test binary a flooder:
// its value is the server's URL.
const floodEnv = "SUANLI_BENCH_FLOOD"

// floodSpec is what the flooders submit.
var floodSpec = v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1}

// floodMain runs the flooder the parent asked for and returns the exit
// code. SUANLI_BENCH_FLOOD_MODE=capacity submits as fast as the clients
// can for a second and prints how many were acknowledged; the default
// mode floods (one submit per client every SUANLI_BENCH_FLOOD_EVERY, or
// as fast as it can when that is 0), prints "ready" once under way, and
// when its standard input closes prints "SENT REFUSED" counted from ready.
func floodMain() int {
	url, token := os.Getenv(floodEnv), os.Getenv(floodEnv+"_TOKEN")
	clients, err := strconv.Atoi(os.Getenv(floodEnv + "_CLIENTS"))
	if err != nil || clients < 1 {
		fmt.Fprintln(os.Stderr, "flooder: SUANLI_BENCH_FLOOD_CLIENTS must be a positive number")
		return 2
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clients}}
	c := v1.NewClient(url, token)
	c.HTTP = hc
	spec := floodSpec
	spec.Tenant = os.Getenv(floodEnv + "_TENANT")
	if os.Getenv(floodEnv+"_MODE") == "capacity" {
		n, err := floodCapacity(c, spec, clients)
		if err != nil {
			fmt.Fprintln(os.Stderr, "flooder:", err)
			return 1
		}
		fmt.Println(n)
		return 0
	}
	every, err := time.ParseDuration(os.Getenv(floodEnv + "_EVERY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "flooder: SUANLI_BENCH_FLOOD_EVERY:", err)
		return 2
	}
	var sent, refused atomic.Int64
	stop := make(chan struct{})
	failed := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			if err := floodClient(c, spec, every, stop, &sent, &refused); err != nil {
				failed <- err
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the flood is under way
	s0, r0 := sent.Load(), refused.Load()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	s, r := sent.Load()-s0, refused.Load()-r0
	close(stop)
	wg.Wait()
	select {
	case err := <-failed:
		fmt.Fprintln(os.Stderr, "flooder:", err)
		return 1
	default:
	}
	fmt.Println(s, r)
	return 0
}

// floodClient submits until stop closes, one submit every `every` (as
// fast as it can when 0), counting what it sent and what was refused with
// 429; any other error ends it.
func floodClient(c *v1.Client, spec v1.JobSpec, every time.Duration, stop <-chan struct{}, sent, refused *atomic.Int64) error {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		if tick != nil {
			select {
			case <-stop:
				return nil
			case <-tick:
			}
		} else {
			select {
			case <-stop:
				return nil
			default:
			}
		}
		_, err := c.Submit(context.Background(), spec)
		sent.Add(1)
		var apiErr *v1.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
			refused.Add(1)
		} else if err != nil {
			return err
		}
	}
}

// floodCapacity is how many submits the server acknowledges in a second
// from clients submitting back to back.
func floodCapacity(c *v1.Client, spec v1.JobSpec, clients int) (int64, error) {
	var n atomic.Int64
	deadline := time.Now().Add(time.Second)
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := c.Submit(context.Background(), spec); err != nil {
					errc <- err
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return n.Load(), nil
}

// flooder is a flooding process started by the benchmark.
type flooder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// floodProc starts this test binary as a flooder with the given settings
// (mode, tenant, every), with clients clients submitting to url with token.
func floodProc(b *testing.B, url, token string, clients int, settings map[string]string) *flooder {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), floodEnv+"="+url, floodEnv+"_TOKEN="+token,
		floodEnv+"_CLIENTS="+strconv.Itoa(clients))
	for k, v := range settings {
		cmd.Env = append(cmd.Env, floodEnv+"_"+k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &flooder{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
}

// line is the flooder's next line of output.
func (f *flooder) line(b *testing.B) string {
	b.Helper()
	if !f.out.Scan() {
		_ = f.cmd.Wait()
		b.Fatalf("the flooder stopped without a reply (%v): its errors are above", f.cmd.ProcessState)
	}
	return f.out.Text()
}

// floodCapacityProc is the most submits a second the server acknowledges
// from clients in another process submitting as tenant with token.
func floodCapacityProc(b *testing.B, url, token, tenant string, clients int) int64 {
	f := floodProc(b, url, token, clients, map[string]string{"MODE": "capacity", "TENANT": tenant})
	_ = f.stdin.Close()
	n, err := strconv.ParseInt(f.line(b), 10, 64)
	if err != nil {
		b.Fatal("the flooder's capacity:", err)
	}
	if err := f.cmd.Wait(); err != nil {
		b.Fatal("the flooder:", err)
	}
	return n
}

// startFlood starts flooding clients in another process and returns, once
// the flood is under way, the function that stops them and says how many
// requests they sent and how many were refused in between, and the CPU
// time the flooding process used meanwhile.
func startFlood(b *testing.B, url, token string, clients int, every time.Duration) func() (sent, refused int64, cpu time.Duration) {
	f := floodProc(b, url, token, clients, map[string]string{"EVERY": every.String()})
	if l := f.line(b); l != "ready" {
		b.Fatalf("the flooder said %q, want ready", l)
	}
	cpu0, _ := agenttest.ProcUsage(f.cmd.Process.Pid)
	return func() (sent, refused int64, cpu time.Duration) {
		cpu1, _ := agenttest.ProcUsage(f.cmd.Process.Pid)
		cpu = cpu1 - cpu0
		_ = f.stdin.Close()
		if _, err := fmt.Sscan(f.line(b), &sent, &refused); err != nil {
			b.Fatal("the flooder's counts:", err)
		}
		if err := f.cmd.Wait(); err != nil {
			b.Fatal("the flooder:", err)
		}
		return sent, refused, cpu
	}
}
