package sim

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotFGD draws protocol A like the FGD paper's figure: the GPU allocation
// ratio against the arrived workload (% of cluster GPU capacity), one line
// per policy with its spread over seeds as error bars; below it, the
// unallocated GPUs. It writes SVG.
func PlotFGD(w io.Writer, r *FGDReport) error {
	alloc := plot.New()
	alloc.Title.Text = fmt.Sprintf("Protocol A on %s (%d seeds)", r.Trace, len(r.Seeds))
	alloc.X.Label.Text = "arrived workload (% of cluster GPU capacity)"
	alloc.Y.Label.Text = "GPU allocation ratio (%)"
	unalloc := plot.New()
	unalloc.X.Label.Text = alloc.X.Label.Text
	unalloc.Y.Label.Text = "unallocated GPUs"
	for i, p := range r.Policies {
		a := make(plotter.XYs, len(p.Points))
		ae := make(plotter.YErrors, len(p.Points))
		u := make(plotter.XYs, len(p.Points))
		for k, pt := range p.Points {
			a[k] = plotter.XY{X: float64(pt.ArrivedPct), Y: 100 * pt.AllocRatio.Mean}
			ae[k] = struct{ Low, High float64 }{100 * pt.AllocRatio.Std, 100 * pt.AllocRatio.Std}
			u[k] = plotter.XY{X: float64(pt.ArrivedPct), Y: pt.UnallocatedGPUs.Mean}
		}
		if err := addLine(alloc, p.Policy, i, a); err != nil {
			return err
		}
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{a, ae})
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		alloc.Add(bars)
		if err := addLine(unalloc, p.Policy, i, u); err != nil {
			return err
		}
	}
	alloc.Legend.Top, alloc.Legend.Left = false, true
	alloc.Add(plotter.NewGrid())
	unalloc.Add(plotter.NewGrid())
	unalloc.Legend.Top, unalloc.Legend.Left = true, true
	return writeSVG(w, 8*vg.Inch, 9*vg.Inch, alloc, unalloc)
}

// PlotTimed draws a replay through the core over time: utilisation (and
// fragmentation where measured), and the queue (jobs waiting, mean delay).
func PlotTimed(w io.Writer, r *TimedReport) error {
	util := plot.New()
	what := r.Trace
	if what == "" {
		what = "synthetic workload"
	}
	util.Title.Text = fmt.Sprintf("Replay through the core: %s on %s", what, r.Network)
	util.X.Label.Text = "virtual time (hours)"
	util.Y.Label.Text = "share of cards (%)"
	queue := plot.New()
	queue.X.Label.Text = util.X.Label.Text
	queue.Y.Label.Text = "jobs queued"
	delay := plot.New()
	delay.X.Label.Text = util.X.Label.Text
	delay.Y.Label.Text = "mean queueing delay of jobs placed (hours)"
	n := len(r.Series)
	u, f, q, d := make(plotter.XYs, n), make(plotter.XYs, n), make(plotter.XYs, n), make(plotter.XYs, n)
	frag := false
	for i, s := range r.Series {
		h := float64(s.T) / 3600
		u[i] = plotter.XY{X: h, Y: 100 * s.Util}
		f[i] = plotter.XY{X: h, Y: 100 * s.FragRatio}
		q[i] = plotter.XY{X: h, Y: float64(s.Queued)}
		d[i] = plotter.XY{X: h, Y: s.QueueDelayS / 3600}
		frag = frag || s.FragRatio > 0
	}
	if err := addLine(util, "allocated", 0, u); err != nil {
		return err
	}
	if frag {
		if err := addLine(util, "fragmentation ratio of idle GPUs", 1, f); err != nil {
			return err
		}
	}
	if err := addLine(queue, "queued", 2, q); err != nil {
		return err
	}
	if err := addLine(delay, "delay", 3, d); err != nil {
		return err
	}
	for _, p := range []*plot.Plot{util, queue, delay} {
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
	}
	return writeSVG(w, 9*vg.Inch, 10*vg.Inch, util, queue, delay)
}

func addLine(p *plot.Plot, name string, i int, xys plotter.XYs) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	l.Width = vg.Points(1.5)
	p.Add(l)
	if len(xys) <= 40 {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(s)
		p.Legend.Add(name, l, s)
		return nil
	}
	p.Legend.Add(name, l)
	return nil
}

// writeSVG stacks plots vertically in one SVG image.
func writeSVG(w io.Writer, width, height vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	c.SetColor(color.White)
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}
