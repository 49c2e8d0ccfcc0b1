//go:build linux

package chaos

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startFakeWorker starts a process group that looks like an agent's
// worker: the run marker, a node, a job and the cards it may use.
func startFakeWorker(t *testing.T, run, node, job, cards string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	cmd.Env = append(os.Environ(), envRun+"="+run, envNode+"="+node, "SUANLI_JOB_ID="+job, "SUANLI_WORKER=0",
		"ASCEND_RT_VISIBLE_DEVICES="+cards)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestScanFindsSharedCards: the process check sees two live process groups
// on one card (whatever the records say), ignores other runs, other cards
// and processes that have exited.
func TestScanFindsSharedCards(t *testing.T) {
	run := "selftest-" + randomID()
	startFakeWorker(t, run, "n0", "a", "0,1")
	startFakeWorker(t, run, "n1", "b", "1")          // another node: no clash
	startFakeWorker(t, "other-"+run, "n0", "c", "1") // another run: not seen
	late := startFakeWorker(t, run, "n0", "d", "1,2")
	deadline := time.Now().Add(5 * time.Second)
	var ws []worker
	for len(ws) < 3 && time.Now().Before(deadline) {
		ws = scanWorkers(run)
		time.Sleep(20 * time.Millisecond)
	}
	if len(ws) != 3 {
		t.Fatalf("scanned %d workers of the run, want 3: %+v", len(ws), ws)
	}
	shared := sharedCards(ws)
	if len(shared) != 1 || !strings.HasPrefix(shared[0], "card n0/1 held by") {
		t.Fatalf("shared cards %q, want n0/1 only", shared)
	}
	_ = late.Process.Kill()
	_ = late.Wait()
	if shared := sharedCards(scanWorkers(run)); len(shared) != 0 {
		t.Fatalf("after the second worker exited: %q", shared)
	}
	killRun(run)
	if ws := scanWorkers(run); len(ws) != 0 {
		t.Fatalf("killRun left %d workers", len(ws))
	}
}

// TestProxyPartition: the proxy passes requests, drops them while
// partitioned (the client times out) and passes them again once healed.
func TestProxyPartition(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	p, err := newProxy(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	get := func() error {
		c := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(p.url())
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("before the partition: %v", err)
	}
	p.partition()
	if err := get(); err == nil {
		t.Fatal("a request crossed the partition")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("partitioned request: %v, want a timeout (a black hole, not a refusal)", err)
	}
	p.heal()
	if err := get(); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}
