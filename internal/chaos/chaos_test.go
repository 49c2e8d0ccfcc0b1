//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// Limits the invariants hold the control plane to.
const (
	leaderLimit     = 5 * time.Second  // a replica leads again within this of any fault
	placeLimit      = 30 * time.Second // after a fault heals, every waiting probe job is placed within this
	quarantineLimit = 30 * time.Second // an acknowledged poison or unsatisfiable job is failed within this
	slowLimit       = 60 * time.Second // the server closes a connection that trickles its body within this
)

var (
	suanliBin         string // built once by TestMain
	agentDataDirFlag  bool   // the agent takes --data-dir (a state file of its workers)
	serveAuditKeyFlag bool   // serve takes --audit-key (replicas of one store share it)
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "suanli-chaos-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	suanliBin = filepath.Join(dir, "suanli")
	if bin := os.Getenv("SUANLI_BIN"); bin != "" {
		suanliBin = bin // a release binary, or one built elsewhere
	} else if out, err := exec.Command("go", "build", "-o", suanliBin, "../../cmd/suanli").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build suanli: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if out, err := exec.Command(suanliBin, "agent", "--help").CombinedOutput(); err == nil {
		agentDataDirFlag = strings.Contains(string(out), "--data-dir")
	}
	if out, err := exec.Command(suanliBin, "serve", "--help").CombinedOutput(); err == nil {
		serveAuditKeyFlag = strings.Contains(string(out), "--audit-key")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mode is the suite's size: short (default, a few minutes) or long
// (SUANLI_CHAOS=long, 100+ faults).
func long() bool { return os.Getenv("SUANLI_CHAOS") == "long" }

// harness runs faults against a deployment under the job stream and checks
// the invariants after each.
type harness struct {
	t       *testing.T
	d       *deployment
	ack     *acked
	mon     *monitor
	scan    *scanner
	mark    int // scanner violations already reported
	rand    *rand.Rand
	mallory []malloryJob
	slow    []*slowClients

	faults      map[string]int
	broken      map[string]int // faults after which an invariant did not hold, by kind
	lost        map[string]bool
	doubleRec   map[string]bool
	doubleProc  int
	worstFault  time.Duration // worst probe stall during a fault window
	leaderFails int
	refusals    int // stream submits refused (not 429 or 503) so far
}

// step is one fault of a run.
type step struct {
	kind   string
	inject func(h *harness) (string, error)
}

// TestChaosEtcd: two replicas on a 3-member etcd cluster, six agents,
// the job stream, and every kind of fault.
func TestChaosEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane for minutes")
	}
	steps := []step{
		{faultKillAgent, func(h *harness) (string, error) { return h.killAgent(0, 2*time.Second) }},
		{faultPartition, func(h *harness) (string, error) { return h.partition(1, 4*time.Second) }},
		{faultKillServer, func(h *harness) (string, error) { return h.killServer(h.leader(), time.Second) }},
		{faultSlowClients, func(h *harness) (string, error) { return h.slowClients(200) }},
		{faultKillEtcd, func(h *harness) (string, error) { return h.killEtcdLeader(2 * time.Second) }},
		{faultPoison, (*harness).poison},
		{faultUnsatisfiable, (*harness).unsatisfiable},
		{faultDelay, func(h *harness) (string, error) { return h.delay(3, 6*time.Second, 1500*time.Millisecond) }},
		{faultKillAgent, func(h *harness) (string, error) { return h.killAgent(4, time.Second) }},
		{faultKillServer, func(h *harness) (string, error) { return h.killServer(1-h.leader(), time.Second) }},
		{faultKillEtcd, func(h *harness) (string, error) { return h.killEtcdLeader(time.Second) }},
	}
	if long() {
		steps = randomSteps(100, true)
	}
	runChaos(t, "etcd", true, steps)
}

// TestChaosEmbedded: one replica on the embedded store.
func TestChaosEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane for minutes")
	}
	steps := []step{
		{faultKillServer, func(h *harness) (string, error) { return h.killServer(0, time.Second) }},
		{faultKillAgent, func(h *harness) (string, error) { return h.killAgent(1, 2*time.Second) }},
		{faultPoison, (*harness).poison},
		{faultPartition, func(h *harness) (string, error) { return h.partition(2, 4*time.Second) }},
	}
	if long() {
		steps = randomSteps(30, false)
	}
	runChaos(t, "embedded", false, steps)
}

// randomSteps draws n faults of every kind the deployment has, seeded.
func randomSteps(n int, withEtcd bool) []step {
	r := rand.New(rand.NewPCG(13, uint64(n)))
	var out []step
	for i := range n {
		dur := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo)) * time.Millisecond }
		agentIdx := r.IntN(len(agentSpecs))
		down, part := dur(500, 3000), dur(2000, 12000)
		switch k := r.IntN(10); {
		case i%40 == 3:
			out = append(out, step{faultSlowClients, func(h *harness) (string, error) { return h.slowClients(500) }})
		case k < 2:
			out = append(out, step{faultKillAgent, func(h *harness) (string, error) { return h.killAgent(agentIdx, down) }})
		case k < 4:
			out = append(out, step{faultPartition, func(h *harness) (string, error) { return h.partition(agentIdx, part) }})
		case k == 4:
			out = append(out, step{faultDelay, func(h *harness) (string, error) { return h.delay(agentIdx, dur(2000, 8000), dur(200, 2000)) }})
		case k == 5:
			out = append(out, step{faultPoison, (*harness).poison})
		case k == 6:
			out = append(out, step{faultUnsatisfiable, (*harness).unsatisfiable})
		case k == 7 && withEtcd:
			out = append(out, step{faultKillEtcd, func(h *harness) (string, error) { return h.killEtcdLeader(down) }})
		default:
			leader := r.IntN(2) == 0
			out = append(out, step{faultKillServer, func(h *harness) (string, error) {
				i := 0
				if len(h.d.replicas) > 1 {
					if i = h.leader(); !leader {
						i = 1 - i
					}
				}
				return h.killServer(i, down)
			}})
		}
	}
	return out
}

// leader returns the index of the leading replica (0 if none leads).
func (h *harness) leader() int {
	return max(0, h.d.leaderOf(context.Background()))
}

func runChaos(t *testing.T, name string, withEtcd bool, steps []step) {
	d := deploy(t, name, withEtcd)
	h := &harness{t: t, d: d, ack: newAcked(), rand: rand.New(rand.NewPCG(1, 2)),
		faults: map[string]int{}, broken: map[string]int{}, lost: map[string]bool{}, doubleRec: map[string]bool{}}
	h.scan = startScanner(d.run, 200*time.Millisecond)
	defer h.scan.close()
	h.mon = &monitor{d: d, ack: h.ack}
	ctx, cancel := context.WithCancel(context.Background())
	streamDone, monDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(streamDone); d.stream(ctx, h.ack, 42) }()
	go func() { defer close(monDone); h.mon.run(ctx) }()
	defer func() {
		cancel()
		<-streamDone
		<-monDone
		for _, sc := range h.slow {
			sc.close()
		}
	}()
	settle := 2 * time.Second
	budget := 10 * time.Minute // a short run that passes takes about two
	if long() {
		budget = 4 * time.Hour
	}
	if b, err := time.ParseDuration(os.Getenv("SUANLI_CHAOS_BUDGET")); err == nil && b > 0 {
		budget = b
	}
	began := time.Now()
	time.Sleep(5 * time.Second) // the stream fills the network
	for i, s := range steps {
		if time.Since(began) > budget {
			t.Errorf("the run took over %v, waiting on broken invariants: the remaining %d faults are not run", budget, len(steps)-i)
			break
		}
		ok := t.Run(fmt.Sprintf("%03d-%s", i, strings.ReplaceAll(s.kind, " ", "-")), func(t *testing.T) {
			h.t = t
			h.mon.open()
			desc, err := s.inject(h)
			if err != nil {
				t.Fatalf("inject %s: %v", s.kind, err)
			}
			h.faults[s.kind]++
			t.Logf("%s: %s", s.kind, desc)
			// What a fault sets off (a restarted agent reconciling, a
			// healed node reporting) shows within a few heartbeats: it
			// belongs to this fault's window.
			time.Sleep(3 * time.Second)
			h.check(t, s.kind)
		})
		if !ok {
			h.broken[s.kind]++
			t.Logf("fault %d (%s) broke an invariant; the run goes on", i, s.kind)
		}
		if gap, _ := h.mon.window(); !h.mon.leaderNow() && gap > 2*placeLimit {
			t.Errorf("no replica has led for %v: the remaining %d faults are not run%s", gap.Round(time.Second), len(steps)-i-1, h.serverLogs())
			break
		}
		time.Sleep(settle)
	}
	h.t = t
	t.Run("final", func(t *testing.T) {
		h.t = t
		h.mon.open()
		h.check(t, "final")
		h.checkSlowClients(t)
	})
	h.report(t, name)
}

// check verifies every invariant after a fault has healed.
func (h *harness) check(t *testing.T, kind string) {
	ctx := context.Background()
	// 1. A replica leads within leaderLimit.
	deadline := time.Now().Add(30 * time.Second)
	for h.d.leaderOf(ctx) < 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the monitor see it
	if gap, _ := h.mon.window(); gap >= leaderLimit {
		h.leaderFails++
		t.Errorf("no replica led for %v after %s (limit %v)%s", gap.Round(time.Millisecond), kind, leaderLimit, h.serverLogs())
	}
	// 2. The processes and their agents are up.
	for _, r := range h.d.replicas {
		if !r.proc.alive() {
			t.Errorf("%s is not running:\n%s", r.proc.name, tail(r.proc.log, 1500))
		}
	}
	for _, a := range h.d.agents {
		if !a.proc.alive() {
			t.Errorf("agent %s exited:\n%s", a.spec.node, tail(a.proc.log, 1500))
		}
	}
	// 3. The well-behaved tenants' jobs keep being placed: every probe
	// acknowledged before now is placed within placeLimit, poison and
	// unsatisfiable jobs notwithstanding.
	h.checkPlaced(t, kind, time.Now())
	// 4. Hostile jobs are refused at submit (4xx) or quarantined (failed).
	h.checkMallory(t)
	h.cancelMallory(ctx)
	// 5. Every acknowledged job exists; no card is held twice, in the
	// records or by live worker processes.
	h.checkJobs(t)
	viol, mark := h.scan.violations(h.mark)
	h.mark = mark
	h.doubleProc += len(viol)
	if len(viol) > 0 {
		t.Errorf("%d cards held by two live worker processes at once during %s, e.g.:\n  %s", len(viol), kind,
			strings.Join(viol[:min(5, len(viol))], "\n  "))
	}
	// 6. The well-behaved stream's submits are acknowledged, or refused
	// only with "retry later" (429, 503).
	if n, sample := h.ack.refusals(); n > h.refusals {
		t.Errorf("%d submits of the well-behaved tenants were refused during %s (not 429 or 503), e.g. %.300s", n-h.refusals, kind, sample)
		h.refusals = n
	}
	// 7. The audit log verifies.
	h.checkAudit(t)
	_, stall := h.mon.window()
	h.worstFault = max(h.worstFault, stall)
}

// checkPlaced waits until no probe acknowledged before cutoff is pending.
func (h *harness) checkPlaced(t *testing.T, kind string, cutoff time.Time) {
	ctx := context.Background()
	deadline := time.Now().Add(placeLimit)
	for {
		var waiting []v1.Job
		acks := h.ack.snapshot()
		for _, st := range []string{v1.StatePending, v1.StateBlocked} {
			jobs, err := h.d.listAll(ctx, v1.JobFilter{Tenant: tenantProbe, State: st}, 10*time.Second)
			if err != nil {
				t.Errorf("list probes: %v", err)
				return
			}
			for _, j := range jobs {
				if a, ok := acks[j.ID]; ok && a.at.Before(cutoff) {
					waiting = append(waiting, j)
				}
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) {
			why := ""
			if e, err := h.d.client(0).Explain(ctx, waiting[0].ID); err == nil {
				why = fmt.Sprintf("%+v", *e)
			}
			t.Errorf("well-behaved jobs stalled after %s: %d probe jobs acknowledged before the fault healed are still %s %v later; %s: %.300s%s",
				kind, len(waiting), waiting[0].State, placeLimit, waiting[0].ID, why, h.serverLogs())
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkMallory: each hostile job is refused with a 4xx, or, acknowledged,
// failed (quarantined) within quarantineLimit; never a 5xx.
func (h *harness) checkMallory(t *testing.T) {
	ctx := context.Background()
	for _, m := range h.mallory {
		switch {
		case m.status == http.StatusTooManyRequests:
			t.Logf("%s: still told to retry later after 60 s (its tenant's seats are taken): %.200s", m.what, m.body)
		case m.status >= 500 || m.status == 0:
			t.Errorf("%s: submit answered %d: %.300s", m.what, m.status, m.body)
		case m.status >= 400:
			t.Logf("%s: refused at submit, %d: %.200s", m.what, m.status, m.body)
			if m.say != "" && !strings.Contains(m.body, m.say) {
				t.Errorf("%s: the refusal does not say %q: %.300s", m.what, m.say, m.body)
			}
		default:
			deadline := time.Now().Add(quarantineLimit)
			for {
				j, err := h.d.client(0).Job(ctx, m.id)
				if err == nil && j.State == v1.StateFailed {
					if m.say != "" && !strings.Contains(j.Reason, m.say) {
						t.Errorf("%s: failed, but its reason does not say %q: %.300s", m.what, m.say, j.Reason)
					}
					break
				}
				if time.Now().After(deadline) {
					state := "unknown"
					if err == nil {
						state = j.State + " (" + j.Reason + ")"
					}
					t.Errorf("%s: acknowledged (%d) as %s and %.200s %v later: neither refused at submit nor quarantined",
						m.what, m.status, m.id, state, quarantineLimit)
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
	}
}

// together reports whether two job records, as a listing showed them, were
// ever both the store's at one revision. A listing is read a page at a
// time, each page at its own revision: a job ended on one page and
// another placed on its cards in the same transaction, on a later page,
// look like two placements of one card. Each record shown was current
// from its revision until the job's next change, which is no later than
// the revision the job read again has (or never: still current); two
// records were current together when those spans meet (a span may be
// taken too long, never too short). A job that cannot be read again
// counts as current (a double allocation is never hidden).
func (h *harness) together(a, b *v1.Job) bool {
	until := func(j *v1.Job) int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		now, err := h.d.client(0).Job(ctx, j.ID)
		if err != nil || now.Revision == j.Revision {
			return math.MaxInt64
		}
		return now.Revision
	}
	return max(a.Revision, b.Revision) < min(until(a), until(b))
}

// checkJobs lists every job: each acknowledged one exists and no card is
// held by two live placements of whole cards.
func (h *harness) checkJobs(t *testing.T) {
	acks := h.ack.snapshot() // before the listing: later acks may miss it
	jobs, err := h.d.listAll(context.Background(), v1.JobFilter{}, 30*time.Second)
	if err != nil {
		t.Errorf("list jobs: %v", err)
		return
	}
	seen := map[string]bool{}
	held := map[string]*v1.Job{}
	for i := range jobs {
		j := &jobs[i]
		seen[j.ID] = true
		if j.Placement == nil || (j.State != v1.StatePlaced && j.State != v1.StateRunning) {
			continue
		}
		for _, a := range j.Placement.Assignments {
			if a.ShareMilli > 0 {
				continue
			}
			for _, c := range a.Cards {
				k := fmt.Sprintf("%s/%d", a.Node, c)
				if other, dup := held[k]; dup && other.ID != j.ID {
					key := k + " " + other.ID + " " + j.ID
					if !h.doubleRec[key] && h.together(other, j) {
						h.doubleRec[key] = true
						t.Errorf("card %s is held by %s (revision %d) and %s (revision %d) in the records", k, other.ID, other.Revision, j.ID, j.Revision)
					}
				}
				held[k] = j
			}
		}
	}
	var lost []string
	for id := range acks {
		if seen[id] {
			continue
		}
		// Not in the listing: ask for the job itself before calling it lost.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := h.d.client(0).Job(ctx, id)
		cancel()
		var e *v1.Error
		if err == nil {
			t.Errorf("acknowledged job %s is missing from the job listing but answers GET", id)
			continue
		}
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			lost = append(lost, id)
			h.lost[id] = true
			continue
		}
		t.Errorf("acknowledged job %s is missing from the listing; GET: %v", id, err)
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		t.Errorf("%d acknowledged jobs are gone: %v", len(lost), lost[:min(5, len(lost))])
	}
}

func (h *harness) checkAudit(t *testing.T) {
	// Verifying reads the whole log (tens of thousands of entries in a
	// long run): a request cut off by the stream's 10 s client timeout
	// would be sent again and again, each time reading it all anew.
	hc := &http.Client{Timeout: 3 * time.Minute, Transport: h.d.http.Transport}
	var last error
	for try := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		var keys []string
		if h.d.auditKey != "" {
			keys = append(keys, h.d.auditKey)
		}
		c := h.d.client(try)
		c.HTTP = hc
		v, err := c.VerifyAudit(ctx, keys...)
		cancel()
		if err == nil {
			if !v.OK {
				t.Errorf("audit verify: %d entries, problems: %v", v.Entries, v.Problems[:min(5, len(v.Problems))])
			}
			return
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("audit verify: %v", last)
}

// checkSlowClients: the server closed every slow connection within
// slowLimit of its opening.
func (h *harness) checkSlowClients(t *testing.T) {
	for _, sc := range h.slow {
		if wait := slowLimit - time.Since(sc.start); wait > 0 {
			time.Sleep(wait)
		}
		if n := sc.held(); n > 0 {
			t.Errorf("%d connections trickling a request body were still open %v after they opened (no read timeout)",
				n, time.Since(sc.start).Round(time.Second))
		}
	}
}

// serverLogs is the end of each replica's log, for a failure message.
func (h *harness) serverLogs() string {
	var b strings.Builder
	for _, r := range h.d.replicas {
		fmt.Fprintf(&b, "\n--- %s log tail:\n%s", r.proc.name, serverLines(tail(r.proc.log, 64<<10), 12))
	}
	return b.String()
}

// serverLines is the last n lines of the server's own log in text, the
// etcd client's JSON warnings left out.
func serverLines(text string, n int) string {
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "msg=") || strings.HasPrefix(l, "====") || strings.HasPrefix(l, "panic") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

// report logs the run's figures.
func (h *harness) report(t *testing.T, name string) {
	gap, stall := h.mon.worst()
	samples, maxLive := h.scan.stats()
	var kinds []string
	total := 0
	for k, n := range h.faults {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run %q (%s mode)\n", name, map[bool]string{false: "short", true: "long"}[long()])
	fmt.Fprintf(&b, "| figure | value | target |\n|---|---|---|\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| faults: %s (invariants broken after) | %d (%d) | (0) |\n", k, h.faults[k], h.broken[k])
	}
	fmt.Fprintf(&b, "| faults in all | %d | |\n", total)
	fmt.Fprintf(&b, "| acknowledged jobs | %d | |\n", h.ack.count())
	fmt.Fprintf(&b, "| lost | %d | 0 |\n", len(h.lost))
	fmt.Fprintf(&b, "| double allocations (records) | %d | 0 |\n", len(h.doubleRec))
	fmt.Fprintf(&b, "| double allocations (live worker processes, %d scans, up to %d workers) | %d | 0 |\n", samples, maxLive, h.doubleProc)
	fmt.Fprintf(&b, "| worst time without a leader | %v | < %v |\n", gap.Round(10*time.Millisecond), leaderLimit)
	fmt.Fprintf(&b, "| worst placement stall of a well-behaved tenant during a fault | %v | |\n", h.worstFault.Round(10*time.Millisecond))
	fmt.Fprintf(&b, "| worst placement stall, whole run | %v | |\n", stall.Round(10*time.Millisecond))
	fmt.Fprintf(&b, "| failed submits of the stream, by status | %s | |\n", h.ack.errorKinds())
	t.Log("\n" + b.String())
	if out := os.Getenv("SUANLI_CHAOS_REPORT"); out != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintln(f, b.String())
			f.Close()
		}
	}
}
