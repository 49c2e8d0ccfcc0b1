package trace

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func addFile(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// The readers must never panic, and whatever they accept must be valid.
func FuzzReadNodes(f *testing.F) {
	addFile(f, "testdata/nodes.csv")
	f.Add([]byte("sn,cpu_milli,memory_mib,gpu,model\nn,1,1,1,\n"))
	f.Add([]byte("model,gpu,memory_mib,cpu_milli,sn\nT4,2,1,1,n\n\"x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, skip := range []bool{false, true} {
			nodes, rep, err := ReadNodes(bytes.NewReader(in), "f.csv", Options{SkipBad: skip})
			if err != nil {
				if !strings.HasPrefix(err.Error(), "f.csv:") {
					t.Fatalf("error without file name: %v", err)
				}
				continue
			}
			if rep.Rows != len(nodes)+rep.Skipped {
				t.Fatalf("rows %d != %d kept + %d skipped", rep.Rows, len(nodes), rep.Skipped)
			}
			for _, n := range nodes {
				if n.Name == "" || n.CPUMilli < 0 || n.MemMiB < 0 || n.GPUs < 0 || (n.GPUs > 0) != (n.GPUModel != "") {
					t.Fatalf("accepted bad node %+v", n)
				}
			}
		}
	})
}

func FuzzReadPods(f *testing.F) {
	addFile(f, "testdata/pods.csv")
	addFile(f, "testdata/pods_short.csv")
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,2,500\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pods, rep, err := ReadPods(bytes.NewReader(in), "f.csv", Options{SkipBad: true})
		if err != nil {
			return
		}
		if rep.Rows != len(pods)+rep.Skipped {
			t.Fatalf("rows %d != %d kept + %d skipped", rep.Rows, len(pods), rep.Skipped)
		}
		for _, p := range pods {
			if p.GPUMilli < 0 || p.GPUMilli > 1000 || (p.NumGPU == 0) != (p.GPUMilli == 0) || (p.GPUMilli < 1000 && p.NumGPU > 1) {
				t.Fatalf("accepted bad pod %+v", p)
			}
			for _, m := range p.GPUSpec {
				if m == "" {
					t.Fatalf("empty model in spec %+v", p)
				}
			}
		}
	})
}

func FuzzReadJobs(f *testing.F) {
	addFile(f, "testdata/jobs.jsonl")
	f.Add([]byte(`{"id":"a","tenant":"t","kind":"gang","arrival_s":0,"duration_s":1,"workers":1,"cards_per_worker":1,"x":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		jobs, _, err := ReadJobs(bytes.NewReader(in), "f", Options{SkipBad: true})
		if err != nil {
			return
		}
		for _, j := range jobs {
			if err := j.Validate(); err != nil {
				t.Fatalf("accepted invalid job %+v: %v", j, err)
			}
		}
		// Accepted jobs survive a round trip unchanged.
		var buf bytes.Buffer
		if err := WriteJobs(&buf, jobs); err != nil {
			t.Fatal(err)
		}
		again, _, err := ReadJobs(&buf, "again", Options{})
		if err != nil || len(again) != len(jobs) {
			t.Fatalf("round trip: %d jobs, err %v", len(again), err)
		}
	})
}
