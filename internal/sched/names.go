package sched

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/agnivade/levenshtein"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Names checks the names a job gives against one network: see Check.
// Make one per network with NewNames; it is read-only and safe for
// concurrent use.
type Names struct {
	net        *network.Network
	inNet      map[string]bool // model ids with cards in the network
	netModels  []string        // the same, sorted
	modelCands []string        // catalog ids and names, for suggestions
	modelAs    map[string]string
	siteIDs    []string
	regions    map[string]bool
	regionList []string
	stacks     []string // the heads of the network's models' stacks
}

// NewNames indexes the network's models, sites, regions and stacks.
func NewNames(net *network.Network) *Names {
	n := &Names{net: net, inNet: map[string]bool{}, modelAs: map[string]string{}, regions: map[string]bool{}}
	for i := range net.Nodes {
		n.inNet[net.Nodes[i].Model] = true
	}
	n.netModels = sortedKeys(n.inNet)
	for _, cm := range net.Catalog.Models() {
		n.modelCands = append(n.modelCands, cm.ID, cm.Name)
		n.modelAs[cm.ID], n.modelAs[cm.Name] = cm.ID, cm.ID
	}
	for i := range net.Sites {
		n.siteIDs = append(n.siteIDs, string(net.Sites[i].ID))
		n.regions[net.Sites[i].Region] = true
	}
	n.regionList = sortedKeys(n.regions)
	for _, id := range n.netModels {
		if m := net.Model(id); m != nil && m.Stack != "" {
			head, _, _ := strings.Cut(m.Stack, "(")
			n.stacks = append(n.stacks, strings.TrimSpace(head))
		}
	}
	return n
}

// Check reports every model, site, region and stack the job names that the
// network does not have, each as "field[i]: message" with the closest names
// it does have ("did you mean"), joined; nil when all are known. A job
// naming only such values could never be placed, so it is refused at
// submit rather than left blocked.
func (n *Names) Check(j *model.Job) error {
	var errs []error
	bad := func(field string, i int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s[%d]: %s", field, i, fmt.Sprintf(format, a...)))
	}
	if len(j.Models) > 0 {
		placeable := false
		for i, name := range j.Models {
			m, ok := n.net.Catalog.Lookup(name)
			switch {
			case !ok:
				bad("models", i, "unknown model %.64q%s (see `suanli catalog`)", name, didYouMean(name, n.modelCands, n.modelAs))
			case n.inNet[m.ID]:
				placeable = true
			}
		}
		if !placeable && len(errs) == 0 {
			named := fmt.Sprintf("%.64q", j.Models[0])
			if len(j.Models) > 1 {
				named = fmt.Sprintf("any of the %d models named", len(j.Models))
			}
			errs = append(errs, fmt.Errorf("models: no card of this network is %s; it has %s", named, strings.Join(n.netModels, ", ")))
		}
	}
	for i, s := range j.Sites {
		if _, ok := n.net.Site(s); ok {
			continue
		}
		if !siteIDPattern(string(s)) {
			bad("sites", i, "%.64q is not a site id (lower-case letters, digits and dashes, up to 64)%s", s, didYouMean(string(s), n.siteIDs, nil))
			continue
		}
		bad("sites", i, "unknown site %q%s (see `suanli network`)", s, didYouMean(string(s), n.siteIDs, nil))
	}
	errs = append(errs, n.checkPlaces(j)...)
	for i, r := range j.Regions {
		if !n.regions[r] {
			bad("regions", i, "unknown region %.64q%s (the network's regions: %s)", r, didYouMean(r, n.regionList, nil), strings.Join(n.regionList, ", "))
		}
	}
	for i, st := range j.Stacks {
		known := false
		for _, id := range n.netModels {
			if m := n.net.Model(id); m != nil && fieldMatches([]string{st}, m.Stack) {
				known = true
				break
			}
		}
		if !known {
			bad("stacks", i, "no model of this network runs the stack %.64q%s", st, didYouMean(st, n.stacks, nil))
		}
	}
	return errors.Join(errs...)
}

// checkPlaces checks where the job says its users and data are: users a
// site id or a province, data.site a site id.
func (n *Names) checkPlaces(j *model.Job) []error {
	var errs []error
	if u := j.Users; u != "" {
		if _, _, ok := n.net.UsersAt(u); !ok {
			errs = append(errs, fmt.Errorf("users: %.64q is neither a site of this network nor a province%s (a province by its English name, e.g. Guangdong; sites: see `suanli network`)",
				u, didYouMean(u, n.net.UserPlaces(), nil)))
		}
	}
	if d := j.Data; d != nil && d.Site != "" {
		if _, ok := n.net.Site(d.Site); !ok {
			errs = append(errs, fmt.Errorf("data.site: unknown site %.64q%s (see `suanli network`)", d.Site, didYouMean(string(d.Site), n.siteIDs, nil)))
		}
	}
	return errs
}

func siteIDPattern(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// didYouMean suggests up to three candidates close to s: those that
// contain it, or within an edit distance of a third of its length (at
// least 2), comparing letters and digits only and ignoring case. as maps a
// candidate to the name to suggest for it (nil: itself).
func didYouMean(s string, cands []string, as map[string]string) string {
	key := fold(s)
	if key == "" || len(key) > 64 {
		return ""
	}
	best := map[string]int{}
	for _, c := range cands {
		ck := fold(c)
		d := levenshtein.ComputeDistance(key, ck)
		switch {
		case ck == key:
			d = -1 // the same but for case and punctuation: the only suggestion
		case strings.Contains(ck, key) || strings.Contains(key, ck) && len(ck) >= 3:
			d = 0
		}
		if d > max(2, len(key)/3) {
			continue
		}
		name := c
		if as != nil {
			name = as[c]
		}
		if old, ok := best[name]; !ok || d < old {
			best[name] = d
		}
	}
	if len(best) == 0 {
		return ""
	}
	exact := slices.Contains(slices.Collect(maps.Values(best)), -1)
	names := make([]string, 0, len(best))
	for n, d := range best {
		if exact && d >= 0 {
			continue
		}
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(best[a], best[b]), cmp.Compare(a, b)) })
	if len(names) > 3 {
		names = names[:3]
	}
	for i := range names {
		names[i] = fmt.Sprintf("%q", names[i])
	}
	return "; did you mean " + strings.Join(names, " or ") + "?"
}

// fold keeps letters and digits, lower-cased.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
