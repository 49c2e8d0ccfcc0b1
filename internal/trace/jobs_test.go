package trace

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestReadJobsFixture(t *testing.T) {
	f, err := os.Open("testdata/jobs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jobs, rep, err := ReadJobs(f, "jobs.jsonl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || rep.Rows != 3 {
		t.Fatalf("jobs %+v report %+v", jobs, rep)
	}
	want := Job{ID: "j-2", Tenant: "t-city", Kind: KindInference, ArrivalS: 30, DurationS: 86400, Workers: 3,
		CardsPerWorker: 1, ShareMilli: 250, MemMiB: 16384}
	if !reflect.DeepEqual(jobs[1], want) {
		t.Fatalf("job 2:\n got %+v\nwant %+v", jobs[1], want)
	}
	if jobs[0].Topology != TopologyDomain || jobs[2].ComputeGFLOPS != 2000000 {
		t.Fatalf("jobs: %+v", jobs)
	}
}

func TestJobsRoundTrip(t *testing.T) {
	f, _ := os.ReadFile("testdata/jobs.jsonl")
	jobs, _, err := ReadJobs(bytes.NewReader(f), "jobs.jsonl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJobs(&buf, jobs); err != nil {
		t.Fatal(err)
	}
	again, _, err := ReadJobs(bytes.NewReader(buf.Bytes()), "again", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jobs, again) {
		t.Fatalf("round trip changed jobs:\n%+v\n%+v", jobs, again)
	}
	var buf2 bytes.Buffer
	WriteJobs(&buf2, again)
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("writer output is not stable")
	}
}

func TestBadJobs(t *testing.T) {
	const ok = `"id":"a","tenant":"t","kind":"gang","arrival_s":0,"duration_s":1,"workers":1,"cards_per_worker":1`
	tests := []struct{ name, line, want string }{
		{"unknown field", `{` + ok + `,"gpus":3}`, `unknown field "gpus"`},
		{"kind", `{"id":"a","tenant":"t","kind":"train","arrival_s":0,"duration_s":1,"workers":1,"cards_per_worker":1}`, `kind: "train" is not one of`},
		{"share with cards", `{"id":"a","tenant":"t","kind":"batch","arrival_s":0,"duration_s":1,"workers":1,"cards_per_worker":2,"share_milli":500}`, "share_milli: a fractional worker"},
		{"trailing", `{` + ok + `} {}`, "data after the job object"},
		{"type", `{"id":"a","tenant":"t","kind":"gang","arrival_s":"soon","duration_s":1,"workers":1,"cards_per_worker":1}`, "arrival_s"},
		{"topology", `{` + ok + `,"topology":"rack"}`, `topology: "rack"`},
		{"several", `{"id":"","tenant":"","kind":"gang","arrival_s":-1,"duration_s":0,"workers":0,"cards_per_worker":0}`, "tenant: empty"},
		{"null", `null`, "id: empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "{" + ok + "}\n" + tc.line + "\n"
			_, _, err := ReadJobs(strings.NewReader(in), "jobs.jsonl", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jobs.jsonl:2: ") {
				t.Fatalf("err = %v, want jobs.jsonl:2: ... %q", err, tc.want)
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line != 2 {
				t.Fatalf("want a LineError on line 2, got %#v", err)
			}
		})
	}
}

func TestJobsDuplicateAndSkip(t *testing.T) {
	line := `{"id":"a","tenant":"t","kind":"gang","arrival_s":0,"duration_s":1,"workers":1,"cards_per_worker":1}`
	in := line + "\n" + line + "\nnot json\n"
	jobs, rep, err := ReadJobs(strings.NewReader(in), "j", Options{SkipBad: true})
	if err != nil || len(jobs) != 1 || rep.Skipped != 2 || rep.Rows != 3 {
		t.Fatalf("jobs %v rep %+v err %v", jobs, rep, err)
	}
	if !strings.Contains(rep.Errors[0].Error(), `j:2: id: "a" repeats the job on line 1`) {
		t.Fatalf("errors %v", rep.Errors)
	}
}

func TestWriteJobsValidates(t *testing.T) {
	if err := WriteJobs(&bytes.Buffer{}, []Job{{ID: "x"}}); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("err %v", err)
	}
}
