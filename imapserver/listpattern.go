package imapserver

import (
	"strconv"
	"strings"
)

// maxPatternLen bounds a LIST pattern (reference and mailbox pattern
// together). Matching is linear in pattern × name, so the bound is not
// about time: it refuses what no mailbox name needs, a mailbox being a
// folder whose path Linux bounds at PATH_MAX (4096 bytes).
const maxPatternLen = 4096

// listPatterns are the patterns of one LIST or LSUB, compiled once and
// matched against each mailbox name.
type listPatterns struct {
	pats []string
	// cur and next are the matcher's state sets, reused across names.
	cur, next []bool
}

// compilePatterns joins reference and each pattern, canonicalizes INBOX and
// collapses runs of wildcards (a run holding '*' is '*', one of '%' only is
// '%': each matches what the run did). A pattern over maxPatternLen is a
// tagged NO [LIMIT].
func compilePatterns(reference string, patterns []string) (*listPatterns, error) {
	lp := &listPatterns{pats: make([]string, len(patterns))}
	longest := 0
	for i, p := range patterns {
		p = reference + p
		if len(p) > maxPatternLen {
			return nil, errNO("LIMIT", "LIST pattern longer than "+strconv.Itoa(maxPatternLen)+" bytes")
		}
		lp.pats[i] = collapseWildcards(canonicalPattern(p))
		longest = max(longest, len(lp.pats[i]))
	}
	lp.cur = make([]bool, longest+1)
	lp.next = make([]bool, longest+1)
	return lp, nil
}

// collapseWildcards replaces each run of '*' and '%' by one wildcard.
func collapseWildcards(p string) string {
	if !strings.Contains(p, "**") && !strings.Contains(p, "%%") && !strings.Contains(p, "*%") && !strings.Contains(p, "%*") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] != '*' && p[i] != '%' {
			b.WriteByte(p[i])
			i++
			continue
		}
		w := byte('%')
		for ; i < len(p) && (p[i] == '*' || p[i] == '%'); i++ {
			if p[i] == '*' {
				w = '*'
			}
		}
		b.WriteByte(w)
	}
	return b.String()
}

// match reports whether name matches any of the patterns.
func (lp *listPatterns) match(name string) bool {
	for _, p := range lp.pats {
		if matchPattern(p, name, lp.cur[:len(p)+1], lp.next[:len(p)+1]) {
			return true
		}
	}
	return false
}

// matchPattern matches a LIST pattern: "*" matches anything, "%" anything
// but the hierarchy separator (RFC 9051 6.3.9). It simulates the pattern
// as a nondeterministic automaton whose state i means "p[:i] matches the
// name read so far", so that it takes O(len(p)·len(name)) steps whatever
// the pattern: a backtracking matcher takes exponential time on patterns
// such as "%a%a%a%a%a%a%a%a%b". cur and next are scratch space
// of len(p)+1.
func matchPattern(p, name string, cur, next []bool) bool {
	clear(cur)
	cur[0] = true
	wildClosure(p, cur)
	for k := 0; k < len(name); k++ {
		ch := name[k]
		clear(next)
		alive := false
		for i := 0; i < len(p); i++ {
			if !cur[i] {
				continue
			}
			switch p[i] {
			case '*':
				next[i], alive = true, true
			case '%':
				if ch != '/' {
					next[i], alive = true, true
				}
			default:
				if p[i] == ch {
					next[i+1], alive = true, true
				}
			}
		}
		if !alive {
			return false
		}
		wildClosure(p, next)
		cur, next = next, cur
	}
	return cur[len(p)]
}

// wildClosure adds the states reached by letting wildcards match nothing.
func wildClosure(p string, states []bool) {
	for i := 0; i < len(p); i++ {
		if states[i] && (p[i] == '*' || p[i] == '%') {
			states[i+1] = true
		}
	}
}
