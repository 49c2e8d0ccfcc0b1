package frag_test

import (
	"testing"

	"github.com/suanli/suanli/internal/sched/frag"
)

// BenchmarkProtocolA runs protocol A on openb_pod_list_default, one
// seed and policy per iteration (seeds 42..51 in turn).
//
//	go test -bench ProtocolA -run XXX ./internal/sched/frag/
func BenchmarkProtocolA(b *testing.B) {
	nodes, pods := loadOpenb(b, "default")
	for _, pol := range frag.Names() {
		b.Run(pol, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := frag.RunProtocolA(nodes, pods, pol, uint64(42+i%10), frag.Config{}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
