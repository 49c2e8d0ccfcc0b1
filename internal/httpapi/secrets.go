package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"

	v1 "github.com/suanli/suanli/api/v1"
)

// Secrets is the secret side of the backend: named sets of values a
// tenant's workloads reference, kept encrypted by the server.
type Secrets interface {
	// PutSecret creates or replaces a secret; the reply has its keys, not
	// its values.
	PutSecret(ctx context.Context, p Principal, s v1.Secret) (v1.Secret, error)
	// Secrets lists a tenant's secrets, keys only.
	Secrets(ctx context.Context, tenant string) ([]v1.Secret, error)
	// DeleteSecret deletes a secret (ErrNotFound when there is none).
	DeleteSecret(ctx context.Context, p Principal, tenant, name string) error
}

// Bounds on secrets.
const (
	MaxSecretKeys  = 64
	MaxSecretBytes = 64 << 10 // all of one secret's keys and values
)

var (
	secretName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	secretKey  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,253}$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,255}$`)
)

// SecretProblems checks a secret's name and data.
func SecretProblems(s v1.Secret) Problems {
	var probs Problems
	if !secretName.MatchString(s.Name) {
		probs = append(probs, v1.Problem{Field: "name", Message: fmt.Sprintf("%q is not a secret name: lower-case letters, digits and '-', 1 to 63, starting and ending with a letter or digit", s.Name)})
	}
	if len(s.Data) == 0 {
		probs = append(probs, v1.Problem{Field: "data", Message: "missing; give at least one key and its value"})
	}
	if len(s.Data) > MaxSecretKeys {
		probs = append(probs, v1.Problem{Field: "data", Message: fmt.Sprintf("%d keys; at most %d", len(s.Data), MaxSecretKeys)})
	}
	size := 0
	for k, v := range s.Data {
		size += len(k) + len(v)
		if !secretKey.MatchString(k) {
			probs = append(probs, v1.Problem{Field: "data." + k, Message: "not a key: letters, digits, '.', '_' and '-', 1 to 253"})
		}
	}
	if size > MaxSecretBytes {
		probs = append(probs, v1.Problem{Field: "data", Message: fmt.Sprintf("%d bytes of keys and values; at most %d", size, MaxSecretBytes)})
	}
	if len(s.Keys) > 0 {
		probs = append(probs, v1.Problem{Field: "keys", Message: "set by the server; send data"})
	}
	return probs
}

// secretEnvProblems checks a workload's secret references.
func secretEnvProblems(wl *v1.Workload) Problems {
	var probs Problems
	if len(wl.SecretEnv) > maxLabels {
		return Problems{{Field: "workload.secret_env", Message: fmt.Sprintf("%d variables; at most %d", len(wl.SecretEnv), maxLabels)}}
	}
	seen := map[string]bool{}
	for i, e := range wl.SecretEnv {
		f := fmt.Sprintf("workload.secret_env[%d]", i)
		switch {
		case !envName.MatchString(e.Name):
			probs = append(probs, v1.Problem{Field: f + ".name", Message: fmt.Sprintf("%q is not an environment variable name", e.Name)})
		case seen[e.Name]:
			probs = append(probs, v1.Problem{Field: f + ".name", Message: fmt.Sprintf("%s is set twice", e.Name)})
		case wl.Env[e.Name] != "":
			probs = append(probs, v1.Problem{Field: f + ".name", Message: fmt.Sprintf("%s is in env too; set it one way", e.Name)})
		}
		seen[e.Name] = true
		if !secretName.MatchString(e.Secret.Name) {
			probs = append(probs, v1.Problem{Field: f + ".secret.name", Message: fmt.Sprintf("%q is not a secret name", e.Secret.Name)})
		}
		if !secretKey.MatchString(e.Secret.Key) {
			probs = append(probs, v1.Problem{Field: f + ".secret.key", Message: fmt.Sprintf("%q is not a secret key", e.Secret.Key)})
		}
	}
	return probs
}

// secretTenant checks the principal may manage the path's tenant's
// secrets: an admin any tenant's, a tenant its own. Another tenant's
// secrets are not found, so that names do not leak.
func secretTenant(r *http.Request) (string, error) {
	tenant := r.PathValue("id")
	p := PrincipalFrom(r.Context())
	if p.Role == v1.RoleTenant && p.Tenant != tenant {
		return "", fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	return tenant, nil
}

func (h *handler) putSecret(w http.ResponseWriter, r *http.Request) error {
	tenant, err := secretTenant(r)
	if err != nil {
		return err
	}
	var s v1.Secret
	if err := decode(w, r, &s); err != nil {
		return err
	}
	var probs Problems
	if s.Tenant != "" && s.Tenant != tenant {
		probs = append(probs, v1.Problem{Field: "tenant", Message: fmt.Sprintf("%q differs from tenant %q in the path", s.Tenant, tenant)})
	}
	if s.Name != "" && s.Name != r.PathValue("name") {
		probs = append(probs, v1.Problem{Field: "name", Message: fmt.Sprintf("%q differs from %q in the path", s.Name, r.PathValue("name"))})
	}
	s.Tenant, s.Name = tenant, r.PathValue("name")
	probs = append(probs, SecretProblems(s)...)
	if len(probs) > 0 {
		return probs
	}
	out, err := h.b.PutSecret(r.Context(), PrincipalFrom(r.Context()), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) secrets(w http.ResponseWriter, r *http.Request) error {
	tenant, err := secretTenant(r)
	if err != nil {
		return err
	}
	out, err := h.b.Secrets(r.Context(), tenant)
	if err != nil {
		return err
	}
	if out == nil {
		out = []v1.Secret{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	tenant, err := secretTenant(r)
	if err != nil {
		return err
	}
	if err := h.b.DeleteSecret(r.Context(), PrincipalFrom(r.Context()), tenant, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
