// Package httpapi serves Suanli's JSON API under /v1: strict decoding,
// validation that lists every problem with its field path, bearer-token
// authentication with four roles, one error-mapping function, Server-Sent
// Events, health, Prometheus metrics and the OpenAPI document.
package httpapi

import (
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "github.com/suanli/suanli/api/v1"
)

// Config is what the API needs.
type Config struct {
	Backend Backend
	// Registry receives the API's request metrics and serves /metrics
	// (with whatever else is registered on it). Nil: a fresh registry.
	Registry *prometheus.Registry
	// Log receives request failures (never tokens). Nil: discard.
	Log *slog.Logger
	// UI holds the dashboard's templates/ and static/ (web.FS), served
	// under /ui/. Nil: no dashboard.
	UI fs.FS
	// Timeouts: the body and write deadlines of each request (zero
	// fields: DefaultTimeouts); serve the handler with Timeouts.Server.
	Timeouts Timeouts
	// Fairness is the admission control per priority level (fair.go).
	// The zero value admits every request at once.
	Fairness Fairness
}

// route is one endpoint: the mux pattern, who may call it and its shape
// for the OpenAPI document.
type route struct {
	method, path string
	summary      string
	roles        []string // nil: public, no token
	query        []param
	request      any  // sample of the body type, nil for none
	response     any  // sample of the 2xx body type
	code         int  // success status
	stream       bool // a long-lived stream: no body or write deadline; rate limited, takes no seat
	handle       func(h *handler, w http.ResponseWriter, r *http.Request) error
}

type param struct{ name, doc string }

var (
	all       = []string{v1.RoleAdmin, v1.RoleOperator, v1.RoleTenant, v1.RoleAgent}
	bootstrap = []string{v1.RoleBootstrap}
	people    = []string{v1.RoleAdmin, v1.RoleOperator, v1.RoleTenant}
	staff     = []string{v1.RoleAdmin, v1.RoleOperator}
	adminOnly = []string{v1.RoleAdmin}
	agents    = []string{v1.RoleAdmin, v1.RoleOperator, v1.RoleAgent}
	agentOnly = []string{v1.RoleAgent}
	// secretKeepers manage secrets: an admin any tenant's, a tenant its
	// own. Operators run the network, not tenants' credentials.
	secretKeepers = []string{v1.RoleAdmin, v1.RoleTenant}
)

type handler struct {
	b        Backend
	log      *slog.Logger
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	adm      *admission
	doc      []byte       // the OpenAPI document
	prom     http.Handler // serves /metrics
	timeouts Timeouts
}

// New returns the API's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := &handler{
		b:        cfg.Backend,
		log:      cfg.Log,
		reg:      cfg.Registry,
		timeouts: cfg.Timeouts.withDefaults(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "suanli_http_requests_total", Help: "API requests by route and status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "suanli_http_request_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	cfg.Registry.MustRegister(h.requests, h.latency)
	h.adm = newAdmission(cfg.Fairness, cfg.Registry)
	h.prom = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	h.doc = openapiJSON(routes)
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	if cfg.UI != nil {
		mountDashboard(mux, cfg.UI)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, v1.Error{Message: "no such endpoint " + r.Method + " " + r.URL.Path + "; see /v1/openapi.json"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.timeouts.deadlines(w, false) // a streaming route lifts them
		mux.ServeHTTP(w, r)
	})
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap authenticates and authorises the route's caller, recovers from
// panics (a 500, never a dropped connection) and counts the request.
func (h *handler) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if rt.stream {
			h.timeouts.deadlines(w, true)
		}
		securityHeaders(w.Header())
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				h.log.Error("handler panicked", "route", name, "panic", v)
				if sw.code == 0 {
					writeJSON(sw, http.StatusInternalServerError, v1.Error{Message: "internal error; the server log has the detail"})
				}
			}
			h.requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
			h.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		if err := h.authorize(r, rt); err != nil {
			writeError(sw, r, h.log, err)
			return
		}
		if rt.roles != nil {
			release, err := h.adm.admit(r.Context(), PrincipalFrom(r.Context()), rt.stream)
			if err != nil {
				writeError(sw, r, h.log, err)
				return
			}
			defer release()
		}
		if err := rt.handle(h, sw, r); err != nil {
			writeError(sw, r, h.log, err)
		}
	})
}

// authorize resolves the bearer token and checks the route's roles; it
// stores the principal in the request's context.
func (h *handler) authorize(r *http.Request, rt route) error {
	if rt.roles == nil {
		return nil
	}
	var p Principal
	if secret, ok := bearer(r); ok {
		var err error
		if p, err = h.b.Authenticate(r.Context(), secret); err != nil {
			return err
		}
	} else if p, ok = certPrincipal(r); !ok {
		return ErrUnauthorized
	} else if ca, ok := h.b.(CertAuthenticator); ok {
		var err error
		if p, err = ca.AuthenticateCert(r.Context(), p); err != nil {
			return err
		}
	}
	for _, role := range rt.roles {
		if role == p.Role {
			*r = *r.WithContext(withPrincipal(r.Context(), p))
			return nil
		}
	}
	return ErrForbidden
}
