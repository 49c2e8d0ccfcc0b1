package policy

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

const denyH20v1 = "version: 1\nrules: [{id: R1, effect: deny, deny: {model: [H20]}}]\n"

func TestReplace(t *testing.T) {
	net := testNetwork(t)
	site, node, m := at(t, net, "gy-h1")
	job := testJob("j", "priv", model.Public)
	e := mustEngine(t, denyH20v1)
	allowedNow := func() bool { ok, _ := e.For(privTenant).Allow(job, site, node, m); return ok }
	if allowedNow() {
		t.Fatal("version 1 denies H20")
	}
	rev := e.Snapshot().Revision()

	steps := []struct {
		name    string
		doc     string
		wantErr string
		allowed bool // afterwards
		version int
	}{
		{"invalid document", "version: 2\nrules: [{id: R1, effect: deny, deny: {model: [H2O]}}, {id: R1}]\n",
			"policy rejected; version 1 stays in force", false, 1},
		{"version zero", "version: 0\n", "version: 0 must be at least 1", false, 1},
		{"same version, other content", "version: 1\n", "version 1 is already in force with other content", false, 1},
		{"same version, same content", denyH20v1, "", false, 1},
		{"newer version", "version: 2\nrules: []\n", "", true, 2},
		{"stale copy", denyH20v1, "version 1 is older than version 2 in force", true, 2},
	}
	for _, s := range steps {
		err := e.Replace([]byte(s.doc))
		switch {
		case s.wantErr == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: error %v, want %q", s.name, err, s.wantErr)
		}
		if allowedNow() != s.allowed || e.Snapshot().Policy().Version != s.version {
			t.Errorf("%s: afterwards allowed=%v version=%d, want %v %d", s.name, allowedNow(), e.Snapshot().Policy().Version, s.allowed, s.version)
		}
	}
	if got := e.Snapshot().Revision(); got != rev+1 {
		t.Errorf("revision %d → %d; only the one accepted change counts", rev, got)
	}
}

func TestReplaceListsEveryError(t *testing.T) {
	e := NewEngine(nil)
	err := e.Replace([]byte("version: 1\nrules:\n- {id: R1, effect: require, require: {origin: domestic-ish}}\n- {id: R2, effect: deny, deny: {vendor: [Nvidea]}}\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{`rules[0].require.origin: "domestic-ish" is not one of domestic, foreign`, `rules[1].deny.vendor[0]: "Nvidea" is not a vendor`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// A filter bound before a change keeps deciding by the snapshot it was
// bound to: one scheduling pass sees one policy.
func TestFilterIsBoundToItsSnapshot(t *testing.T) {
	net := testNetwork(t)
	site, node, m := at(t, net, "gy-h1")
	job := testJob("j", "priv", model.Public)
	e := mustEngine(t, denyH20v1)
	before := e.For(privTenant)
	if err := e.Replace([]byte("version: 2\n")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := before.Allow(job, site, node, m); ok {
		t.Error("the old filter changed under its pass")
	}
	if ok, _ := e.For(privTenant).Allow(job, site, node, m); !ok {
		t.Error("a new filter must see version 2")
	}
}

// Readers take snapshots while a writer files and lifts advisories; run
// with -race. Every verdict a reader sees is one some snapshot gives.
func TestEngineConcurrentUse(t *testing.T) {
	net := testNetwork(t)
	site, node, m := at(t, net, "gy-h1")
	job := testJob("j", "priv", model.Sensitive)
	e := NewEngine(nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ok, rule := e.For(privTenant).Allow(job, site, node, m)
				if !ok && !strings.HasPrefix(rule, "A") {
					t.Errorf("denied by %q, which no snapshot holds", rule)
					return
				}
			}
		}()
	}
	for i := range 50 {
		id := fmt.Sprintf("A%d", i)
		if _, err := e.File(Advisory{ID: id, Models: []string{"H20"}, Severity: Low, Action: Drain, Filed: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Lift(id, int64(i), "t"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got := e.Snapshot().Revision(); got != 100 {
		t.Errorf("revision %d, want 100", got)
	}
}
