// Package promtext fetches a Prometheus text exposition and reads values
// from it. It understands the plain text format (one "series value
// [timestamp]" per line, '#' comments); that is all a bench tool needs to
// read a few gauges and counters of a server.
package promtext

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// maxBody bounds how much of a response is read.
const maxBody = 16 << 20

// Samples maps a series as written ("name" or `name{a="b"}`) to its value.
type Samples map[string]float64

// Parse reads the text exposition format.
func Parse(r io.Reader) (Samples, error) {
	s := make(Samples)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ln := strings.TrimSpace(sc.Text())
		if ln == "" || ln[0] == '#' {
			continue
		}
		// The series may hold spaces inside quoted label values; the
		// value follows the closing brace, or the name when there is none.
		start := 0
		if i := strings.LastIndexByte(ln, '}'); i >= 0 {
			start = i + 1
		}
		f := strings.Fields(ln[start:])
		if start == 0 {
			if len(f) < 2 {
				continue
			}
			f = f[1:]
		}
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("promtext: line %q: %w", ln, err)
		}
		series := ln
		if start > 0 {
			series = ln[:start]
		} else {
			series = strings.Fields(ln)[0]
		}
		s[series] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	return s, nil
}

// Fetch gets and parses url.
func Fetch(ctx context.Context, client *http.Client, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promtext: get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promtext: get %s: %s", url, resp.Status)
	}
	return Parse(io.LimitReader(resp.Body, maxBody))
}

// Get returns the value of one series, written as in the exposition
// (labels in the server's order), and whether it was there.
func (s Samples) Get(series string) (float64, bool) {
	v, ok := s[series]
	return v, ok
}

// Value returns the value of series, or NaN when it is missing.
func (s Samples) Value(series string) float64 {
	if v, ok := s[series]; ok {
		return v
	}
	return math.NaN()
}
