package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// on is a placement of one worker on a node's cards.
func on(job, node string, cards ...int) *model.Placement {
	return &model.Placement{Job: model.JobID(job), Assignments: []model.Assignment{{Node: model.NodeID(node), Cards: cards}}}
}

// ch is a change of job id from the stored placement old to cur.
func ch(id string, old, cur *model.Placement) change {
	return change{id: model.JobID(id), prev: &jobRecord{Placement: old}, rec: &jobRecord{Placement: cur}, enc: make([]byte, 100)}
}

func chunkString(cs [][]change) string {
	var parts []string
	for _, c := range cs {
		var ids []string
		for _, x := range c {
			ids = append(ids, string(x.id))
		}
		parts = append(parts, strings.Join(ids, " "))
	}
	return strings.Join(parts, " | ")
}

// Whatever prefix of the chunks is committed, no node's resources are
// taken before the change that frees them is in the store.
func TestChunksKeepNodeGroupsWhole(t *testing.T) {
	var changes []change
	// 59 queued jobs decided again (blocked), then y placed on the node
	// x ends on, then x's end: y and x must commit together.
	for i := range 59 {
		changes = append(changes, ch(fmt.Sprintf("q%02d", i), nil, nil))
	}
	changes = append(changes, ch("y", nil, on("y", "n0", 0, 1)), ch("x", on("x", "n0", 0, 1, 2, 3), nil))
	got := chunks(changes)
	if len(got) != 2 || chunkString(got[1:]) != "x y" {
		t.Errorf("chunks = %d, the last %q; want x's end with y's placement, first", len(got), chunkString(got[len(got)-1:]))
	}
	// A swap: a moves to b's node and b to a's; c is placed where b was
	// and unrelated d elsewhere. One group: a, b, c (moves before c).
	got = chunks([]change{
		ch("c", nil, on("c", "n1", 4)),
		ch("d", nil, on("d", "n9", 0)),
		ch("a", on("a", "n0", 0), on("a", "n1", 0)),
		ch("b", on("b", "n1", 0), on("b", "n0", 0)),
	})
	if s := chunkString(got); s != "a b c d" {
		t.Errorf("chunks = %q, want %q", s, "a b c d")
	}
	// A group larger than a transaction: what frees goes first.
	changes = changes[:0]
	for i := range jobsPerCommit + 5 {
		changes = append(changes, ch(fmt.Sprintf("t%02d", i), nil, on("t", "n2", i)))
	}
	changes = append(changes, ch("f", on("f", "n2", 0, 1, 2), nil))
	got = chunks(changes)
	if len(got) != 2 || got[0][0].id != "f" || len(got[0]) != jobsPerCommit {
		t.Errorf("an oversized group: %d chunks, first %q (%d jobs); want f first, %d a chunk", len(got), got[0][0].id, len(got[0]), jobsPerCommit)
	}
	// Jobs placed on a node nothing frees are not tied.
	changes = changes[:0]
	for i := range jobsPerCommit - 10 {
		changes = append(changes, ch(fmt.Sprintf("q%02d", i), nil, nil))
	}
	for i := range 20 {
		changes = append(changes, ch(fmt.Sprintf("p%02d", i), nil, on("p", "n4", i)))
	}
	if got = chunks(changes); len(got) != 2 || len(got[0]) != jobsPerCommit {
		t.Errorf("placements on a node nothing frees: %d chunks, the first of %d jobs, want 2 and %d", len(got), len(got[0]), jobsPerCommit)
	}
	// A job decided as stored (same placement) ties no one.
	got = chunks([]change{ch("s", on("s", "n3", 0), on("s", "n3", 0)), ch("u", on("u", "n3", 1), nil)})
	if s := chunkString(got); s != "s u" {
		t.Errorf("chunks = %q", s)
	}
}
