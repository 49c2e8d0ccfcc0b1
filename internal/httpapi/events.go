package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	v1 "github.com/suanli/suanli/api/v1"
)

// events streams job changes as Server-Sent Events. Each event's id is its
// store revision, so a client that reconnects with Last-Event-ID misses
// nothing. A tenant sees its own jobs only.
func (h *handler) events(w http.ResponseWriter, r *http.Request) error {
	from := int64(-1) // now
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("from")
	}
	if s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Problems{{Field: "from", Message: fmt.Sprintf("%q is not a revision", s)}}
		}
		from = n
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("%w: the connection cannot stream", ErrUnavailable)
	}
	ch, err := h.b.Events(r.Context(), from)
	if err != nil {
		return err
	}
	p := PrincipalFrom(r.Context())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": stream open\n\n")
	flusher.Flush()
	for ev := range ch {
		if p.Role == v1.RoleTenant && (ev.Job == nil || ev.Job.Spec.Tenant != p.Tenant) {
			continue
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil // headers are out; end the stream
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Revision, ev.Type, b); err != nil {
			return nil
		}
		flusher.Flush()
	}
	return nil
}
