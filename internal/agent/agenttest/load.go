package agenttest

import (
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
