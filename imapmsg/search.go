package imapmsg

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"slices"
	"strings"

	"github.com/emersion/go-message/charset"
)

// HeaderContains reports whether a header field named field (any, when
// field is "") has a decoded value containing s, case-insensitively.
// Values are unfolded and their RFC 2047 encoded-words decoded, so an
// address field matches on its decoded text ("Jöhn <j@example.org>"). Only
// the top-level header is searched (RFC 9051 6.4.4 HEADER, FROM, ...). A
// header that cannot be read matches nothing.
func (m *Message) HeaderContains(field, s string) bool {
	h, err := m.readHeader(m.root)
	if err != nil {
		return false
	}
	return HeaderBlockContains(h, field, foldString(s))
}

// HeaderBlockContains is HeaderContains over a header block h, such as
// the envelope header a store keeps (Message.EnvelopeHeader), with needle
// already in search form (FoldSearchString): SEARCH FROM over a mailbox
// then neither parses each message's header into a Message nor folds the
// needle once per message.
func HeaderBlockContains(h []byte, field, needle string) bool {
	found := false
	address := field != "" && isAddressName(field)
	eachField(h, func(name, value, _ []byte) bool {
		if field != "" && !bytes.EqualFold(name, []byte(field)) {
			return true
		}
		if lacksNeedleBytes(value, needle) {
			return true
		}
		found = strings.Contains(foldString(decodeHeader(unfold(value))), needle)
		if !found && address {
			found = addressesContain(value, needle)
		}
		return !found
	})
	return found
}

// lacksNeedleBytes says whether a field value certainly cannot contain
// needle (folded) in either form HeaderBlockContains compares: decoded
// and folded, or each address as "name <mailbox@host>". It is a cheap
// test that lets most fields of a mailbox be passed over without being
// decoded, folded and parsed as addresses (SEARCH FROM over 100,000
// messages spent most of its time there). It answers only for a value
// in ASCII without encoded words: then both forms are lower-cased bytes
// of the value plus what rendering adds (blanks, "<", ">", "@", quotes
// and backslashes of a re-quoted local part, and the MISSING_MAILBOX /
// MISSING_DOMAIN of a broken address); a needle byte outside all of
// those is a byte neither form has. A raw substring test would not do:
// obsolete syntax, comments and quoting separate what rendering joins.
func lacksNeedleBytes(value []byte, needle string) bool {
	var have [2]uint64 // ASCII bytes, as bits
	for _, c := range value {
		if c >= 0x80 {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		have[c>>6] |= 1 << (c & 63)
	}
	if bytes.Contains(value, []byte("=?")) {
		return false
	}
	for i := 0; i < len(needle); i++ {
		c := needle[i]
		if c >= 0x80 {
			return true // the forms of an ASCII value are ASCII
		}
		if have[c>>6]&(1<<(c&63)) == 0 && !strings.ContainsRune(renderedBytes, rune(c)) {
			return true
		}
	}
	return false
}

// renderedBytes are the bytes an address's rendered form may hold that
// its field value need not: see lacksNeedleBytes.
const renderedBytes = ` <>@"\` + "missing_mailbox" + "missing_domain"

// isAddressName says whether a header field holds an address list.
func isAddressName(field string) bool {
	for i := envFrom; i <= envBcc; i++ {
		if equalFoldString(envNames[i], field) {
			return true
		}
	}
	return false
}

// addressesContain reports whether an address field, parsed, holds an
// address whose "name <mailbox@host>" contains the folded needle: so that
// an address written in the obsolete syntax, with comments and spaces
// inside it (`<user (comment)@ (comment) example.org>`, RFC 5322 4.4), is
// found by FROM "user@example.org" as its ENVELOPE shows it.
func addressesContain(value []byte, needle string) bool {
	found := false
	eachAddress(unfoldAddresses(value), func(a address) {
		if found || a.groupStart || a.groupEnd {
			return
		}
		text := a.mailbox + "@" + a.host
		if a.name != "" {
			text = decodeHeader(a.name) + " <" + text + ">"
		}
		found = strings.Contains(foldString(text), needle)
	})
	return found
}

// HeaderTextContains is HeaderContains over whole fields, name and value:
// the header half of SEARCH TEXT.
func (m *Message) HeaderTextContains(s string) bool {
	var ts TextSearcher
	return ts.SearchHeader(m, s)
}

// SearchHeader reports whether m's top-level header contains s as TEXT
// compares it (HeaderTextContains). A field in ASCII without encoded
// words is folded by lower-casing it into the searcher's buffer; the
// others are decoded and folded as eachHeaderText gives them. The needle
// is folded once while s stays the same.
func (ts *TextSearcher) SearchHeader(m *Message, s string) bool {
	if ts.headerValue != s || ts.headerNeedle == nil {
		ts.headerValue, ts.headerNeedle = s, []byte(foldString(s))
	}
	h, err := m.readHeader(m.root)
	if err != nil {
		return false
	}
	found := false
	eachField(h, func(name, value, _ []byte) bool {
		if !bytes.Contains(value, []byte("=?")) {
			line := append(append(ts.field[:0], name...), ": "...)
			line = appendUnfolded(line, value)
			ts.field = line
			if folded, ok := foldASCII(ts.folded[:0], line); ok {
				ts.folded = folded
				found = bytes.Contains(folded, ts.headerNeedle)
				return !found
			}
		}
		found = bytes.Contains([]byte(foldString(string(name)+": "+decodeHeader(unfold(value)))), ts.headerNeedle)
		return !found
	})
	return found
}

// eachHeaderText calls fn with each top-level header field as TEXT
// compares it, "name: value" decoded and folded, until fn returns false.
// A header that cannot be read gives none.
func (m *Message) eachHeaderText(fn func(text string) bool) {
	h, err := m.readHeader(m.root)
	if err != nil {
		return
	}
	eachField(h, func(name, value, _ []byte) bool {
		return fn(foldString(string(name) + ": " + decodeHeader(unfold(value))))
	})
}

// BodyContains reports whether a decoded text part of the body contains s,
// case-insensitively (SEARCH BODY). Each text/* part, including those of
// encapsulated messages, is decoded from its transfer encoding and charset
// to UTF-8 and searched as a stream; headers are not searched.
func (m *Message) BodyContains(s string) bool {
	return m.BodyContainsAll([]string{s})[0]
}

// BodyContainsAll is BodyContains for several strings at once: the body
// is decoded once, and each decoded piece is searched for every string
// not found yet, so that a SEARCH with many BODY or TEXT keys pays for
// decoding one time. found[i] says whether ss[i] was found.
func (m *Message) BodyContainsAll(ss []string) (found []bool) {
	var bs TextSearcher
	return bs.Search(m, ss)
}

// TextSearcher searches messages' bodies as BodyContainsAll does,
// keeping its buffers from one message to the next: a search over a
// mailbox then allocates nothing per message for its check. It stops
// reading a message when every string is found, and searches a text
// part stored without transfer encoding in UTF-8 or US-ASCII in place
// when the message is in memory (ParseHeaderBytes): no reader, no copy
// but its folding. The zero value is ready to use; one TextSearcher
// serves one goroutine.
type TextSearcher struct {
	mt      textMatcher
	needles [][]byte
	strings []string // ss, as the needles were folded from
	// SearchHeader's needle, the string it was folded from, and its
	// buffers for a field as a line and folded.
	headerNeedle  []byte
	headerValue   string
	field, folded []byte
}

// Search reports, for each string of ss, whether m's body contains it
// (BodyContainsAll). The slice returned is valid until the next call.
func (bs *TextSearcher) Search(m *Message, ss []string) []bool {
	if !slices.Equal(bs.strings, ss) {
		bs.strings = slices.Clone(ss)
		bs.needles = bs.needles[:0]
		for _, s := range ss {
			bs.needles = append(bs.needles, []byte(foldString(s)))
		}
	}
	mt := &bs.mt
	mt.reset(bs.needles)
	m.eachBodyPart(func(p *part) bool {
		if text := m.inPlaceText(p); text != nil {
			return !mt.scanBytes(text)
		}
		r, err := m.textReader(p)
		if err != nil {
			return true
		}
		return !mt.scanReader(r)
	})
	return mt.found
}

// inPlaceText is p's decoded text as a slice of the message in memory,
// when it needs no decoding (identity transfer encoding, UTF-8 or
// US-ASCII, the defaults included); nil otherwise.
func (m *Message) inPlaceText(p *part) []byte {
	if m.data == nil || !p.identityCTE() || !isUTF8Charset(p) || p.bodyStart >= p.end {
		return nil
	}
	return m.data[p.bodyStart:p.end]
}

// isUTF8Charset says whether p's text is UTF-8 as it is stored: its
// charset parameter is absent, US-ASCII or UTF-8.
func isUTF8Charset(p *part) bool {
	cs, _ := lookupParam(p.params, "charset")
	switch strings.ToLower(cs) {
	case "", "us-ascii", "utf-8", "utf8":
		return true
	}
	return false
}

// eachBodyPart calls fn with each part of the body that BODY searches
// (eachBodyText), until fn returns false. A message whose top-level
// header declares neither a multipart nor an encapsulated message is its
// own only part: its body is searched without parsing it further (a
// full parse would read every line for BODYSTRUCTURE's line counts).
func (m *Message) eachBodyPart(fn func(p *part) bool) {
	root := m.root
	if m.full || m.header == nil || root.isMultipart() || root.isMessage() {
		var err error
		if root, err = m.structure(); err != nil {
			return
		}
	}
	walkLeaves(root, func(p *part) bool {
		if !p.isText() && !p.isMultipart() {
			return true
		}
		return fn(p)
	})
}

// eachBodyText calls fn with each part of the body that BODY searches,
// decoded and folded as a stream, until fn returns false: every text/*
// part, including those of encapsulated messages, and any multipart left
// unparsed (too deep, no boundary), searched as it is rather than
// skipped. Undecodable parts are skipped.
func (m *Message) eachBodyText(fn func(r io.Reader) bool) {
	var inBuf []byte // shared by the parts
	f := newFolder()
	m.eachBodyPart(func(p *part) bool {
		r, err := m.textReader(p)
		if err != nil {
			return true
		}
		if inBuf == nil {
			inBuf = make([]byte, m.bodyBufSize())
		}
		return fn(newFoldReader(r, f, inBuf))
	})
}

// bodyBufSize is the read buffer for searching the message's body
// (bufSizeFor).
func (m *Message) bodyBufSize() int {
	return bufSizeFor(m.size - m.root.bodyStart)
}

// SearchTexts calls fn with each text that SEARCH TEXT and BODY compare a
// string against, in the form they compare it in (decoded, folded): each
// top-level header field as "name: value", then each searched part of the
// body as a stream, until fn returns false. A string that BODY or TEXT
// finds in the message lies whole within one of these texts, folded: a
// full-text index built from them never misses a match.
func (m *Message) SearchTexts(fn func(r io.Reader) bool) {
	more := true
	m.eachHeaderText(func(text string) bool {
		more = fn(strings.NewReader(text))
		return more
	})
	if more {
		m.eachBodyText(fn)
	}
}

// FoldSearchString maps s to the form SEARCH compares strings in, as
// SearchTexts gives a message's texts.
func FoldSearchString(s string) string { return foldString(s) }

// TextContains reports whether the header or body contains s (SEARCH
// TEXT).
func (m *Message) TextContains(s string) bool {
	return m.HeaderTextContains(s) || m.BodyContains(s)
}

// walkLeaves calls fn for every part without subparts in order, descending
// into encapsulated messages, until fn returns false.
func walkLeaves(p *part, fn func(*part) bool) bool {
	switch {
	case len(p.children) > 0:
		for _, c := range p.children {
			if !walkLeaves(c, fn) {
				return false
			}
		}
		return true
	case p.msg != nil:
		return walkLeaves(p.msg, fn)
	}
	return fn(p)
}

// textReader returns p's body decoded to UTF-8. An unknown charset is
// searched as it is.
func (m *Message) textReader(p *part) (io.Reader, error) {
	size := bufSizeFor(p.end - p.bodyStart)
	r, _, err := cteDecoder(p.cte, bufio.NewReaderSize(m.span(p.bodyStart, p.end), size), size)
	if err != nil {
		return nil, err
	}
	if isUTF8Charset(p) {
		return r, nil
	}
	cs, _ := lookupParam(p.params, "charset")
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr, nil
	}
	return r, nil
}

// decodeHeader decodes RFC 2047 encoded-words, any charset go-message
// knows; a value that does not decode is used as it is.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}

// foldString maps s to the form SEARCH compares in (folder).
func foldString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
			return string(newFolder().appendFold(make([]byte, 0, len(s)+8), []byte(s)))
		}
	}
	return s
}
