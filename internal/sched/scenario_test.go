package sched

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the scenario files in testdata/")

// A scenario file is a list of steps:
//
//	# comments
//	> command args
//	input (YAML or JSON)
//	----
//	expected output
//
// Commands: network (a network spec), tenant (the tenant and what it
// holds), policy deny-vendor V, schedule (a job: decide and apply),
// explain (a job: decide, print the whole decision, apply nothing), fits
// (a job: FitsEmpty under the policy),
// fail-node ID, heal-node ID, release JOB, usage.
type step struct {
	pre   string // comment lines before the step
	cmd   string
	input string
	want  string
}

func parseScenario(t *testing.T, data string) []step {
	var steps []step
	var cur *step
	var pre strings.Builder
	inWant := false
	for _, line := range strings.Split(data, "\n") {
		switch {
		case strings.HasPrefix(line, "> "):
			steps = append(steps, step{pre: pre.String(), cmd: strings.TrimPrefix(line, "> ")})
			cur, inWant = &steps[len(steps)-1], false
			pre.Reset()
		case cur == nil:
			pre.WriteString(line + "\n")
		case line == "----" && !inWant:
			inWant = true
		case inWant:
			if strings.HasPrefix(line, "#") {
				pre.WriteString(line + "\n")
				continue
			}
			cur.want += line + "\n"
		default:
			cur.input += line + "\n"
		}
	}
	for i := range steps {
		steps[i].want = strings.TrimRight(steps[i].want, "\n")
	}
	return steps
}

type denyVendor string

func (v denyVendor) Allow(_ *model.Job, _ *model.Site, _ *model.Node, m *catalog.Model) (bool, string) {
	if m != nil && m.Vendor == string(v) {
		return false, "deny-vendor " + string(v)
	}
	return true, ""
}

type scenario struct {
	c    *Cluster
	in   Input
	live map[model.JobID]model.Placement
}

func (sc *scenario) run(st *step) (string, error) {
	fields := strings.Fields(st.cmd)
	if len(fields) == 0 {
		return "", fmt.Errorf("empty command")
	}
	switch fields[0] {
	case "network":
		var spec network.Spec
		if err := yaml.UnmarshalStrict([]byte(st.input), &spec); err != nil {
			return "", err
		}
		net, err := spec.Expand(defaultCatalog())
		if err != nil {
			return "", err
		}
		sc.c, sc.live = NewCluster(net), map[model.JobID]model.Placement{}
		return fmt.Sprintf("%d sites, %d domains, %d nodes, %d cards", len(net.Sites), len(net.Domains), len(net.Nodes), net.Cards()), nil
	case "tenant":
		var in struct {
			Tenant     model.Tenant   `json:"tenant"`
			HeldGFLOPS int64          `json:"held_gflops"`
			HeldCards  map[string]int `json:"held_cards"`
		}
		if err := yaml.UnmarshalStrict([]byte(st.input), &in); err != nil {
			return "", err
		}
		sc.in.Tenant, sc.in.HeldGFLOPS, sc.in.HeldCards = &in.Tenant, in.HeldGFLOPS, in.HeldCards
		return "ok", nil
	case "policy":
		if len(fields) != 3 || fields[1] != "deny-vendor" {
			return "", fmt.Errorf("want: policy deny-vendor VENDOR")
		}
		sc.in.Policy = denyVendor(fields[2])
		return "ok", nil
	case "schedule", "explain":
		var j model.Job
		if err := yaml.UnmarshalStrict([]byte(st.input), &j); err != nil {
			return "", err
		}
		d := Schedule(sc.c, &j, sc.in, Config{})
		if fields[0] == "explain" {
			b, err := json.MarshalIndent(d, "", "  ")
			return string(b), err
		}
		if d.Placement == nil {
			return "blocked: " + d.Explanation.Summary, nil
		}
		if err := sc.c.Apply(*d.Placement); err != nil {
			return "", err
		}
		sc.live[j.ID] = *d.Placement
		return describe(d), nil
	case "fits":
		var j model.Job
		if err := yaml.UnmarshalStrict([]byte(st.input), &j); err != nil {
			return "", err
		}
		u := sc.c.Limits().FitsEmpty(&j, sc.in.Policy, Config{})
		if u == nil {
			return "fits", nil
		}
		return fmt.Sprintf("%s (limit %s, policy %t)\nfix: %s", u.Text, u.Limit, u.Policy, u.Fix), nil
	case "release":
		p, ok := sc.live[model.JobID(fields[1])]
		if !ok {
			return "", fmt.Errorf("no placement of %s", fields[1])
		}
		delete(sc.live, p.Job)
		return "ok", sc.c.Release(p)
	case "fail-node", "heal-node":
		if !sc.c.SetNodeHealthy(model.NodeID(fields[1]), fields[0] == "heal-node") {
			return "", fmt.Errorf("no node %s", fields[1])
		}
		return "ok", nil
	case "usage":
		return fmt.Sprintf("free cards %d of %d; used %d‰ of a card in all; %d GFLOPS allocated",
			sc.c.FreeCards(), sc.c.Cards(), sc.c.UsedCardsMilli(), sc.c.AllocatedGFLOPS()), nil
	}
	return "", fmt.Errorf("unknown command %q", fields[0])
}

// describe prints a placement one worker a line.
func describe(d Decision) string {
	var b strings.Builder
	p := d.Placement
	fmt.Fprintf(&b, "placed %s: %d GFLOPS, score %d (frag %d, topology %d, heterogeneity %d, cost %d, place %d)\n", p.Job, p.GFLOPS,
		d.Score.Total, d.Score.Frag, d.Score.Topology, d.Score.Heterogeneity, d.Score.Cost, d.Score.Place)
	if t := d.Score.Terms; t != nil {
		fmt.Fprintf(&b, "  terms at %s: energy %d milli-fen/PFLOP-h estimated=%v (penalty %d)", t.Site, t.EnergyMilliFen, t.EnergyEstimated, t.EnergyPenalty)
		if t.TransferMs > 0 || t.NoRoute {
			fmt.Fprintf(&b, ", transfer %d ms no-route=%v (penalty %d)", t.TransferMs, t.NoRoute, t.TransferPenalty)
		}
		if t.UsersRTTMicros > 0 {
			fmt.Fprintf(&b, ", users %d µs (penalty %d)", t.UsersRTTMicros, t.LatencyPenalty)
		}
		b.WriteString("\n")
	}
	for _, a := range p.Assignments {
		fmt.Fprintf(&b, "  worker %d: %s %s cards %v", a.Worker, a.Node, a.Model, a.Cards)
		if a.ShareMilli > 0 {
			fmt.Fprintf(&b, " share %d‰ %d MiB", a.ShareMilli, a.MemMiB)
		}
		if a.WorkShareMilli > 0 {
			fmt.Fprintf(&b, " work %d‰", a.WorkShareMilli)
		}
		b.WriteString("\n")
	}
	for _, alt := range d.Alternatives {
		fmt.Fprintf(&b, "  alternative: %s %s %s %d cards, score %d\n", alt.Scope, alt.Where, alt.Model, alt.Cards, alt.Score.Total)
	}
	return strings.TrimRight(b.String(), "\n")
}

func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenario files in testdata/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			steps := parseScenario(t, string(data))
			sc := &scenario{}
			var out bytes.Buffer
			for i := range steps {
				st := &steps[i]
				got, err := sc.run(st)
				if err != nil {
					got = "error: " + err.Error()
				}
				if *rewrite {
					st.want = got
				} else if got != st.want {
					t.Errorf("%s: step %d (> %s):\ngot:\n%s\nwant:\n%s", file, i+1, st.cmd, got, st.want)
				}
				fmt.Fprintf(&out, "%s> %s\n%s----\n%s\n\n", st.pre, st.cmd, st.input, st.want)
			}
			if *rewrite {
				if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
