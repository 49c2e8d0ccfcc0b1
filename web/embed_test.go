package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/web"
)

// TestEmbeddedDashboard serves the embedded files without a browser: every
// page renders, and every script and stylesheet it names is served.
func TestEmbeddedDashboard(t *testing.T) {
	hs := httptest.NewServer(httpapi.New(httpapi.Config{UI: web.FS}))
	defer hs.Close()
	ref := regexp.MustCompile(`(?:src|href)="(/ui/assets/[^"]+)"`)
	seen := map[string]bool{}
	for _, path := range []string{"/ui/", "/ui/login", "/ui/sites/cm-hohhot", "/ui/capacity", "/ui/tenants", "/ui/jobs", "/ui/jobs/j-1", "/ui/compliance", "/ui/throughput"} {
		body := fetch(t, hs.URL+path, "text/html; charset=utf-8")
		if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `<main id="main"`) {
			t.Errorf("%s is not a dashboard page", path)
		}
		for _, m := range ref.FindAllStringSubmatch(body, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				fetch(t, hs.URL+m[1], "")
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("pages name only %d assets: %v", len(seen), seen)
	}
	fetch(t, hs.URL+"/ui/assets/vendor/geo/china.json", "")
}

// TestVendoredAssets checks that the vendored files and their licences are
// embedded, as web/fetch-assets.sh writes them.
func TestVendoredAssets(t *testing.T) {
	for path, want := range map[string]string{
		"static/vendor/echarts/echarts.min.js": "Apache",
		"static/vendor/echarts/LICENSE":        "Apache License",
		"static/vendor/echarts/NOTICE":         "Apache ECharts",
		"static/vendor/echarts/VERSION":        "echarts@",
		"static/vendor/geo/china.json":         `"CN"`,
		"static/vendor/geo/LICENSE":            "public domain",
		"static/vendor/geo/VERSION":            "world-geo-json-zh@",
	} {
		b, err := fs.ReadFile(web.FS, path)
		if err != nil {
			t.Errorf("%s: %v (run web/fetch-assets.sh)", path, err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
}

func fetch(t *testing.T, url, ctype string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", url, res.StatusCode)
	}
	if ctype != "" && res.Header.Get("Content-Type") != ctype {
		t.Errorf("GET %s: Content-Type %q, want %q", url, res.Header.Get("Content-Type"), ctype)
	}
	return string(b)
}
