package main

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// TestCapacityReadsTheEnvironment: with SUANLI_SERVER and SUANLI_TOKEN
// set, as the demo prints them, `capacity` reads the server's live ledger
// (allocated and free) like every client command; --network reads the
// spec instead.
func TestCapacityReadsTheEnvironment(t *testing.T) {
	s := newCLIServer(t)
	j, err := s.admin.Submit(context.Background(), v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.admin.Job(context.Background(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == v1.StatePlaced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s %s after 10 s", j.ID, got.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := run(t, "capacity")
	if err != nil || !strings.Contains(out, "allocated:") || !strings.Contains(out, "FREE EF") {
		t.Fatalf("capacity with SUANLI_SERVER set did not read the live ledger: %v\n%s", err, out)
	}
	out, err = run(t, "capacity", "--network", "default")
	if err != nil || strings.Contains(out, "allocated:") {
		t.Fatalf("capacity --network read a server: %v\n%s", err, out)
	}
	t.Setenv("SUANLI_TOKEN", "sl_wrong")
	if _, err := run(t, "capacity"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("capacity with a wrong SUANLI_TOKEN: %v", err)
	}
}

// TestCapacityTargetYear: a target due before the base year is refused
// with the years named; -o yaml and -o csv work like --csv.
func TestCapacityTargetYear(t *testing.T) {
	t.Setenv("SUANLI_SERVER", "")
	var ee *exitError
	_, err := run(t, "capacity", "--target", "100EF", "--by", "2020")
	if !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--by 2020 is before") {
		t.Fatalf("--by 2020: %v", err)
	}
	if _, err := run(t, "capacity", "--target", "100EF", "--by", "2028", "--from", "2029"); err == nil {
		t.Fatal("--by 2028 --from 2029 accepted")
	}
	if out, err := run(t, "capacity", "--target", "100EF", "--by", "2028", "--from", "2026"); err != nil || !strings.Contains(out, "by 2028") {
		t.Fatalf("--by 2028: %v\n%s", err, out)
	}
	if out, err := run(t, "capacity", "-o", "yaml"); err != nil || !strings.Contains(out, "breakdowns:") {
		t.Fatalf("-o yaml: %v", err)
	}
	if _, err := run(t, "capacity", "--json", "-o", "csv"); err == nil {
		t.Fatal("--json -o csv accepted")
	}
}

// TestUsageSpeaksInFlags: usage without --tenant (admin token) asks for
// --tenant, not for an API parameter; a bad --month is named as the flag.
func TestUsageSpeaksInFlags(t *testing.T) {
	newCLIServer(t)
	_, err := run(t, "usage")
	var ee *exitError
	if !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--tenant") || strings.Contains(err.Error(), "?tenant") {
		t.Fatalf("usage without --tenant: %v", err)
	}
	if _, err := run(t, "usage", "--tenant", "acme", "--month", "12/2026"); err == nil || !strings.Contains(err.Error(), `--month "12/2026"`) {
		t.Fatalf("bad --month: %v", err)
	}
	if out, err := run(t, "usage", "--tenant", "acme"); err != nil || !strings.Contains(out, "total") {
		t.Fatalf("usage --tenant acme: %v\n%s", err, out)
	}
}

// TestOutputFlagEverywhere: the policy side takes -o yaml and -o json
// like the job side; a bad -o is refused before any request.
func TestOutputFlagEverywhere(t *testing.T) {
	newCLIServer(t)
	if out, err := run(t, "compliance", "-o", "yaml"); err != nil || strings.HasPrefix(strings.TrimSpace(out), "{") || !strings.Contains(out, ":") {
		t.Errorf("compliance -o yaml: %v\n%.300s", err, out)
	}
	if out, err := run(t, "advisory", "list", "-o", "json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("advisory list -o json: %v\n%s", err, out)
	}
	if out, err := run(t, "advisory", "list", "-o", "yaml"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("advisory list -o yaml: %v\n%s", err, out)
	}
	t.Setenv("SUANLI_SERVER", "http://127.0.0.1:1") // nothing listens: the flag is checked first
	var ee *exitError
	if _, err := run(t, "policy", "get", "-o", "toml"); !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `-o "toml"`) {
		t.Errorf("policy get -o toml: %v", err)
	}
}
