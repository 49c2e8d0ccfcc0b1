package agenttest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcUsage reads a process's CPU time (user + system) and resident
// memory from /proc, for the heartbeat load benchmarks that run their
// server in a child process. Zero values where /proc does not say.
func ProcUsage(pid int) (cpu time.Duration, rssKiB int64) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		if i := strings.LastIndexByte(string(raw), ')'); i >= 0 {
			f := strings.Fields(string(raw)[i+1:])
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

// BeatTimer is an http.RoundTripper that, while measuring, records the
// latency of acknowledged heartbeats and counts the failed ones; other
// requests pass through untimed.
type BeatTimer struct {
	Next http.RoundTripper

	mu  sync.Mutex // guards on, lat, failed
	on  bool
	lat []time.Duration
	// failed counts heartbeats that got an error or a status other than 200.
	failed int
}

func (t *BeatTimer) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/heartbeat") {
		return t.Next.RoundTrip(r)
	}
	start := time.Now()
	resp, err := t.Next.RoundTrip(r)
	d := time.Since(start)
	t.mu.Lock()
	if t.on {
		if err != nil || resp.StatusCode != http.StatusOK {
			t.failed++
		} else {
			t.lat = append(t.lat, d)
		}
	}
	t.mu.Unlock()
	return resp, err
}

// Measure turns measuring on or off and returns what was recorded since
// the last call.
func (t *BeatTimer) Measure(on bool) (lat []time.Duration, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = on
	lat, failed = t.lat, t.failed
	t.lat, t.failed = nil, 0
	return lat, failed
}

// Proc is a live process (not a zombie) found by ProcsWithEnv.
type Proc struct {
	PID, PGID int
	Env       map[string]string
}

// TaggedProcs reads /proc for the live processes whose environment holds
// SUANLI_TEST_TAG=tag, with their process group and environment, so that a
// test can check real process state rather than the records.
func TaggedProcs(tag string) []Proc { return ProcsWithEnv("SUANLI_TEST_TAG", tag) }

// ProcsWithEnv reads /proc for the live processes whose environment sets
// key to value, with their process group and environment.
// Processes started with a marker in their environment (and their
// children, which inherit it) are found even after their parent died.
func ProcsWithEnv(key, value string) []Proc {
	var out []Proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, []byte(key+"="+value)) {
			continue
		}
		p := Proc{PID: pid, Env: map[string]string{}}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
				p.Env[string(k)] = string(v)
			}
		}
		if v, ok := p.Env[key]; !ok || v != value {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		state, pgid, ok := parseStat(string(stat))
		if !ok || state == "Z" || state == "X" {
			continue
		}
		p.PGID = pgid
		out = append(out, p)
	}
	return out
}

// parseStat returns the state and process group of /proc/<pid>/stat; the
// command name in parentheses may hold spaces and parentheses.
func parseStat(s string) (state string, pgid int, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	pgid, err := strconv.Atoi(f[2])
	return f[0], pgid, err == nil
}
