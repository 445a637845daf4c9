package imapserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// fetchPlan says what FETCH needs of each message.
type fetchPlan struct {
	items     []imapwire.FetchItem
	uid       bool // write UID (UID FETCH always does, RFC 9051 6.4.9)
	modseq    bool // write MODSEQ
	setSeen   bool // a non-peek body item marks messages \Seen
	parse     bool // needs the whole MIME structure
	header    bool // needs the top-level header only
	fields    bool // needs the whole top-level header, not just the envelope's
	content   bool // needs the message's bytes, not their structure
	hasFlags  bool // FLAGS was asked for
	hasModseq bool // MODSEQ was asked for

	// wantEmailID, wantThreadID and wantPreview say EMAILID, THREADID
	// and PREVIEW were asked for: each needs a reader of its own.
	wantEmailID, wantThreadID, wantPreview bool

	// emailIDs reads the EMAILIDs when EMAILID was asked for (nil
	// otherwise); emailID is that of the message being written.
	emailIDs *emailIDReader
	emailID  string
	// threadIDs gives the THREADIDs when THREADID was asked for (nil
	// otherwise); threadID is that of the message being written.
	threadIDs *threadIDReader
	threadID  string
	// previews gives the previews when PREVIEW was asked for (nil
	// otherwise); preview is that of the message being written.
	previews *previewReader
	preview  preview
}

// handleFetch serves FETCH and UID FETCH (RFC 9051 6.4.5), with BINARY
// (RFC 3516) and CONDSTORE's MODSEQ and CHANGEDSINCE (RFC 7162 3.1.4).
func handleFetch(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.FetchArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	if a.PartialRange != nil && !cmd.UID {
		return errBAD("", "PARTIAL is a modifier of UID FETCH") // RFC 9394 3.3
	}
	if a.Vanished && (!c.enabled.qresync || !cmd.UID || a.ChangedSince == 0) {
		// RFC 7162 3.2.6: only UID FETCH with CHANGEDSINCE, after
		// ENABLE QRESYNC.
		return errBAD("CLIENTBUG", "VANISHED needs QRESYNC, UID FETCH and CHANGEDSINCE")
	}
	p, err := planFetch(a.Items, cmd.UID)
	if err != nil {
		return err
	}
	if p.hasModseq || a.ChangedSince > 0 {
		c.enableCondstore()
		p.modseq = true
	}
	if c.sel.view.ReadOnly {
		p.setSeen = false // EXAMINE never changes flags (RFC 9051 6.3.3)
	}
	var seqs []uint32
	if a.ChangedSince > 0 && cmd.UID && !a.Set.Saved {
		seqs = c.changedIn(a.Set, a.ChangedSince)
	} else if seqs, err = c.resolveSet(a.Set, cmd.UID); err != nil {
		return err
	}
	v := c.sel.view
	if a.Vanished {
		vanished, _, err := c.changesSince(a.ChangedSince, &a.Set)
		if err != nil {
			return storeError(err)
		}
		c.enc().vanished(vanished, true)
	}
	if a.ChangedSince > 0 && !cmd.UID {
		kept := seqs[:0]
		for _, s := range seqs {
			if v.Messages.ModSeq(int(s-1)) > a.ChangedSince {
				kept = append(kept, s)
			}
		}
		seqs = kept
	}
	if a.PartialRange != nil {
		// RFC 9394 3.3: only the messages of the range, among those
		// the command names (and CHANGEDSINCE keeps), in UID order.
		lo, hi := a.PartialRange.Bounds(len(seqs))
		seqs = seqs[lo:hi]
	}

	// Mark \Seen first, so that each response can carry the new FLAGS
	// (RFC 9051 6.4.5: "the \Seen flag is implicitly set").
	var seenChanged map[uint32]bool
	if p.setSeen {
		var unseen []uint32
		for _, s := range seqs {
			if !imapview.HasFlag(v.Messages.Flags(int(s-1)), `\Seen`) {
				unseen = append(unseen, v.Messages.UID(int(s-1)))
			}
		}
		if len(unseen) > 0 {
			changed, _, err := c.sel.mbox.StoreFlags(c.ctx, unseen, mailstore.FlagsAdd, []string{`\Seen`}, 0)
			if err != nil {
				return storeError(fmt.Errorf("fetch: set \\Seen: %w", err))
			}
			seenChanged = c.applyChanged(changed)
		}
	}

	buf := c.srv.getBuf()
	defer c.srv.putBuf(buf)
	// ENVELOPE alone (beside items from the index) needs no message file
	// to be parsed, and BODY[] beside it only to be sent.
	var envelopes *envelopeReader
	if p.header && !p.parse && !p.fields {
		envelopes = newEnvelopeReader(c, seqs)
	}
	if p.wantEmailID {
		if p.emailIDs = newEmailIDReader(c, seqs); p.emailIDs == nil {
			return errNO("CANNOT", "This mail store keeps no EMAILIDs")
		}
	}
	if p.wantThreadID {
		p.threadIDs = &threadIDReader{c: c, seqs: seqs}
	}
	if p.wantPreview {
		p.previews = newPreviewReader(c, seqs)
		defer func() {
			if err := p.previews.flush(); err != nil {
				c.log.Warn("keep previews", "err", err)
			}
		}()
	}
	expunged := false
	for i, seq := range seqs {
		if err := c.interrupted(); err != nil {
			return err
		}
		if p.emailIDs != nil {
			if p.emailID, err = p.emailIDs.id(i); err != nil {
				return storeError(fmt.Errorf("fetch: %w", err))
			}
		}
		if p.threadIDs != nil {
			if p.threadID, err = p.threadIDs.id(i); err != nil {
				return storeError(fmt.Errorf("fetch: %w", err))
			}
		}
		if p.previews != nil {
			if p.preview, err = p.previews.preview(i); err != nil {
				return storeError(fmt.Errorf("fetch: %w", err))
			}
		}
		var envelope *imapmsg.Message
		if envelopes != nil {
			var err error
			envelope, err = envelopes.message(i)
			if err != nil && !errors.Is(err, mailstore.ErrNoMessage) {
				return storeError(fmt.Errorf("fetch: %w", err))
			}
		}
		lost, err := c.fetchOne(seq, &p, seenChanged[seq], buf, envelope)
		if err != nil {
			return err
		}
		expunged = expunged || lost
		if c.w.Err() != nil {
			return &byeError{text: "write failed", err: c.w.Err()}
		}
	}
	if expunged {
		// RFC 5530 EXPUNGEISSUED: some messages were expunged by another
		// session; some of their data could not be returned (NIL).
		c.okCode = "EXPUNGEISSUED"
		c.okText = "Some messages were expunged meanwhile"
	}
	return nil
}

// planFetch says what FETCH needs for items (uid: a UID FETCH); an
// item it does not know is BAD.
func planFetch(items []imapwire.FetchItem, uid bool) (fetchPlan, error) {
	p := fetchPlan{items: items, uid: uid}
	for _, it := range items {
		switch it.Name {
		case "UID":
			p.uid = true
		case "FLAGS":
			p.hasFlags = true
		case "MODSEQ":
			p.hasModseq = true
		case "ENVELOPE":
			p.header = true
		case "BODYSTRUCTURE":
			p.parse = true
		case "BODY", "BINARY", "BINARY.SIZE":
			switch {
			case it.Name == "BODY" && isWhole(it.Section):
				p.content = true
			case it.Name == "BODY" && isTopFields(it.Section):
				// The top-level header is enough. (Not for HEADER and
				// TEXT: ParseHeader stops looking for the blank line
				// after 1 MiB of header, where Parse goes on.)
				p.fields = true
			default:
				p.parse = true
			}
			if it.Section != nil && !it.Peek && it.Name != "BINARY.SIZE" {
				p.setSeen = true
			}
		case "RFC822":
			p.content, p.setSeen = true, true
		case "RFC822.TEXT":
			p.parse, p.setSeen = true, true
		case "RFC822.HEADER":
			p.parse = true
		case "INTERNALDATE", "RFC822.SIZE", "SAVEDATE":
		case "EMAILID":
			p.wantEmailID = true
		case "THREADID":
			p.wantThreadID = true
		case "PREVIEW":
			// RFC 8970 3.1: PREVIEW reads the first text part, once,
			// then the index; it does not set \Seen. LAZY changes
			// nothing (preview.go).
			p.wantPreview = true
		default:
			return p, errBAD("", "Unsupported FETCH item "+it.Name)
		}
	}
	return p, nil
}

// applyChanged puts the records returned by StoreFlags into the view, as
// told, and returns the sequence numbers they have.
func (c *conn) applyChanged(changed []mailstore.Message) map[uint32]bool {
	seqs := make(map[uint32]bool, len(changed))
	for _, s := range c.sel.view.SetRecords(changed) {
		if s > 0 {
			seqs[s] = true
		}
	}
	return seqs
}

// fetchItemData is what one item needs from the message, found before the
// response starts, so that an error (UNKNOWN-CTE) leaves no response half
// written.
type fetchItemData struct {
	r    io.Reader
	size int64
	// literal8 says the data holds a NUL octet: a BINARY item is then
	// sent as a literal8 (~{n}), otherwise as a literal (RFC 9051 7.5.2).
	literal8 bool
}

// fetchOne writes the FETCH response of one message. envelope, when not
// nil, is its parsed envelope header, and the plan needs no more of its
// header or structure (it may still need the content, for BODY[]).
//
// A message another session expunged, which this session still sees
// (RFC 9051 7.5.1: it is told at its next command that allows it), is
// answered as Dovecot answers it: what the view holds (UID, FLAGS,
// INTERNALDATE, RFC822.SIZE, MODSEQ) and the envelope the store kept
// (keepExpungedEnvelope) as they were, the items that need the file it
// no longer has as NIL; lost reports those, for OK [EXPUNGEISSUED].
func (c *conn) fetchOne(seq uint32, p *fetchPlan, flagsChanged bool, buf []byte, envelope *imapmsg.Message) (lost bool, err error) {
	rec := c.sel.view.Messages.At(int(seq - 1))
	m := &rec
	var content mailstore.Content
	msg := envelope
	if msg == nil && (p.parse || p.header || p.fields) || p.content {
		content, err = c.sel.mbox.Open(c.ctx, m.UID)
		if errors.Is(err, mailstore.ErrNoMessage) {
			return c.fetchLost(seq, p, flagsChanged, msg)
		}
		if err != nil {
			return false, storeError(fmt.Errorf("fetch uid %d: open: %w", m.UID, err))
		}
		defer content.Close()
		// BODY[] and RFC822 are the bytes as they are: a whole-message
		// fetch (what a syncing client does for every message) reads
		// the message once, to send it, without parsing it first.
		switch {
		case msg != nil:
			// The envelope came from the store; the content is for BODY[].
		case p.parse:
			msg, err = imapmsg.Parse(content, content.Size())
		case p.header || p.fields:
			msg, err = imapmsg.ParseHeader(content, content.Size())
		}
		if err != nil {
			return false, storeError(fmt.Errorf("fetch uid %d: parse: %w", m.UID, err))
		}
	}
	// Resolve sections and BINARY decodings before writing anything.
	var data []fetchItemData
	for i := range p.items {
		it := &p.items[i]
		var d fetchItemData
		switch {
		case it.Name == "BINARY" || it.Name == "BINARY.SIZE":
			var part []int
			if it.Section != nil {
				part = it.Section.Part
			}
			r, n, hasNUL, err := msg.Binary(part)
			if errors.Is(err, imapmsg.ErrUnknownCTE) {
				return false, errNO("UNKNOWN-CTE", "Cannot decode this part's content transfer encoding")
			}
			if err != nil {
				r, n = nil, -1
			}
			d = fetchItemData{r: r, size: n, literal8: hasNUL}
		case it.Name == "BODY" && isWhole(it.Section), it.Name == "RFC822":
			d = fetchItemData{r: io.NewSectionReader(content, 0, content.Size()), size: content.Size()}
		case it.Name == "BODY" && it.Section != nil:
			d = c.sectionData(msg, it.Section)
		case it.Name == "RFC822.HEADER":
			d = c.sectionData(msg, &imapwire.Section{Specifier: "HEADER"})
		case it.Name == "RFC822.TEXT":
			d = c.sectionData(msg, &imapwire.Section{Specifier: "TEXT"})
		}
		if data == nil && (d.r != nil || d.size != 0) {
			data = make([]fetchItemData, len(p.items))
		}
		if data != nil {
			data[i] = d
		}
	}

	c.writeFetch(seq, p, flagsChanged, msg, false, data, buf)
	return false, nil
}

// fetchLost writes the FETCH response of a message whose file is gone
// (fetchOne): envelope, if not nil, is its envelope header as the store
// kept it.
func (c *conn) fetchLost(seq uint32, p *fetchPlan, flagsChanged bool, envelope *imapmsg.Message) (lost bool, err error) {
	wantEnvelope := slices.ContainsFunc(p.items, func(it imapwire.FetchItem) bool { return it.Name == "ENVELOPE" })
	if envelope == nil && wantEnvelope {
		if r := newEnvelopeReader(c, []uint32{seq}); r != nil {
			envelope, err = r.message(0)
			if err != nil && !errors.Is(err, mailstore.ErrNoMessage) {
				return false, storeError(fmt.Errorf("fetch: %w", err))
			}
		}
	}
	data := make([]fetchItemData, len(p.items))
	for i := range data {
		data[i].size = -1 // NIL
	}
	lost = p.parse || p.fields || p.content || wantEnvelope && envelope == nil
	c.writeFetch(seq, p, flagsChanged, envelope, true, data, nil)
	return lost, nil
}

// writeFetch writes one FETCH response of the selected view (encoder.fetch).
func (c *conn) writeFetch(seq uint32, p *fetchPlan, flagsChanged bool, msg *imapmsg.Message, fileGone bool, data []fetchItemData, buf []byte) {
	v := c.sel.view
	rec := v.Messages.At(int(seq - 1))
	c.enc().fetch(v, seq, &rec, p, flagsChanged, msg, fileGone, data, buf)
}

// fetch writes one FETCH response, of message m at seq in v, for an
// awake session's FETCH and a sleeper's NOTIFY MessageNew alike
// (notify_fetch.go): msg is the parsed message, or its envelope header
// alone when the plan needs no more or its file is gone (fileGone: nil
// when the store kept no envelope either), data the items' bytes,
// resolved before.
func (e encoder) fetch(v *imapview.View, seq uint32, m *mailstore.Message, p *fetchPlan, flagsChanged bool, msg *imapmsg.Message, fileGone bool, data []fetchItemData, buf []byte) {
	w := e.w
	w.Raw("* ").Number32(seq).Raw(" FETCH (")
	n := 0
	sp := func() {
		if n > 0 {
			w.SP()
		}
		n++
	}
	if p.uid {
		sp()
		w.Raw("UID ").Number32(m.UID)
	}
	for i := range p.items {
		it := &p.items[i]
		var d fetchItemData
		if data != nil {
			d = data[i]
		}
		switch it.Name {
		case "UID":
			continue
		case "FLAGS":
			sp()
			w.Raw("FLAGS ")
			e.msgFlags(v, m)
		case "INTERNALDATE":
			sp()
			w.Raw("INTERNALDATE ").Date(m.InternalDate.Time())
		case "SAVEDATE":
			sp()
			w.Raw("SAVEDATE ")
			if m.SaveDate == 0 {
				w.NIL()
			} else {
				w.Date(m.SaveDate.Time())
			}
		case "RFC822.SIZE":
			sp()
			w.Raw("RFC822.SIZE ").Number(uint64(m.Size))
		case "EMAILID":
			sp()
			w.Raw("EMAILID (").Raw(p.emailID).Raw(")")
		case "THREADID":
			sp()
			w.Raw("THREADID ")
			if p.threadID == "" {
				w.NIL() // threadid.go: no Message-ID and no EMAILID to name it
			} else {
				w.Raw("(").Raw(p.threadID).Raw(")")
			}
		case "PREVIEW":
			sp()
			w.Raw("PREVIEW ")
			writePreview(w, p.preview)
		case "MODSEQ":
			continue // written below, once
		case "ENVELOPE":
			sp()
			w.Raw("ENVELOPE ")
			if msg == nil {
				w.Raw(envelopeNIL)
				continue
			}
			msg.WriteEnvelope(w)
		case "BODYSTRUCTURE":
			sp()
			w.Raw("BODYSTRUCTURE ")
			if fileGone {
				w.Raw(bodyStructureNIL)
				continue
			}
			msg.WriteBodyStructure(w, true)
		case "BODY":
			sp()
			if it.Section == nil {
				w.Raw("BODY ")
				if fileGone {
					w.Raw(bodyNIL)
					continue
				}
				msg.WriteBodyStructure(w, false)
				continue
			}
			w.Raw("BODY[")
			writeSection(w, it.Section)
			w.Raw("]")
			e.partial(it.Partial, d, false, buf)
		case "BINARY":
			sp()
			w.Raw("BINARY[")
			if it.Section != nil {
				writePart(w, it.Section.Part)
			}
			w.Raw("]")
			e.partial(it.Partial, d, d.literal8, buf)
		case "BINARY.SIZE":
			sp()
			w.Raw("BINARY.SIZE[")
			if it.Section != nil {
				writePart(w, it.Section.Part)
			}
			w.Raw("] ")
			if d.size < 0 {
				w.NIL()
			} else {
				w.Number(uint64(d.size))
			}
		case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			sp()
			w.Raw(it.Name)
			e.partial(nil, d, false, buf)
		}
	}
	if flagsChanged && !p.hasFlags {
		sp()
		w.Raw("FLAGS ")
		e.msgFlags(v, m)
	}
	if p.modseq || flagsChanged && e.en.condstore {
		sp()
		w.Raw("MODSEQ (").Number(m.ModSeq).Raw(")")
	}
	w.Raw(")").CRLF()
}

// What Dovecot sends for ENVELOPE, BODY and BODYSTRUCTURE of a message
// whose file is gone (imap-fetch.c): well-formed, empty.
const (
	envelopeNIL      = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
	bodyNIL          = `("text" "plain" NIL NIL NIL "7bit" 0 0)`
	bodyStructureNIL = `("text" "plain" NIL NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`
)

// isWhole reports whether a BODY section is the whole message: BODY[].
func isWhole(s *imapwire.Section) bool {
	return s != nil && len(s.Part) == 0 && s.Specifier == ""
}

// isTopFields reports whether a BODY section is HEADER.FIELDS or
// HEADER.FIELDS.NOT of the message itself, not of a part.
func isTopFields(s *imapwire.Section) bool {
	return s != nil && len(s.Part) == 0 && strings.HasPrefix(strings.ToUpper(s.Specifier), "HEADER.FIELDS")
}

// sectionData finds a BODY[section]; size -1 when the part does not exist.
func (c *conn) sectionData(msg *imapmsg.Message, s *imapwire.Section) fetchItemData {
	r, err := msg.Section(s)
	if err != nil {
		return fetchItemData{size: -1}
	}
	return fetchItemData{r: r, size: r.Size()}
}

// writePartial writes " <origin> literal" for a section's bytes
// (encoder.partial).
func (c *conn) writePartial(p *imapwire.Partial, d fetchItemData, binary bool, buf []byte) {
	c.enc().partial(p, d, binary, buf)
}

// partial writes " <origin> literal" for a section's bytes, cut to a
// <offset.count> partial (RFC 9051 6.4.5: the response names only the
// origin octet).
func (e encoder) partial(p *imapwire.Partial, d fetchItemData, binary bool, buf []byte) {
	w := e.w
	if d.r == nil || d.size < 0 {
		w.Raw(" NIL")
		return
	}
	off, n := int64(0), d.size
	if p != nil {
		off = min(int64(p.Offset), d.size)
		n = min(int64(p.Count), d.size-off)
		w.Raw("<").Number(uint64(p.Offset)).Raw(">")
	}
	w.SP()
	w.LiteralHeader(n, binary)
	if off > 0 {
		// Sections are io.SectionReaders: seek rather than read and
		// discard what comes before the origin.
		var err error
		if s, ok := d.r.(io.Seeker); ok {
			_, err = s.Seek(off, io.SeekCurrent)
		} else {
			_, err = io.CopyN(io.Discard, d.r, off)
		}
		if err != nil {
			// The literal's length is announced: keep it.
			for ; n > 0; n-- {
				w.Raw(" ")
			}
		}
	}
	// Stream in chunks: a big message never sits whole in memory. A short
	// read pads with spaces so the literal keeps its announced length.
	for n > 0 {
		k, err := io.ReadFull(d.r, buf[:min(int64(len(buf)), n)])
		w.RawBytes(buf[:k])
		n -= int64(k)
		if err != nil {
			for ; n > 0; n-- {
				w.Raw(" ")
			}
		}
	}
}

// writeSection writes a section spec without brackets: "1.2.HEADER.FIELDS (A B)".
func writeSection(w *imapwire.Writer, s *imapwire.Section) {
	writePart(w, s.Part)
	if s.Specifier == "" {
		return
	}
	if len(s.Part) > 0 {
		w.Raw(".")
	}
	w.Raw(s.Specifier)
	if strings.HasPrefix(s.Specifier, "HEADER.FIELDS") {
		w.Raw(" (")
		for i, f := range s.Fields {
			if i > 0 {
				w.SP()
			}
			w.AString(f)
		}
		w.Raw(")")
	}
}

func writePart(w *imapwire.Writer, part []int) {
	for i, p := range part {
		if i > 0 {
			w.Raw(".")
		}
		w.Raw(strconv.Itoa(p))
	}
}
