package imapmsg

import "strings"

// BaseSubject extracts the base subject of a subject already decoded from
// its RFC 2047 encoded-words (RFC 5256 2.1), the text that SORT SUBJECT
// and THREAD compare, and reports whether anything that marks a reply or
// a forward was removed ("Re:", "Fwd:", "[fwd: ...]", "(fwd)"): THREAD=
// REFERENCES tells replies by it (RFC 5256 4, step 5.C). Matching of
// "re", "fw", "fwd" is case-insensitive; the result keeps its case (the
// comparator folds it).
func BaseSubject(subject string) (base string, isReplyOrFwd bool) {
	s := collapseSpace(subject)
	for {
		// (2) Remove subj-trailer: "(fwd)" / WSP, repeatedly.
		for {
			if n := len(s) - len("(fwd)"); n >= 0 && strings.EqualFold(s[n:], "(fwd)") {
				s, isReplyOrFwd = s[:n], true
			} else if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else {
				break
			}
		}
		// (3) and (4), repeated until neither changes anything.
		for {
			// (3) Remove subj-leader: (*subj-blob subj-refwd) / WSP.
			for {
				if strings.HasPrefix(s, " ") {
					s = s[1:]
				} else if n := leaderLen(s); n > 0 {
					s, isReplyOrFwd = s[n:], true
				} else {
					break
				}
			}
			// (4) Remove a leading subj-blob when what follows it is a
			// non-empty subj-base.
			n := blobLen(s)
			if n == 0 || strings.Trim(s[n:], " ") == "" {
				break
			}
			s = s[n:]
		}
		// (5) A subject of the form "[fwd:" subj-base "]": remove the
		// header and trailer and go back to (2).
		if len(s) >= len("[fwd:")+1 && strings.EqualFold(s[:len("[fwd:")], "[fwd:") && s[len(s)-1] == ']' {
			s, isReplyOrFwd = s[len("[fwd:"):len(s)-1], true
			continue
		}
		return s, isReplyOrFwd
	}
}

// collapseSpace turns tabs, line breaks and runs of them and spaces into
// single spaces (RFC 5256 2.1 step 1; the decoding is the caller's).
func collapseSpace(s string) string {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		switch s[i] {
		case '\t', '\r', '\n':
			clean = false
		case ' ':
			clean = i+1 >= len(s) || s[i+1] != ' '
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	if space {
		b = append(b, ' ')
	}
	return string(b)
}

// blobLen returns the length of a subj-blob at the start of s ("["
// *BLOBCHAR "]" *WSP, where BLOBCHAR is anything but "[" and "]"), or 0.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	n := end + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// leaderLen returns the length of a subj-leader's first alternative at
// the start of s, *subj-blob subj-refwd, where subj-refwd = ("re" /
// ("fw" ["d"])) *WSP [subj-blob] ":", or 0.
func leaderLen(s string) int {
	i := 0
	for n := blobLen(s[i:]); n > 0; n = blobLen(s[i:]) {
		i += n
	}
	switch {
	case hasPrefixFold(s[i:], "re"):
		i += 2
	case hasPrefixFold(s[i:], "fwd"):
		i += 3
	case hasPrefixFold(s[i:], "fw"):
		i += 2
	default:
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	i += blobLen(s[i:])
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

// hasPrefixFold reports whether s begins with the ASCII prefix p, case
// ignored.
func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}
