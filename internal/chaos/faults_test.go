//go:build linux

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// Kinds of fault.
const (
	faultKillServer    = "kill -9 server replica"
	faultKillEtcd      = "kill etcd leader member"
	faultKillAgent     = "kill -9 agent"
	faultPartition     = "partition agent/server"
	faultDelay         = "delay agent/server"
	faultPoison        = "poison jobs"
	faultUnsatisfiable = "unsatisfiable jobs"
	faultSlowClients   = "slow clients"
)

// killServer kills replica i with SIGKILL and starts it again on the same
// address and data directory after down.
func (h *harness) killServer(i int, down time.Duration) (string, error) {
	r := h.d.replicas[i]
	r.proc.kill()
	time.Sleep(down)
	u, err := startServer(r.proc)
	if err != nil {
		return "", err
	}
	if u != r.url { // clients read r.url without a lock: it never changes
		return "", fmt.Errorf("%s serves on %s after the restart, was %s", r.proc.name, u, r.url)
	}
	return fmt.Sprintf("%s down %v", r.proc.name, down), nil
}

// killEtcdLeader stops the etcd member that leads raft at once (no
// leadership hand-over) and starts it again after down.
func (h *harness) killEtcdLeader(down time.Duration) (string, error) {
	i, err := h.d.etcd.WaitLeader(10 * time.Second)
	if err != nil {
		return "", err
	}
	h.d.etcd.Kill(i)
	time.Sleep(down)
	if err := h.d.etcd.Restart(i); err != nil {
		return "", err
	}
	return fmt.Sprintf("etcd member %d down %v", i, down), nil
}

// killAgent kills agent i with SIGKILL, leaving its workers as a crash
// leaves them, and starts it again on the same node and data directory.
func (h *harness) killAgent(i int, down time.Duration) (string, error) {
	a := h.d.agents[i]
	// An agent of real processes is killed while it runs some, or the
	// fault tests little.
	running := 0
	for deadline := time.Now().Add(15 * time.Second); !a.spec.simWorkloads && running == 0 && time.Now().Before(deadline); {
		for _, w := range scanWorkers(h.d.run) {
			if w.node == a.spec.node {
				running++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.proc.kill()
	time.Sleep(down)
	if _, err := a.proc.start(false); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s down %v, %d worker processes left running", a.spec.node, down, running), nil
}

// partition cuts agent i from its server for d; delay holds each chunk of
// its traffic for lag during d.
func (h *harness) partition(i int, d time.Duration) (string, error) {
	a := h.d.agents[i]
	a.proxy.partition()
	time.Sleep(d)
	a.proxy.heal()
	return fmt.Sprintf("%s cut for %v", a.spec.node, d), nil
}

func (h *harness) delay(i int, d, lag time.Duration) (string, error) {
	a := h.d.agents[i]
	a.proxy.slow(lag)
	time.Sleep(d)
	a.proxy.heal()
	return fmt.Sprintf("%s delayed %v per chunk for %v", a.spec.node, lag, d), nil
}

// malloryJob is a hostile job and what the server answered.
type malloryJob struct {
	what   string
	status int    // HTTP status of the submit
	id     string // set when acknowledged
	body   string // the reply, for the failure message
	say    string // what the refusal or the failure reason must say, if anything
}

// submitRaw posts a job body exactly as given (no client-side escaping):
// a string of '<' is small on the wire and six times larger once the
// server escapes it in its record.
func (h *harness) submitRaw(what string, spec map[string]any) malloryJob {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(spec)
	m := malloryJob{what: what}
	// "Retry later" (429, 503: the tenant's own slow connections may hold
	// its seats) is no answer on the job: retry for up to 60 s.
	deadline := time.Now().Add(60 * time.Second)
	for try := 0; try <= len(h.d.replicas) || time.Now().Before(deadline); try++ {
		req, _ := http.NewRequest(http.MethodPost, h.d.client(try).Base+"/v1/jobs", bytes.NewReader(buf.Bytes()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.d.tenants[tenantMallory])
		resp, err := h.d.http.Do(req)
		if err != nil {
			m.body = err.Error()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		m.status, m.body = resp.StatusCode, string(b)
		if (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && time.Now().Before(deadline) {
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode == http.StatusCreated {
			var j v1.Job
			if json.Unmarshal(b, &j) == nil {
				m.id = j.ID
				h.ack.add(j.ID, tenantMallory, time.Now())
			}
		}
		break
	}
	return m
}

// poison submits jobs whose records outgrow the store's value limit: a
// 175,000-character environment that grows sixfold when escaped, and an
// inference job of 15,000 fractional workers whose placement does.
func (h *harness) poison() (string, error) {
	env := map[string]any{"kind": "batch", "tenant": tenantMallory, "workers": 1, "cards_per_worker": 1,
		"sites": []string{"big"}, "workload": map[string]any{"command": []string{"true"},
			"env": map[string]string{"BLOB": strings.Repeat("<", 175_000)}}}
	wide := map[string]any{"kind": "inference", "tenant": tenantMallory, "workers": 15000, "share_milli": 100,
		"sites": []string{"big"}}
	h.mallory = append(h.mallory, h.submitRaw("175k-character env", env), h.submitRaw("15,000 × 0.1-card inference", wide))
	return "2 oversized records", nil
}

// unsatisfiable submits gangs that can never fit: 20,000 one-card workers
// on no named model (the largest pool has 16,384 cards) and 4 × 8 cards
// at a site of 24.
func (h *harness) unsatisfiable() (string, error) {
	huge := map[string]any{"kind": "gang", "tenant": tenantMallory, "workers": 20000, "cards_per_worker": 1}
	site := map[string]any{"kind": "gang", "tenant": tenantMallory, "workers": 4, "cards_per_worker": 8, "sites": []string{"pa"}}
	for _, m := range []malloryJob{h.submitRaw("20,000 × 1-card gang", huge), h.submitRaw("4 × 8-card gang at a 24-card site", site)} {
		m.say = "never fit"
		h.mallory = append(h.mallory, m)
	}
	return "2 gangs that can never fit", nil
}

// slowClients holds n connections of one tenant to a replica that send a
// submit's headers and then its body one byte every two seconds.
type slowClients struct {
	start time.Time
	mu    sync.Mutex // guards open
	open  map[net.Conn]bool
	stop  chan struct{}
}

func (h *harness) slowClients(n int) (string, error) {
	sc := &slowClients{start: time.Now(), open: map[net.Conn]bool{}, stop: make(chan struct{})}
	r := h.d.replicas[0]
	head := fmt.Sprintf("POST /v1/jobs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
		r.addr, h.d.tenants[tenantMallory])
	for range n {
		c, err := net.DialTimeout("tcp", r.addr, 2*time.Second)
		if err != nil {
			continue
		}
		if _, err := io.WriteString(c, head); err != nil {
			c.Close()
			continue
		}
		sc.mu.Lock()
		sc.open[c] = true
		sc.mu.Unlock()
		go func() { // the server closing or answering ends the connection
			_, _ = c.Read(make([]byte, 1))
			sc.mu.Lock()
			delete(sc.open, c)
			sc.mu.Unlock()
		}()
		go func() {
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-sc.stop:
					c.Close()
					return
				case <-t.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	h.slow = append(h.slow, sc)
	return fmt.Sprintf("%d connections to %s trickling a body", sc.held(), r.proc.name), nil
}

func (sc *slowClients) held() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.open)
}

func (sc *slowClients) close() {
	close(sc.stop)
}

// cancelMallory cancels the hostile jobs that were acknowledged, so that a
// defect one of them shows does not hide the next fault's.
func (h *harness) cancelMallory(ctx context.Context) {
	for _, m := range h.mallory {
		if m.id != "" {
			for try := range 3 {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := h.d.client(try).Cancel(cctx, m.id)
				cancel()
				if err == nil {
					break
				}
			}
		}
	}
	h.mallory = nil
}
