package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The dashboard is a handful of server-rendered page shells (Go templates)
// and plain JavaScript that reads the same /v1 API as the CLI, with the
// token the operator typed in kept in the browser's sessionStorage. The
// server renders no data into the pages: every number comes from the API
// under the caller's own token, so a tenant's dashboard shows what its
// token may read and nothing more.

// page is one dashboard page: its path under /ui/, template and title.
type page struct {
	pattern  string // mux pattern
	name     string // template file under templates/, without .html
	title    string
	nav      string // the navigation entry it highlights
	idSuffix string // path value naming the page's subject, if any
}

var pages = []page{
	{pattern: "GET /ui/{$}", name: "overview", title: "Overview", nav: "overview"},
	{pattern: "GET /ui/login", name: "login", title: "Sign in", nav: ""},
	{pattern: "GET /ui/sites/{id}", name: "site", title: "Site", nav: "overview", idSuffix: "id"},
	{pattern: "GET /ui/capacity", name: "capacity", title: "Capacity over time", nav: "capacity"},
	{pattern: "GET /ui/tenants", name: "tenants", title: "Queues and tenants", nav: "tenants"},
	{pattern: "GET /ui/jobs", name: "jobs", title: "Jobs", nav: "jobs"},
	{pattern: "GET /ui/jobs/{id}", name: "job", title: "Job", nav: "jobs", idSuffix: "id"},
	{pattern: "GET /ui/compliance", name: "compliance", title: "Advisories and compliance", nav: "compliance"},
	{pattern: "GET /ui/throughput", name: "throughput", title: "Throughput matrix", nav: "throughput"},
}

// navItem is one entry of the navigation bar.
type navItem struct{ Key, Label, Href string }

var nav = []navItem{
	{"overview", "Overview", "/ui/"},
	{"capacity", "Capacity", "/ui/capacity"},
	{"tenants", "Queues & tenants", "/ui/tenants"},
	{"jobs", "Jobs", "/ui/jobs"},
	{"throughput", "Throughput", "/ui/throughput"},
	{"compliance", "Advisories & compliance", "/ui/compliance"},
}

// pageData is what a page template sees.
type pageData struct {
	Page, Title, ID string
	Nav             []navItem
	Active          string
}

// ContentSecurityPolicy is the dashboard's policy: scripts, styles,
// fonts and data from its own origin only; no inline script or style (the
// pages have none, and charts draw their tooltips on the canvas), no
// eval, no plugins, no framing, no <base> rewriting, forms posted home
// only.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// dashboardHeaders keeps the pages to their own origin's scripts and
// styles, out of frames and out of other sites' reach.
func dashboardHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY") // frame-ancestors for older browsers
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	securityHeaders(h)
}

// securityHeaders go on every reply, the API's included: no content-type
// sniffing, no referrer to other sites.
func securityHeaders(h http.Header) {
	h["X-Content-Type-Options"] = nosniff
	h["Referrer-Policy"] = noReferrer
}

// The values securityHeaders sets, shared by every reply rather than made
// for each (a handler's Set or Add replaces or reallocates them).
var nosniff, noReferrer = []string{"nosniff"}, []string{"no-referrer"}

// mountDashboard serves the dashboard from assets (templates/ and static/,
// as web.FS holds them): pages under /ui/, files under /ui/assets/, and /
// redirects to /ui/. Templates that fail to parse make every page a 500
// that says why, so the API keeps serving.
func mountDashboard(mux *http.ServeMux, assets fs.FS) {
	sets, err := parsePages(assets)
	for _, p := range pages {
		mux.HandleFunc(p.pattern, func(w http.ResponseWriter, r *http.Request) {
			dashboardHeaders(w.Header())
			if err != nil {
				http.Error(w, "the dashboard's templates are broken: "+err.Error(), http.StatusInternalServerError)
				return
			}
			d := pageData{Page: p.name, Title: p.title, Nav: nav, Active: p.nav}
			if p.idSuffix != "" {
				d.ID = r.PathValue(p.idSuffix)
				d.Title = p.title + " " + d.ID
			}
			var buf bytes.Buffer
			if err := sets[p.name].ExecuteTemplate(&buf, "layout", d); err != nil {
				http.Error(w, "render "+p.name+": "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(buf.Bytes())
		})
	}
	static, serr := fs.Sub(assets, "static")
	files := http.StripPrefix("/ui/assets/", http.FileServerFS(static))
	gz := &gzipCache{fsys: static, files: map[string][]byte{}}
	mux.HandleFunc("GET /ui/assets/", func(w http.ResponseWriter, r *http.Request) {
		dashboardHeaders(w.Header())
		if serr != nil || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Add("Vary", "Accept-Encoding")
		if gz.serve(w, r, strings.TrimPrefix(r.URL.Path, "/ui/assets/")) {
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
}

// parsePages parses templates/layout.html with each page's template.
func parsePages(assets fs.FS) (map[string]*template.Template, error) {
	sets := map[string]*template.Template{}
	var errs []error
	for _, p := range pages {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+p.name+".html")
		if err != nil {
			errs = append(errs, fmt.Errorf("page %s: %w", p.name, err))
			continue
		}
		if t.Lookup("layout") == nil || t.Lookup("content") == nil {
			errs = append(errs, fmt.Errorf("page %s: templates/%s.html must define \"content\" and layout.html \"layout\"", p.name, p.name))
			continue
		}
		sets[p.name] = t
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sets, nil
}

// gzipCache serves text assets gzipped to clients that accept it,
// compressing each file once (ECharts is 1.1 MB, 370 KB gzipped).
type gzipCache struct {
	fsys  fs.FS
	mu    sync.Mutex
	files map[string][]byte // guarded by mu: path → gzipped body
}

var gzipTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
}

// serve writes the gzipped file and reports true, or reports false for the
// caller to serve it plain (no gzip accepted, not text, or not there).
func (g *gzipCache) serve(w http.ResponseWriter, r *http.Request, name string) bool {
	ctype, ok := gzipTypes[path.Ext(name)]
	if !ok || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return false
	}
	g.mu.Lock()
	body, ok := g.files[name]
	if !ok {
		raw, err := fs.ReadFile(g.fsys, name)
		if err != nil {
			g.mu.Unlock()
			return false
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		body = buf.Bytes()
		g.files[name] = body
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
	return true
}

func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q = strings.ReplaceAll(q, " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f <= 0 {
				continue // q=0: not acceptable
			}
		}
		return true
	}
	return false
}
