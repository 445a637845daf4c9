package main

import (
	"slices"
	"testing"
)

func TestParseInts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"1000", []int{1000}, true},
		{"1000, 5000,10000", []int{1000, 5000, 10000}, true},
		{"", nil, false},
		{"10,x", nil, false},
		{"0", nil, false},
		{"-5", nil, false},
	} {
		got, err := parseInts(c.in)
		if (err == nil) != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("parseInts(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestSet(t *testing.T) {
	s := set("dovecot, dormouse")
	if !s["dovecot"] || !s["dormouse"] || s["x"] || len(s) != 2 {
		t.Errorf("set = %v", s)
	}
}
