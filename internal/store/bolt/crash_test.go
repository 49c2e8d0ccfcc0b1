package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/bolt"
)

const crashEnv = "SUANLI_STORE_CRASH_DIR"

// TestCrashChild is the writer the crash test re-executes and kills. It
// prints one line per acknowledged write: "put KEY REV" or "cnt N REV".
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	s, err := bolt.Open(bolt.Config{Dir: dir})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	cycle := os.Getenv(crashEnv + "_CYCLE")
	var mu sync.Mutex // guards stdout lines
	ack := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: written before the next Txn
		mu.Unlock()
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if w%4 == 0 { // a quarter of the writers race on one counter
					kv, err := s.Get(ctx, "counter")
					n := 0
					if err == nil {
						n, _ = strconv.Atoi(string(kv.Value))
					}
					cond := store.Cond{Key: "counter", ModRev: kv.ModRev}
					rev, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{cond}, Ops: []store.Op{store.PutOp("counter", []byte(strconv.Itoa(n+1)))}})
					if err == nil {
						ack("cnt %d %d", n+1, rev)
					} else if !errors.Is(err, store.ErrConflict) {
						ack("err %v", err)
					}
					continue
				}
				key := fmt.Sprintf("crash/%s/%d/%d", cycle, w, i)
				rev, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: key}}, Ops: []store.Op{store.PutOp(key, []byte(key))}})
				if err != nil {
					ack("err %v", err)
					return
				}
				ack("put %s %d", key, rev)
			}
		})
	}
	wg.Wait()
}

// TestCrashSafety kills a writing process with SIGKILL at random moments and
// checks, after each kill, that every acknowledged write is in the reopened
// store.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	acked := map[string]int64{}
	var maxCount, maxRev int64
	for cycle := range 5 {
		lines := runAndKill(t, dir, cycle, time.Duration(50+rng.IntN(250))*time.Millisecond)
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) != 3 || (f[0] != "put" && f[0] != "cnt") {
				t.Fatalf("cycle %d: child said %q", cycle, l)
			}
			rev, _ := strconv.ParseInt(f[2], 10, 64)
			maxRev = max(maxRev, rev)
			if f[0] == "put" {
				acked[f[1]] = rev
			} else {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				maxCount = max(maxCount, n)
			}
		}
		verify(t, dir, cycle, acked, maxCount, maxRev)
	}
	if len(acked) == 0 || maxCount == 0 {
		t.Fatalf("no acknowledged writes in 5 cycles: the child made no progress")
	}
	t.Logf("%d acknowledged puts, counter at %d, revision %d, all present after 5 kills", len(acked), maxCount, maxRev)
}

// runAndKill starts the child, lets it write for about d after its first
// acknowledgement, kills it and returns every line it printed.
func runAndKill(t *testing.T, dir string, cycle int, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_CYCLE=%d", crashEnv, cycle))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if len(lines) == 0 {
				close(first)
			}
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-first:
	case <-done:
		cmd.Wait()
		t.Fatalf("cycle %d: child exited before writing", cycle)
	case <-time.After(10 * time.Second):
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done // the pipe holds everything printed before the kill
	cmd.Wait()
	return lines
}

func verify(t *testing.T, dir string, cycle int, acked map[string]int64, maxCount, maxRev int64) {
	t.Helper()
	ctx := context.Background()
	s, err := bolt.Open(bolt.Config{Dir: dir})
	if err != nil {
		t.Fatalf("cycle %d: reopen after SIGKILL: %v", cycle, err)
	}
	defer s.Close()
	kvs, rev, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rev < maxRev {
		t.Fatalf("cycle %d: store at revision %d, but revision %d was acknowledged", cycle, rev, maxRev)
	}
	have := make(map[string]store.KV, len(kvs))
	for _, kv := range kvs {
		have[kv.Key] = kv
		if kv.CreateRev <= 0 || kv.CreateRev > kv.ModRev || kv.ModRev > rev {
			t.Fatalf("cycle %d: inconsistent %q create %d mod %d at store rev %d", cycle, kv.Key, kv.CreateRev, kv.ModRev, rev)
		}
	}
	for key, r := range acked {
		kv, ok := have[key]
		if !ok || kv.ModRev != r || string(kv.Value) != key {
			t.Fatalf("cycle %d: acknowledged put %q at %d is missing or wrong after the kill: %+v", cycle, key, r, kv)
		}
	}
	if n, _ := strconv.ParseInt(string(have["counter"].Value), 10, 64); n < maxCount {
		t.Fatalf("cycle %d: counter is %d, but %d was acknowledged", cycle, n, maxCount)
	}
}
