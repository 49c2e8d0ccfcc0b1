package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// BenchmarkDurableTxn measures acknowledged CAS transactions per second on a
// 3-member cluster (every ack is a raft quorum commit, fsync'd to each
// member's WAL) with concurrent writers pipelining over gRPC. The client
// talks to the raft leader, as the single Suanli server would, so requests
// are not forwarded by a follower.
func BenchmarkDurableTxn(b *testing.B) {
	c := etcdtest.Start(b, 3)
	s := etcd.New(c.Client(b, c.Leader()), etcd.Config{Prefix: "/bench/"})
	defer s.Close()
	var run atomic.Int64 // keys are fresh in every run
	for _, writers := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			r := run.Add(1)
			value := make([]byte, 256)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						key := fmt.Sprintf("%d/%d/%d", r, w, i)
						if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: key}}, Ops: []store.Op{store.PutOp(key, value)}}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txn/s")
		})
	}
}
