package server

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/suanli/suanli/internal/store/etcd"
)

// electionName is the etcd election the scheduling leader holds.
const electionName = "scheduler"

// EtcdElector elects the scheduling leader with an etcd election.
type EtcdElector struct {
	Client    *clientv3.Client
	Candidate string // published as the leader's name
	TTL       int    // session TTL in seconds (0: the store's default)
}

// Campaign implements Elector.
func (e EtcdElector) Campaign(ctx context.Context) (context.Context, error) {
	var opts []etcd.ElectOption
	if e.Candidate != "" {
		opts = append(opts, etcd.WithCandidate(e.Candidate))
	}
	if e.TTL > 0 {
		opts = append(opts, etcd.WithTTL(e.TTL))
	}
	l, err := etcd.Elect(ctx, e.Client, electionName, opts...)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.Done():
		case <-lctx.Done():
		}
		cancel()
		_ = l.Resign(context.Background())
	}()
	return lctx, nil
}
