package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/agnivade/levenshtein"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	v1 "github.com/suanli/suanli/api/v1"
)

// parseJobSpec reads a job spec from YAML or JSON. An unknown field or a
// value of the wrong type is reported in a spec author's words, with the
// line it is on and, for a misspelt field, the field meant.
func parseJobSpec(b []byte) (v1.JobSpec, error) {
	var spec v1.JobSpec
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return spec, fmt.Errorf("not YAML or JSON: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, specError(b, err)
	}
	if dec.More() {
		return spec, errors.New("more than one document; give one job spec per file")
	}
	return spec, nil
}

var unknownField = regexp.MustCompile(`^json: unknown field "([^"]*)"$`)

// specError turns a JSON decoding error into a message about the YAML the
// user wrote.
func specError(src []byte, err error) error {
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		name := m[1]
		msg := fmt.Sprintf("unknown field %q", name)
		if line := keyLine(src, name); line > 0 {
			msg += fmt.Sprintf(" at line %d", line)
		}
		if s := closestField(name); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return errors.New(msg + " (`suanli submit --explain-fields` lists every field)")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field == "" {
		return fmt.Errorf("a job spec is a mapping of fields (e.g. kind: gang), not a %s; `suanli submit --explain-fields` lists them", te.Value)
	}
	if errors.As(err, &te) {
		field := te.Field
		last := field[strings.LastIndex(field, ".")+1:]
		want := te.Type.String()
		for _, d := range v1.JobSpecFields {
			if d.Field == field {
				want = d.Type
			}
		}
		msg := fmt.Sprintf("field %q wants %s, not a %s", field, want, te.Value)
		if line := keyLine(src, last); line > 0 {
			msg += fmt.Sprintf(" (line %d)", line)
		}
		return errors.New(msg)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("not a job spec: %v", err)
	}
	return err
}

// keyLine finds the line of the first mapping key named name in the YAML
// (0 when it cannot tell).
func keyLine(src []byte, name string) int {
	var doc yamlv3.Node
	if yamlv3.Unmarshal(src, &doc) != nil {
		return 0
	}
	var find func(n *yamlv3.Node) int
	find = func(n *yamlv3.Node) int {
		if n.Kind == yamlv3.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					return n.Content[i].Line
				}
			}
		}
		for _, c := range n.Content {
			if l := find(c); l > 0 {
				return l
			}
		}
		return 0
	}
	return find(&doc)
}

// closestField is the documented field nearest to name, or "".
func closestField(name string) string {
	best, bestD := "", max(2, len(name)/3)+1
	for _, d := range v1.JobSpecFields {
		f := d.Field[strings.LastIndex(d.Field, ".")+1:]
		if dist := levenshtein.ComputeDistance(strings.ToLower(name), f); dist < bestD {
			best, bestD = f, dist
		}
	}
	return best
}

// writeFields prints every job spec field with its type and meaning.
func writeFields(out io.Writer) error {
	fmt.Fprintln(out, "Job spec fields (YAML or JSON; see examples/jobs/):")
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tMEANING")
	for _, d := range v1.JobSpecFields {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Field, d.Type, d.Doc)
	}
	return tw.Flush()
}
