package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// suanliBin is the suanli binary TestMain builds once for subprocess tests
// (or the one SUANLI_BIN names).
var suanliBin string

func TestMain(m *testing.M) {
	if os.Getenv(floodEnv) != "" {
		os.Exit(floodMain()) // the flood benchmark's flooding process
	}
	dir, err := os.MkdirTemp("", "suanli-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	suanliBin = filepath.Join(dir, "suanli")
	if bin := os.Getenv("SUANLI_BIN"); bin != "" {
		suanliBin = bin // built once by scripts/test.sh for this and the chaos tests
	} else if out, err := exec.Command("go", "build", "-o", suanliBin, "../../cmd/suanli").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build suanli: %v\n%s", err, out)
		suanliBin = ""
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var servingURL = regexp.MustCompile(`msg=serving url=(\S+)`)

// startProc runs `suanli serve` on the data dir and returns its URL.
func startProc(t *testing.T, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(suanliBin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case u := <-urlc:
		return cmd, u
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server did not start in 20 s")
	}
	return nil, ""
}

// TestKillNine: submit from several goroutines while the real server is
// killed with SIGKILL at random moments; after every restart each
// acknowledged job is present and no card is held by two jobs.
func TestKillNine(t *testing.T) {
	if testing.Short() || suanliBin == "" {
		t.Skip("needs the suanli binary; not in -short")
	}
	dataDir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 9))
	acked := map[string]bool{}
	var mu sync.Mutex // guards acked
	const cycles = 20
	for cycle := range cycles {
		cmd, url := startProc(t, dataDir)
		tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
		if err != nil {
			t.Fatal(err)
		}
		c := v1.NewClient(url, strings.TrimSpace(string(tok)))
		if _, err := c.PutTenant(context.Background(), v1.Tenant{ID: "acme", Class: "private"}); err != nil {
			t.Fatal(err)
		}
		check(t, c, acked, cycle)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					spec := v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1 + (g+i)%4}
					if i%5 == 0 {
						spec = v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8}
					}
					j, err := c.Submit(ctx, spec)
					if err != nil {
						return // killed
					}
					mu.Lock()
					acked[j.ID] = true
					mu.Unlock()
					if i%7 == 3 {
						_, _ = c.Cancel(ctx, j.ID)
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+r.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		cancel()
		wg.Wait()
	}
	cmd, url := startProc(t, dataDir)
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	tok, _ := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	c := v1.NewClient(url, strings.TrimSpace(string(tok)))
	check(t, c, acked, cycles)
	v, err := c.VerifyAudit(context.Background())
	if err != nil || !v.OK {
		t.Fatalf("audit after %d kills: %v %+v", cycles, err, v)
	}
	t.Logf("%d acknowledged jobs survived %d kill -9 cycles; audit log of %d entries intact", len(acked), cycles, v.Entries)
}

// check lists every job: each acknowledged one is there, and no card is
// held by two live placements.
func check(t *testing.T, c *v1.Client, acked map[string]bool, cycle int) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	held := map[string]string{} // node/card → job
	after := ""
	for {
		l, err := c.Jobs(ctx, v1.JobFilter{After: after, Limit: 1000})
		if err != nil {
			var e *v1.Error
			if errors.As(err, &e) {
				t.Fatalf("cycle %d: list jobs: %v", cycle, err)
			}
			t.Fatalf("cycle %d: list jobs: %v", cycle, err)
		}
		for _, j := range l.Jobs {
			seen[j.ID] = true
			if j.Placement == nil || j.State == v1.StateCancelled || j.State == v1.StateCompleted || j.State == v1.StateFailed {
				continue
			}
			for _, a := range j.Placement.Assignments {
				for _, card := range a.Cards {
					k := fmt.Sprintf("%s/%d", a.Node, card)
					if other, dup := held[k]; dup && a.ShareMilli == 0 {
						t.Fatalf("cycle %d: card %s held by %s and %s", cycle, k, other, j.ID)
					}
					held[k] = j.ID
				}
			}
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("cycle %d: acknowledged job %s is gone", cycle, id)
		}
	}
}
