package promtext

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 15
go_gc_duration_seconds_count 4
dormouse_imap_connections{state="hibernated"} 200
dormouse_imap_connections{state="idling"} 0
weird{msg="a } b"} 1.5e3 1700000000000
`
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		"go_goroutines":                                 15,
		"go_gc_duration_seconds_count":                  4,
		`dormouse_imap_connections{state="hibernated"}`: 200,
		`dormouse_imap_connections{state="idling"}`:     0,
		`weird{msg="a } b"}`:                            1500,
	} {
		if got, ok := s.Get(series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if v := s.Value("missing"); !math.IsNaN(v) {
		t.Errorf("missing series = %v, want NaN", v)
	}
	if _, err := Parse(strings.NewReader("x notanumber\n")); err == nil {
		t.Error("bad value parsed")
	}
}
