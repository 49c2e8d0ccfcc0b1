package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		errs []string
	}{
		{"", nil, nil},
		{"rack=r7, zone = east ,empty=", map[string]string{"rack": "r7", "zone": "east", "empty": ""}, nil},
		{"a=1,a=1", map[string]string{"a": "1"}, nil},
		{"novalue,=x,a=1,a=2,b c=3", nil, []string{"labels[0]", "labels[1]", "labels[3]", "labels[4]"}},
	}
	for _, c := range cases {
		got, err := parseLabels(c.in)
		if len(c.errs) == 0 {
			if err != nil || !maps.Equal(got, c.want) {
				t.Errorf("parseLabels(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("parseLabels(%q) accepted", c.in)
			continue
		}
		for _, e := range c.errs {
			if !strings.Contains(err.Error(), e) {
				t.Errorf("parseLabels(%q): %v does not name %s", c.in, err, e)
			}
		}
	}
}

func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"", "a=1,b=2", "x", "=,=", "a=1,a=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseLabels(s)
		if err == nil {
			for k := range m {
				if k == "" || strings.ContainsAny(k, " \t\n=") {
					t.Fatalf("parseLabels(%q) gave key %q", s, k)
				}
			}
		}
	})
}

func TestRunAgentReportsEveryBadFlag(t *testing.T) {
	cfg := agentConfig{Labels: "bad", Simulate: "Nonsense", Heartbeat: -1, Token: "t", Server: "http://127.0.0.1:1"}
	err := runAgent(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"--labels", "--simulate", "--heartbeat"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %s", err, want)
		}
	}
}
