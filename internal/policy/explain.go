package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Explain turns the cards a scheduling pass excluded, counted per rule or
// advisory id (the rule string Filter.Allow returns), into one sentence
// each, the most cards first:
//
//	denied by rule R3: sensitive jobs need domestic chips — 12,480 foreign cards excluded
//
// Ids no longer in force are still explained, as such.
func (s *Snapshot) Explain(excluded map[string]int) []string {
	ids := make([]string, 0, len(excluded))
	for id, n := range excluded {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if excluded[ids[i]] != excluded[ids[j]] {
			return excluded[ids[i]] > excluded[ids[j]]
		}
		return ids[i] < ids[j]
	})
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.explainOne(id, excluded[id]))
	}
	return out
}

func (s *Snapshot) explainOne(id string, n int) string {
	count := func(noun string) string {
		if n == 1 {
			noun = strings.Replace(noun, "cards", "card", 1)
		}
		return Thousands(int64(n)) + " " + noun + " excluded"
	}
	if id == ReasonUnknownCapacity {
		return "denied: site, node or model unknown to the policy — " + count("cards")
	}
	for i := range s.policy.Rules {
		if r := &s.policy.Rules[i]; r.ID == id {
			return fmt.Sprintf("denied by rule %s: %s — %s", id, r.Summary(), count(r.excludedNoun()))
		}
	}
	if a, ok := s.Advisory(id); ok {
		state := string(a.Action) + ", " + string(a.Severity)
		if !a.Active() {
			state += ", since lifted"
		}
		return fmt.Sprintf("denied by advisory %s (%s): %s — %s", id, state, a.summary(), count(a.target()))
	}
	return fmt.Sprintf("denied by %s (no longer in force) — %s", id, count("cards"))
}

// Thousands renders n with comma thousands separators: 12480 → "12,480".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
