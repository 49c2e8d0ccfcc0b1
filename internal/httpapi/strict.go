package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	v1 "github.com/suanli/suanli/api/v1"
)

// checkUTF8 refuses a body that is not valid UTF-8: encoding/json would
// silently replace the bad bytes with U+FFFD.
func checkUTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	at := 0
	for at < len(b) {
		r, n := utf8.DecodeRune(b[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	return fmt.Errorf("%w: the body is not valid UTF-8 (at byte %d); send UTF-8 text", errDecode, at)
}

// checkNames walks a JSON document that has already decoded into a value
// of type t and refuses what encoding/json lets through: a key given
// twice in one object (the last would silently win), two keys of one
// object that differ only in case, and an object key that matches a field
// only when case is ignored. Every such problem is listed with its path.
func checkNames(b []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var probs Problems
	if err := walkNames(dec, t, "", &probs); err != nil {
		return fmt.Errorf("%w: %v", errDecode, err)
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// maxNameProblems bounds the problems one body can produce.
const maxNameProblems = 20

func walkNames(dec *json.Decoder, t reflect.Type, path string, probs *Problems) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	t = opaque(t)
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var folded map[string]string // lower case → field name
		var elem reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields, folded = structFields(t)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		seen := map[string]bool{}
		seenFold := map[string]string{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			kpath := join(path, key)
			add := func(msg string) {
				if len(*probs) < maxNameProblems {
					*probs = append(*probs, v1.Problem{Field: kpath, Message: msg})
				}
			}
			vt := elem
			n := len(*probs)
			switch {
			case seen[key]:
				add(fmt.Sprintf("duplicate key %q: give each key once", key))
			case fields != nil && seenFold[strings.ToLower(key)] != "":
				add(fmt.Sprintf("keys %q and %q differ only in case; give the field once, spelt %q", key, seenFold[strings.ToLower(key)], folded[strings.ToLower(key)]))
			}
			seen[key] = true
			if fields != nil {
				lk := strings.ToLower(key)
				if seenFold[lk] == "" {
					seenFold[lk] = key
				}
				if ft, ok := fields[key]; ok {
					vt = ft
				} else if name, ok := folded[lk]; ok && len(*probs) == n {
					add(fmt.Sprintf("not a field; did you mean %q? names are case-sensitive", name))
				}
			}
			if err := walkNames(dec, vt, kpath, probs); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkNames(dec, elem, fmt.Sprintf("%s[%d]", path, i), probs); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque dereferences pointers and returns nil for types whose JSON shape
// is their own business (custom unmarshalers, interfaces): their keys are
// still checked for duplicates, not against field names.
func opaque(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

type fieldSet struct {
	exact  map[string]reflect.Type
	folded map[string]string
}

var fieldCache sync.Map // reflect.Type → fieldSet

// structFields lists a struct's JSON field names (embedded structs'
// promoted fields included) with their types, and the names by lower case.
func structFields(t reflect.Type) (map[string]reflect.Type, map[string]string) {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(fieldSet).exact, fs.(fieldSet).folded
	}
	fs := fieldSet{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					collect(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := fs.exact[name]; !dup {
				fs.exact[name] = f.Type
				fs.folded[strings.ToLower(name)] = name
			}
		}
	}
	collect(t)
	fieldCache.Store(t, fs)
	return fs.exact, fs.folded
}
