package core

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt; review the diff")

// TestScenarios runs testdata/*.txt. Each block is a command line, input
// lines, "----" and the expected output, ending at a blank line:
//
//	cluster
//	site=a model=huawei-ascend-910c nodes=2
//	----
//	2 nodes, 16 cards
//
// Commands: cluster [max-reservations=K] [patience=S], tenant, submit, tick, schedule, start, finish, cancel,
// checkpoint, fail-node, heal-node, policy, commit-fail, explain, state,
// usage. Stepping commands take at=T (default: the current time) and
// noadvance, which leaves their Ready uncommitted (for commit-fail).
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenario files in testdata/")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScenario(t, f) })
	}
}

type block struct {
	pre      []string // comments and blank lines before the command
	cmd      string
	input    []string
	expected string
}

func parseScenario(data string) ([]block, []string, error) {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	var blocks []block
	var cur block
	i := 0
	for i < len(lines) {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			cur.pre = append(cur.pre, l)
			i++
			continue
		}
		cur.cmd = l
		i++
		for i < len(lines) && lines[i] != "----" {
			cur.input = append(cur.input, lines[i])
			i++
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("command %q: no ---- line", cur.cmd)
		}
		i++
		var out []string
		for i < len(lines) && lines[i] != "" {
			out = append(out, lines[i])
			i++
		}
		if len(out) > 0 {
			cur.expected = strings.Join(out, "\n") + "\n"
		}
		blocks = append(blocks, cur)
		cur = block{}
	}
	return blocks, cur.pre, nil
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, tail, err := parseScenario(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	env := &scenario{}
	var out strings.Builder
	for _, b := range blocks {
		got := env.run(b.cmd, b.input)
		for _, p := range b.pre {
			out.WriteString(p + "\n")
		}
		out.WriteString(b.cmd + "\n")
		for _, in := range b.input {
			out.WriteString(in + "\n")
		}
		out.WriteString("----\n" + got)
		if !*rewrite && got != b.expected {
			t.Errorf("%s: %s\n--- want\n%s--- got\n%s", path, b.cmd, b.expected, got)
		}
	}
	for _, p := range tail {
		out.WriteString(p + "\n")
	}
	if *rewrite {
		s := strings.TrimRight(out.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenario is the state of one scenario file.
type scenario struct {
	c   *Core
	now int64
}

func (s *scenario) run(cmdLine string, input []string) string {
	fields := strings.Fields(cmdLine)
	a := parseArgs(fields[1:])
	if at, err := a.int("at", s.now); err != nil {
		return err.Error() + "\n"
	} else {
		s.now = at
	}
	if fields[0] != "cluster" && s.c == nil {
		return "error: no cluster yet\n"
	}
	var events []Event
	switch fields[0] {
	case "cluster":
		net, err := specLines(input)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		mr, err1 := a.int("max-reservations", 0)
		pat, err2 := a.int("patience", 0)
		if err := firstErr(err1, err2); err != nil {
			return "error: " + err.Error() + "\n"
		}
		s.c = New(net, Config{MaxReservations: int(mr), ReservationPatienceSec: pat})
		return fmt.Sprintf("%d nodes, %d cards\n", len(net.Nodes), net.Cards())
	case "tenant":
		for _, l := range append([]string{strings.Join(fields[1:], " ")}, input...) {
			if strings.TrimSpace(l) == "" || !strings.Contains(l, "id=") {
				continue
			}
			tn, err := parseTenant(parseArgs(strings.Fields(l)))
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			events = append(events, TenantUpserted{At: s.now, Tenant: tn})
		}
	case "submit":
		for _, l := range input {
			j, err := parseJob(l, s.now)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			events = append(events, JobSubmitted{At: s.now, Job: j})
		}
	case "tick", "schedule":
		events = append(events, Tick{At: s.now})
	case "start":
		events = append(events, JobStarted{At: s.now, Job: model.JobID(a["id"])})
	case "finish":
		events = append(events, JobFinished{At: s.now, Job: model.JobID(a["id"]), Failed: a.flag("failed")})
	case "cancel":
		events = append(events, JobCancelled{At: s.now, Job: model.JobID(a["id"])})
	case "checkpoint":
		tm, _ := a.int("time", s.now)
		events = append(events, Checkpointed{At: s.now, Job: model.JobID(a["id"]), Time: tm})
	case "fail-node":
		events = append(events, NodeLost{At: s.now, Node: model.NodeID(a["node"])})
	case "heal-node":
		events = append(events, NodeHealthy{At: s.now, Node: model.NodeID(a["node"])})
	case "policy":
		events = append(events, PolicyChanged{At: s.now, Policy: denyPolicy(a)})
	case "commit-fail":
		events = append(events, CommitFailed{At: s.now})
	case "explain":
		st, ok := s.c.Job(model.JobID(a["id"]))
		if !ok {
			return fmt.Sprintf("job %s not held\n", a["id"])
		}
		return explainString(&st)
	case "state":
		return s.state()
	case "usage":
		return s.usage()
	default:
		return fmt.Sprintf("error: unknown command %q\n", fields[0])
	}
	var b strings.Builder
	for _, ev := range events {
		if err := s.c.Step(ev); err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		}
	}
	rd := s.c.Ready()
	b.WriteString(readyString(&rd))
	if !a.flag("noadvance") {
		s.c.Advance(rd)
	}
	return b.String()
}

// state lists every job the core holds, in queue position order.
func (s *scenario) state() string {
	var sts []JobStatus
	for _, e := range s.c.jobs {
		sts = append(sts, e.st)
	}
	slices.SortFunc(sts, func(a, b JobStatus) int { return cmpUint(a.Position, b.Position) })
	var b strings.Builder
	for i := range sts {
		fmt.Fprintf(&b, "%s", statusString(&sts[i]))
		if p := sts[i].Placement; p != nil {
			fmt.Fprintf(&b, " on %s", placementString(p))
		}
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "(no jobs)\n"
	}
	return b.String()
}

func (s *scenario) usage() string {
	var ids []string
	for id := range s.c.tenants {
		ids = append(ids, string(id))
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		ts := s.c.tenants[model.TenantID(id)]
		fmt.Fprintf(&b, "%s: %dTF of %dTF quota, %d MiB, share=%d", id, ts.gflops/1000, ts.t.QuotaGFLOPS/1000,
			ts.memMiB, ts.share(s.c.totalGFLOPS, s.c.totalMemMiB))
		var vs []string
		for v, m := range ts.vendorMilli {
			vs = append(vs, fmt.Sprintf("%s=%d‰", v, m))
		}
		slices.Sort(vs)
		if len(vs) > 0 {
			b.WriteString(" cards " + strings.Join(vs, " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// denyPolicy denies a site (deny-site=), a model (deny-model=), or nothing.
type testPolicy struct{ site, model string }

func denyPolicy(a args) sched.Policy {
	if a["deny-site"] == "" && a["deny-model"] == "" {
		return nil
	}
	return &testPolicy{site: a["deny-site"], model: a["deny-model"]}
}

func (p *testPolicy) Allow(_ *model.Job, site *model.Site, _ *model.Node, m *catalog.Model) (bool, string) {
	if p.site != "" && site != nil && string(site.ID) == p.site {
		return false, "site " + p.site + " denied"
	}
	if p.model != "" && m != nil && m.ID == p.model {
		return false, "model " + p.model + " denied"
	}
	return true, ""
}
