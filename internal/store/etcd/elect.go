package etcd

import (
	"context"
	"errors"
	"fmt"
	"os"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultSessionTTL is the leadership lease, in seconds: a leader that stops
// renewing it (crash, partition) is replaced within about this long plus an
// etcd leader election.
const DefaultSessionTTL = 2

// ElectionPrefix is where elections keep their keys.
const ElectionPrefix = "/suanli/election/"

// Election errors.
var (
	// ErrNoLeader: nobody holds the election.
	ErrNoLeader = errors.New("no leader elected")
	// ErrLost: the session expired before the campaign was won; campaign again.
	ErrLost = errors.New("leadership session expired")
)

type electConfig struct {
	ttl       int
	candidate string
}

// ElectOption adjusts Elect.
type ElectOption func(*electConfig)

// WithTTL sets the session TTL in seconds (default DefaultSessionTTL; etcd
// raises values below its minimum).
func WithTTL(seconds int) ElectOption { return func(c *electConfig) { c.ttl = seconds } }

// WithCandidate sets the value the leader publishes (default host:pid).
func WithCandidate(name string) ElectOption { return func(c *electConfig) { c.candidate = name } }

// Leadership is a won election. It lasts until Done closes or Resign.
type Leadership struct {
	session  *concurrency.Session
	election *concurrency.Election
	name     string
}

// Elect campaigns in the election called name and returns once this caller
// leads, or with ctx's error. The leadership holds a lease renewed in the
// background; it is lost (Done closes) if the lease cannot be renewed.
func Elect(ctx context.Context, cli *clientv3.Client, name string, opts ...ElectOption) (*Leadership, error) {
	if name == "" {
		return nil, fmt.Errorf("elect: the election name is empty; name what is being led")
	}
	cfg := electConfig{ttl: DefaultSessionTTL}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.candidate == "" {
		host, _ := os.Hostname()
		cfg.candidate = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	// The session must outlive ctx, which only bounds the campaign.
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(cfg.ttl))
	if err != nil {
		return nil, fmt.Errorf("elect %s: start session: %w", name, err)
	}
	e := concurrency.NewElection(sess, ElectionPrefix+name)
	if err := e.Campaign(ctx, cfg.candidate); err != nil {
		sess.Close()
		return nil, fmt.Errorf("elect %s: campaign as %s: %w", name, cfg.candidate, err)
	}
	// Campaign returns once every earlier candidate is gone, even if this
	// session expired meanwhile (its key then went with it): confirm the key.
	resp, err := cli.Get(ctx, e.Key())
	if err == nil && (len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.Rev()) {
		err = ErrLost
	}
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("elect %s: confirm leadership of %s: %w", name, cfg.candidate, err)
	}
	return &Leadership{session: sess, election: e, name: cfg.candidate}, nil
}

// Done closes when leadership is lost: the lease expired or the session was
// closed. A leader must stop acting as one at once.
func (l *Leadership) Done() <-chan struct{} { return l.session.Done() }

// Resign gives up leadership so that the next candidate takes over without
// waiting for the lease to expire.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	if cerr := l.session.Close(); err == nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("resign leadership of %s: %w", l.name, err)
	}
	return nil
}

// Leader returns the current leader's candidate value, or ErrNoLeader.
func Leader(ctx context.Context, cli *clientv3.Client, name string) (string, error) {
	resp, err := cli.Get(ctx, ElectionPrefix+name+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader of %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("leader of %s: %w", name, ErrNoLeader)
	}
	return string(resp.Kvs[0].Value), nil
}
