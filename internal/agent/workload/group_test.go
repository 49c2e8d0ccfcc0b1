//go:build linux

package workload

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// foreign starts a process group this package did not start (as a crashed
// agent's worker is to the next agent) and returns its group.
func foreign(t *testing.T, script string) Group {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reap it, as init would
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	ticks, ok := startTicks(cmd.Process.Pid)
	if !ok {
		t.Fatal("no start time in /proc")
	}
	return Group{PGID: cmd.Process.Pid, StartTicks: ticks}
}

func TestAdoptStopsAForeignGroup(t *testing.T) {
	g := foreign(t, `trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done`)
	p, ok := Adopt(g)
	if !ok {
		t.Fatal("a live group was not adopted")
	}
	select {
	case <-p.Done():
		t.Fatal("the adopted group ended by itself")
	case <-time.After(200 * time.Millisecond):
	}
	start := time.Now()
	p.Stop(5 * time.Second)
	res := wait(t, p)
	if !res.Stopped || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("done %s after SIGTERM, before the worker's 0.3 s exit", el)
	}
	if GroupAlive(g) {
		t.Fatal("the group is alive after Done")
	}
}

func TestAdoptedGroupThatEndsHasNoKnownStatus(t *testing.T) {
	g := foreign(t, `sleep 0.2`)
	p, ok := Adopt(g)
	if !ok {
		t.Fatal("not adopted")
	}
	res := wait(t, p)
	if res.Stopped || res.Err != ErrStatusUnknown || !res.Failed() {
		t.Fatalf("result %+v, want the unknown status", res)
	}
}

func TestGroupAliveTellsAReusedPid(t *testing.T) {
	g := foreign(t, `sleep 600`)
	if !GroupAlive(g) {
		t.Fatal("a live group is not alive")
	}
	other := g
	other.StartTicks++
	if GroupAlive(other) {
		t.Fatal("a leader started at another time was taken for the recorded one")
	}
	if _, ok := Adopt(other); ok {
		t.Fatal("adopted a process that reuses the pid")
	}
	if GroupAlive(Group{PGID: 1}) || GroupAlive(Group{}) {
		t.Fatal("pgid 0 or 1 is never a worker")
	}
}

// A worker has ended only when its whole group has: a child that outlives
// the leader is killed and waited for before Done.
func TestProcDoneWaitsForTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	p, err := Proc{}.Start(t.Context(), Task{ID: "g", Command: sh(`(trap '' TERM; sleep 600) & echo $! > ` + pidFile + `; exit 0`)})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, p)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if _, f, ok := statFields(string(st)); ok && f[0] != "Z" && f[0] != "X" {
			t.Fatalf("the leader's child %d is alive (state %s) after Done", pid, f[0])
		}
	}
	if g := p.(Grouped).Group(); g.PGID == 0 || GroupAlive(g) {
		t.Fatalf("group %+v", g)
	}
}
