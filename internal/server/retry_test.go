package server

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestRetries: a worker failure under a retry policy requeues the job and
// places it again, each failure listed; exhausted retries fail the job
// with the count in its reason; an exit code the policy does not name
// fails it at once; a backoff holds it out of the queue.
func TestRetries(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	admin, tenant := e.client(v1.RoleAdmin), e.client(v1.RoleTenant)
	fail := func(j *v1.Job, code int) {
		t.Helper()
		a := j.Placement.Assignments[0]
		tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Node: a.Node})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v1.NewClient(e.url, tok.Secret).ReportWorker(ctx, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: j.PlacedAt,
			State: v1.StateFailed, ExitCode: &code, OutputTail: "boom\n", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// placedAgain waits until the job is placed with another placed_at.
	placedAgain := func(j *v1.Job) *v1.Job {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := tenant.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == v1.StatePlaced && got.PlacedAt != nil && !got.PlacedAt.Equal(*j.PlacedAt) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s not placed again after 10 s: %s %s", j.ID, got.State, got.Reason)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	sub, err := tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	j := waitState(t, tenant, sub.ID, v1.StatePlaced)
	fail(j, 1)
	j = placedAgain(j)
	if len(j.Retries) != 1 || !strings.Contains(j.Retries[0].Reason, "exit code 1") {
		t.Fatalf("after the first failure: retries %+v", j.Retries)
	}
	fail(j, 1)
	j = placedAgain(j)
	fail(j, 1)
	j = waitState(t, tenant, j.ID, v1.StateFailed)
	if len(j.Retries) != 2 || !strings.Contains(j.Reason, "retries used: 2 of 2") || j.OutputTail != "boom\n" {
		t.Fatalf("exhausted: reason %q, retries %+v", j.Reason, j.Retries)
	}

	// Only the exit codes named count.
	sub, err = tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, MaxRetries: 3, RetryExitCodes: []int{75}})
	if err != nil {
		t.Fatal(err)
	}
	j = waitState(t, tenant, sub.ID, v1.StatePlaced)
	fail(j, 75)
	j = placedAgain(j)
	fail(j, 1)
	j = waitState(t, tenant, j.ID, v1.StateFailed)
	if len(j.Retries) != 1 || !strings.Contains(j.Reason, "exit code 1") {
		t.Fatalf("a failure the policy does not name: %q %+v", j.Reason, j.Retries)
	}

	// A pause: the job waits, pending, and is not placed meanwhile.
	sub, err = tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, MaxRetries: 1, RetryBackoffSec: 3600})
	if err != nil {
		t.Fatal(err)
	}
	j = waitState(t, tenant, sub.ID, v1.StatePlaced)
	fail(j, 1)
	j = waitState(t, tenant, j.ID, v1.StatePending)
	time.Sleep(200 * time.Millisecond)
	if got, _ := tenant.Job(ctx, j.ID); got.State != v1.StatePending || got.Placement != nil || len(got.Retries) != 1 ||
		got.Retries[0].NotBefore.Sub(got.Retries[0].At) != time.Hour {
		t.Fatalf("in its pause: %s %+v", got.State, got.Retries)
	}

	// A bad policy is refused with the fields named.
	_, err = tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1, MaxRetries: 101, RetryExitCodes: []int{0}})
	if err == nil || !strings.Contains(err.Error(), "max_retries") || !strings.Contains(err.Error(), "retry_exit_codes[0]") {
		t.Fatalf("bad retry policy: %v", err)
	}
}
