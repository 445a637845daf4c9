package imapserver

import (
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// The replies of IDLE (RFC 2177), which an idling session and a sleeper
// both send: each is defined here once.
const (
	// lineIdling starts an IDLE.
	lineIdling = "+ idling\r\n"
	// lineStillHere is the keepalive during IDLE (RFC 2177 3 asks
	// servers to keep idle clients' NAT mappings alive).
	lineStillHere = "* OK Still here\r\n"
	// idleDone follows the IDLE's tag when DONE ends it.
	idleDone = " OK IDLE terminated\r\n"
	// byeAutologout is the BYE text of a session idle past the idle
	// timeout (RFC 9051 5.4), awake or asleep.
	byeAutologout = "Autologout; idle for too long"
)

// appendIdleDone appends the tagged OK that ends the IDLE of tag.
func appendIdleDone(b []byte, tag string) []byte {
	return append(append(b, tag...), idleDone...)
}

// encoder writes untagged mailbox updates and the replies of IDLE, for
// an awake session (conn.enc) and a sleeper (hibernate_update.go) alike,
// so that a client cannot tell them apart. It holds no session state:
// what to say comes from the view and its Update.
type encoder struct {
	w  *imapwire.Writer
	en enabled
}

// enc returns the session's encoder.
func (c *conn) enc() encoder { return encoder{w: c.w, en: c.enabled} }

// update writes the untagged responses of one change to the selected
// mailbox (imapview.View.Apply): EXPUNGE or VANISHED, FLAGS when the
// keyword set grew, EXISTS and RECENT (IMAP4rev1 only), and FETCH FLAGS
// (RFC 9051 7, 7.5.1), with the ESEARCH updates of live search contexts
// around them (RFC 5267 4.3), then OK [HIGHESTMODSEQ] when CONDSTORE is
// on and no FETCH told it. v is the view after the change (\Recent in
// FETCH).
func (e encoder) update(v *imapview.View, up imapview.Update) {
	// RFC 5267 4.3.4: a REMOVEFROM for expunged messages goes before the
	// expunge notification, while their numbers are valid.
	e.searchContexts(up.Contexts, func(u *imapview.ContextUpdate) (removed, added []imapview.Position) {
		return u.Expunged, nil
	})
	if e.en.qresync {
		// RFC 7162 3.2.10: VANISHED replaces EXPUNGE once QRESYNC is on.
		e.vanished(imapwire.AppendUIDSet(nil, up.ExpungedUIDs), false)
	} else {
		// Descending sequence numbers need no renumbering (RFC 9051 7.5.1).
		for _, seq := range up.ExpungedSeqs {
			e.w.Raw("* ").Number32(seq).Raw(" EXPUNGE").CRLF()
		}
	}
	if up.Keywords != nil {
		e.flags(up.Keywords, !v.ReadOnly)
	}
	if up.Added > 0 {
		e.w.Raw("* ").Number(uint64(up.Exists)).Raw(" EXISTS").CRLF()
		if !e.en.rev2 {
			e.w.Raw("* ").Number(uint64(up.Recent)).Raw(" RECENT").CRLF()
		}
	}
	e.fetches(v, up.Changed)
	// RFC 5267 4.3.3: an ADDTO of new messages goes after EXISTS.
	e.searchContexts(up.Contexts, func(u *imapview.ContextUpdate) (removed, added []imapview.Position) {
		return u.Removed, u.Added
	})
	if e.en.condstore && up.HighestModSeq > 0 {
		// RFC 7162 3.1.2.1: the mailbox's new HIGHESTMODSEQ, which no
		// FETCH MODSEQ above carried (an EXISTS or expunge moved it),
		// as Dovecot sends it; a client that keeps the old one takes
		// messages it knows for changed (imapview.Update).
		e.highestModSeq(up.HighestModSeq)
	}
}

// highestModSeq writes "* OK [HIGHESTMODSEQ n] Highest" (RFC 7162
// 3.1.2.1), on SELECT and whenever the client must learn a new one.
func (e encoder) highestModSeq(n uint64) {
	e.w.Raw("* OK [HIGHESTMODSEQ ").Number(n).Raw("] Highest").CRLF()
}

// fetches writes unsolicited FETCH FLAGS responses (with UID).
func (e encoder) fetches(v *imapview.View, fs []imapview.Fetch) {
	for i := range fs {
		e.msgFetch(v, fs[i].Seq, &fs[i].Msg, true)
	}
}

// vanished writes "* VANISHED [(EARLIER)] set" (RFC 7162 3.2.10).
func (e encoder) vanished(set []byte, earlier bool) {
	if len(set) == 0 {
		return
	}
	e.w.Raw("* VANISHED ")
	if earlier {
		e.w.Raw("(EARLIER) ")
	}
	e.w.RawBytes(set).CRLF()
}

// flags writes the FLAGS response and the PERMANENTFLAGS code, which
// lists the flags a client may store (none when read-only).
func (e encoder) flags(keywords []string, permanent bool) {
	e.w.Raw("* FLAGS (")
	for i, f := range systemFlags {
		if i > 0 {
			e.w.SP()
		}
		e.w.Raw(f)
	}
	for _, k := range keywords {
		e.w.SP().Raw(k)
	}
	e.w.Raw(")").CRLF()
	e.w.Raw("* OK [PERMANENTFLAGS (")
	if permanent {
		for _, f := range systemFlags {
			e.w.Raw(f).SP()
		}
		for _, k := range keywords {
			e.w.Raw(k).SP()
		}
		e.w.Raw(`\*`)
	}
	e.w.Raw(")] Flags permitted").CRLF()
}

// msgFetch writes "* seq FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])" for
// message m of v, as unsolicited updates do.
func (e encoder) msgFetch(v *imapview.View, seq uint32, m *mailstore.Message, withUID bool) {
	e.w.Raw("* ").Number32(seq).Raw(" FETCH (")
	if withUID {
		e.w.Raw("UID ").Number32(m.UID).SP()
	}
	e.w.Raw("FLAGS ")
	e.msgFlags(v, m)
	if e.en.condstore {
		// RFC 7162 3.1.4.1: MODSEQ in every FETCH once CONDSTORE is on.
		e.w.Raw(" MODSEQ (").Number(m.ModSeq).Raw(")")
	}
	e.w.Raw(")").CRLF()
}

// msgFlags writes a message's flag list, with \Recent for IMAP4rev1
// clients when the message is recent in v.
func (e encoder) msgFlags(v *imapview.View, m *mailstore.Message) {
	e.w.Open()
	for i, f := range m.Flags {
		if i > 0 {
			e.w.SP()
		}
		e.w.Raw(f)
	}
	if !e.en.rev2 && v.IsRecent(m.UID) {
		if len(m.Flags) > 0 {
			e.w.SP()
		}
		e.w.Raw(`\Recent`)
	}
	e.w.Close()
}
