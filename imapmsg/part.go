package imapmsg

import (
	"bytes"
	"strings"
)

// part is one MIME entity: its header at [start, bodyStart) and its body
// at [bodyStart, end) of the message, where end excludes the CRLF that
// precedes a boundary (RFC 2046 5.1.1).
type part struct {
	start, bodyStart, end int64
	bodyLFs, endLFs       int64 // LFs before bodyStart and before end

	// Content-* fields as written, "" when absent (RFC 2045, 2183, 3282,
	// 2557, 1864).
	typ, subtype   string
	params         []param
	id, desc       string
	cte, md5       string
	disp           string
	dispParams     []param
	lang           []string
	location       string
	hasContentType bool

	children []*part // for multipart/*
	msg      *part   // the encapsulated message of message/rfc822
	env      *envelope
}

// Indexes of the envelope fields in envelope.v (RFC 9051 7.5.2 order).
const (
	envDate = iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
	// References is no ENVELOPE field but is kept with them: THREAD needs
	// it (RFC 5256 4), and so it comes from the same cache.
	envReferences
	envFields
)

// isAddressField says whether envelope field i is an address list.
func isAddressField(i int) bool { return i >= envFrom && i <= envBcc }

// envelope holds the unfolded raw values of the header fields ENVELOPE
// reports: of a repeated address field, the addresses of every occurrence;
// of any other field, the first occurrence.
type envelope struct {
	v   [envFields]string
	has [envFields]bool
}

var envNames = [envFields]string{"Date", "Subject", "From", "Sender",
	"Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-ID",
	"References"}

// isMultipart says whether the header declares a multipart type.
func (p *part) isMultipart() bool { return strings.EqualFold(p.typ, "multipart") }

// isMessage says whether p encapsulates a message (RFC 2046 5.2.1,
// RFC 6532 3.7).
func (p *part) isMessage() bool {
	return strings.EqualFold(p.typ, "message") &&
		(strings.EqualFold(p.subtype, "rfc822") || strings.EqualFold(p.subtype, "global"))
}

// isText says whether p is text/* (the default type is text/plain).
func (p *part) isText() bool { return p.typ == "" || strings.EqualFold(p.typ, "text") }

// identityCTE says whether the body is stored unencoded, so that an
// encapsulated message can be parsed in place.
func (p *part) identityCTE() bool {
	switch strings.ToLower(p.cte) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// setFields fills p's Content-* fields (and its envelope when root) from
// the raw header h. digest makes message/rfc822 the default type
// (RFC 2046 5.1.5).
func (p *part) setFields(h []byte, root, digest bool) {
	if root {
		p.env = &envelope{}
	}
	eachField(h, func(name, value, _ []byte) bool {
		if len(name) > 8 && (name[0] == 'C' || name[0] == 'c') && bytes.EqualFold(name[:8], []byte("content-")) {
			p.setContentField(name[8:], value)
			return true
		}
		if p.env != nil {
			for i, n := range envNames {
				if !bytes.EqualFold(name, []byte(n)) {
					continue
				}
				switch {
				case !p.env.has[i] && isAddressField(i):
					p.env.v[i], p.env.has[i] = unfoldAddresses(value), true
				case !p.env.has[i]:
					p.env.v[i], p.env.has[i] = unfold(value), true
				case isAddressField(i) && len(p.env.v[i]) <= maxAddressBytes:
					// A repeated address field (two To: lines): the
					// addresses of all of them, as Dovecot lists them.
					// Of other repeated fields (Subject, Date...) the
					// first wins.
					p.env.v[i] += ", " + unfoldAddresses(value)
				}
				break
			}
		}
		return true
	})
	if p.typ == "" && digest && !p.hasContentType {
		p.typ, p.subtype = "message", "rfc822"
	}
}

func (p *part) setContentField(name, value []byte) {
	switch {
	case bytes.EqualFold(name, []byte("type")):
		if !p.hasContentType {
			p.hasContentType = true
			p.typ, p.subtype, p.params = parseContentType(unfold(value))
		}
	case bytes.EqualFold(name, []byte("id")):
		p.id = firstString(p.id, value)
	case bytes.EqualFold(name, []byte("description")):
		p.desc = firstString(p.desc, value)
	case bytes.EqualFold(name, []byte("transfer-encoding")):
		if p.cte == "" {
			// An invalid mechanism is ignored, so the 7bit default
			// applies, as Dovecot does.
			if cte := strings.TrimSpace(stripComments(unfold(value))); isToken(cte) {
				p.cte = cte
			}
		}
	case bytes.EqualFold(name, []byte("md5")):
		p.md5 = firstString(p.md5, value)
	case bytes.EqualFold(name, []byte("location")):
		p.location = firstString(p.location, value)
	case bytes.EqualFold(name, []byte("disposition")):
		if p.disp == "" {
			p.disp, p.dispParams = parseDisposition(unfold(value))
		}
	case bytes.EqualFold(name, []byte("language")):
		if p.lang == nil {
			for _, l := range strings.Split(stripComments(unfold(value)), ",") {
				if l = strings.TrimSpace(l); l != "" {
					p.lang = append(p.lang, l)
				}
			}
		}
	}
}

func firstString(cur string, value []byte) string {
	if cur != "" {
		return cur
	}
	return unfold(value)
}

// setEnd ends p's body where st says, never before its start.
func (p *part) setEnd(st stop) {
	p.end, p.endLFs = st.end, st.endLFs
	if p.end < p.bodyStart {
		p.end, p.endLFs = p.bodyStart, p.bodyLFs
	}
}

// isToken reports whether s is an RFC 2045 5.1 token: CHARs except SPACE,
// CTLs and tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
