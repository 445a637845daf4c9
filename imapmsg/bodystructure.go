package imapmsg

import "github.com/dormouse/dormouse/imapwire"

// writeBody writes p as a body (RFC 9051 7.5.2 BODYSTRUCTURE, grammar
// "body" in section 9); ext adds the extension data of BODYSTRUCTURE.
func writeBody(w *imapwire.Writer, p *part, ext bool) {
	if p.isMultipart() {
		writeMultipart(w, p, ext)
		return
	}
	w.Open()
	typ, sub := p.typ, p.subtype
	if typ == "" {
		// No or unparsable Content-Type: text/plain (RFC 2045 5.2).
		typ, sub = "text", "plain"
	}
	w.String(typ).SP().String(sub).SP()
	writeParams(w, p.params, p.isText())
	w.SP()
	writeNString(w, p.id, true)
	w.SP()
	writeNString(w, p.desc, true)
	w.SP()
	cte := p.cte
	if cte == "" {
		cte = "7bit"
	}
	w.String(cte).SP().Number(uint64(p.end - p.bodyStart))
	switch {
	case p.isMessage():
		// body-type-msg: envelope, body and lines of the encapsulated
		// message. One that could not be parsed in place (encoded, too
		// deep) is reported as an empty message so the grammar holds.
		msg := p.msg
		if msg == nil {
			msg = &part{}
		}
		w.SP()
		writeEnvelope(w, msg.env)
		w.SP()
		writeBody(w, msg, ext)
		w.SP().Number(uint64(p.endLFs - p.bodyLFs))
	case p.isText():
		w.SP().Number(uint64(p.endLFs - p.bodyLFs))
	}
	if ext {
		// body-ext-1part: md5, disposition, language, location.
		w.SP()
		writeNString(w, p.md5, true)
		w.SP()
		writeExtCommon(w, p)
	}
	w.Close()
}

// writeMultipart writes body-type-mpart: the parts with no space between
// them, the subtype, and with ext the parameters, disposition, language
// and location.
func writeMultipart(w *imapwire.Writer, p *part, ext bool) {
	w.Open()
	if len(p.children) == 0 {
		// A multipart must hold a body; Dovecot reports an empty
		// text/plain for one without parts.
		writeBody(w, &part{}, ext)
	}
	for _, c := range p.children {
		writeBody(w, c, ext)
	}
	w.SP().String(p.subtype)
	if ext {
		w.SP()
		writeParams(w, p.params, false)
		w.SP()
		writeExtCommon(w, p)
	}
	w.Close()
}

// writeExtCommon writes disposition, language and location.
func writeExtCommon(w *imapwire.Writer, p *part) {
	if p.disp == "" {
		w.NIL()
	} else {
		w.Open().String(p.disp).SP()
		writeParams(w, p.dispParams, false)
		w.Close()
	}
	w.SP()
	if len(p.lang) == 0 {
		w.NIL()
	} else {
		w.Open()
		for i, l := range p.lang {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.Close()
	}
	w.SP()
	writeNString(w, p.location, true)
}

// writeParams writes a body-fld-param list. For text parts without a
// charset it adds charset us-ascii first, the RFC 2045 5.2 default, as
// Dovecot does.
func writeParams(w *imapwire.Writer, ps []param, text bool) {
	addCharset := false
	if text {
		_, ok := lookupParam(ps, "charset")
		addCharset = !ok
	}
	if len(ps) == 0 && !addCharset {
		w.NIL()
		return
	}
	w.Open()
	sep := false
	if addCharset {
		w.Raw(`"charset" "us-ascii"`)
		sep = true
	}
	for _, p := range ps {
		if sep {
			w.SP()
		}
		sep = true
		w.String(p.name).SP().String(p.value)
	}
	w.Close()
}
