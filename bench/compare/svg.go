package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// point is one (x, y) of a series.
type point struct{ X, Y float64 }

// series is one line of a plot.
type series struct {
	Name    string
	Points  []point
	Dashed  bool
	Markers bool
	Step    bool // draw as a step function (a CDF)
}

// plot is a line chart, written as a self-contained SVG.
type plot struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []series
}

// Plot geometry in SVG user units.
const (
	plotW, plotH     = 760, 460
	marginL, marginR = 80, 200
	marginT, marginB = 40, 56
)

// palette gives each series a color, repeating when there are more series.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// bounds returns the data range, in axis units (log10 on log axes).
func (p plot) bounds() (x0, x1, y0, y1 float64, ok bool) {
	x0, y0 = math.Inf(1), math.Inf(1)
	x1, y1 = math.Inf(-1), math.Inf(-1)
	for _, s := range p.Series {
		for _, pt := range s.Points {
			x, y, good := p.axis(pt)
			if !good {
				continue
			}
			x0, x1 = math.Min(x0, x), math.Max(x1, x)
			y0, y1 = math.Min(y0, y), math.Max(y1, y)
			ok = true
		}
	}
	if !ok {
		return 0, 1, 0, 1, false
	}
	if !p.LogY && y0 > 0 {
		y0 = 0 // linear y axes start at zero
	}
	if x1 == x0 {
		x0, x1 = x0-1, x1+1
	}
	if y1 == y0 {
		y0, y1 = y0-1, y1+1
	}
	return x0, x1, y0, y1, true
}

// axis maps a point to axis units; points a log axis cannot show are dropped.
func (p plot) axis(pt point) (x, y float64, ok bool) {
	x, y = pt.X, pt.Y
	if p.LogX {
		if x <= 0 {
			return 0, 0, false
		}
		x = math.Log10(x)
	}
	if p.LogY {
		if y <= 0 {
			return 0, 0, false
		}
		y = math.Log10(y)
	}
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return 0, 0, false
	}
	return x, y, true
}

// ticks returns tick positions (axis units) with their labels: on a log
// axis 1, 2 and 5 times each power of ten (only the powers when that gives
// too many), else about five 1-2-5 steps.
func ticks(lo, hi float64, log bool) ([]float64, []string) {
	if !log {
		return linTicks(lo, hi)
	}
	for _, mults := range [][]float64{{1, 2, 5}, {1}} {
		var pos []float64
		var lab []string
		for e := math.Floor(lo); e <= math.Ceil(hi) && len(pos) < 40; e++ {
			for _, m := range mults {
				v := math.Log10(m) + e
				if v >= lo-1e-9 && v <= hi+1e-9 {
					pos = append(pos, v)
					lab = append(lab, fmtNum(m*math.Pow(10, e)))
				}
			}
		}
		if len(pos) <= 12 || len(mults) == 1 {
			return pos, lab
		}
	}
	return nil, nil
}

// linTicks returns about five evenly spaced ticks between lo and hi.
func linTicks(lo, hi float64) ([]float64, []string) {
	var pos []float64
	var lab []string
	step := niceStep((hi - lo) / 5)
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(pos) < 20; v += step {
		pos = append(pos, v)
		lab = append(lab, fmtNum(v))
	}
	return pos, lab
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// fmtNum formats a tick label compactly.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case a >= 1 || a == 0:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// writeSVG draws the plot.
func (p plot) writeSVG(w io.Writer) error {
	var b strings.Builder
	x0, x1, y0, y1, _ := p.bounds()
	iw, ih := float64(plotW-marginL-marginR), float64(plotH-marginT-marginB)
	sx := func(x float64) float64 { return marginL + (x-x0)/(x1-x0)*iw }
	sy := func(y float64) float64 { return marginT + ih - (y-y0)/(y1-y0)*ih }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(p.Title))
	// Grid and tick labels.
	xt, xl := ticks(x0, x1, p.LogX)
	for i, t := range xt {
		x := sx(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, marginT, x, marginT+ih)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, marginT+ih+16, xl[i])
	}
	yt, yl := ticks(y0, y1, p.LogY)
	for i, t := range yt {
		y := sy(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, y, marginL+iw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, y+4, yl[i])
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", marginL, marginT, iw, ih)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", marginL+iw/2, plotH-14, html.EscapeString(p.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginT+ih/2, html.EscapeString(p.YLabel))
	// Lines and legend.
	for i, s := range p.Series {
		color := palette[i%len(palette)]
		var pts []string
		prevY := math.NaN()
		for _, pt := range s.Points {
			x, y, ok := p.axis(pt)
			if !ok {
				continue
			}
			if s.Step && !math.IsNaN(prevY) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(x), sy(prevY)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(x), sy(y)))
			prevY = y
			if s.Markers {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", sx(x), sy(y), color)
			}
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		}
		ly := marginT + 10 + i*20
		lx := plotW - marginR + 14
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+24, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// cdf turns sorted samples into CDF points (value, fraction at or below),
// at most maxPts of them.
func cdf(sorted []float64, maxPts int) []point {
	n := len(sorted)
	if n == 0 {
		return nil
	}
	step := max(1, n/maxPts)
	var out []point
	for i := 0; i < n; i += step {
		out = append(out, point{sorted[i], float64(i+1) / float64(n)})
	}
	if out[len(out)-1].Y != 1 {
		out = append(out, point{sorted[n-1], 1})
	}
	return out
}
