package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mapLabel is one text drawn on the overview's map, in page pixels.
type mapLabel struct {
	Text       string
	X, Y, W, H float64
}

// mapLabelsJS lists the texts the map's canvas draws (zrender's display
// list: what is painted, after ECharts' label layout), with their boxes.
const mapLabelsJS = `echarts.getInstanceByDom(document.getElementById('map')).getZr().storage.getDisplayList(true)
  .filter((e) => e.type === 'tspan' && !e.ignore && !e.invisible && e.style.text && (e.style.opacity ?? 1) > 0)
  .map((e) => { const r = e.getBoundingRect().clone(); r.applyTransform(e.getComputedTransform()); return { Text: e.style.text, X: r.x, Y: r.y, W: r.width, H: r.height }; })`

// checkMapLabels checks that every site of the network has a label on the
// map, and that no two labels overlap (the default network has sites a
// few tens of kilometres apart: Shaoguan and Guangzhou, Hohhot and
// Ulanqab, two in Shanghai).
func checkMapLabels(t *testing.T, b *browser, s *stack) {
	t.Helper()
	var net struct {
		Sites []struct{ ID, City string } `json:"sites"`
	}
	if err := s.admin.Get(context.Background(), "/v1/network", &net); err != nil {
		t.Fatal(err)
	}
	// The tooltip is drawn on the same canvas: out of the way first.
	b.do("hide the map's tooltip", chromedp.Evaluate[chromedp.Void](`echarts.getInstanceByDom(document.getElementById('map')).dispatchAction({type: 'hideTip'})`),
		chromedp.Sleep(300*time.Millisecond))
	checkLabels(t, b, net.Sites, "")
	// Zoomed in on the Pearl River delta, where Shaoguan and Guangzhou
	// sit, the labels are laid out again: still one each, none overlapping.
	b.do("zoom the map", chromedp.Evaluate[chromedp.Void](`(() => { const c = echarts.getInstanceByDom(document.getElementById('map'));
		const [x, y] = c.convertToPixel({geoIndex: 0}, [113.4, 24]); c.dispatchAction({type: 'geoRoam', componentType: 'geo', geoId: null, zoom: 2.5, originX: x, originY: y}); })()`),
		chromedp.Sleep(500*time.Millisecond))
	checkLabels(t, b, net.Sites, "zoomed in: ")
	b.elementShot("overview-map-zoomed", "#map")
	b.do("zoom back", chromedp.Evaluate[chromedp.Void](`(() => { const c = echarts.getInstanceByDom(document.getElementById('map'));
		const [x, y] = c.convertToPixel({geoIndex: 0}, [113.4, 24]); c.dispatchAction({type: 'geoRoam', componentType: 'geo', geoId: null, zoom: 0.4, originX: x, originY: y}); })()`),
		chromedp.Sleep(500*time.Millisecond))
}

func checkLabels(t *testing.T, b *browser, sites []struct{ ID, City string }, when string) {
	t.Helper()
	labels := eval[[]mapLabel](b, mapLabelsJS)
	for _, site := range sites {
		n := 0
		for _, l := range labels {
			if strings.HasPrefix(l.Text, site.City) {
				n++
			}
		}
		want := 0
		for _, o := range sites {
			if o.City == site.City {
				want++
			}
		}
		if n != want {
			t.Errorf("%ssite %s: %d labels start with %q on the map, want %d (one per site there): %+v", when, site.ID, n, site.City, want, labels)
		}
	}
	for i, a := range labels {
		for _, c := range labels[i+1:] {
			dx := min(a.X+a.W, c.X+c.W) - max(a.X, c.X)
			dy := min(a.Y+a.H, c.Y+c.H) - max(a.Y, c.Y)
			if dx > 0.5 && dy > 0.5 {
				t.Errorf("%smap labels %q %+v and %q %+v overlap by %.1f×%.1f px", when, a.Text, a, c.Text, c, dx, dy)
			}
		}
	}
}

// fullPageRender takes a capture beyond the viewport, as a full-page
// screenshot does, after passing the page through a 1×1 viewport (what
// Chromium's full-page capture does on the way); the page must not throw.
func fullPageRender(b *browser) {
	b.t.Helper()
	b.do("a 1×1 viewport", chromedp.EmulateViewport(1, 1), chromedp.Sleep(400*time.Millisecond),
		chromedp.EmulateViewport(1440, 1000), chromedp.Sleep(400*time.Millisecond))
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		b.t.Fatalf("full-page capture: %v", err)
	}
	b.do("after the full-page capture", chromedp.Sleep(400*time.Millisecond))
}

// elementShot saves a screenshot of one element (the map, at full size).
func (b *browser) elementShot(name, sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
