package v1

import (
	"reflect"
	"strings"
	"testing"
)

// jsonFields lists the JSON names of t's fields, nested structs (and
// pointers to them) as prefix.name.
func jsonFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			out = append(out, jsonFields(ft, prefix+name+".")...)
		}
	}
	return out
}

// TestJobSpecFieldsDocumented: every JSON field of JobSpec has a doc in
// JobSpecFields, and every doc names a field.
func TestJobSpecFieldsDocumented(t *testing.T) {
	fields := jsonFields(reflect.TypeOf(JobSpec{}), "")
	if len(fields) < 20 {
		t.Fatalf("found only %d fields: %v", len(fields), fields)
	}
	doc := map[string]FieldDoc{}
	for _, d := range JobSpecFields {
		if _, dup := doc[d.Field]; dup {
			t.Errorf("%s documented twice", d.Field)
		}
		if strings.TrimSpace(d.Doc) == "" || d.Type == "" {
			t.Errorf("%s: empty doc or type", d.Field)
		}
		doc[d.Field] = d
	}
	for _, f := range fields {
		if _, ok := doc[f]; !ok {
			t.Errorf("JobSpec field %q has no entry in JobSpecFields", f)
		}
		delete(doc, f)
	}
	for f := range doc {
		t.Errorf("JobSpecFields documents %q, which JobSpec does not have", f)
	}
}
