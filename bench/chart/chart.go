// Package chart draws the benchmark's line charts as PNG with the
// standard library's image packages and the 7×13 bitmap font of
// golang.org/x/image: axes with tick labels, one polyline per series, a
// legend. It draws what the suite needs (linear or log axes, points
// joined by straight lines) and nothing more.
package chart

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line of a chart.
type Series struct {
	Name   string
	X, Y   []float64
	Color  color.RGBA
	Points bool // mark each point with a small square
}

// Axis describes one axis.
type Axis struct {
	Label string
	Log   bool // log10 scale; values must be positive
	// Min and Max fix the range; both zero means fit the data.
	Min, Max float64
	// Format formats tick values; nil uses a compact number.
	Format func(float64) string
}

// Chart is a line chart.
type Chart struct {
	Title         string
	Width, Height int
	X, Y          Axis
	Series        []Series
}

// Palette holds distinguishable colors for series.
var Palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x94, 0x67, 0xbd, 0xff}, // purple
}

var (
	black = color.RGBA{0, 0, 0, 0xff}
	grid  = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	face  = basicfont.Face7x13
)

const (
	marginL, marginR, marginT, marginB = 80, 20, 36, 50
	charW                              = 7
)

// scale maps data values to pixels along one axis.
type scale struct {
	log      bool
	lo, hi   float64 // in transformed units
	p0, p1   float64 // pixels
	min, max float64 // data range
}

func (s scale) tf(v float64) float64 {
	if s.log {
		return math.Log10(v)
	}
	return v
}

func (s scale) px(v float64) float64 {
	return s.p0 + (s.tf(v)-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

func newScale(a Axis, vals []float64, p0, p1 float64) scale {
	lo, hi := a.Min, a.Max
	if lo == 0 && hi == 0 {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			if a.Log && v <= 0 {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if math.IsInf(lo, 0) {
			lo, hi = 1, 10
		}
		if !a.Log {
			lo = math.Min(lo, 0)
			hi = niceCeil(hi)
		} else {
			lo = math.Pow(10, math.Floor(math.Log10(lo)))
			hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	s := scale{log: a.Log, p0: p0, p1: p1, min: lo, max: hi}
	s.lo, s.hi = s.tf(lo), s.tf(hi)
	return s
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns tick values: powers of ten on a log axis, five even steps
// on a linear one.
func (s scale) ticks() []float64 {
	var out []float64
	if s.log {
		for e := math.Floor(s.lo); e <= s.hi+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := niceCeil((s.max - s.min) / 5)
	for v := math.Ceil(s.min/step) * step; v <= s.max+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// Compact formats a number with k and M suffixes.
func Compact(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Draw renders the chart.
func (c *Chart) Draw() *image.RGBA {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 800
	}
	if h == 0 {
		h = 480
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), white)
	var xs, ys []float64
	for _, s := range c.Series {
		xs, ys = append(xs, s.X...), append(ys, s.Y...)
	}
	sx := newScale(c.X, xs, marginL, float64(w-marginR))
	sy := newScale(c.Y, ys, float64(h-marginB), marginT)
	fx, fy := c.X.Format, c.Y.Format
	if fx == nil {
		fx = Compact
	}
	if fy == nil {
		fy = Compact
	}
	for _, t := range sx.ticks() {
		x := int(math.Round(sx.px(t)))
		vline(img, x, marginT, h-marginB, grid)
		vline(img, x, h-marginB, h-marginB+4, black)
		label := fx(t)
		text(img, x-len(label)*charW/2, h-marginB+17, label, black)
	}
	for _, t := range sy.ticks() {
		y := int(math.Round(sy.px(t)))
		hline(img, marginL, w-marginR, y, grid)
		hline(img, marginL-4, marginL, y, black)
		label := fy(t)
		text(img, marginL-8-len(label)*charW, y+4, label, black)
	}
	hline(img, marginL, w-marginR, h-marginB, black)
	vline(img, marginL, marginT, h-marginB, black)
	text(img, (w-len(c.Title)*charW)/2, 20, c.Title, black)
	text(img, marginL+(w-marginL-marginR-len(c.X.Label)*charW)/2, h-12, c.X.Label, black)
	text(img, 6, marginT-8, c.Y.Label, black)

	for i, s := range c.Series {
		col := s.Color
		if col.A == 0 {
			col = Palette[i%len(Palette)]
		}
		var px, py float64
		first := true
		for j := range s.X {
			if j >= len(s.Y) || (c.X.Log && s.X[j] <= 0) || (c.Y.Log && s.Y[j] <= 0) {
				continue
			}
			x, y := sx.px(s.X[j]), sy.px(s.Y[j])
			if !first {
				thickLine(img, px, py, x, y, col)
			}
			if s.Points {
				fill(img, image.Rect(int(x)-3, int(y)-3, int(x)+4, int(y)+4), col)
			}
			px, py, first = x, y, false
		}
	}
	// Legend, top left inside the plot, on white so no line crosses it.
	wide := 0
	for _, s := range c.Series {
		wide = max(wide, len(s.Name))
	}
	box := image.Rect(marginL+4, marginT+2, marginL+40+wide*charW, marginT+8+len(c.Series)*16)
	fill(img, box, white)
	for i, s := range c.Series {
		col := s.Color
		if col.A == 0 {
			col = Palette[i%len(Palette)]
		}
		ly := marginT + 14 + i*16
		fill(img, image.Rect(marginL+10, ly-6, marginL+30, ly-3), col)
		text(img, marginL+36, ly, s.Name, black)
	}
	return img
}

// Encode writes the chart as PNG.
func (c *Chart) Encode(w io.Writer) error { return png.Encode(w, c.Draw()) }

func fill(img *image.RGBA, r image.Rectangle, col color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, col)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, col color.RGBA) {
	fill(img, image.Rect(x0, y, x1+1, y+1), col)
}

func vline(img *image.RGBA, x, y0, y1 int, col color.RGBA) {
	fill(img, image.Rect(x, y0, x+1, y1+1), col)
}

// thickLine draws a two-pixel line by stepping along its longer axis.
func thickLine(img *image.RGBA, x0, y0, x1, y1 float64, col color.RGBA) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		x := int(math.Round(x0 + t*(x1-x0)))
		y := int(math.Round(y0 + t*(y1-y0)))
		fill(img, image.Rect(x, y, x+2, y+2), col)
	}
}

func text(img *image.RGBA, x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
