package v1

import (
	"testing"
	"time"
)

func TestLeaseArithmetic(t *testing.T) {
	l := Lease{Period: 5 * time.Second, Missed: 3}
	t0 := time.Unix(1000, 0)
	cases := []struct {
		after   time.Duration
		missed  int
		lost    bool
		expired bool
	}{
		{0, 0, false, false},
		{5 * time.Second, 0, false, false}, // the first beat is due now, not missed yet
		{5*time.Second + 1, 1, false, false},
		{10*time.Second + 1, 2, false, false},
		{15*time.Second - 1, 2, false, false},
		{15 * time.Second, 2, false, true},  // the agent stops first…
		{15*time.Second + 1, 3, true, true}, // …then the server loses the node
		{time.Hour, 719, true, true},
		{-time.Second, 0, false, false},
	}
	for _, c := range cases {
		now := t0.Add(c.after)
		if got := l.MissedBeats(t0, now); got != c.missed {
			t.Errorf("MissedBeats after %s = %d, want %d", c.after, got, c.missed)
		}
		if got := l.Lost(t0, now); got != c.lost {
			t.Errorf("Lost after %s = %v, want %v", c.after, got, c.lost)
		}
		if got := l.Expired(t0, now); got != c.expired {
			t.Errorf("Expired after %s = %v, want %v", c.after, got, c.expired)
		}
	}
	if l.TTL() != 15*time.Second {
		t.Errorf("TTL %s", l.TTL())
	}
}

func TestLeaseNeverLostBeforeTheAgentStops(t *testing.T) {
	for _, l := range []Lease{{time.Second, 1}, {5 * time.Second, 3}, {7 * time.Millisecond, 5}} {
		t0 := time.Unix(0, 0)
		for d := time.Duration(0); d < 3*l.TTL(); d += l.Period / 7 {
			if l.Lost(t0, t0.Add(d)) && !l.Expired(t0, t0.Add(d)) {
				t.Fatalf("%+v: the server loses the node %s after the last beat while the agent still runs work", l, d)
			}
		}
	}
}

func TestLeaseOfDefaults(t *testing.T) {
	if l := LeaseOf(NodeLease{}); l.Period != 5*time.Second || l.Missed != 3 {
		t.Errorf("defaults %+v", l)
	}
	if l := LeaseOf(NodeLease{HeartbeatMillis: 250, MissedBeats: 4}); l.Period != 250*time.Millisecond || l.Missed != 4 {
		t.Errorf("%+v", l)
	}
}
