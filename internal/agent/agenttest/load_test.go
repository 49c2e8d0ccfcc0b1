//go:build linux

package agenttest

import (
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	state, pgid, ok := parseStat("123 (sh -c x)) S 1 456 7 0 -1")
	if !ok || state != "S" || pgid != 456 {
		t.Fatalf("parseStat = %q %d %v", state, pgid, ok)
	}
	if _, _, ok := parseStat("123 (sh) S 1"); ok {
		t.Fatal("a truncated stat line parsed")
	}
}

// TestProcsWithEnv finds a process by the exact value of a variable in its
// environment (not one whose value merely starts the same), with its
// process group, and no longer once it has exited.
func TestProcsWithEnv(t *testing.T) {
	marker := "procs-" + time.Now().Format("150405.000000000")
	start := func(value string) *exec.Cmd {
		cmd := exec.Command("sleep", "30")
		cmd.Env = []string{"SUANLI_TEST_MARK=" + value, "OTHER=1"}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	want := start(marker)
	start(marker + "0") // the same prefix: not found
	got := ProcsWithEnv("SUANLI_TEST_MARK", marker)
	if len(got) != 1 || got[0].PID != want.Process.Pid || got[0].Env["OTHER"] != "1" {
		t.Fatalf("found %+v, want pid %d only", got, want.Process.Pid)
	}
	if pgid, _ := syscall.Getpgid(want.Process.Pid); got[0].PGID != pgid {
		t.Fatalf("process group %d, want %d", got[0].PGID, pgid)
	}
	_ = want.Process.Kill()
	_ = want.Wait()
	if got := ProcsWithEnv("SUANLI_TEST_MARK", marker); slices.ContainsFunc(got, func(p Proc) bool { return p.PID == want.Process.Pid }) {
		t.Fatalf("found %+v after it exited", got)
	}
}
