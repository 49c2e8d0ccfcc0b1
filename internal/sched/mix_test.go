package sched

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

func TestMixStartsFromPrior(t *testing.T) {
	m := NewMix(MixConfig{}, nil)
	got := m.TypicalTasks()
	var sum int
	for _, s := range got {
		sum += s.PopularityMilli
	}
	if len(got) == 0 || len(got) > len(DefaultTypicalTasks) || sum < 990 || sum > 1010 {
		t.Fatalf("cold start: %+v (popularity sum %d)", got, sum)
	}
	if m.State().Observed != 0 {
		t.Fatal("a fresh mix has observed arrivals")
	}
}

func TestMixLearnsAndDecays(t *testing.T) {
	cfg := MixConfig{HalfLife: 1000, Every: 100, PriorWeight: 100}
	m := NewMix(cfg, nil)
	share := model.Job{Kind: model.Inference, Workers: 1, ShareMilli: 810, CPUMilli: 3000, Models: []string{"b", "a", "a"}}
	changed := false
	for range 5000 {
		changed = m.Observe(&share) || changed
	}
	if !changed {
		t.Fatal("5,000 arrivals of one shape never changed the typical tasks")
	}
	top := m.TypicalTasks()[0]
	if top.ShareMilli != 810 || top.CPUMilli != 3000 || !slices.Equal(top.Models, []string{"a", "b"}) || top.PopularityMilli < 950 {
		t.Fatalf("after 5,000 shares of 810: top shape %+v", top)
	}
	// The prior's weight has halved five times.
	st := m.State()
	var prior float64
	for _, s := range st.Shapes {
		if s.ShareMilli != 810 {
			prior += s.Weight
		}
	}
	if want := 100 * math.Exp2(-5); math.Abs(prior-want) > 1e-6 {
		t.Fatalf("prior weight %v after 5 half-lives, want %v", prior, want)
	}
	// A new arrival pattern takes over within a few half-lives.
	whole := model.Job{Kind: model.Gang, Workers: 8, CardsPerWorker: 8}
	for range 2000 {
		m.Observe(&whole)
	}
	if top := m.TypicalTasks()[0]; top.Cards != 8 {
		t.Fatalf("after 16,000 workers of 8 cards: top shape %+v", top)
	}
	// Compute requests are not shapes.
	before := m.State().Observed
	m.Observe(&model.Job{Kind: model.Gang, Workers: 2, ComputeGFLOPS: 1000})
	if m.State().Observed != before {
		t.Fatal("a compute request was counted")
	}
}

// TestMixStateRoundTrip: a mix rebuilt from its stored state (a new
// leader) has the same typical tasks and goes on learning the same way.
func TestMixStateRoundTrip(t *testing.T) {
	cfg := MixConfig{Every: 10}
	a := NewMix(cfg, nil)
	jobs := []model.Job{
		{Kind: model.Batch, Workers: 1, CardsPerWorker: 2, CPUMilli: 8000},
		{Kind: model.Inference, Workers: 3, ShareMilli: 250},
		{Kind: model.Gang, Workers: 4, CardsPerWorker: 8, Models: []string{"x"}},
	}
	for i := range 95 { // 95 jobs: the last batch folded
		a.Observe(&jobs[i%3])
	}
	for range 10 - a.inBatch { // close the open batch
		a.Observe(&jobs[0])
	}
	b, err := json.Marshal(a.State())
	if err != nil {
		t.Fatal(err)
	}
	var st MixState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	c := NewMix(cfg, &st)
	if !slices.EqualFunc(a.TypicalTasks(), c.TypicalTasks(), TaskShape.equal) {
		t.Fatalf("restored typical tasks differ:\n%+v\n%+v", a.TypicalTasks(), c.TypicalTasks())
	}
	for i := range 50 {
		a.Observe(&jobs[i%3])
		c.Observe(&jobs[i%3])
	}
	x, _ := json.Marshal(a.State())
	y, _ := json.Marshal(c.State())
	if string(x) != string(y) {
		t.Fatalf("the restored mix learns differently:\n%s\n%s", x, y)
	}
}

// TestMixDrift: the typical tasks in use change only once the learned mix
// has drifted by DriftMilli (each change drops the scheduler's caches).
func TestMixDrift(t *testing.T) {
	m := NewMix(MixConfig{Every: 10, PriorWeight: 10_000}, nil)
	before := m.TypicalTasks()
	one := model.Job{Kind: model.Batch, Workers: 1, CardsPerWorker: 1, CPUMilli: 8000}
	for range 10 {
		m.Observe(&one)
	}
	if got := m.TypicalTasks(); !slices.EqualFunc(got, before, TaskShape.equal) {
		t.Fatalf("10 arrivals against a prior of 10,000 changed the mix in use:\n%+v\n%+v", before, got)
	}
	for range 3000 {
		m.Observe(&one)
	}
	if got := m.TypicalTasks(); got[0].PopularityMilli <= before[0].PopularityMilli+20 {
		t.Fatalf("3,010 arrivals of one shape left the mix in use at %+v (was %+v)", got[0], before[0])
	}
}

// TestDriftCountsMovedPopularity: a light shape entering or leaving the
// tail moves only its own popularity, not the whole mix; a new heavy shape
// moves much.
func TestDriftCountsMovedPopularity(t *testing.T) {
	a := []TaskShape{{ShareMilli: 500, PopularityMilli: 600}, {Cards: 1, PopularityMilli: 395}, {Cards: 2, PopularityMilli: 5}}
	b := []TaskShape{{ShareMilli: 500, PopularityMilli: 603}, {Cards: 1, PopularityMilli: 397}}
	if d := drift(a, b); d != 5 {
		t.Fatalf("a 5‰ tail shape left (and 5‰ spread over the rest): drift %d‰, want 5", d)
	}
	c := []TaskShape{{ShareMilli: 250, PopularityMilli: 600}, {Cards: 1, PopularityMilli: 400}}
	if d := drift(b, c); d != 603 {
		t.Fatalf("the heaviest shape replaced: drift %d‰, want 603", d)
	}
	if d := drift(a, a); d != 0 {
		t.Fatalf("drift of a mix from itself %d‰", d)
	}
}

// TestTasksGenCountsReplacements: TasksGen moves exactly when the typical
// tasks are replaced, not on every closed batch.
func TestTasksGenCountsReplacements(t *testing.T) {
	m := NewMix(MixConfig{Every: 10, PriorWeight: 10_000}, nil)
	one := model.Job{Kind: model.Batch, Workers: 1, CardsPerWorker: 1, CPUMilli: 8000}
	prev, gen, batches, changes := m.TypicalTasks(), m.TasksGen(), 0, 0
	for range 5000 {
		if !m.Observe(&one) {
			continue
		}
		batches++
		got := m.TypicalTasks()
		changed := !slices.EqualFunc(got, prev, TaskShape.equal)
		if changed != (m.TasksGen() != gen) {
			t.Fatalf("batch %d: tasks changed %v but TasksGen %d → %d", batches, changed, gen, m.TasksGen())
		}
		if changed {
			changes++
		}
		prev, gen = got, m.TasksGen()
	}
	if changes == 0 || changes*2 > batches {
		t.Fatalf("%d replacements in %d batches: want some, and far fewer than the batches", changes, batches)
	}
}

// TestMixMaxShares: the typical tasks have at most MaxShares distinct
// per-card shares, the heaviest kept.
func TestMixMaxShares(t *testing.T) {
	m := NewMix(MixConfig{Every: 1, PriorWeight: 1, MaxShares: 3, Coverage: 1}, nil)
	for i := range 40 {
		for range 40 - i { // share 10·(i+1) arrives 40−i times: lighter as it grows
			m.Observe(&model.Job{Kind: model.Inference, Workers: 1, ShareMilli: 10 * (i + 1)})
		}
	}
	shares := map[int]bool{}
	for _, s := range m.TypicalTasks() {
		shares[s.ShareMilli+1000*s.Cards] = true
	}
	if len(shares) != 3 || !shares[10] || !shares[20] || !shares[30] {
		t.Fatalf("typical shares %v, want the 3 heaviest (10, 20, 30)", shares)
	}
}
