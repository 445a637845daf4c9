package imapmsg

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// eachField calls fn for every header field of h (RFC 5322 2.2): name is
// the field name, value the text after the colon with its folding, raw
// the whole field with its line ends. Lines that are neither a field nor
// a continuation are skipped, so garbage in a header does not stop the
// parse. fn returns false to stop.
func eachField(h []byte, fn func(name, value, raw []byte) bool) {
	for len(h) > 0 {
		// A field is a first line plus any lines starting with WSP.
		end := 0
		for {
			i := bytes.IndexByte(h[end:], '\n')
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		raw := h[:end]
		h = h[end:]
		colon := bytes.IndexByte(raw, ':')
		if colon <= 0 || raw[0] == ' ' || raw[0] == '\t' {
			continue
		}
		name := bytes.TrimRight(raw[:colon], " \t")
		if bytes.ContainsAny(name, " \t\r\n") {
			continue
		}
		if !fn(name, raw[colon+1:], raw) {
			return
		}
	}
}

// unfold returns a field value as one line: CR and LF removed, the folding
// whitespace kept (RFC 5322 2.2.3), and leading and trailing blanks cut.
func unfold(v []byte) string {
	v = bytes.Trim(v, " \t\r\n")
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(b)
}

// appendUnfolded appends unfold(v) to dst.
func appendUnfolded(dst, v []byte) []byte {
	v = bytes.Trim(v, " \t\r\n")
	for len(v) > 0 {
		i := bytes.IndexAny(v, "\r\n")
		if i < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:i]...)
		v = v[i+1:]
	}
	return dst
}

// unfoldAddresses is unfold for an address field, of which eachAddress
// reads at most maxAddressBytes: a longer value is unfolded only until it
// is past that bound and ends in a byte other than a blank or a comma, so
// that a 1 MB To: costs the parse 64 KiB, not a 1 MB string. The result
// agrees with unfold's on its first maxAddressBytes bytes, on being longer
// than that, and on holding more than blanks and commas: on everything
// eachAddress and hasAddresses look at.
func unfoldAddresses(v []byte) string {
	if len(v) <= maxAddressBytes {
		return unfold(v)
	}
	v = bytes.TrimLeft(v, " \t\r\n")
	b := make([]byte, 0, maxAddressBytes+64)
	for i, c := range v {
		if c == '\r' || c == '\n' {
			continue
		}
		b = append(b, c)
		if len(b) > maxAddressBytes && c != ' ' && c != '\t' && c != ',' && i+1 < len(v) {
			return string(b)
		}
	}
	return string(bytes.TrimRight(b, " \t"))
}

// maxParams bounds the parameters kept per field; real ones have a few.
const maxParams = 100

// param is one MIME parameter as written (name case kept, value unquoted).
type param struct{ name, value string }

// parseContentType splits a Content-Type value (RFC 2045 5.1) leniently:
// a value without a slash leaves typ and sub empty so the default applies.
func parseContentType(s string) (typ, sub string, params []param) {
	head, rest := splitParams(s)
	typ, sub, ok := strings.Cut(head, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !ok || typ == "" || sub == "" || strings.ContainsAny(typ+sub, " \t\"") {
		typ, sub = "", ""
	}
	return typ, sub, parseParams(rest)
}

// parseDisposition splits a Content-Disposition value (RFC 2183).
func parseDisposition(s string) (disp string, params []param) {
	head, rest := splitParams(s)
	return strings.TrimSpace(head), parseParams(rest)
}

// splitParams cuts a value at its first ';' and drops comments from the
// head.
func splitParams(s string) (head, rest string) {
	s = stripComments(s)
	head, rest, _ = strings.Cut(s, ";")
	return head, rest
}

// stripComments removes RFC 5322 comments outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				quoted = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '(':
			depth++
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseParams parses "; name=value; name="quoted value"" leniently and
// joins RFC 2231 continuations (name*0, name*1*, ...) into one parameter,
// named "name*" when the value is in the extended charset'lang'value form,
// as Dovecot reports them.
func parseParams(s string) []param {
	var ps []param
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t;")
		if s == "" {
			break
		}
		eq := strings.IndexAny(s, "=;")
		if eq < 0 || s[eq] == ';' {
			// A parameter without a value: skip it.
			if eq < 0 {
				break
			}
			s = s[eq:]
			continue
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, "\"") {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			value = b.String()
			s = s[min(i+1, len(s)):]
			if j := strings.IndexByte(s, ';'); j >= 0 {
				s = s[j:]
			} else {
				s = ""
			}
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			value = strings.TrimSpace(s[:j])
			s = s[j:]
		}
		if name != "" && len(ps) < maxParams {
			ps = append(ps, param{name, value})
		}
	}
	return joinContinuations(ps)
}

// joinContinuations merges RFC 2231 section 3 continuations, ordered by
// their segment numbers, in the position of their first segment.
func joinContinuations(ps []param) []param {
	has := false
	for _, p := range ps {
		if strings.Contains(p.name, "*") {
			has = true
			break
		}
	}
	if !has {
		return ps
	}
	type segment struct {
		n     int
		value string
	}
	out := ps[:0:0]
	segs := map[int][]segment{} // index in out -> its segments
	merged := map[string]int{}  // base name (lower case) -> index in out
	for _, p := range ps {
		base, seg, ok := strings.Cut(p.name, "*")
		ext := strings.HasSuffix(seg, "*")
		seg = strings.TrimSuffix(seg, "*")
		n, err := strconv.Atoi(seg)
		if !ok || seg == "" || err != nil || n < 0 {
			// A plain parameter, or "name*" (extended, not continued).
			out = append(out, p)
			continue
		}
		key := strings.ToLower(base)
		i, ok := merged[key]
		if !ok {
			i = len(out)
			merged[key] = i
			out = append(out, param{name: base})
		}
		if n == 0 && ext {
			out[i].name = base + "*" // the value is charset'lang'text
		}
		segs[i] = append(segs[i], segment{n, p.value})
	}
	for i, ss := range segs {
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].n < ss[b].n })
		var b strings.Builder
		for _, s := range ss {
			b.WriteString(s.value)
		}
		out[i].value = b.String()
	}
	return out
}

// lookupParam returns the value of the parameter named name
// (case-insensitively).
func lookupParam(ps []param, name string) (string, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.name, name) {
			return p.value, true
		}
	}
	return "", false
}
