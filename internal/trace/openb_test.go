package trace

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/trace/tracetest"
)

func TestReadNodesFixture(t *testing.T) {
	nodes, rep, err := LoadNodes("testdata/nodes.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{"tiny-node-0", 32000, 131072, 0, ""},
		{"tiny-node-1", 96000, 393216, 8, "G2"},
		{"tiny-node-2", 104000, 524288, 2, "T4"},
		{"tiny-node-3", 16000, 122880, 2, "P100"},
	}
	if !reflect.DeepEqual(nodes, want) {
		t.Fatalf("nodes:\n got %+v\nwant %+v", nodes, want)
	}
	if rep.Rows != 4 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestReadPodsFixture(t *testing.T) {
	pods, _, err := LoadPods("testdata/pods.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 5 {
		t.Fatalf("got %d pods", len(pods))
	}
	p := pods[2]
	if p.Name != "tiny-pod-2" || p.NumGPU != 1 || p.GPUMilli != 1000 || !reflect.DeepEqual(p.GPUSpec, []string{"T4", "P100"}) ||
		p.QoS != "LS" || p.Phase != "Succeeded" || p.CreationTime != 160 || p.DeletionTime != 400 || p.ScheduledTime != 160 {
		t.Fatalf("pod 2: %+v", p)
	}
	if pods[3].ScheduledTime != NoTime || pods[3].TotalGPUMilli() != 8000 {
		t.Fatalf("pod 3: %+v", pods[3])
	}
	if pods[4].GPUSpec != nil {
		t.Fatalf("nan spec should read as none: %+v", pods[4])
	}

	short, _, err := LoadPods("testdata/pods_short.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(short) != 3 || short[2].NumGPU != 4 || short[2].CreationTime != NoTime || short[2].QoS != "" {
		t.Fatalf("short: %+v", short)
	}
}

func TestBadRows(t *testing.T) {
	const header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
	tests := []struct {
		name, row, want string
	}{
		{"not int", "p,x,1,0,0,,LS,Running,1,2,3", "pods.csv:2: column cpu_milli: \"x\" is not an integer"},
		{"negative", "p,1,-1,0,0,,LS,Running,1,2,3", "column memory_mib: -1 is out of range"},
		{"milli without gpu", "p,1,1,0,500,,LS,Running,1,2,3", "column gpu_milli: 500 for a pod with num_gpu 0"},
		{"share multi", "p,1,1,2,500,,LS,Running,1,2,3", "needs num_gpu 1"},
		{"gpu without milli", "p,1,1,1,0,,LS,Running,1,2,3", "must be 1..1000"},
		{"milli too big", "p,1,1,1,1001,,LS,Running,1,2,3", "column gpu_milli: 1001 is out of range 0..1000"},
		{"qos", "p,1,1,0,0,,Gold,Running,1,2,3", "column qos: \"Gold\" is not one of"},
		{"phase", "p,1,1,0,0,,LS,Done,1,2,3", "column pod_phase"},
		{"spec", "p,1,1,1,1000,T4||P100,LS,Running,1,2,3", "column gpu_spec"},
		{"fields", "p,1,1", "3 fields, the header has 11"},
		{"name", ",1,1,0,0,,LS,Running,1,2,3", "column name: empty"},
		{"time", "p,1,1,0,0,,LS,Running,yesterday,2,3", "column creation_time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadPods(strings.NewReader(header+tc.row+"\n"), "pods.csv", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			var re *RowError
			if !errors.As(err, &re) || re.Line != 2 {
				t.Fatalf("want a RowError on line 2, got %#v", err)
			}
		})
	}
}

func TestBadRowReportsAllColumns(t *testing.T) {
	in := "sn,cpu_milli,memory_mib,gpu,model\nn1,x,y,2,\n"
	_, _, err := ReadNodes(strings.NewReader(in), "nodes.csv", Options{})
	for _, col := range []string{"cpu_milli", "memory_mib", "model"} {
		if err == nil || !strings.Contains(err.Error(), "column "+col) {
			t.Fatalf("err %v should name column %s", err, col)
		}
	}
}

func TestSkipBad(t *testing.T) {
	in := "sn,cpu_milli,memory_mib,gpu,model\n" +
		"n1,1000,1024,2,T4\n" +
		"n2,oops,1024,2,T4\n" +
		"n1,1000,1024,2,T4\n" +
		"n3,1000,1024,0,\n"
	nodes, rep, err := ReadNodes(strings.NewReader(in), "nodes.csv", Options{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || rep.Rows != 4 || rep.Skipped != 2 || len(rep.Errors) != 2 {
		t.Fatalf("nodes %v report %+v", nodes, rep)
	}
	if !strings.Contains(rep.Errors[1].Error(), "nodes.csv:4: column sn: duplicate node \"n1\" (first on line 2)") {
		t.Fatalf("errors: %v", rep.Errors)
	}
	if _, _, err := ReadNodes(strings.NewReader(in), "nodes.csv", Options{}); err == nil {
		t.Fatal("strict read accepted a bad row")
	}
}

func TestBadHeader(t *testing.T) {
	for _, in := range []string{"", "sn,cpu_milli\n", "name,cpu_milli,memory_mib,num_gpu\n"} {
		if _, _, err := ReadPods(strings.NewReader(in), "x.csv", Options{}); err == nil || !strings.Contains(err.Error(), "x.csv:1:") {
			t.Fatalf("header %q: err %v", in, err)
		}
	}
}

func TestRealOpenb(t *testing.T) {
	dir := tracetest.OpenbDir(t)
	nodes, _, err := LoadNodes(filepath.Join(dir, "openb_node_list_gpu_node.csv"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	gpus, cpu := 0, int64(0)
	byModel := map[string]int{}
	for _, n := range nodes {
		gpus += n.GPUs
		cpu += n.CPUMilli
		byModel[n.GPUModel] += n.GPUs
	}
	if len(nodes) != 1213 || gpus != 6212 || cpu != 107018000 {
		t.Fatalf("gpu node list: %d nodes, %d GPUs, %d milli-CPU; want 1213, 6212, 107018000", len(nodes), gpus, cpu)
	}
	wantModels := map[string]int{"G2": 4392, "T4": 842, "G3": 312, "P100": 265, "V100M32": 204, "V100M16": 195, "A10": 2}
	if !reflect.DeepEqual(byModel, wantModels) {
		t.Fatalf("GPUs per model %v, want %v", byModel, wantModels)
	}
	all, _, err := LoadNodes(filepath.Join(dir, "openb_node_list_all_node.csv"), Options{})
	if err != nil || len(all) != 1523 {
		t.Fatalf("all-node list: %d nodes, err %v", len(all), err)
	}

	lists := map[string]int{"default": 8152, "cpu050": 7439, "cpu100": 7853, "gpushare40": 8152, "gpushare60": 8152,
		"gpushare80": 8152, "gpushare100": 8152, "gpuspec10": 8152, "gpuspec33": 8152,
		"multigpu20": 8324, "multigpu40": 8746, "multigpu50": 9061}
	for name, rows := range lists {
		pods, rep, err := LoadPods(filepath.Join(dir, "openb_pod_list_"+name+".csv"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(pods) != rows || rep.Skipped != 0 {
			t.Fatalf("%s: %d pods (report %+v), want %d", name, len(pods), rep, rows)
		}
		if name == "default" {
			var milli int64
			cpuOnly, share := 0, 0
			for _, p := range pods {
				milli += p.TotalGPUMilli()
				if p.NumGPU == 0 {
					cpuOnly++
				} else if p.GPUMilli < 1000 {
					share++
				}
			}
			if milli != 6086800 || cpuOnly != 1088 || share != 3078 {
				t.Fatalf("default: %d GPU-milli, %d CPU-only, %d sharing; want 6086800, 1088, 3078", milli, cpuOnly, share)
			}
		}
	}
}
