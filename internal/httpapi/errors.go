package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store"
)

// Sentinel errors a Backend returns; status maps each to its HTTP status.
var (
	ErrUnauthorized = errors.New("missing or unknown bearer token")
	ErrForbidden    = errors.New("the token's role may not do this")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid request")
	ErrUnavailable  = errors.New("unavailable")
	// ErrUnsatisfiable: the job can never be placed on the network, even
	// empty (too large for every model, node, domain or site it may use,
	// or ruled out by the policy); the message names the limit. 422.
	ErrUnsatisfiable = errors.New("the job can never fit the network")
)

// retryAfter is the Retry-After of a 503, in seconds: about one etcd
// leader election.
const retryAfter = "2"

// Problems is a request's validation failures, every one with its field
// path. It is a client mistake: 400.
type Problems []v1.Problem

func (p Problems) Error() string {
	parts := make([]string, len(p))
	for i, q := range p {
		parts[i] = q.Field + ": " + q.Message
	}
	return strings.Join(parts, "; ")
}

// ProblemsOf turns a validation error (an errors.Join of "field: message"
// errors, as model's Validate methods return) into Problems, each field
// prefixed with prefix (e.g. "spec.").
func ProblemsOf(err error, prefix string) Problems {
	var out Problems
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		msg := e.Error()
		field, rest, ok := strings.Cut(msg, ": ")
		if !ok || strings.ContainsAny(field, " \t") {
			out = append(out, v1.Problem{Field: strings.TrimSuffix(prefix, "."), Message: msg})
			return
		}
		out = append(out, v1.Problem{Field: prefix + field, Message: rest})
	}
	if err != nil {
		walk(err)
	}
	return out
}

// status is the one place errors become HTTP statuses and bodies. Client
// mistakes are 4xx with a message a person can act on; anything else is a
// 500 whose detail goes to the log, not the client.
func status(err error) (int, v1.Error) {
	if thr, ok := err.(*Throttled); ok { // the common refusal, without the search below
		return http.StatusTooManyRequests, v1.Error{Message: thr.Error()}
	}
	var probs Problems
	var maxBytes *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var thr *Throttled
	switch {
	case errors.As(err, &thr):
		return http.StatusTooManyRequests, v1.Error{Message: thr.Error()}
	case errors.As(err, &probs):
		return http.StatusBadRequest, v1.Error{Message: "the request is invalid; fix every problem listed", Problems: probs}
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, v1.Error{Message: fmt.Sprintf("the body is over the %d-byte limit", maxBytes.Limit)}
	case errors.As(err, &syntax):
		return http.StatusBadRequest, v1.Error{Message: fmt.Sprintf("the body is not valid JSON (at byte %d): %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return http.StatusBadRequest, v1.Error{Message: "the request is invalid", Problems: []v1.Problem{{Field: field, Message: fmt.Sprintf("want a %s, got a JSON %s", typ.Type, typ.Value)}}}
	case errors.Is(err, errDecode), errors.Is(err, ErrInvalid), errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, v1.Error{Message: err.Error()}
	case errors.Is(err, ErrUnsatisfiable):
		return http.StatusUnprocessableEntity, v1.Error{Message: err.Error()}
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, v1.Error{Message: err.Error() + `; send "Authorization: Bearer <token>"`}
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, v1.Error{Message: err.Error()}
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, v1.Error{Message: err.Error()}
	case errors.Is(err, ErrConflict), errors.Is(err, store.ErrConflict):
		return http.StatusConflict, v1.Error{Message: err.Error() + "; re-read and retry"}
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, v1.Error{Message: err.Error()}
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, v1.Error{Message: "the store is unavailable (no quorum or a timeout); a write may or may not have been applied: retry after a few seconds"}
	}
	return http.StatusInternalServerError, v1.Error{Message: "internal error; the server log has the detail"}
}

// writeError writes err as a JSON error reply.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, body := status(err)
	thr, ok := err.(*Throttled)
	if !ok {
		errors.As(err, &thr)
	}
	if thr != nil {
		w.Header().Set("Retry-After", thr.retryAfter())
	}
	if code >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // compact: clients pretty-print
}
