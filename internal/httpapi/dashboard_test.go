package httpapi

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// uiFS is a minimal dashboard: a layout and one template per page.
func uiFS() fstest.MapFS {
	fs := fstest.MapFS{
		"templates/layout.html": {Data: []byte(`{{define "layout"}}<title>{{.Title}}</title><body data-page="{{.Page}}" data-id="{{.ID}}">{{range .Nav}}<a href="{{.Href}}"{{if eq .Key $.Active}} aria-current="page"{{end}}>{{.Label}}</a>{{end}}{{template "content" .}}</body>{{end}}`)},
		"static/app.js":         {Data: []byte(`"use strict";`)},
		"static/vendor/x.css":   {Data: []byte(`body{}`)},
	}
	for _, p := range pages {
		fs["templates/"+p.name+".html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<h1>` + p.name + `</h1>{{end}}`)}
	}
	return fs
}

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestDashboardPages(t *testing.T) {
	h := New(Config{UI: uiFS()})
	for _, tc := range []struct {
		path, page, id, active string
	}{
		{"/ui/", "overview", "", "/ui/"},
		{"/ui/login", "login", "", ""},
		{"/ui/sites/cm-hohhot", "site", "cm-hohhot", "/ui/"},
		{"/ui/capacity", "capacity", "", "/ui/capacity"},
		{"/ui/tenants", "tenants", "", "/ui/tenants"},
		{"/ui/jobs", "jobs", "", "/ui/jobs"},
		{"/ui/jobs/j-1%3Cx%3E", "job", "j-1&lt;x&gt;", "/ui/jobs"},
		{"/ui/compliance", "compliance", "", "/ui/compliance"},
		{"/ui/throughput", "throughput", "", "/ui/throughput"},
	} {
		t.Run(tc.page, func(t *testing.T) {
			res, body := get(t, h, tc.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tc.path, res.StatusCode, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			checkSecurityHeaders(t, res.Header)
			if !strings.Contains(body, `data-page="`+tc.page+`"`) || !strings.Contains(body, "<h1>"+tc.page+"</h1>") {
				t.Errorf("body is not page %s: %s", tc.page, body)
			}
			if !strings.Contains(body, `data-id="`+tc.id+`"`) {
				t.Errorf("body lacks id %q (escaped): %s", tc.id, body)
			}
			if tc.active != "" && !strings.Contains(body, `href="`+tc.active+`" aria-current="page"`) {
				t.Errorf("navigation does not mark %s current: %s", tc.active, body)
			}
			if strings.Count(body, `aria-current`) > 1 {
				t.Errorf("more than one current navigation entry: %s", body)
			}
		})
	}
}

func TestDashboardAssetsAndRedirects(t *testing.T) {
	h := New(Config{UI: uiFS()})
	for _, tc := range []struct {
		path     string
		code     int
		location string
		ctype    string
	}{
		{"/", http.StatusFound, "/ui/", ""},
		{"/ui", http.StatusFound, "/ui/", ""},
		{"/ui/assets/app.js", http.StatusOK, "", "text/javascript; charset=utf-8"},
		{"/ui/assets/vendor/x.css", http.StatusOK, "", "text/css; charset=utf-8"},
		{"/ui/assets/vendor/", http.StatusNotFound, "", ""},
		{"/ui/assets/missing.js", http.StatusNotFound, "", ""},
		{"/ui/assets/../templates/layout.html", http.StatusTemporaryRedirect, "/ui/templates/layout.html", ""},
		{"/ui/templates/layout.html", http.StatusNotFound, "", ""},
		{"/ui/nowhere", http.StatusNotFound, "", ""},
		{"/v1/nowhere", http.StatusNotFound, "", ""},
	} {
		res, body := get(t, h, tc.path)
		if res.StatusCode != tc.code {
			t.Errorf("GET %s: %d, want %d (%s)", tc.path, res.StatusCode, tc.code, body)
		}
		if tc.location != "" && res.Header.Get("Location") != tc.location {
			t.Errorf("GET %s: Location %q, want %q", tc.path, res.Header.Get("Location"), tc.location)
		}
		if tc.ctype != "" && res.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, res.Header.Get("Content-Type"), tc.ctype)
		}
	}
	if res, _ := get(t, New(Config{}), "/ui/"); res.StatusCode != http.StatusNotFound {
		t.Errorf("without UI, /ui/ answers %d, want 404", res.StatusCode)
	}
	if res, _ := get(t, New(Config{}), "/"); res.StatusCode != http.StatusNotFound {
		t.Errorf("without UI, / answers %d, want 404", res.StatusCode)
	}
}

func TestDashboardBrokenTemplates(t *testing.T) {
	fs := uiFS()
	fs["templates/jobs.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.Nope`)}
	delete(fs, "templates/capacity.html")
	h := New(Config{UI: fs})
	res, body := get(t, h, "/ui/")
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("broken templates: %d, want 500", res.StatusCode)
	}
	for _, want := range []string{"page jobs", "page capacity"} {
		if !strings.Contains(body, want) {
			t.Errorf("the error %q does not name %s", body, want)
		}
	}
	if res, _ := get(t, h, "/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("the API stopped serving: /healthz %d", res.StatusCode)
	}
}

func TestDashboardGzip(t *testing.T) {
	h := New(Config{UI: uiFS()})
	for _, tc := range []struct {
		path, accept string
		gzipped      bool
	}{
		{"/ui/assets/app.js", "gzip, deflate, br", true},
		{"/ui/assets/app.js", "br;q=1.0, gzip;q=0.8", true},
		{"/ui/assets/app.js", "gzip;q=0", false},
		{"/ui/assets/app.js", "gzip; q=0.000", false},
		{"/ui/assets/app.js", "", false},
		{"/ui/assets/missing.js", "gzip", false},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		h.ServeHTTP(rec, req)
		res := rec.Result()
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
			t.Errorf("%s with %q: gzipped %v, want %v", tc.path, tc.accept, got, tc.gzipped)
		}
		if !tc.gzipped {
			continue
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if string(b) != `"use strict";` || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: body %q, type %q", tc.path, b, res.Header.Get("Content-Type"))
		}
	}
}

// FuzzAcceptsGzip: the Accept-Encoding reader never panics, and says yes
// only when the header names gzip.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "GZIP;q=0.5", "br, gzip;q=0", "deflate", ",,;", "gzip ; q = 0", "x-gzip"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if acceptsGzip(h) && !strings.Contains(strings.ToLower(h), "gzip") {
			t.Errorf("acceptsGzip(%q) without gzip", h)
		}
	})
}

// checkSecurityHeaders: a strict Content-Security-Policy (nothing inline,
// no eval, no framing) and the usual security headers.
func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %s", csp, bad)
		}
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestSecurityHeadersEverywhere: assets carry the dashboard's headers, and
// API replies, errors included, are not sniffed.
func TestSecurityHeadersEverywhere(t *testing.T) {
	h := New(Config{UI: uiFS(), Backend: &fairStub{}})
	res, _ := get(t, h, "/ui/assets/app.js")
	checkSecurityHeaders(t, res.Header)
	for _, path := range []string{"/healthz", "/v1/jobs/j-x"} {
		res, _ := get(t, h, path)
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s (%d): no nosniff", path, res.StatusCode)
		}
	}
}
