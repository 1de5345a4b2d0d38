package chart

import (
	"bytes"
	"image/png"
	"testing"
)

func TestDraw(t *testing.T) {
	c := Chart{
		Title: "deliveries/s", Width: 400, Height: 300,
		X: Axis{Label: "subscribers", Log: true},
		Y: Axis{Label: "deliveries/s"},
		Series: []Series{
			{Name: "a", X: []float64{10, 100, 1000}, Y: []float64{1e4, 5e4, 8e4}, Points: true},
			{Name: "b", X: []float64{10, 100, 1000}, Y: []float64{2e4, 3e4, 3.5e4}},
		},
	}
	var buf bytes.Buffer
	if err := c.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 300 {
		t.Fatalf("size %v", b)
	}
	// The first series' last point is drawn in its color.
	sx := newScale(c.X, []float64{10, 100, 1000}, marginL, float64(400-marginR))
	sy := newScale(c.Y, []float64{1e4, 5e4, 8e4, 2e4, 3e4, 3.5e4}, float64(300-marginB), marginT)
	r, g, b, _ := img.At(int(sx.px(1000)), int(sy.px(8e4))).RGBA()
	if want := Palette[0]; uint8(r>>8) != want.R || uint8(g>>8) != want.G || uint8(b>>8) != want.B {
		t.Errorf("the point is %d,%d,%d, want the first series' color %v", r>>8, g>>8, b>>8, want)
	}
}

func TestScale(t *testing.T) {
	s := newScale(Axis{Log: true}, []float64{3, 2000}, 0, 300)
	if s.min != 1 || s.max != 10000 {
		t.Errorf("log range [%v, %v], want [1, 10000]", s.min, s.max)
	}
	if got := s.ticks(); len(got) != 5 || got[0] != 1 || got[4] != 10000 {
		t.Errorf("log ticks %v", got)
	}
	l := newScale(Axis{}, []float64{0, 73}, 0, 100)
	if l.max != 100 {
		t.Errorf("linear max %v, want 100", l.max)
	}
	if got := l.px(50); got != 50 {
		t.Errorf("px(50) = %v", got)
	}
}

func TestCompact(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 5: "5", 2500: "2.5k", 10000: "10k", 1.5e6: "1.5M", 0.25: "0.25"} {
		if got := Compact(v); got != want {
			t.Errorf("Compact(%v) = %q, want %q", v, got, want)
		}
	}
}
