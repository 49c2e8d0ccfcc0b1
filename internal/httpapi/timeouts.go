package httpapi

import (
	"net/http"
	"time"
)

// Timeouts bound how long a client may hold a connection, so that slow
// or idle clients cannot exhaust the server. Streaming routes (Server-Sent
// Events) are exempt from Body and Write: they last as long as the client
// listens.
type Timeouts struct {
	// ReadHeader is the time to read a request's headers (default 10 s).
	ReadHeader time.Duration
	// Body is the time from the headers to the end of the request: reading
	// the body and handling it (default 30 s).
	Body time.Duration
	// Write is the time to handle a request and write its reply (default
	// 60 s), from the same start as Body; keep it longer than Body so that
	// a client whose body times out still gets its 400.
	Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request (default 30 s).
	Idle time.Duration
}

// DefaultTimeouts are the timeouts `suanli serve` uses.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Body: 30 * time.Second, Write: 60 * time.Second, Idle: 30 * time.Second}

// MaxHeaderBytes is the most header bytes a request may send.
const MaxHeaderBytes = 64 << 10

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.Body > 0 {
		d.Body = t.Body
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// Server returns an http.Server for the API handler h (made by New with
// the same Timeouts) with the header and idle timeouts set. Its ReadTimeout
// and WriteTimeout stay zero: the handler sets body and write deadlines per
// request, so that event streams are not cut.
func (t Timeouts) Server(h http.Handler) *http.Server {
	t = t.withDefaults()
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, IdleTimeout: t.Idle, MaxHeaderBytes: MaxHeaderBytes}
}

// deadlines sets the request's read and write deadlines: Body and Write
// from now, or none for a streaming route (clearing what an earlier request
// on the same keep-alive connection set).
func (t Timeouts) deadlines(w http.ResponseWriter, stream bool) {
	rc := http.NewResponseController(w)
	if stream {
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		return
	}
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(t.Body))
	_ = rc.SetWriteDeadline(now.Add(t.Write))
}
