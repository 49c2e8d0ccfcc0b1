// Package web holds the dashboard's page templates, stylesheet, scripts and
// vendored assets (Apache ECharts, China's boundaries), embedded in the
// binary. internal/httpapi serves them under /ui/ when its Config.UI is FS.
package web

import "embed"

// FS holds templates/ (Go templates, one per page, and the shared layout)
// and static/ (served under /ui/assets/).
//
//go:embed templates static
var FS embed.FS
