package sched_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/sched/gen"
)

// benchStream schedules jobs in a loop on a 100,000-card network, applying
// placements and releasing the oldest when more than 70% of the cards are
// held, and reports decisions per second (time inside Schedule only), p50
// and p99 decision latency. ns/op and allocs/op include Apply and Release.
func benchStream(b *testing.B, jobs []model.Job) {
	net, err := gen.Network(gen.NetConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c := sched.NewCluster(net)
	limit := int64(c.Cards()) * 700
	var live []model.Placement
	head, placed := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	lat := make([]time.Duration, 0, b.N)
	var sum time.Duration
	for i := 0; i < b.N; i++ {
		j := &jobs[i%len(jobs)]
		for c.UsedCardsMilli() > limit && head < len(live) {
			_ = c.Release(live[head])
			head++
		}
		t := time.Now()
		d := sched.Schedule(c, j, sched.Input{}, sched.Config{})
		el := time.Since(t)
		sum += el
		lat = append(lat, el)
		if d.Placement != nil && c.Apply(*d.Placement) == nil {
			live = append(live, *d.Placement)
			placed++
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/sum.Seconds(), "decisions/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Nanoseconds())/1000, "p99-µs")
	b.ReportMetric(float64(placed)/float64(b.N), "placed/decision")
}

func BenchmarkSchedule(b *testing.B) {
	b.Run("cards=100000/mixed", func(b *testing.B) { benchStream(b, gen.Stream(20_000, gen.DefaultMix, 1)) })
	b.Run("cards=100000/single-node", func(b *testing.B) { benchStream(b, gen.SingleNode(20_000, 1)) })
	for _, g := range []int{16, 256, 1024} {
		b.Run(fmt.Sprintf("cards=100000/gang=%d", g), func(b *testing.B) { benchStream(b, gen.Gangs(2_000, g, 1)) })
	}
	b.Run("cards=100000/fractional", func(b *testing.B) {
		benchStream(b, gen.Stream(20_000, gen.Mix{Fractional: 1}, 1))
	})
}

func BenchmarkClone(b *testing.B) {
	net, err := gen.Network(gen.NetConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c := sched.NewCluster(net)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Clone()
	}
}
