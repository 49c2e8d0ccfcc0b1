package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// slowStub authenticates everyone as a tenant and streams one event when
// asked, after a delay longer than every timeout under test.
type slowStub struct {
	Backend
	eventAfter time.Duration
}

func (s *slowStub) Authenticate(ctx context.Context, secret string) (Principal, error) {
	return Principal{TokenID: "t", Role: v1.RoleAdmin}, nil
}

func (s *slowStub) Ready(ctx context.Context) v1.Health {
	return v1.Health{Status: "ok", Leader: true, Scheduling: v1.SchedLeading}
}

func (s *slowStub) Events(ctx context.Context, from int64) (<-chan v1.Event, error) {
	ch := make(chan v1.Event, 1)
	go func() {
		defer close(ch)
		select {
		case <-time.After(s.eventAfter):
			ch <- v1.Event{Revision: 7, Type: "job"}
			<-ctx.Done()
		case <-ctx.Done():
		}
	}()
	return ch, nil
}

// serveTimeouts serves the API with short timeouts on a loopback listener.
func serveTimeouts(t *testing.T, to Timeouts, b Backend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := to.Server(New(Config{Backend: b, Timeouts: to}))
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server ends conn (EOF or reset, after
// any reply) before limit.
func closedWithin(conn net.Conn, limit time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowClients: connections that send their headers slowly, stall in
// the body or idle after a request are closed by the server once their
// timeout passes (here shortened to fractions of a second), 500 at once;
// an event stream outlives every timeout.
func TestSlowClients(t *testing.T) {
	to := Timeouts{ReadHeader: 300 * time.Millisecond, Body: 300 * time.Millisecond, Write: 600 * time.Millisecond, Idle: 300 * time.Millisecond}
	addr := serveTimeouts(t, to, &slowStub{eventAfter: 1500 * time.Millisecond})
	const limit = 5 * time.Second // far above the timeouts, far below forever
	tests := []struct {
		name, send string
		reply      string // the reply's first line before the close ("" for none)
	}{
		{"slow headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n", ""},
		{"stalled body", "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":", "HTTP/1.1 400"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 500
			var wg sync.WaitGroup
			var mu sync.Mutex
			held, bad, badReply := 0, 0, ""
			for range n {
				wg.Go(func() {
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					if _, err := io.WriteString(conn, tt.send); err != nil {
						t.Error(err)
						return
					}
					if tt.reply != "" {
						_ = conn.SetReadDeadline(time.Now().Add(limit))
						line, _ := bufio.NewReader(conn).ReadString('\n')
						if !strings.HasPrefix(line, tt.reply) {
							mu.Lock()
							bad, badReply = bad+1, line
							mu.Unlock()
							return
						}
					}
					if !closedWithin(conn, limit) {
						mu.Lock()
						held++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if held > 0 || bad > 0 {
				t.Errorf("%d of %d connections still held after %v; %d replies like %q, want %q", held, n, limit, bad, badReply, tt.reply)
			}
		})
	}

	// A stream gets its event after every timeout has passed, also on a
	// keep-alive connection an ordinary request used first.
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended before its event: %v", err)
		}
		if strings.HasPrefix(line, "id: 7") {
			break
		}
	}
}
