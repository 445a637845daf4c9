package imapmsg

import "strings"

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
)

type addrToken struct {
	kind       int
	text       string
	space      bool // whitespace or a comment came before it
	start, end int  // the token's bytes in the value, quotes included
}

// lexAddresses splits an address-list value into RFC 5322 3.2 tokens.
// Comments are dropped but the text of the last one is returned: it names
// the mailbox in the old "user@host (Name)" style.
func lexAddresses(s string) (toks []addrToken, comments []string) {
	toks = make([]addrToken, 0, 8)
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
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
			if end-1 > i+1 {
				comments = append(comments, strings.TrimSpace(s[i+1:end-1]))
			}
			// Mark the comment's position so a name can follow an addr-spec.
			toks = append(toks, addrToken{kind: tkSpecial, text: "(", space: space, start: i, end: end})
			space = true
			i = end
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
			toks = append(toks, addrToken{tkQuoted, text, space, i, end})
			space = false
			i = end
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, addrToken{tkLiteral, s[i : i+j+1], space, i, i + j + 1})
			space = false
			i += j + 1
		case strings.IndexByte("<>:;@,.\\)]", c) >= 0:
			toks = append(toks, addrToken{tkSpecial, s[i : i+1], space, i, i + 1})
			space = false
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()<>[]:;@,.\\\"", s[j]) < 0 {
				j++
			}
			toks = append(toks, addrToken{tkAtom, s[i:j], space, i, j})
			space = false
			i = j
		}
	}
	return toks, comments
}

// parseAddressList parses an address-list (RFC 5322 3.4) leniently into
// ENVELOPE addresses. Display names keep their raw text (encoded-words
// untouched), words joined by single spaces.
func parseAddressList(s string) []address {
	toks, comments := lexAddresses(s)
	var out []address
	inGroup := false
	var phrase []addrToken // words seen since the last separator
	ncomment := 0          // comments consumed so far
	for i := 0; i <= len(toks); i++ {
		var t addrToken
		if i < len(toks) {
			t = toks[i]
		} else {
			t = addrToken{kind: tkSpecial, text: ","}
		}
		if t.kind != tkSpecial || t.text == "." {
			phrase = append(phrase, t)
			continue
		}
		switch t.text {
		case "(":
			ncomment++
		case ":":
			if !inGroup {
				out = append(out, address{name: joinPhrase(phrase), groupStart: true})
				inGroup = true
				phrase = phrase[:0]
			}
		case "<":
			a := address{name: joinPhrase(phrase)}
			phrase = phrase[:0]
			i = parseAngle(s, toks, i+1, &a)
			out = append(out, a)
		case "@":
			a := address{mailbox: joinTight(s, phrase)}
			phrase = phrase[:0]
			j := i + 1
			for j < len(toks) && !(toks[j].kind == tkSpecial && toks[j].text != ".") {
				j++
			}
			a.host = joinTight(s, toks[i+1:j])
			if a.host == "" {
				a.host = missingDomain
			}
			if a.mailbox == "" {
				a.mailbox = missingMailbox
			}
			// "user@host (Name)": a comment right after names the mailbox.
			if j < len(toks) && toks[j].text == "(" && ncomment < len(comments) {
				a.name = comments[ncomment]
			}
			out = append(out, a)
			i = j - 1
		case ",", ";":
			if len(phrase) > 0 {
				// A bare word: a local mailbox without domain.
				out = append(out, address{mailbox: joinTight(s, phrase), host: missingDomain})
				phrase = phrase[:0]
			}
			if t.text == ";" && inGroup {
				out = append(out, address{groupEnd: true})
				inGroup = false
			}
		default: // stray '>', ')', '\\', ']': ignore
		}
	}
	if inGroup {
		out = append(out, address{groupEnd: true})
	}
	return out
}

// parseAngle reads a route-addr after '<' up to '>' (RFC 5322 3.4,
// obs-route in 4.4) and returns the index of the '>' (or the last token).
func parseAngle(s string, toks []addrToken, i int, a *address) int {
	// obs-route: "@a,@b:" before the addr-spec.
	if i < len(toks) && toks[i].kind == tkSpecial && toks[i].text == "@" {
		j := i
		for j < len(toks) && !(toks[j].kind == tkSpecial && (toks[j].text == ":" || toks[j].text == ">")) {
			j++
		}
		if j < len(toks) && toks[j].text == ":" {
			a.adl = joinRoute(toks[i:j])
			i = j + 1
		}
	}
	end := i
	for end < len(toks) && !(toks[end].kind == tkSpecial && toks[end].text == ">") {
		end++
	}
	addr := toks[i:end]
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
	return end
}

// joinRoute joins an obs-route's tokens ("@a,@b") without blanks.
func joinRoute(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
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
		if t.kind == tkQuoted || (t.kind == tkSpecial && t.text != ".") || (k > 0 && t.space) {
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
		case t.kind == tkSpecial && t.text != ".":
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
