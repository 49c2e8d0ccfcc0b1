package httpapi

import (
	"fmt"
	"net/http"

	v1 "github.com/suanli/suanli/api/v1"
)

// maxPolicyBytes bounds a policy document (the body limit bounds the
// request).
const maxPolicyBytes = 512 << 10

func (h *handler) policy(w http.ResponseWriter, r *http.Request) error {
	p, err := h.b.Policy(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) replacePolicy(w http.ResponseWriter, r *http.Request) error {
	var d v1.PolicyDocument
	if err := decode(w, r, &d); err != nil {
		return err
	}
	switch {
	case d.Document == "":
		return Problems{{Field: "document", Message: "missing; send the policy YAML as a string"}}
	case len(d.Document) > maxPolicyBytes:
		return Problems{{Field: "document", Message: fmt.Sprintf("%d bytes; at most %d", len(d.Document), maxPolicyBytes)}}
	}
	p, err := h.b.ReplacePolicy(r.Context(), PrincipalFrom(r.Context()), d.Document)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) advisories(w http.ResponseWriter, r *http.Request) error {
	as, err := h.b.Advisories(r.Context())
	if err != nil {
		return err
	}
	if as == nil {
		as = []v1.Advisory{}
	}
	writeJSON(w, http.StatusOK, as)
	return nil
}

func (h *handler) fileAdvisory(w http.ResponseWriter, r *http.Request) error {
	var a v1.Advisory
	if err := decode(w, r, &a); err != nil {
		return err
	}
	var probs Problems
	if !a.Filed.IsZero() || a.FiledBy != "" || a.Lifted != nil || a.LiftedBy != "" {
		probs = append(probs, v1.Problem{Field: "filed", Message: "filed, filed_by, lifted and lifted_by are the server's; leave them out"})
	}
	if len(a.Models) > 256 || len(a.Classes) > 16 {
		probs = append(probs, v1.Problem{Field: "models", Message: "at most 256 models and 16 classes"})
	}
	if len(probs) > 0 {
		return probs
	}
	out, err := h.b.FileAdvisory(r.Context(), PrincipalFrom(r.Context()), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) liftAdvisory(w http.ResponseWriter, r *http.Request) error {
	out, err := h.b.LiftAdvisory(r.Context(), PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) compliance(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.b.Compliance(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
