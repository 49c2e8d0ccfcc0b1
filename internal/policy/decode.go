package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
)

// decodeTree turns YAML (or JSON) into a generic tree. Duplicate keys are
// errors. Walking the tree ourselves, rather than decoding into structs,
// lets validation report every unknown field and every wrong type, not
// just the first.
func decodeTree(data []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("policy document is not valid YAML: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("policy document: %w", err)
	}
	return tree, nil
}

// decoder walks a decoded tree, collecting every problem with its path.
type decoder struct {
	cat     *catalog.Catalog
	vendors map[string]string // normalised alias → catalog vendor name
	errs    []error
}

func (d *decoder) bad(path, format string, a ...any) {
	if path == "" {
		path = "document"
	}
	d.errs = append(d.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

// object returns v as a map, reporting a wrong type and every key not in
// known. It returns nil when v is not an object (or absent).
func (d *decoder) object(path string, v any, known ...string) map[string]any {
	if v == nil {
		if path == "" {
			d.bad(path, "empty; a policy needs at least a version")
		} else {
			d.bad(path, "empty; want a mapping of %s", strings.Join(known, ", "))
		}
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		d.bad(path, "is %s; want a mapping of %s", kind(v), strings.Join(known, ", "))
		return nil
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(known, k) {
			d.bad(join(path, k), "unknown field; known fields: %s", strings.Join(known, ", "))
		}
	}
	return o
}

func (d *decoder) list(path string, v any) ([]any, bool) {
	if v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		d.bad(path, "is %s; want a list", kind(v))
	}
	return l, ok
}

func (d *decoder) str(path string, v any) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.bad(path, "is %s; want a string", kind(v))
	}
	return s
}

// strs accepts a list of strings or a single string (a list of one).
func (d *decoder) strs(path string, v any) []string {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return []string{s}
	}
	l, ok := d.list(path, v)
	if !ok {
		return nil
	}
	if len(l) == 0 {
		d.bad(path, "empty list; name at least one value or leave the field out")
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			d.bad(fmt.Sprintf("%s[%d]", path, i), "is %s; want a string", kind(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) integer(path string, v any) int {
	n, ok := v.(json.Number)
	if !ok {
		d.bad(path, "is %s; want a whole number", kind(v))
		return 0
	}
	i, err := n.Int64()
	if err != nil || i > 1<<31 || i < -1<<31 {
		d.bad(path, "%s is not a whole number in range", n)
		return 0
	}
	return int(i)
}

func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// normalizeName keeps letters and digits, lower-cased: "Enflame (Suiyuan)"
// → "enflamesuiyuan".
func normalizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// vendorAliases maps the names a person may write for a vendor to the
// catalog's vendor name: the full name ("Enflame (Suiyuan)"), the name
// without the parenthesis ("Enflame"), the parenthesis ("Suiyuan") and each
// word of three letters or more ("Moore", "T-Head"). An alias two vendors
// share is dropped rather than guessed.
func vendorAliases(cat *catalog.Catalog) map[string]string {
	out := map[string]string{}
	ambiguous := map[string]bool{}
	add := func(alias, vendor string) {
		k := normalizeName(alias)
		if k == "" {
			return
		}
		if old, ok := out[k]; ok && old != vendor {
			ambiguous[k] = true
		}
		out[k] = vendor
	}
	for _, v := range vendorNames(cat) {
		add(v, v)
	}
	for _, v := range vendorNames(cat) {
		short, paren, _ := strings.Cut(v, "(")
		add(short, v)
		add(strings.TrimSuffix(paren, ")"), v)
		for _, w := range strings.Fields(short) {
			if len(w) >= 3 {
				add(w, v)
			}
		}
	}
	for k := range ambiguous {
		delete(out, k)
	}
	// Full names always resolve.
	for _, v := range vendorNames(cat) {
		out[normalizeName(v)] = v
	}
	return out
}

// vendorNames lists the catalog's vendors, sorted.
func vendorNames(cat *catalog.Catalog) []string {
	var names []string
	for _, m := range cat.Models() {
		names = appendNew(names, m.Vendor)
	}
	sort.Strings(names)
	return names
}
