package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
)

// propNetwork is a small mixed network: two sites, three models, 10 nodes.
func propNetwork(t testing.TB) *network.Network {
	t.Helper()
	net, err := specLines([]string{
		"site=a model=huawei-ascend-910c nodes=4 cards=8 per-domain=2",
		"site=a model=cambricon-mlu370-x8 nodes=2 cards=8",
		"site=b model=metax-c500 nodes=3 cards=8",
		"site=b model=huawei-ascend-910c nodes=1 cards=4",
	})
	if err != nil {
		t.Fatal(err)
	}
	return net
}

var propModels = []string{"huawei-ascend-910c", "cambricon-mlu370-x8", "metax-c500"}

// randomEvents is a random but reproducible stream of events.
type randomEvents struct {
	rng  *rand.Rand
	net  *network.Network
	now  int64
	jobs []model.JobID
	n    int
}

func (r *randomEvents) tenants() []Event {
	return []Event{
		TenantUpserted{Tenant: model.Tenant{ID: "t0", Class: model.Private, Weight: 1, QuotaGFLOPS: 20_000_000}},
		TenantUpserted{Tenant: model.Tenant{ID: "t1", Class: model.Private, Weight: 2, VendorCaps: map[string]int{"Cambricon": 6}}},
		TenantUpserted{Tenant: model.Tenant{ID: "t2", Class: model.Government, Weight: 1, QuotaGFLOPS: 3_000_000}},
	}
}

func (r *randomEvents) job() model.Job {
	r.n++
	j := model.Job{ID: model.JobID(fmt.Sprintf("j%d", r.n)), Tenant: model.TenantID(fmt.Sprintf("t%d", r.rng.IntN(3))),
		Priority: []int{0, 0, 10, 100}[r.rng.IntN(4)], SubmitTime: r.now, Workers: 1}
	if r.rng.IntN(3) == 0 {
		j.RuntimeSec = int64(10 + r.rng.IntN(300))
	}
	if r.rng.IntN(2) == 0 {
		j.Models = []string{propModels[r.rng.IntN(len(propModels))]}
	}
	switch r.rng.IntN(4) {
	case 0:
		j.Kind, j.Workers, j.CardsPerWorker = model.Gang, 1+r.rng.IntN(3), []int{4, 8}[r.rng.IntN(2)]
		if r.rng.IntN(2) == 0 {
			j.Topology, j.TopologyRequired = model.TopoSite, true
		}
	case 1:
		j.Kind, j.Workers, j.ShareMilli, j.MemMiB = model.Inference, 1+r.rng.IntN(3), 100*(1+r.rng.IntN(9)), 1024
	default:
		j.Kind, j.CardsPerWorker = model.Batch, 1+r.rng.IntN(8)
	}
	return j
}

func (r *randomEvents) next() Event {
	r.now += int64(r.rng.IntN(20))
	pick := func() model.JobID {
		if len(r.jobs) == 0 {
			return "none"
		}
		return r.jobs[r.rng.IntN(len(r.jobs))]
	}
	node := func() model.NodeID { return r.net.Nodes[r.rng.IntN(len(r.net.Nodes))].ID }
	switch k := r.rng.IntN(100); {
	case k < 40:
		j := r.job()
		r.jobs = append(r.jobs, j.ID)
		return JobSubmitted{At: r.now, Job: j}
	case k < 60:
		return JobFinished{At: r.now, Job: pick(), Failed: k%5 == 0}
	case k < 65:
		return JobCancelled{At: r.now, Job: pick()}
	case k < 70:
		return JobStarted{At: r.now, Job: pick()}
	case k < 75:
		return Checkpointed{At: r.now, Job: pick(), Time: r.now}
	case k < 80:
		return NodeLost{At: r.now, Node: node()}
	case k < 87:
		return NodeHealthy{At: r.now, Node: node()}
	case k < 90:
		if r.rng.IntN(2) == 0 {
			return PolicyChanged{At: r.now, Policy: &testPolicy{model: propModels[r.rng.IntN(len(propModels))]}}
		}
		return PolicyChanged{At: r.now}
	default:
		return Tick{At: r.now}
	}
}

// store mirrors what a server would persist: it applies each Ready the way
// a store transaction would and refuses what would corrupt it.
type store struct {
	placed map[model.JobID]model.Placement
	status map[model.JobID]JobStatus
}

func (s *store) apply(rd *Ready) error {
	for _, st := range rd.Stops {
		p, ok := s.placed[st.Job]
		if !ok {
			return fmt.Errorf("stop %s: not placed in the store", st.Job)
		}
		if a, b := mustJSON(p), mustJSON(st.Placement); !bytes.Equal(a, b) {
			return fmt.Errorf("stop %s: stops %s, the store holds %s", st.Job, b, a)
		}
		delete(s.placed, st.Job)
	}
	for _, st := range rd.Jobs {
		if _, ok := s.placed[st.Job]; ok && st.Placement == nil {
			if st.State != model.Completed && st.State != model.Failed {
				return fmt.Errorf("job %s: placement dropped without a stop (state %s)", st.Job, st.State)
			}
			delete(s.placed, st.Job)
		}
	}
	for _, p := range rd.Placements {
		if _, ok := s.placed[p.Job]; ok {
			return fmt.Errorf("place %s: placed twice", p.Job)
		}
		s.placed[p.Job] = p
	}
	for _, st := range rd.Jobs {
		s.status[st.Job] = st
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkInvariants checks the store against the network and the jobs:
// no card over-committed, gangs whole, quotas and caps held, nothing on a
// lost node.
func checkInvariants(c *Core, s *store, jobs map[model.JobID]model.Job) error {
	cl := sched.NewCluster(c.net)
	held := map[model.TenantID]int64{}
	vendor := map[model.TenantID]map[string]int64{}
	for id, p := range s.placed {
		if err := cl.Apply(p); err != nil {
			return fmt.Errorf("over-committed: %w", err)
		}
		j := jobs[id]
		if j.Kind == model.Gang && j.CardsPerWorker > 0 {
			if len(p.Assignments) != j.Workers {
				return fmt.Errorf("gang %s has %d of %d workers", id, len(p.Assignments), j.Workers)
			}
			for _, a := range p.Assignments {
				if len(a.Cards) != j.CardsPerWorker {
					return fmt.Errorf("gang %s worker %d has %d of %d cards", id, a.Worker, len(a.Cards), j.CardsPerWorker)
				}
			}
		}
		u := usageOf(c.net, &p)
		held[j.Tenant] += u.gflops
		if vendor[j.Tenant] == nil {
			vendor[j.Tenant] = map[string]int64{}
		}
		for _, x := range u.vendors {
			vendor[j.Tenant][x.vendor] += x.milli
		}
		if st := s.status[id]; st.State != model.Placed && st.State != model.Running {
			return fmt.Errorf("job %s is %s but placed", id, st.State)
		}
	}
	for id, ts := range c.tenants {
		if q := ts.t.QuotaGFLOPS; q > 0 && held[id] > q {
			return fmt.Errorf("tenant %s holds %d GFLOPS over its quota %d", id, held[id], q)
		}
		for v, n := range ts.t.VendorCaps {
			if vendor[id][v] > int64(n)*model.MilliCard {
				return fmt.Errorf("tenant %s holds %d‰ %s cards over its cap %d", id, vendor[id][v], v, n)
			}
		}
	}
	// A job waiting behind a reservation waits for one that exists: no
	// other event would ever wake it.
	resv := map[string]bool{}
	for _, r := range c.resv {
		resv[r.job.reservedClass()] = true
	}
	var usedMilli int64
	for id, e := range c.jobs {
		for _, w := range e.st.Waits {
			if strings.HasPrefix(w, "reservation:") && !resv[w] {
				return fmt.Errorf("job %s waits for %s, which no gang holds", id, w)
			}
		}
		if p := e.st.Placement; p != nil {
			usedMilli += usageOf(c.net, p).milli()
		}
	}
	for _, h := range c.holds { // stopped placements' cards not yet released
		usedMilli += usageOf(c.net, &h.p).milli()
	}
	// Reservations are few, disjoint, held by blocked gangs that could fit,
	// and indexed by node.
	if len(c.resv) > c.cfg.MaxReservations {
		return fmt.Errorf("%d reservations, at most %d", len(c.resv), c.cfg.MaxReservations)
	}
	onNode := 0
	for _, r := range c.resv {
		if r.job.st.State != model.Blocked || r.job.job.Kind != model.Gang {
			return fmt.Errorf("job %s holds a reservation but is %s", r.job.job.ID, r.job.st.State)
		}
		if u := c.limits.FitsEmpty(&r.job.job, c.policy, c.cfg.Sched); u != nil {
			return fmt.Errorf("gang %s holds a reservation but %s", r.job.job.ID, u.Text)
		}
		for n := range r.nodes {
			if !slices.Contains(c.resvOn[n], r) {
				return fmt.Errorf("gang %s: node %s not indexed", r.job.job.ID, n)
			}
		}
		onNode += len(r.nodes)
	}
	indexed := 0
	for _, rs := range c.resvOn {
		indexed += len(rs)
	}
	if indexed != onNode {
		return fmt.Errorf("%d node reservations indexed, %d held", indexed, onNode)
	}
	for n, rs := range c.resvOn {
		if len(rs) > 1 {
			return fmt.Errorf("node %s reserved for %d gangs", n, len(rs))
		}
	}
	resvSeen += len(c.resv)
	// A job held back by reservations fits nowhere but on their nodes:
	// with the nodes of the reservations that hold it taken out, the
	// scheduler cannot place it.
	for _, e := range c.jobs {
		if e.st.State != model.Blocked || e.st.Reason != ReasonReserved {
			continue
		}
		hold := slices.Clone(c.holders(e))
		if len(hold) == 0 {
			return fmt.Errorf("job %s is blocked %s but no reservation holds it back", e.job.ID, ReasonReserved)
		}
		var d sched.Decision
		c.masked(hold, func() { d = sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched) })
		if d.Placement != nil && c.tenant(e.job.Tenant).fits(c.usage(d.Placement)) {
			var hs []string
			for _, r := range hold {
				hs = append(hs, fmt.Sprintf("%s start=%d stale=%v nodes=%v", r.job.job.ID, r.start, r.stale, r.nodes))
			}
			return fmt.Errorf("job %s (%+v, runtime %d, since %d, group head %s) is held back by reservations %v but fits elsewhere: %s", e.job.ID, e.st.Waits, e.job.RuntimeSec, e.st.Since, e.group.jobs[0].job.ID, hs, placementString(d.Placement))
		}
	}
	// Taking out only the reserved nodes with room (maskedFree, the pass's
	// tries) places every waiting job that lands on reserved nodes as
	// taking them all out does (settled, nowhere) and makes it wait for
	// the same classes.
	for _, e := range c.jobs {
		if e.st.Placement != nil {
			continue
		}
		hold := slices.Clone(c.holders(e))
		if len(hold) == 0 {
			continue
		}
		if d := sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched); d.Placement == nil || len(touches(d.Placement, hold)) == 0 {
			continue // a try asks around reservations only when it lands on them
		}
		var all, free sched.Decision
		c.masked(hold, func() { all = sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched) })
		c.maskedFree(hold, func() { free = sched.Brief(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched) })
		where := func(p *model.Placement) string {
			if p == nil {
				return "nowhere"
			}
			return placementString(p)
		}
		if where(all.Placement) != where(free.Placement) {
			return fmt.Errorf("job %s: all reserved nodes out: %s; only those with room out: %s", e.job.ID, where(all.Placement), where(free.Placement))
		}
		if wa, wf := c.heldWaits(e, &all.Explanation, hold), c.heldWaits(e, &free.Explanation, hold); all.Placement == nil && !slices.Equal(wa, wf) {
			return fmt.Errorf("job %s: all reserved nodes out, it waits for %v; only those with room out, %v", e.job.ID, wa, wf)
		}
		maskedSeen++
	}
	// What-if trials (preemption) leave the core's cluster as they found it.
	if got := c.cluster.UsedCardsMilli(); got != usedMilli {
		return fmt.Errorf("the core's cluster holds %d‰ of cards, its placements %d‰", got, usedMilli)
	}
	// The store and the core agree once advanced.
	for id, e := range c.jobs {
		p, ok := s.placed[id]
		if (e.st.Placement != nil) != ok || (ok && !bytes.Equal(mustJSON(p), mustJSON(*e.st.Placement))) {
			return fmt.Errorf("job %s: core and store disagree on its placement", id)
		}
	}
	return nil
}

// runStream drives a core with n random events, committing each Ready to a
// mirror store that refuses one in seven; it returns the Ready stream.
func runStream(t testing.TB, seed uint64, n int, check bool) []byte {
	net := propNetwork(t)
	c := New(net, Config{})
	r := &randomEvents{rng: rand.New(rand.NewPCG(seed, 7)), net: net}
	s := &store{placed: map[model.JobID]model.Placement{}, status: map[model.JobID]JobStatus{}}
	jobs := map[model.JobID]model.Job{}
	var out bytes.Buffer
	events := r.tenants()
	for i := 0; i < n; i++ {
		events = append(events, r.next())
	}
	var policy sched.Policy
	for i, ev := range events {
		if js, ok := ev.(JobSubmitted); ok {
			jobs[js.Job.ID] = js.Job
		}
		if pc, ok := ev.(PolicyChanged); ok {
			policy = pc.Policy
		}
		if i > 3 && r.rng.IntN(40) == 0 {
			c = restart(t, c, s, jobs, policy, events[:3], ev.time())
			fmt.Fprintf(&out, "restart at %d\n", i)
		}
		if err := c.Step(ev); err != nil {
			fmt.Fprintf(&out, "step %d: %v\n", i, err)
		}
		for tries := 0; c.HasReady(); tries++ {
			rd := c.Ready()
			out.Write(mustJSON(rd))
			out.WriteByte('\n')
			if tries < 3 && r.rng.IntN(7) == 0 {
				if err := c.Step(CommitFailed{At: ev.time()}); err != nil {
					t.Fatalf("event %d: commit failed: %v", i, err)
				}
				continue
			}
			if err := s.apply(&rd); err != nil {
				t.Fatalf("seed %d event %d (%T): %v\n%s", seed, i, ev, err, readyString(&rd))
			}
			c.Advance(rd)
		}
		if check {
			if err := checkInvariants(c, s, jobs); err != nil {
				t.Fatalf("seed %d event %d (%T %+v): %v", seed, i, ev, ev, err)
			}
		}
	}
	return out.Bytes()
}

// restart builds a new core from what the store holds, as a shell does when
// it starts or takes over as leader.
func restart(t testing.TB, old *Core, s *store, jobs map[model.JobID]model.Job, policy sched.Policy, tenants []Event, now int64) *Core {
	c := New(old.net, Config{})
	setup := append([]Event{}, tenants...)
	setup = append(setup, PolicyChanged{At: now, Policy: policy})
	for i := range old.net.Nodes {
		if id := old.net.Nodes[i].ID; old.down[id] {
			setup = append(setup, NodeLost{At: now, Node: id})
		}
	}
	var sts []JobStatus
	for _, st := range s.status {
		if !st.State.Terminal() {
			sts = append(sts, st)
		}
	}
	slices.SortFunc(sts, func(a, b JobStatus) int { return cmpUint(a.Position, b.Position) })
	for _, st := range sts {
		ev := JobRestored{At: now, Job: jobs[st.Job], State: st.State, Position: st.Position}
		if p, ok := s.placed[st.Job]; ok {
			ev.Placement = &p
		}
		setup = append(setup, ev)
	}
	setup = append(setup, Tick{At: now})
	for _, ev := range setup {
		if err := c.Step(ev); err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
	for c.HasReady() {
		rd := c.Ready()
		if err := s.apply(&rd); err != nil {
			t.Fatalf("restart: %v\n%s", err, readyString(&rd))
		}
		c.Advance(rd)
	}
	return c
}

// resvSeen counts the reservations checkInvariants saw, so that the
// property test knows it covered some; maskedSeen the waiting jobs it
// scheduled around reservations both ways.
var resvSeen, maskedSeen int

func TestPropertiesRandomStreams(t *testing.T) {
	seeds, n := 16, 300
	if testing.Short() {
		seeds = 8
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		runStream(t, seed, n, true)
	}
	if resvSeen == 0 || maskedSeen == 0 {
		t.Fatalf("%d reservations and %d jobs scheduled around them in all streams", resvSeen, maskedSeen)
	}
}

func TestDeterminism(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		a, b := runStream(t, seed, 300, false), runStream(t, seed, 300, false)
		if !bytes.Equal(a, b) {
			t.Fatalf("seed %d: two runs of the same events gave different Ready streams", seed)
		}
		if len(a) == 0 {
			t.Fatal("empty Ready stream")
		}
	}
}
