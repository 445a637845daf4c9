package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		log    bool
		want   []string
	}{
		{0, 10, false, []string{"0", "2", "4", "6", "8", "10"}},
		{0, 1, true, []string{"1", "2", "5", "10"}},
		{-1, 2.5, true, []string{"0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50", "100", "200"}},
		{0.1, 0.5, true, []string{"2"}},
		{0, 6, true, []string{"1", "10", "100", "1000", "10k", "100k", "1M"}},
	}
	for _, tt := range tests {
		_, got := ticks(tt.lo, tt.hi, tt.log)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("ticks(%v, %v, %v) = %v, want %v", tt.lo, tt.hi, tt.log, got, tt.want)
		}
	}
}

func TestCDF(t *testing.T) {
	pts := cdf([]float64{1, 2, 3, 4}, 10)
	want := []point{{1, 0.25}, {2, 0.5}, {3, 0.75}, {4, 1}}
	if len(pts) != len(want) {
		t.Fatalf("cdf = %v", pts)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Errorf("point %d = %v, want %v", i, pts[i], want[i])
		}
	}
	if got := cdf(make([]float64, 1000), 10); len(got) != 11 || got[10].Y != 1 {
		t.Errorf("thinned cdf: %d points, last %v", len(got), got[len(got)-1])
	}
}

// TestWriteSVG checks the output is well-formed XML with one line per
// series and drops points a log axis cannot show.
func TestWriteSVG(t *testing.T) {
	p := plot{Title: "a < b", XLabel: "x", YLabel: "y", LogY: true, Series: []series{
		{Name: "one", Points: []point{{1, 10}, {2, 100}, {3, 0}}, Markers: true},
		{Name: "two & more", Points: []point{{1, 5}, {3, 50}}, Step: true, Dashed: true},
		{Name: "empty"},
	}}
	var b strings.Builder
	if err := p.writeSVG(&b); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["polyline"] != 2 || counts["circle"] != 2 {
		t.Errorf("polylines %d, circles %d; want 2, 2", counts["polyline"], counts["circle"])
	}
}
