package imapmsg

import (
	"html"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PreviewLength is the most characters Preview returns: Dovecot's 200,
// within RFC 8970 3.1's limit of 256.
const PreviewLength = 200

// previewReadLimit bounds how much of a part's decoded text Preview
// reads: enough for 200 characters after whitespace and, for HTML, tags
// and style sheets are dropped.
const (
	previewReadLimit     = 4 << 10
	previewHTMLReadLimit = 64 << 10
)

// Preview returns the RFC 8970 preview of the message: the first
// PreviewLength characters of its first text/plain part, or of its first
// text/html part with the markup removed when it has no text/plain one,
// decoded from the transfer encoding and charset, with runs of
// whitespace made one space. Parts that are attachments
// (Content-Disposition: attachment) and encapsulated messages are not
// looked into. ok is false when the message has no such text or it is
// empty (FETCH PREVIEW answers NIL).
func (m *Message) Preview() (text string, ok bool) {
	root, err := m.structure()
	if err != nil {
		return "", false
	}
	var plain, htm *part
	var walk func(p *part)
	walk = func(p *part) {
		if plain != nil {
			return
		}
		if len(p.children) > 0 {
			for _, c := range p.children {
				walk(c)
			}
			return
		}
		if !p.isText() || strings.EqualFold(p.disp, "attachment") {
			return
		}
		switch {
		case p.subtype == "" || strings.EqualFold(p.subtype, "plain"):
			plain = p
		case strings.EqualFold(p.subtype, "html") && htm == nil:
			htm = p
		}
	}
	walk(root)
	p, limit := plain, int64(previewReadLimit)
	if p == nil {
		p, limit = htm, previewHTMLReadLimit
	}
	if p == nil {
		return "", false
	}
	r, err := m.textReader(p)
	if err != nil {
		return "", false // an undecodable part has no preview
	}
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil && len(b) == 0 {
		return "", false
	}
	s := string(b)
	if p == htm {
		s = stripHTML(s)
	}
	text = normalizePreview(s, PreviewLength)
	return text, text != ""
}

// normalizePreview makes every run of whitespace (and control
// characters) one space, trims the ends and cuts s to n characters.
// Invalid UTF-8 becomes U+FFFD, so the result is always valid.
func normalizePreview(s string, n int) string {
	var b strings.Builder
	space, count := false, 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if count >= n {
			break
		}
		if space {
			if count+1 >= n {
				break
			}
			b.WriteByte(' ')
			count++
			space = false
		}
		if r == utf8.RuneError {
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

// stripHTML returns the text of an HTML document: tags, comments and
// the content of <script>, <style> and <head> removed, character
// references decoded. Block elements leave a space, so that words of
// two paragraphs do not run together.
func stripHTML(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:i]))
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				break
			}
			s = s[end+3:]
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			break
		}
		closing := strings.HasPrefix(s, "</")
		tag := strings.ToLower(strings.TrimLeft(s[1:end], "/ "))
		if j := strings.IndexAny(tag, " \t\r\n/"); j >= 0 {
			tag = tag[:j]
		}
		s = s[end+1:]
		b.WriteByte(' ')
		switch tag {
		case "script", "style", "head", "title":
			if closing {
				break
			}
			// Skip to the end of the element: its content is no text.
			i := strings.Index(strings.ToLower(s), "</"+tag)
			if i < 0 {
				return b.String()
			}
			s = s[i:]
		}
	}
	return b.String()
}
