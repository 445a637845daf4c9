package imapmsg

import "strings"

// Bounds on the address fields an ENVELOPE parses (the hostile-client review: 256 messages
// with a 1.1 MB To: each took one FETCH ENVELOPE to 1.5 GB). Of each
// address field, at most maxAddressBytes are parsed, cut after the last
// comma before the bound so that no address is cut in half (or at the
// bound when there is none), and at most maxAddresses addresses are
// reported; a group left open by the cut is closed. The rest is left out
// of the ENVELOPE, as Dovecot's and Cyrus's envelopes leave out what their
// own limits cut; the whole field stays available through
// BODY[HEADER.FIELDS (TO)] and SEARCH. Parsing allocates per address,
// not per byte: tokens are read one at a time and only the current
// address's are kept.
const (
	maxAddressBytes = 64 << 10
	maxAddresses    = 1000
)

// address is one ENVELOPE address (RFC 9051 7.5.2): a mailbox, or the
// start (host "" and groupStart) or end (groupEnd) of a group.
type address struct {
	name, adl, mailbox, host string
	groupStart, groupEnd     bool
}

// Placeholders for the parts of a broken address, as Dovecot sends them,
// so that a mailbox is never mistaken for group syntax (host NIL).
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// token kinds of the address lexer.
const (
	tkAtom = iota
	tkQuoted
	tkSpecial
	tkLiteral // [domain literal]
	tkComment // text holds the comment's trimmed content
	tkEnd     // end of input
)

type addrToken struct {
	text       string
	start, end int32 // the token's bytes in the value, quotes included
	kind       uint8
	space      bool // whitespace or a comment came before it
}

// special reports whether t separates words: a special other than '.',
// or a comment.
func (t addrToken) special() bool {
	return (t.kind == tkSpecial && t.text != ".") || t.kind == tkComment || t.kind == tkEnd
}

// addrLexer splits an address-list value into RFC 5322 3.2 tokens, one at
// a time, with one token of pushback.
type addrLexer struct {
	s       string
	i       int
	space   bool
	back    addrToken
	hasBack bool
}

func (l *addrLexer) unread(t addrToken) { l.back, l.hasBack = t, true }

func (l *addrLexer) next() addrToken {
	if l.hasBack {
		l.hasBack = false
		return l.back
	}
	s := l.s
	for l.i < len(s) {
		i := l.i
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.space = true
			l.i++
		case c == '(':
			depth, j := 1, i+1
			for ; j < len(s) && depth > 0; j++ {
				switch s[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			end := min(j, len(s))
			text := ""
			if end-1 > i+1 {
				text = strings.TrimSpace(s[i+1 : end-1])
			}
			// The comment marks its position so a name can follow an
			// addr-spec.
			t := addrToken{text: text, start: int32(i), end: int32(end), kind: tkComment, space: l.space}
			l.space = true
			l.i = end
			return t
		case c == '"':
			j := i + 1
			plain := true // no quoted-pair or line end: the text is a slice
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' || s[j] == '\r' || s[j] == '\n' {
					plain = false
				}
				if s[j] == '\\' {
					j++
				}
			}
			end := min(j+1, len(s))
			text := s[i+1 : min(j, len(s))]
			if !plain {
				text = unquote(text)
			}
			t := addrToken{text: text, start: int32(i), end: int32(end), kind: tkQuoted, space: l.space}
			l.space = false
			l.i = end
			return t
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			t := addrToken{text: s[i : i+j+1], start: int32(i), end: int32(i + j + 1), kind: tkLiteral, space: l.space}
			l.space = false
			l.i = i + j + 1
			return t
		case strings.IndexByte("<>:;@,.\\)]", c) >= 0:
			t := addrToken{text: s[i : i+1], start: int32(i), end: int32(i + 1), kind: tkSpecial, space: l.space}
			l.space = false
			l.i++
			return t
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()<>[]:;@,.\\\"", s[j]) < 0 {
				j++
			}
			t := addrToken{text: s[i:j], start: int32(i), end: int32(j), kind: tkAtom, space: l.space}
			l.space = false
			l.i = j
			return t
		}
	}
	return addrToken{kind: tkEnd, text: ",", start: int32(len(s)), end: int32(len(s))}
}

// eachAddress parses an address-list (RFC 5322 3.4) leniently into
// ENVELOPE addresses and calls fn with each, within maxAddressBytes and
// maxAddresses. Display names keep their raw text (encoded-words
// untouched), words joined by single spaces.
func eachAddress(s string, fn func(address)) {
	if len(s) > maxAddressBytes {
		cut := strings.LastIndexByte(s[:maxAddressBytes], ',')
		if cut < 0 {
			cut = maxAddressBytes
		}
		s = s[:cut]
	}
	l := addrLexer{s: s}
	n := 0 // addresses given to fn, group starts and ends included
	inGroup := false
	// room is how many more addresses fn may get, keeping one for the end
	// of an open group.
	room := func() int {
		if inGroup {
			return maxAddresses - n - 1
		}
		return maxAddresses - n
	}
	emit := func(a *address) { n++; fn(*a) }
	// Words since the last separator; a route-addr. Most fit the arrays
	// on the stack: an ENVELOPE of 20 messages allocated a slice per
	// address otherwise.
	var phraseBuf, angleBuf [8]addrToken
	phrase, angle := phraseBuf[:0], angleBuf[:0]
	for full := false; !full; {
		t := l.next()
		if !t.special() || t.kind == tkComment {
			if t.kind != tkComment {
				phrase = append(phrase, t)
			}
			continue
		}
		switch t.text {
		case ":":
			if !inGroup {
				if room() < 2 { // its start and its end
					full = true
					break
				}
				emit(&address{name: joinPhrase(phrase), groupStart: true})
				inGroup = true
				phrase = phrase[:0]
			}
		case "<":
			a := address{name: joinPhrase(phrase)}
			phrase = phrase[:0]
			angle = angle[:0]
			for u := l.next(); u.kind != tkEnd && !(u.kind == tkSpecial && u.text == ">"); u = l.next() {
				angle = append(angle, u)
			}
			parseAngle(s, angle, &a)
			emit(&a)
		case "@":
			a := address{mailbox: joinTight(s, phrase)}
			phrase = phrase[:0]
			u := l.next()
			for ; !u.special(); u = l.next() {
				phrase = append(phrase, u)
			}
			a.host = joinTight(s, phrase)
			phrase = phrase[:0]
			if a.host == "" {
				a.host = missingDomain
			}
			if a.mailbox == "" {
				a.mailbox = missingMailbox
			}
			// "user@host (Name)": a comment right after names the mailbox.
			if u.kind == tkComment {
				a.name = u.text
			}
			l.unread(u)
			emit(&a)
		case ",", ";":
			if len(phrase) > 0 {
				// A bare word: a local mailbox without domain.
				emit(&address{mailbox: joinTight(s, phrase), host: missingDomain})
				phrase = phrase[:0]
			}
			if t.text == ";" && inGroup {
				inGroup = false
				emit(&address{groupEnd: true})
			}
		default: // stray '>', ')', '\\', ']': ignore
		}
		full = full || t.kind == tkEnd || room() < 1
	}
	if inGroup {
		emit(&address{groupEnd: true})
	}
}

// parseAngle reads a route-addr's tokens, between '<' and '>' (RFC 5322
// 3.4, obs-route in 4.4).
func parseAngle(s string, toks []addrToken, a *address) {
	i := 0
	// obs-route: "@a,@b:" before the addr-spec.
	if len(toks) > 0 && toks[0].kind == tkSpecial && toks[0].text == "@" {
		j := 0
		for j < len(toks) && !(toks[j].kind == tkSpecial && toks[j].text == ":") {
			j++
		}
		if j < len(toks) {
			a.adl = joinRoute(toks[:j])
			i = j + 1
		}
	}
	addr := toks[i:]
	at := -1
	for k, t := range addr {
		if t.kind == tkSpecial && t.text == "@" {
			at = k
			break
		}
	}
	if at < 0 {
		a.mailbox = joinTight(s, addr)
	} else {
		a.mailbox, a.host = joinTight(s, addr[:at]), joinTight(s, addr[at+1:])
	}
	if a.mailbox == "" {
		a.mailbox = missingMailbox
	}
	if a.host == "" {
		a.host = missingDomain
	}
}

// joinRoute joins an obs-route's tokens ("@a,@b") without blanks.
func joinRoute(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != tkComment {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// joinTight joins the words of a local part or domain without blanks or
// comments. The usual case, adjacent atoms and dots, is a slice of the
// value and costs no allocation.
func joinTight(s string, toks []addrToken) string {
	if len(toks) == 0 {
		return ""
	}
	tight := true
	for k, t := range toks {
		if t.kind == tkQuoted || t.special() || (k > 0 && t.space) {
			tight = false
			break
		}
	}
	if tight {
		return s[toks[0].start:toks[len(toks)-1].end]
	}
	var b strings.Builder
	for _, t := range toks {
		switch {
		case t.kind == tkQuoted:
			b.WriteString(quoteLocal(t.text))
		case t.special():
			// comments and stray specials are dropped
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// quoteLocal re-quotes a quoted local part when it needs quoting.
func quoteLocal(s string) string {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(" \t()<>[]:;@,\\\"", s[i]) >= 0 {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
	}
	return s
}

// joinPhrase joins display-name words with single spaces.
func joinPhrase(ws []addrToken) string {
	if len(ws) == 1 {
		return ws[0].text
	}
	var b strings.Builder
	for i, w := range ws {
		if i > 0 && (w.space || (w.text != "." && ws[i-1].text != ".")) {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
	}
	return b.String()
}

// unquote removes quoted-pair backslashes and line ends from the inside of
// a quoted string (RFC 5322 3.2.4).
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		if s[i] != '\r' && s[i] != '\n' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
