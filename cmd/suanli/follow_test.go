package main

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// placedJob submits a one-worker batch job for acme and waits until it is
// placed.
func placedJob(t *testing.T, s *cliServer) *v1.Job {
	t.Helper()
	ctx := context.Background()
	j, err := s.admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.admin.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == v1.StatePlaced {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s %s after 10 s", j.ID, got.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchFollowsAJobToItsEnd: `watch` prints the placed job, then each
// change an agent reports, and exits 0 when the job completes; a job that
// fails ends the watch with an error naming why, and `logs` prints the
// output tail the agent captured.
func TestWatchFollowsAJobToItsEnd(t *testing.T) {
	s := newCLIServer(t)
	ctx := context.Background()
	agentFor := func(node string) *v1.Client {
		tok, err := s.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Node: node})
		if err != nil {
			t.Fatal(err)
		}
		return v1.NewClient(s.url, tok.Secret)
	}

	j := placedJob(t, s)
	a := j.Placement.Assignments[0]
	ag := agentFor(a.Node)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := run(t, "watch", j.ID, "--timeout", "20s")
		done <- result{out, err}
	}()
	time.Sleep(200 * time.Millisecond) // let the watch print the placed job
	for _, st := range []string{v1.StateRunning, v1.StateCompleted} {
		if _, err := ag.ReportWorker(ctx, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: j.PlacedAt, State: st, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("watch of a completed job: %v\n%s", r.err, r.out)
	}
	for _, want := range []string{"placed", "running", "completed", a.Site} {
		if !strings.Contains(r.out, want) {
			t.Errorf("watch output lacks %q:\n%s", want, r.out)
		}
	}
	if n := strings.Count(r.out, "\n"); n < 3 {
		t.Errorf("watch printed %d lines, want placed, running, completed:\n%s", n, r.out)
	}

	// A failing job: watch ends with its reason, logs prints its tail.
	f := placedJob(t, s)
	if _, err := run(t, "logs", f.ID); err == nil || !strings.Contains(err.Error(), "no output captured") {
		t.Errorf("logs of a placed job: %v", err)
	}
	fa := f.Placement.Assignments[0]
	ag = agentFor(fa.Node)
	go func() {
		out, err := run(t, "watch", f.ID, "--timeout", "20s")
		done <- result{out, err}
	}()
	time.Sleep(200 * time.Millisecond)
	code := 3
	if _, err := ag.ReportWorker(ctx, f.ID, v1.WorkerReport{Node: fa.Node, Worker: fa.Worker, PlacedAt: f.PlacedAt, State: v1.StateFailed, ExitCode: &code,
		OutputTail: "loading shard 7\nTraceback: out of device memory\n", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r = <-done
	if r.err == nil || !strings.Contains(r.err.Error(), "failed") || !strings.Contains(r.err.Error(), "exit code 3") {
		t.Fatalf("watch of a failing job: %v\n%s", r.err, r.out)
	}
	out, err := run(t, "logs", f.ID)
	if err != nil || out != "loading shard 7\nTraceback: out of device memory\n" {
		t.Fatalf("logs: %v\n%q", err, out)
	}
	// Listings leave the tail out.
	l, err := s.admin.Jobs(ctx, v1.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range l.Jobs {
		if x.OutputTail != "" {
			t.Errorf("job list carries %s's output tail", x.ID)
		}
	}
	// A watch of an ended job prints it and returns at once.
	if out, err := run(t, "watch", j.ID); err != nil || !strings.Contains(out, "completed") {
		t.Errorf("watch of an ended job: %v\n%s", err, out)
	}
	if out, err := run(t, "watch", j.ID, "-o", "json"); err != nil || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, `{"id":"`+j.ID) {
		t.Errorf("watch -o json: %v\n%s", err, out)
	}
	if _, err := run(t, "watch", "j-nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("watch of an unknown job: %v", err)
	}
}
