package imapserver

import (
	"strings"

	"github.com/dormouse/dormouse/imapwire"
)

// baseCaps are the capabilities that work in every state. Each one here is
// implemented; nothing is advertised ahead of its code.
const baseCaps = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE ID " +
	"CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES " +
	"STATUS=SIZE BINARY MULTIAPPEND CONDSTORE QRESYNC UTF8=ACCEPT SAVEDATE " +
	sortCaps + " " + contextCaps

// capabilities returns the capability list for the current state.
func (c *conn) capabilities() string {
	if c.state != stateNotAuth {
		return baseCaps + c.srv.extensionCapabilities() + compressCap
	}
	var b strings.Builder
	b.WriteString(baseCaps)
	b.WriteString(c.srv.extensionCapabilities())
	if c.srv.cfg.TLS != nil && !c.tls {
		b.WriteString(" STARTTLS")
	}
	if c.plaintextAllowed() {
		b.WriteString(" AUTH=PLAIN")
	} else {
		// RFC 9051 6.2.3: LOGIN is refused until TLS.
		b.WriteString(" LOGINDISABLED")
	}
	return b.String()
}

// plaintextAllowed says whether LOGIN and AUTHENTICATE PLAIN may be used on
// this connection now.
func (c *conn) plaintextAllowed() bool {
	if c.tls {
		return true
	}
	switch c.srv.cfg.Plain {
	case PlaintextAlways:
		return true
	case PlaintextLoopback:
		return isLoopback(c.nc.RemoteAddr())
	}
	return false
}

func handleCapability(c *conn, cmd *imapwire.Command) error {
	c.w.Raw("* CAPABILITY ").Raw(c.capabilities()).CRLF()
	return nil
}

// handleNoop serves NOOP and CHECK: their work is the untagged updates
// that exec sends after every command that allows them (RFC 9051 6.1.2,
// 6.4.1).
func handleNoop(c *conn, cmd *imapwire.Command) error { return nil }

func handleLogout(c *conn, cmd *imapwire.Command) error {
	c.w.Raw("* BYE Logging out").CRLF()
	c.state = stateLogout
	// Released before the tagged OK, not when the socket closes: a client
	// that has its OK may log in again at once under a per-user limit.
	c.uncountUser()
	return nil
}

// handleID answers RFC 2971 ID; the client's parameters are only logged.
func handleID(c *conn, cmd *imapwire.Command) error {
	if a, ok := cmd.Args.(*imapwire.IDArgs); ok && len(a.Params) > 0 {
		attrs := make([]any, 0, len(a.Params))
		for i := 0; i+1 < len(a.Params); i += 2 {
			k := strings.ToLower(a.Params[i])
			if k == "name" || k == "version" || k == "os" || k == "vendor" {
				attrs = append(attrs, "client_"+k, a.Params[i+1])
			}
		}
		c.log.Debug("client id", attrs...)
	}
	c.w.Raw(`* ID ("name" "Dormouse")`).CRLF()
	return nil
}

// handleEnable serves RFC 5161 ENABLE. Unknown capabilities are ignored;
// the ENABLED response lists only what this command newly enabled.
func handleEnable(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.EnableArgs)
	if a == nil {
		return errBAD("", "Missing capabilities")
	}
	var done []string
	for _, name := range a.Caps {
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			if !c.enabled.condstore {
				c.enableCondstore()
				done = append(done, "CONDSTORE")
			}
		case "QRESYNC":
			if !c.enabled.qresync {
				// RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
				c.enabled.qresync = true
				c.enableCondstore()
				done = append(done, "QRESYNC")
			}
		case "IMAP4REV2":
			if !c.enabled.rev2 {
				c.enabled.rev2 = true
				done = append(done, "IMAP4rev2")
				// RFC 9051 6.3.1: UTF-8 mailbox names and strings.
				c.setUTF8()
			}
		case "UTF8=ACCEPT":
			if !c.enabled.utf8 {
				c.enabled.utf8 = true
				done = append(done, "UTF8=ACCEPT")
				c.setUTF8()
			}
		}
	}
	c.w.Raw("* ENABLED")
	for _, d := range done {
		c.w.SP().Raw(d)
	}
	c.w.CRLF()
	return nil
}

// setUTF8 lets strings and mailbox names travel as UTF-8 both ways
// (RFC 6855 3, RFC 9051 6.3.1).
func (c *conn) setUTF8() {
	c.w.UTF8 = true
	c.dec.SetUTF8(true)
}

// enableCondstore turns CONDSTORE on for the session, as an enabling
// command does (RFC 7162 3.1: ENABLE CONDSTORE or QRESYNC, FETCH MODSEQ
// or CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE, STATUS
// HIGHESTMODSEQ). The first one while a mailbox is selected tells the
// client the mailbox's HIGHESTMODSEQ in an untagged OK, which SELECT
// would have given had CONDSTORE been on.
func (c *conn) enableCondstore() {
	if c.enabled.condstore {
		return
	}
	c.enabled.condstore = true
	if c.sel != nil {
		c.enc().highestModSeq(c.sel.view.HighestModSeq)
	}
}
