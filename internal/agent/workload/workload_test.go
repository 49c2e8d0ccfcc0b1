package workload

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"
)

func TestTailMatchesLastBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		size := 1 + rng.IntN(64)
		tail := NewTail(size)
		var all []byte
		for range rng.IntN(20) {
			p := make([]byte, rng.IntN(3*size))
			for i := range p {
				p[i] = byte('a' + rng.IntN(26))
			}
			if n, err := tail.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			all = append(all, p...)
		}
		want := string(all[max(0, len(all)-size):])
		if got := tail.String(); got != want {
			t.Fatalf("trial %d size %d: got %q, want %q", trial, size, got, want)
		}
	}
}

func TestTailStartsOnACharacter(t *testing.T) {
	tail := NewTail(5)
	tail.Write([]byte("日本語")) // 9 bytes; the last 5 start mid-character
	if got := tail.String(); !utf8.ValidString(got) || got != "語" {
		t.Fatalf("got %q", got)
	}
}

func TestLineWriterSplitsLines(t *testing.T) {
	var lines []string
	w := &lineWriter{tail: NewTail(16), fn: func(l string) { lines = append(lines, l) }}
	for _, p := range []string{"a", "b\nc", "\n\n", strings.Repeat("x", maxLine+1), "\nd\n", "partial"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if want := []string{"ab", "c", "", "d"}; !slices.Equal(lines, want) {
		t.Fatalf("lines %q, want %q (an over-long line is skipped)", lines, want)
	}
}

func TestParseCheckpointLine(t *testing.T) {
	cases := []struct {
		line string
		step int64
		ok   bool
	}{
		{"SUANLI_CHECKPOINT 12", 12, true},
		{"  SUANLI_CHECKPOINT\t0 \r", 0, true},
		{"SUANLI_CHECKPOINT", 0, false},
		{"SUANLI_CHECKPOINT ", 0, false},
		{"SUANLI_CHECKPOINT -1", 0, false},
		{"SUANLI_CHECKPOINT 1e3", 0, false},
		{"SUANLI_CHECKPOINTS 3", 0, false},
		{"SUANLI_CHECKPOINT 99999999999999999999", 0, false},
		{"step 3", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		step, ok := ParseCheckpointLine(c.line)
		if step != c.step || ok != c.ok {
			t.Errorf("ParseCheckpointLine(%q) = %d, %v; want %d, %v", c.line, step, ok, c.step, c.ok)
		}
	}
}

func FuzzParseCheckpointLine(f *testing.F) {
	for _, s := range []string{"SUANLI_CHECKPOINT 12", " SUANLI_CHECKPOINT\t7\r", "SUANLI_CHECKPOINT", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		step, ok := ParseCheckpointLine(line)
		if ok && (step < 0 || !strings.Contains(line, CheckpointPrefix)) {
			t.Fatalf("accepted %q as step %d", line, step)
		}
	})
}

func TestMasterPortStable(t *testing.T) {
	for _, job := range []string{"", "j-1", "a-very-long-job-id-0000000000"} {
		p := MasterPort(job)
		if p < 29500 || p >= 30500 || p != MasterPort(job) {
			t.Errorf("MasterPort(%q) = %d", job, p)
		}
	}
}

func TestSimPlan(t *testing.T) {
	s := Sim{Seed: 7, FailMilli: 200}
	fails := 0
	for i := range 1000 {
		task := Task{ID: "job-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), RuntimeSec: 100}
		p := s.Plan(task)
		if p != s.Plan(task) {
			t.Fatal("the same seed and task gave two plans")
		}
		if p.Steps < 50 || p.Steps > 100 || p.Every != max(p.Steps/10, 1) {
			t.Fatalf("plan %+v out of [50,100] steps or with the wrong checkpoint period", p)
		}
		if p.FailAt >= 0 {
			fails++
			if p.FailAt >= p.Steps || p.ExitCode == 0 {
				t.Fatalf("failing plan %+v", p)
			}
		}
	}
	if fails < 150 || fails > 250 {
		t.Fatalf("%d of 1000 failed; want about 200", fails)
	}
	same := 0
	for i := range 20 {
		id := "k" + strings.Repeat("y", i)
		if (Sim{Seed: 8}).Plan(Task{ID: id, RuntimeSec: 1000}) == (Sim{Seed: 7}).Plan(Task{ID: id, RuntimeSec: 1000}) {
			same++
		}
	}
	if same == 20 {
		t.Fatal("the seed does not change the plans")
	}
}

func TestSimRunsOnVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Sim{Seed: 1, CheckpointEvery: 10}
		task := Task{ID: "sim-1", RuntimeSec: 100, ResumeStep: 25}
		plan := s.Plan(task)
		var mu sync.Mutex
		var ckpts []int64
		task.OnCheckpoint = func(step int64) { mu.Lock(); ckpts = append(ckpts, step); mu.Unlock() }
		start := time.Now()
		p, err := s.Start(context.Background(), task)
		if err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		res := p.Result()
		if el := time.Since(start); el != time.Duration(plan.Steps-25)*time.Second {
			t.Fatalf("ran %s; plan %+v from step 25", el, plan)
		}
		if res.ExitCode != 0 || res.Stopped || !strings.Contains(res.Tail, "steps 25 to") {
			t.Fatalf("result %+v", res)
		}
		var want []int64
		for s := int64(30); s < plan.Steps; s += 10 {
			want = append(want, s)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(ckpts, want) {
			t.Fatalf("checkpoints %v, want %v", ckpts, want)
		}
	})
}

func TestSimStopAndFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, err := Sim{Seed: 1, Second: time.Millisecond}.Start(context.Background(), Task{ID: "s", RuntimeSec: 1000})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		p.Stop(time.Minute)
		<-p.Done()
		if r := p.Result(); !r.Stopped || r.Signal != "SIGTERM" || r.ExitCode != 143 || r.Duration != 100*time.Millisecond {
			t.Fatalf("stopped worker: %+v", r)
		}

		p, err = Sim{Seed: 3, FailMilli: 1000}.Start(context.Background(), Task{ID: "f", RuntimeSec: 50})
		if err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		if r := p.Result(); r.ExitCode != 1 || !r.Failed() || r.Duration >= 50*time.Second {
			t.Fatalf("failing worker: %+v", r)
		}
	})
}
