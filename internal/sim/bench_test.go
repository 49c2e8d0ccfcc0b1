package sim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/suanli/suanli/internal/sched/frag"
	"github.com/suanli/suanli/internal/sim"
	"github.com/suanli/suanli/internal/trace/tracetest"
)

// long reports whether the long benchmarks (the full protocol A, the
// synthetic week and month) should run: SIM_BENCH_LONG=1. CI runs each
// benchmark once and must stay fast.
func long() bool { return os.Getenv("SIM_BENCH_LONG") != "" }

// BenchmarkProtocolA is protocol A on the default openb pod list: every
// policy × 1 seed, and with SIM_BENCH_LONG=1 the full 10 seeds, in parallel
// on the machine's CPUs.
//
//	SIM_BENCH_LONG=1 go test -run '^$' -bench ProtocolA -benchtime 1x ./internal/sim/
func BenchmarkProtocolA(b *testing.B) {
	dir := tracetest.OpenbDir(b)
	seeds := []int{1}
	if long() {
		seeds = append(seeds, 10)
	}
	for _, n := range seeds {
		b.Run(fmt.Sprintf("trace=default/seeds=%d/policies=%d", n, len(frag.Names())), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := sim.RunFGD(context.Background(), sim.FGDConfig{
					NodesPath: filepath.Join(dir, "openb_node_list_gpu_node.csv"),
					PodsPath:  filepath.Join(dir, "openb_pod_list_default.csv"),
					Seeds:     sim.Seeds(1, n),
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSynthetic generates and replays the synthetic workload on the
// default network through the core: a day, and with SIM_BENCH_LONG=1 a
// week and a month.
//
//	SIM_BENCH_LONG=1 go test -run '^$' -bench Synthetic -benchtime 1x ./internal/sim/
func BenchmarkSynthetic(b *testing.B) {
	net := defaultNet(b)
	spans := []string{"day"}
	if long() {
		spans = append(spans, "week", "month")
	}
	for _, span := range spans {
		b.Run("network=default/span="+span, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := sim.RunSynthetic(context.Background(), net, sim.SyntheticConfig{Synth: sim.SynthConfig{Seed: 1, SpanS: sim.SyntheticSpans[span]}})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(r.Jobs), "jobs")
			}
		})
	}
}
