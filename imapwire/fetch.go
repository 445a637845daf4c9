package imapwire

import "strings"

// parseFetch: FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" /
// fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
// (RFC 9051 6.4.5, RFC 7162 3.1.4 and 3.2.6).
func (d *Decoder) parseFetch(uid bool) (*FetchArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &FetchArgs{}
	var err error
	if a.Set, err = d.seqSet(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [24]byte
	if d.peek() == '(' {
		a.Items = make([]FetchItem, 0, 4)
		err = d.list(false, func() error {
			return d.fetchAtt(a, buf[:0], false)
		})
	} else {
		err = d.fetchAtt(a, buf[:0], true)
	}
	if err != nil {
		return nil, err
	}
	if d.atEnd() {
		return a, nil
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	changed := false
	err = d.list(false, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		switch string(kw) {
		case "CHANGEDSINCE":
			if err := d.sp(); err != nil {
				return err
			}
			if a.ChangedSince, err = d.number64(); err != nil {
				return err
			}
			changed = true
		case "VANISHED":
			a.Vanished = true
		case "PARTIAL":
			// RFC 9394 3.3: modifier-partial = "PARTIAL" SP partial-range.
			if a.PartialRange != nil {
				return badf("PARTIAL twice")
			}
			if err := d.sp(); err != nil {
				return err
			}
			r, err := d.partialRange()
			if err != nil {
				return err
			}
			a.PartialRange = &r
		default:
			return badf("unknown FETCH modifier %q", string(kw))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RFC 7162 3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
	if a.Vanished && (!uid || !changed) {
		return nil, badf("VANISHED needs UID FETCH and CHANGEDSINCE")
	}
	return a, nil
}

// fetchAtt reads one fetch-att (or, when macros is true, a macro) and
// appends it to a.Items.
func (d *Decoder) fetchAtt(a *FetchArgs, buf []byte, macros bool) error {
	i := d.pos
	for i < len(d.line) && IsAtomChar(d.line[i]) && d.line[i] != '[' {
		i++
	}
	if i == d.pos {
		return badf("expected a FETCH item at %q", d.rest())
	}
	name := upper(buf, d.line[d.pos:i])
	d.pos = i
	item := FetchItem{}
	switch string(name) {
	case "ALL", "FAST", "FULL":
		if !macros {
			return badf("FETCH macro %s inside a list", string(name))
		}
		// RFC 9051 6.4.5: the macros' expansions.
		a.Items = append(a.Items, FetchItem{Name: "FLAGS"}, FetchItem{Name: "INTERNALDATE"}, FetchItem{Name: "RFC822.SIZE"})
		switch string(name) {
		case "ALL":
			a.Items = append(a.Items, FetchItem{Name: "ENVELOPE"})
		case "FULL":
			a.Items = append(a.Items, FetchItem{Name: "ENVELOPE"}, FetchItem{Name: "BODY"})
		}
		return nil
	case "ENVELOPE":
		item.Name = "ENVELOPE"
	case "FLAGS":
		item.Name = "FLAGS"
	case "INTERNALDATE":
		item.Name = "INTERNALDATE"
	case "RFC822":
		item.Name = "RFC822"
	case "RFC822.HEADER":
		item.Name = "RFC822.HEADER"
	case "RFC822.TEXT":
		item.Name = "RFC822.TEXT"
	case "RFC822.SIZE":
		item.Name = "RFC822.SIZE"
	case "BODYSTRUCTURE":
		item.Name = "BODYSTRUCTURE"
	case "UID":
		item.Name = "UID"
	case "MODSEQ":
		item.Name = "MODSEQ"
	case "SAVEDATE":
		item.Name = "SAVEDATE"
	case "EMAILID":
		item.Name = "EMAILID"
	case "THREADID":
		item.Name = "THREADID"
	case "PREVIEW":
		// RFC 8970 3.1: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"],
		// preview-mod = "LAZY". A list after the space that starts with
		// LAZY is this item's; another is FETCH's modifiers
		// (CHANGEDSINCE), after a lone PREVIEW.
		item.Name = "PREVIEW"
		if r := d.line[d.pos:]; len(r) > 6 && r[0] == ' ' && r[1] == '(' && strings.EqualFold(string(r[2:6]), "LAZY") {
			d.pos++
			err := d.list(false, func() error {
				kw, err := d.keyword(buf[:0])
				if err != nil {
					return err
				}
				if string(kw) != "LAZY" {
					return badf("unknown PREVIEW modifier %q", string(kw))
				}
				item.Lazy = true
				return nil
			})
			if err != nil {
				return err
			}
		}
	case "BODY", "BODY.PEEK":
		item.Name, item.Peek = "BODY", len(name) > 4
		if d.peek() != '[' {
			if item.Peek {
				return badf("BODY.PEEK needs a section")
			}
			break
		}
		var err error
		if item.Section, err = d.section(); err != nil {
			return err
		}
		if item.Partial, err = d.partial(); err != nil {
			return err
		}
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		// RFC 9051 6.4.5, RFC 3516 4.2: BINARY[part]<partial>, BINARY.SIZE[part].
		item.Name, item.Peek = "BINARY", string(name) == "BINARY.PEEK"
		if string(name) == "BINARY.SIZE" {
			item.Name = "BINARY.SIZE"
		}
		var err error
		if item.Section, err = d.binarySection(); err != nil {
			return err
		}
		if item.Name == "BINARY" {
			if item.Partial, err = d.partial(); err != nil {
				return err
			}
		}
	default:
		return badf("unknown FETCH item %q", string(name))
	}
	a.Items = append(a.Items, item)
	return nil
}

// section reads "[" [section-spec] "]" (RFC 9051 9).
func (d *Decoder) section() (*Section, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	s := &Section{}
	if d.peek() == ']' {
		d.pos++
		return s, nil
	}
	if err := d.sectionPart(s); err != nil {
		return nil, err
	}
	if len(s.Part) > 0 && d.peek() == ']' {
		d.pos++
		return s, nil
	}
	i := d.pos
	for i < len(d.line) && (d.line[i] == '.' || isAlpha(d.line[i])) {
		i++
	}
	var buf [24]byte
	switch string(upper(buf[:0], d.line[d.pos:i])) {
	case "HEADER":
		s.Specifier = "HEADER"
	case "HEADER.FIELDS":
		s.Specifier = "HEADER.FIELDS"
	case "HEADER.FIELDS.NOT":
		s.Specifier = "HEADER.FIELDS.NOT"
	case "TEXT":
		s.Specifier = "TEXT"
	case "MIME":
		if len(s.Part) == 0 {
			return nil, badf("MIME needs a part number")
		}
		s.Specifier = "MIME"
	default:
		return nil, badf("bad section %q", string(d.line[d.pos:i]))
	}
	d.pos = i
	if s.Specifier == "HEADER.FIELDS" || s.Specifier == "HEADER.FIELDS.NOT" {
		if err := d.sp(); err != nil {
			return nil, err
		}
		err := d.list(false, func() error {
			f, err := d.astring()
			s.Fields = append(s.Fields, f)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if err := d.expect(']'); err != nil {
		return nil, err
	}
	return s, nil
}

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// sectionPart reads nz-number *("." nz-number), leaving the position on
// the text after a final "." if there is one.
func (d *Decoder) sectionPart(s *Section) error {
	for d.peek() >= '0' && d.peek() <= '9' {
		n, err := d.nzNumber()
		if err != nil {
			return err
		}
		if n > 1<<20 || len(s.Part) >= 64 {
			return badf("bad section part")
		}
		s.Part = append(s.Part, int(n))
		if d.peek() != '.' {
			return nil
		}
		d.pos++
		if c := d.peek(); c < '0' || c > '9' {
			if !isAlpha(c) {
				return badf("bad section part")
			}
			return nil
		}
	}
	return nil
}

// binarySection reads section-binary: "[" [section-part] "]".
func (d *Decoder) binarySection() (*Section, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	s := &Section{}
	if err := d.sectionPart(s); err != nil {
		return nil, err
	}
	if err := d.expect(']'); err != nil {
		return nil, err
	}
	return s, nil
}

// partial reads an optional "<" number "." nz-number ">".
func (d *Decoder) partial() (*Partial, error) {
	if d.peek() != '<' {
		return nil, nil
	}
	d.pos++
	p := &Partial{}
	var err error
	if p.Offset, err = d.number(); err != nil {
		return nil, err
	}
	if err = d.expect('.'); err != nil {
		return nil, err
	}
	if p.Count, err = d.nzNumber(); err != nil {
		return nil, err
	}
	if err = d.expect('>'); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseSection parses a body section's text as it stands between the
// brackets of BODY[...] ("1.2.HEADER.FIELDS (From To)", "" for the whole
// message), for a section given elsewhere than in FETCH: an IMAP URL's
// ";SECTION=" (RFC 5092 3.5). Errors are *CommandError.
func ParseSection(text string) (*Section, error) {
	if strings.ContainsAny(text, "{\r\n") {
		// No literal can follow: the text is all there is.
		return nil, badf("bad section %q", text)
	}
	d := &Decoder{line: []byte("[" + text + "]"), opts: DecoderOptions{MaxLine: len(text) + 2}}
	s, err := d.section()
	if err != nil {
		return nil, err
	}
	if !d.atEnd() {
		return nil, badf("bad section %q", text)
	}
	return s, nil
}
