//go:build unix

package imapserver

import (
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
)

// matchOne matches one pattern as LIST does, after compilePatterns.
func matchOne(t testing.TB, p, name string) bool {
	t.Helper()
	lp, err := compilePatterns("", []string{p})
	if err != nil {
		t.Fatalf("compilePatterns(%q): %v", p, err)
	}
	return lp.match(name)
}

// referenceMatch is the backtracking matcher Dormouse used before issue
// 17: obviously right, exponential on some patterns. The property test
// compares with it on small inputs.
func referenceMatch(p, name string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*', '%':
			wild := p[0]
			p = p[1:]
			for i := 0; i <= len(name); i++ {
				if referenceMatch(p, name[i:]) {
					return true
				}
				if i < len(name) && wild == '%' && name[i] == '/' {
					return false
				}
			}
			return false
		default:
			if len(name) == 0 || name[0] != p[0] {
				return false
			}
			p, name = p[1:], name[1:]
		}
	}
	return len(name) == 0
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		p, name string
		want    bool
	}{
		{"*", "a/b/c", true},
		{"%", "a/b", false},
		{"%", "a", true},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a*c", "abc", true},
		{"a%c", "a/c", false},
		{"INBOX", "INBOX", true},
		{"", "INBOX", false},
		{"", "", true},
		{"%/%", "a/b", true},
		{"*b", "a/b", true},
		// Tricky cases: empty matches, runs of wildcards, '%' next to '/'.
		{"%", "", true},
		{"*", "", true},
		{"a%", "a", true},
		{"a%/", "a/", true},
		{"a%/", "ab/", true},
		{"a%/", "a/b/", false},
		{"%%", "a/b", false},
		{"%*", "a/b", true},
		{"*%", "a/b", true},
		{"%*%", "a/b/c", true},
		{"%%%/%", "abc/d", true},
		{"%%%/%", "abc/d/e", false},
		{"**********q", strings.Repeat("a", 40), false},
		{"**********q", strings.Repeat("a", 40) + "q", true},
		{"%a%a%a%a%a%a%a%a%a%a%a%a%b", strings.Repeat("a", 40), false},
		{"%a%a%a%a%a%a%a%a%a%a%a%a%b", strings.Repeat("a", 40) + "b", true},
		{"*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a/", 40), false},
		{"*/%", "a/b/c", true},
		{"%/", "a/", true},
		{"/%", "/a", true},
		{"a*b*c", "abbbbc", true},
		{"a*b*c", "acb", false},
		{"a%b%c", "a/b/c", false},
		{"INBOX%", "INBOX", true},
		{"INBOX%", "INBOX/x", false},
	} {
		if got := matchOne(t, tc.p, tc.name); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.name, got, tc.want)
		}
	}
	// A pattern's first level, up to the separator or the first wildcard,
	// follows mailstore.CanonicalName.
	for _, tc := range []struct{ p, want string }{
		{"inbox/*", "INBOX/*"},
		{"Inbox", "INBOX"},
		{"inbox*", "INBOX*"},
		{"inbox%", "INBOX%"},
		{"inboxes*", "inboxes*"},
		{"in*", "in*"},
		{"*", "*"},
		{"Archive/inbox", "Archive/inbox"},
	} {
		if got := canonicalPattern(tc.p); got != tc.want {
			t.Errorf("canonicalPattern(%q) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestMatchPatternAgreesWithReference compares the automaton with the
// backtracking matcher on many small random patterns and names over an
// alphabet that makes collisions likely.
func TestMatchPatternAgreesWithReference(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 3))
	const patAlphabet, nameAlphabet = "ab/*%", "ab/"
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200000 {
		p, name := word(patAlphabet, r.IntN(9)), word(nameAlphabet, r.IntN(9))
		if got, want := matchOne(t, p, name), referenceMatch(p, name); got != want {
			t.Fatalf("match(%q, %q) = %v, reference says %v", p, name, got, want)
		}
	}
}

// TestMatchPatternPathological proves the matcher does not backtrack: the
// worst patterns of the hostile-client review, a long one of alternating wildcards and
// long names, take well under a second of CPU (the backtracking matcher
// took minutes on the first, and never ended on the longest).
func TestMatchPatternPathological(t *testing.T) {
	longName := strings.Repeat("a", 255)
	deepName := strings.Repeat("a/", 127) + "a"
	patterns := []string{
		"**********q",
		strings.Repeat("%a", 30) + "q",
		strings.Repeat("*a", 30) + "q",
		strings.Repeat("*%a", 600) + "q", // 1.8 KB
		strings.Repeat("*", maxPatternLen-1) + "q",
	}
	start := cpuTime(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range patterns {
			for _, name := range []string{longName, deepName} {
				if matchOne(t, p, name) {
					t.Errorf("pattern %.20q... matched %.20q...", p, name)
				}
			}
		}
	}()
	// Generous bounds: the automaton needs about a millisecond for all of
	// this; a backtracking matcher does not end.
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("matching did not end within a minute")
	}
	if used := cpuTime(t) - start; used > 5*time.Second {
		t.Fatalf("matching took %v of CPU", used)
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCompilePatternsLimit(t *testing.T) {
	if _, err := compilePatterns("", []string{strings.Repeat("%", maxPatternLen+1)}); err == nil {
		t.Fatal("a pattern over the limit was accepted")
	}
	if _, err := compilePatterns("", []string{strings.Repeat("%", maxPatternLen)}); err != nil {
		t.Fatalf("a pattern at the limit was refused: %v", err)
	}
}
