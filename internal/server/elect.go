package server

import (
	"context"
	"errors"
	"time"

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

// Campaign implements Elector. Every campaign runs on a fresh session: a
// replica that gave up leading never waits behind its own old key.
func (e EtcdElector) Campaign(ctx context.Context) (context.Context, func(), error) {
	var opts []etcd.ElectOption
	if e.Candidate != "" {
		opts = append(opts, etcd.WithCandidate(e.Candidate))
	}
	ttl := e.TTL
	if ttl <= 0 {
		ttl = etcd.DefaultSessionTTL
	}
	opts = append(opts, etcd.WithTTL(ttl))
	l, err := etcd.Elect(ctx, e.Client, electionName, opts...)
	if err != nil {
		return nil, nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	resigned := make(chan struct{})
	go func() {
		defer close(resigned)
		select {
		case <-l.Done():
		case <-lctx.Done():
		}
		cancel()
		// Delete the key and revoke the lease so that the next leader
		// need not wait for it to expire. If etcd cannot be reached the
		// session's keep-alive has stopped anyway: the lease lapses
		// within the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), time.Duration(ttl)*time.Second)
		defer rcancel()
		_ = l.Resign(rctx)
	}()
	return lctx, func() { cancel(); <-resigned }, nil
}

// Leader implements Elector.
func (e EtcdElector) Leader(ctx context.Context) (string, error) {
	name, err := etcd.Leader(ctx, e.Client, electionName)
	if errors.Is(err, etcd.ErrNoLeader) {
		return "", ErrNoLeader
	}
	return name, err
}
