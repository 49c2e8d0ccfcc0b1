//go:build unix

package workload

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// run starts a shell script and waits for it, with a generous bound.
func run(t *testing.T, e Proc, task Task) Result {
	t.Helper()
	p, err := e.Start(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		p.Stop(0)
		t.Fatal("the process did not end within 30 s")
	}
	return p.Result()
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestProcEnvPerVendor(t *testing.T) {
	cases := []struct {
		vendor, name string
	}{
		{"huawei", "ASCEND_RT_VISIBLE_DEVICES"},
		{"cambricon", "MLU_VISIBLE_DEVICES"},
		{"mthreads", "MUSA_VISIBLE_DEVICES"},
		{"metax", "MACA_VISIBLE_DEVICES"},
		{"kunlunxin", "XPU_VISIBLE_DEVICES"},
		{"hygon", "HIP_VISIBLE_DEVICES"},
		{"nvidia", "CUDA_VISIBLE_DEVICES"},
		{"enflame", "TOPS_VISIBLE_DEVICES"},
	}
	for _, c := range cases {
		t.Run(c.vendor, func(t *testing.T) {
			rank := Rank{Job: "j-1", Worker: 2, Workers: 4, Gang: true, MasterAddr: "node-a"}
			env := Env(c.vendor, []int{3, 1}, rank, "/tmp/ck", 7, map[string]string{"FOO": "bar", "RANK": "overridden"})
			script := `echo "dev=$` + c.name + ` rank=$RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT job=$SUANLI_JOB_ID worker=$SUANLI_WORKER resume=$SUANLI_RESUME_STEP ck=$SUANLI_CHECKPOINT_DIR foo=$FOO"`
			res := run(t, Proc{BaseEnv: []string{"PATH=/usr/bin:/bin"}}, Task{ID: "t", Command: sh(script), Env: env})
			want := "dev=1,3 rank=2 world=4 master=node-a:" + strconv.Itoa(MasterPort("j-1")) + " job=j-1 worker=2 resume=7 ck=/tmp/ck foo=bar\n"
			if res.ExitCode != 0 || res.Tail != want {
				t.Fatalf("exit %d, output %q; want %q", res.ExitCode, res.Tail, want)
			}
		})
	}
}

func TestProcNonGangHasNoRankVariables(t *testing.T) {
	env := Env("huawei", []int{0}, Rank{Job: "j", Worker: 1, Workers: 2}, "", 0, nil)
	for _, kv := range env {
		for _, k := range []string{"RANK=", "WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=", EnvCheckpointDir + "="} {
			if strings.HasPrefix(kv, k) {
				t.Errorf("a replica got %s", kv)
			}
		}
	}
}

func TestProcExitCodesAndTail(t *testing.T) {
	cases := []struct {
		name, script string
		code         int
		signal       string
		tail         string
	}{
		{"ok", "echo hello", 0, "", "hello\n"},
		{"exit 3", "echo out; exit 3", 3, "", "out\n"},
		{"stderr", "echo err >&2; exit 4", 4, "", "err\n"},
		{"killed by itself", "kill -KILL $$", 137, "SIGKILL", ""},
		{"segv", "kill -SEGV $$", 139, "SIGSEGV", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, Proc{}, Task{ID: c.name, Command: sh(c.script)})
			if res.ExitCode != c.code || res.Signal != c.signal || res.Tail != c.tail || res.Err != nil || res.Stopped {
				t.Fatalf("got %+v; want exit %d signal %q tail %q", res, c.code, c.signal, c.tail)
			}
			if res.Failed() != (c.code != 0) {
				t.Fatalf("Failed() = %v for exit %d", res.Failed(), c.code)
			}
		})
	}
}

func TestProcTailIsBounded(t *testing.T) {
	// 20,000 numbered lines, about 110 kB; the tail keeps the last 1000 bytes.
	res := run(t, Proc{TailBytes: 1000}, Task{ID: "big", Command: sh(`i=0; while [ $i -lt 20000 ]; do echo "line $i"; i=$((i+1)); done`)})
	if len(res.Tail) > 1000 || !strings.HasSuffix(res.Tail, "line 19998\nline 19999\n") {
		t.Fatalf("tail of %d bytes ends %q", len(res.Tail), res.Tail[max(0, len(res.Tail)-40):])
	}
}

func TestProcStartErrors(t *testing.T) {
	for _, cmd := range [][]string{nil, {""}, {"/nonexistent/suanli-no-such-binary"}} {
		if _, err := (Proc{}).Start(context.Background(), Task{ID: "x", Command: cmd}); err == nil {
			t.Errorf("Start(%q) succeeded", cmd)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Proc{}).Start(ctx, Task{ID: "x", Command: sh("true")}); err == nil {
		t.Error("Start with a cancelled context succeeded")
	}
}

// ready starts a script that announces checkpoint 1 once it is set up, and
// waits for that announcement.
func ready(t *testing.T, e Proc, script string) Process {
	t.Helper()
	up := make(chan struct{})
	var once sync.Once
	p, err := e.Start(context.Background(), Task{ID: "r", Command: sh(script),
		OnCheckpoint: func(int64) { once.Do(func() { close(up) }) }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-up:
	case <-time.After(30 * time.Second):
		p.Stop(0)
		t.Fatal("the script never announced it was ready")
	}
	return p
}

func wait(t *testing.T, p Process) Result {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not end within 30 s of Stop")
	}
	return p.Result()
}

func TestProcStopTermIsHonoured(t *testing.T) {
	p := ready(t, Proc{}, `trap 'echo got TERM; exit 7' TERM; echo SUANLI_CHECKPOINT 1; while :; do sleep 0.05; done`)
	p.Stop(time.Minute)
	res := wait(t, p)
	if res.ExitCode != 7 || !res.Stopped || !strings.Contains(res.Tail, "got TERM") {
		t.Fatalf("got %+v; want exit 7 after the TERM trap ran", res)
	}
	if res.Duration > 30*time.Second {
		t.Fatalf("took %s: the grace period was waited out", res.Duration)
	}
}

func TestProcStopKillsAfterGrace(t *testing.T) {
	// The shell and its children ignore TERM; only SIGKILL to the group ends them.
	p := ready(t, Proc{}, `trap '' TERM; echo SUANLI_CHECKPOINT 1; while :; do sleep 0.05; done`)
	start := time.Now()
	const grace = 300 * time.Millisecond
	p.Stop(grace)
	p.Stop(grace) // a second Stop is harmless
	res := wait(t, p)
	if res.Signal != "SIGKILL" || res.ExitCode != 137 || !res.Stopped {
		t.Fatalf("got %+v; want SIGKILL", res)
	}
	if el := time.Since(start); el < grace {
		t.Fatalf("killed after %s, before the %s grace period", el, grace)
	}
}

func TestProcStopReachesTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	// The child writes its pid and sleeps; stopping the parent must end it too.
	p := ready(t, Proc{}, `sleep 600 & echo $! > `+pidFile+`; echo SUANLI_CHECKPOINT 1; wait`)
	p.Stop(5 * time.Second)
	wait(t, p)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	for range 100 {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			return
		}
		st, _ := os.ReadFile("/proc/" + pid + "/stat")
		if strings.Contains(string(st), ") Z ") {
			return // a zombie waiting for init: dead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the child %s of a stopped worker is still alive", pid)
}

func TestProcCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	var mu sync.Mutex
	var got []int64
	script := `echo SUANLI_CHECKPOINT 5
echo "  SUANLI_CHECKPOINT 3"
echo SUANLI_CHECKPOINT x
echo SUANLI_CHECKPOINTS 99
printf 'SUANLI_CHECKPOINT 10\r\n'
echo 42 > "$SUANLI_CHECKPOINT_DIR/step"`
	env := Env("huawei", nil, Rank{Job: "j"}, dir, 2, nil)
	res := run(t, Proc{CheckpointPoll: time.Hour}, Task{ID: "ck", Command: sh(script), Env: env, CheckpointDir: dir, ResumeStep: 2,
		OnCheckpoint: func(s int64) { mu.Lock(); got = append(got, s); mu.Unlock() }})
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, res.Tail)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int64{5, 10, 42}; !slices.Equal(got, want) {
		t.Fatalf("checkpoints %v, want %v", got, want)
	}
}

func TestProcCheckpointFilePolled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	seen := make(chan int64, 4)
	p, err := Proc{CheckpointPoll: 10 * time.Millisecond}.Start(context.Background(), Task{ID: "poll",
		Command: sh(`echo 8 > "$SUANLI_CHECKPOINT_DIR/step"; trap 'exit 0' TERM; while :; do sleep 0.05; done`),
		Env:     []string{EnvCheckpointDir + "=" + dir}, CheckpointDir: dir,
		OnCheckpoint: func(s int64) { seen <- s }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Stop(0); <-p.Done() }()
	select {
	case s := <-seen:
		if s != 8 {
			t.Fatalf("checkpoint %d, want 8", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the checkpoint file was never read while the worker ran")
	}
}
