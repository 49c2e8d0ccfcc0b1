//go:build linux

package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var servingURL = regexp.MustCompile(`msg=serving url=(\S+)`)

// proc is one suanli subprocess (a server replica or an agent) that the
// suite kills with SIGKILL and starts again with the same arguments.
type proc struct {
	name string
	args []string
	env  []string
	log  string // its stderr, appended across restarts

	mu   sync.Mutex // guards cmd, done
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// start starts the process; with wantURL it waits until the server logs
// the URL it serves on and returns it.
func (p *proc) start(wantURL bool) (string, error) {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(f, "==== start %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	cmd := exec.Command(suanliBin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	// An interrupted test takes its servers and agents with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stderr, cmd.Stdout = pw, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return "", fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(f, line)
			if m := servingURL.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(f, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		f.Close()
		close(done)
	}()
	if !wantURL {
		return "", nil
	}
	select {
	case u := <-urlc:
		return u, nil
	case <-done:
		return "", fmt.Errorf("%s exited before serving; log tail:\n%s", p.name, tail(p.log, 2000))
	case <-time.After(30 * time.Second):
		p.kill()
		return "", fmt.Errorf("%s did not serve within 30 s; log tail:\n%s", p.name, tail(p.log, 2000))
	}
}

// kill sends SIGKILL to the process (not to its workers: they are left as a
// crash leaves them) and waits for it.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// alive says whether the process runs.
func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// tail is the end of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freeAddr reserves a loopback port for a process that is restarted on the
// same address. The port is released before the process binds it.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts a `suanli serve` replica on addr, retrying while the
// port is still held by the process it replaces.
func startServer(p *proc) (string, error) {
	var err error
	for try := 0; try < 5; try++ {
		var u string
		if u, err = p.start(true); err == nil {
			return u, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			return "", err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", err
}

func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
