package imapmsg

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// bigAddressHeader returns a header whose To: holds n addresses, about
// 40+pad bytes each, inside a group when group is set.
func bigAddressHeader(n int, group bool, pad int) []byte {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: many\r\nTo: ")
	if group {
		b.WriteString("list:")
	}
	for i := range n {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		fmt.Fprintf(&b, "User %d%s <user%d@example.org>", i, strings.Repeat("x", pad), i)
	}
	if group {
		b.WriteString(";")
	}
	b.WriteString("\r\n\r\n")
	return []byte(b.String())
}

// toList returns the To list of an ENVELOPE as written.
func toList(t *testing.T, env string) string {
	t.Helper()
	// Date, Subject, From, Sender, Reply-To come first; the From list
	// appears three times.
	const from = `((NIL NIL "a" "example.org"))`
	i := strings.LastIndex(env, from)
	if i < 0 {
		t.Fatalf("no From in %.200s", env)
	}
	return env[i+len(from)+1:]
}

// TestEnvelopeAddressLimits: of an address field, at most
// maxAddressBytes are parsed and maxAddresses reported, whole addresses
// only, a group left open closed, and the ENVELOPE stays well formed.
func TestEnvelopeAddressLimits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n          int
		group      bool
		pad        int
		want       int // entries in the To list
		groupStart bool
	}{
		{"few", 10, false, 0, 10, false},
		{"many", 30000, false, 0, maxAddresses, false},
		// Cut after the last comma within the bound of the unfolded
		// value: as many addresses as commas there.
		{"at the byte bound", 1000, false, 200, strings.Count(strings.ReplaceAll(string(bigAddressHeader(1000, false, 200)), "\r\n", "")[len("From: a@example.orgSubject: manyTo: "):][:maxAddressBytes], ","), false},
		{"in a group", 1500, true, 0, maxAddresses, true},
		{"small group", 3, true, 0, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parseBytes(t, bigAddressHeader(tc.n, tc.group, tc.pad))
			to := toList(t, render(m.WriteEnvelope))
			entries := strings.Count(to, `"example.org")`) + strings.Count(to, "(NIL NIL ")
			if entries != tc.want {
				t.Errorf("%d entries in To, want %d", entries, tc.want)
			}
			if tc.groupStart {
				if !strings.HasPrefix(to, `((NIL NIL "list" NIL)`) || !strings.Contains(to, "(NIL NIL NIL NIL)) NIL NIL NIL NIL)") {
					t.Errorf("group not opened and closed: %.80s ... %s", to, to[max(0, len(to)-80):])
				}
			}
			k := min(tc.n, tc.want) - 1 // the last address reported
			if tc.group {
				k = tc.want - 3
			}
			last := fmt.Sprintf(`"User %d%s" NIL "user%d" "example.org"`, k, strings.Repeat("x", tc.pad), k)
			if !strings.Contains(to, last) {
				t.Errorf("the last address kept is not whole: want %s in %s", last, to[max(0, len(to)-200):])
			}
			if depth := parenDepth(to); depth != -1 { // the ENVELOPE's own ')' closes
				t.Errorf("unbalanced parentheses: %d", depth)
			}
		})
	}
}

// parenDepth returns the nesting left after s, outside quoted strings
// (the test data holds no literals).
func parenDepth(s string) int {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '(':
			depth++
		case !quoted && c == ')':
			depth--
		}
	}
	return depth
}

// TestEnvelopeBigAddressMemory is the hostile-client review's finding 4: an ENVELOPE of a
// message with a 1 MB To: allocated ~55 bytes per header byte (56 MB);
// now what is allocated is bounded by the addresses reported, not by the
// header's size.
func TestEnvelopeBigAddressMemory(t *testing.T) {
	m := parseBytes(t, bigAddressHeader(25000, false, 0)) // ~1 MB of To:
	w := newDiscardWriter()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		m.WriteEnvelope(w)
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d bytes allocated per ENVELOPE", perRun)
	if perRun > 1<<20 {
		t.Fatalf("an ENVELOPE of a 1 MB To: allocated %d bytes", perRun)
	}
	allocs := testing.AllocsPerRun(runs, func() { m.WriteEnvelope(w) })
	if allocs > 3*maxAddresses {
		t.Fatalf("an ENVELOPE of a 1 MB To: made %v allocations", allocs)
	}
}
